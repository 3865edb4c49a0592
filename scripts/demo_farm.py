"""Seeds the demo farm through the deployed API: a lettuce profile, a crop in each simulated bay, an
email channel to the local mail catcher and the rules a grower would start with; with --ac-endpoint,
also the climate room: a crop there, its simulated AC unit (secret from AC_UNIT_SECRET) and the rule
that cools the room to the stage's target when it is too warm (the closed loop). Idempotent: what
already exists (by name) is kept. Usage:
  .venv/bin/python scripts/demo_farm.py [--mail-port 8025] [--ac-endpoint http://127.0.0.1:8765/]
"""

import argparse
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import local_env  # noqa: E402

BAYS = ("greenhouse-1/bay-a", "greenhouse-1/bay-b", "greenhouse-1/bay-c")  # scripts/simulate's three bays
CLIMATE_ROOM = "greenhouse-1/climate-room"  # the simulated AC unit's room; its thermometer posts from there
AC_UNIT = {"name": "Climate room AC", "location": CLIMATE_ROOM, "driver": "http", "alert_channels": ["farm-office"],
           "capabilities": {"modes": ["cool", "fan", "dry"], "setpoint_min": 16, "setpoint_max": 30,
                            "fan_speeds": ["auto", "low", "high"]},
           "safety": {"min_off_seconds": 180, "max_commands_per_hour": 12, "state_stale_seconds": 900}}
LETTUCE = [  # bands that hold the simulated farm's normal swings (EC 1.45-2.25, pH dosed back at 6.5)
    {"name": "germination", "duration_days": 7,
     "targets": {"ph": {"min": 5.5, "max": 6.6}, "humidity": {"min": 70, "max": 90}}},
    {"name": "seedling", "duration_days": 14,
     "targets": {"ph": {"min": 5.5, "max": 6.6}, "ec": {"min": 1.2, "max": 2.6}, "air_temperature": {"min": 16, "max": 26}}},
    {"name": "vegetative", "duration_days": 28,
     "targets": {"ph": {"min": 5.5, "max": 6.6}, "ec": {"min": 1.2, "max": 2.6}, "air_temperature": {"min": 14, "max": 28}}},
]

def rules() -> list[dict]:
    stage_band = {"kind": "outside_stage_range", "for_seconds": 60, "hysteresis": 0.1}
    return [
        {"name": "pH within the stage's band", "sensor_type": "ph", "severity": "warning",
         "condition": stage_band, "channels": ["farm-office"]},
        {"name": "EC within the stage's band", "sensor_type": "ec", "severity": "warning",
         "condition": stage_band, "channels": ["farm-office"]},
        {"name": "Reservoir low", "sensor_type": "water_level", "severity": "critical",
         "condition": {"kind": "below", "threshold": 40, "for_seconds": 30, "hysteresis": 5},
         "channels": ["farm-office"]},
        {"name": "pH probe silent", "sensor_type": "ph", "severity": "warning",
         "condition": {"kind": "no_data", "after_seconds": 120}, "channels": ["farm-office"]},
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mail-port", type=int, default=int(os.environ.get("MAIL_PORT", "8025")))
    parser.add_argument("--ac-endpoint", help="the simulated AC unit's controller URL (seeds the climate room)")
    args = parser.parse_args()
    env = local_env()
    api = httpx.Client(base_url=env["API_URL"], timeout=30, headers={"X-API-Key": env["API_KEY"]})

    def create(path: str, body: dict, label: str) -> dict | None:
        reply = api.post(path, json=body)
        if reply.status_code == 409:
            return None
        if reply.status_code != 201:
            sys.exit(f"demo farm: creating {label} failed: {reply.status_code} {reply.text}")
        return reply.json()

    def names(path: str) -> dict[str, dict]:
        reply = api.get(path, params={"limit": 200})
        reply.raise_for_status()
        body = reply.json()
        return {item["name"]: item for item in (body["items"] if isinstance(body, dict) else body)}

    variety = names("/api/varieties").get("Butterhead lettuce") or create(
        "/api/varieties", {"name": "Butterhead lettuce", "stages": LETTUCE}, "the lettuce profile")
    crops = api.get("/api/crops", params={"status": "active", "limit": 200}).json()["items"]
    planted = {crop["location"] for crop in crops}
    for n, bay in enumerate(BAYS):
        if bay not in planted:
            create("/api/crops", {"variety_id": variety["id"], "location": bay, "batch_code": f"BH-{n + 1:03d}",
                                  "planted_at": (datetime.now(UTC) - timedelta(days=10 + 8 * n)).isoformat()},
                   f"the crop at {bay}")
    if "farm-office" not in names("/api/channels"):
        create("/api/channels", {"name": "farm-office", "kind": "email", "hourly_cap": 20, "config": {
            "to": ["grower@demo-farm.example"], "smtp_host": "127.0.0.1", "smtp_port": args.mail_port,
            "security": "none", "from": "alerts@demo-farm.example"}}, "the email channel")
    existing = names("/api/rules")
    wanted = rules()
    if args.ac_endpoint:
        if CLIMATE_ROOM not in planted:
            create("/api/crops", {"variety_id": variety["id"], "location": CLIMATE_ROOM, "batch_code": "BH-CR1",
                                  "planted_at": (datetime.now(UTC) - timedelta(days=30)).isoformat()},
                   "the climate room's crop")
        units = {unit["name"]: unit for unit in api.get("/api/ac/units").json()}
        unit = units.get(AC_UNIT["name"]) or create("/api/ac/register", AC_UNIT | {
            "endpoint": args.ac_endpoint, "secret": os.environ["AC_UNIT_SECRET"]}, "the AC unit")
        wanted.append({"name": "Climate room: cool to the stage's target", "location": CLIMATE_ROOM,
                       "sensor_type": "air_temperature", "severity": "warning",
                       "condition": {"kind": "outside_stage_range", "hysteresis": 0.5},
                       "channels": ["farm-office"],
                       "action": {"ac_unit_id": unit["id"], "when": "above",
                                  "command": {"power": "on", "mode": "cool", "setpoint": "stage_target"}}})
    added = [create("/api/rules", rule, rule["name"]) for rule in wanted if rule["name"] not in existing]
    print(f"  demo farm: {len(BAYS)} bays planted, channel farm-office -> 127.0.0.1:{args.mail_port}, "
          f"{len(existing) + len(added)} rules" + (f", AC unit at {args.ac_endpoint}" if args.ac_endpoint else ""))


if __name__ == "__main__":
    main()
