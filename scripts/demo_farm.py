"""Seeds the demo farm through the deployed API: a lettuce profile, a crop in each simulated bay, an
email channel to the local mail catcher and the rules a grower would start with. Idempotent: what
already exists (by name) is kept. Usage: .venv/bin/python scripts/demo_farm.py [--mail-port 8025]
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
LETTUCE = [
    {"name": "germination", "duration_days": 7,
     "targets": {"ph": {"min": 5.6, "max": 6.4}, "humidity": {"min": 70, "max": 90}}},
    {"name": "seedling", "duration_days": 14,
     "targets": {"ph": {"min": 5.5, "max": 6.5}, "ec": {"min": 0.8, "max": 1.4}, "air_temperature": {"min": 16, "max": 26}}},
    {"name": "vegetative", "duration_days": 28,
     "targets": {"ph": {"min": 5.5, "max": 6.6}, "ec": {"min": 1.0, "max": 2.4}, "air_temperature": {"min": 14, "max": 28}}},
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
    added = [create("/api/rules", rule, rule["name"]) for rule in rules() if rule["name"] not in existing]
    print(f"  demo farm: {len(BAYS)} bays planted, channel farm-office -> 127.0.0.1:{args.mail_port}, "
          f"{len(existing) + len(added)} rules")


if __name__ == "__main__":
    main()
