"""The farm at a glance: per location (bay), the latest reading of each sensor judged against the
current growth stage's target band, stale sensors, open alerts, and the crop's stage timeline.

Three statements whatever the size of the farm (sensors, active crops with their stages, open
alerts by location); the page would otherwise need a call per crop and per stage profile.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from sqlalchemy.orm import Session

from hydroponics.db.sql import statement
from hydroponics.readings.sensor_types import SENSOR_TYPES
from hydroponics.rules.conditions import Band, is_breaching

STALE_INTERVALS = 3   # a sensor is stale after 3 expected intervals without a reading (as no_data rules default)
NEAR_EDGE = 0.10      # "near the edge": within 10% of the band's width of a limit (5% of a lone limit's value)

Status = Literal["in_band", "near_edge", "out_of_band", "no_band", "no_reading"]

_SENSORS = statement("""
SELECT s.id, s.external_id, s.sensor_type, s.location, s.unit, s.last_value, s.last_recorded_at,
       s.expected_interval_seconds
FROM sensors s WHERE s.client_id = :client_id AND s.is_active
ORDER BY s.location, s.sensor_type, s.external_id
""")

# Each active crop (newest planted first per location: the rules engine judges by the same crop)
# with its recorded stages and each stage's targets from the profile.
_CROPS = statement("""
SELECT c.id, c.location, c.batch_code, c.planted_at, v.name AS variety,
       (SELECT coalesce(json_agg(json_build_object('name', g.stage_name, 'stage_order', g.stage_order,
                                                   'started_at', g.started_at, 'due_at', g.due_at,
                                                   'completed_at', g.completed_at, 'targets', vs.targets)
                                 ORDER BY g.stage_order), '[]'::json)
        FROM growth_stages g LEFT JOIN variety_stages vs ON vs.id = g.variety_stage_id
        WHERE g.crop_id = c.id) AS stages
FROM crops c JOIN varieties v ON v.id = c.variety_id
WHERE c.client_id = :client_id AND c.status = 'active'
ORDER BY c.location, c.planted_at DESC, c.id
""")

_OPEN_ALERTS = statement("""
SELECT coalesce(s.location, u.location) AS location, count(*) AS open, count(*) FILTER (WHERE a.severity = 'critical') AS critical
FROM alerts a LEFT JOIN sensors s ON s.id = a.sensor_id LEFT JOIN ac_units u ON u.id = a.ac_unit_id
WHERE a.client_id = :client_id AND a.status IN ('open', 'acknowledged')
GROUP BY 1
""")


@dataclass(frozen=True)
class Judgement:
    status: Status
    band: Band | None


def judge(value: float | None, target: dict[str, float] | None) -> Judgement:
    """Where a value sits against a stage's target {"min"?, "max"?}: in the band, near an edge, or out."""
    band = Band(low=target.get("min"), high=target.get("max")) if target else None
    if band is None or (band.low is None and band.high is None):
        return Judgement("no_band" if value is not None else "no_reading", None)
    if value is None:
        return Judgement("no_reading", band)
    if is_breaching(value, band):
        return Judgement("out_of_band", band)
    if band.low is not None and band.high is not None:
        margins = (NEAR_EDGE * (band.high - band.low),) * 2
    else:
        margins = tuple(NEAR_EDGE / 2 * abs(limit) if limit is not None else 0.0 for limit in (band.low, band.high))
    near = ((band.low is not None and value < band.low + margins[0])
            or (band.high is not None and value > band.high - margins[1]))
    return Judgement("near_edge" if near else "in_band", band)


def _current_stage(stages: list[dict[str, Any]]) -> dict[str, Any] | None:
    open_stages = [stage for stage in stages if stage["completed_at"] is None]
    return open_stages[0] if open_stages else (stages[-1] if stages else None)


def farm_overview(session: Session, client_id: UUID, now: datetime) -> dict[str, Any]:
    """Every location with sensors or an active crop, in name order (see the module docstring)."""
    params = {"client_id": client_id}
    crops: dict[str, dict[str, Any]] = {}
    for row in session.execute(_CROPS, params).mappings():
        crops.setdefault(row["location"], dict(row))  # the newest planted crop of the location
    alerts = {row["location"]: row for row in session.execute(_OPEN_ALERTS, params).mappings()}
    bays: dict[str, dict[str, Any]] = {}

    def bay(location: str) -> dict[str, Any]:
        if location not in bays:
            crop = crops.get(location)
            stage = _current_stage(crop["stages"]) if crop else None
            counted = alerts.get(location)
            bays[location] = {
                "location": location,
                "crop": None if crop is None else {
                    "id": crop["id"], "batch_code": crop["batch_code"], "variety": crop["variety"],
                    "planted_at": crop["planted_at"], "stage": stage and stage["name"],
                    "stage_started_at": stage and stage["started_at"], "stage_due_at": stage and stage["due_at"],
                    "stages": crop["stages"]},
                "open_alerts": counted["open"] if counted else 0,
                "critical_alerts": counted["critical"] if counted else 0,
                "sensors": [],
            }
        return bays[location]

    for row in session.execute(_SENSORS, params).mappings():
        target_bay = bay(row["location"])
        stage = _current_stage(target_bay["crop"]["stages"]) if target_bay["crop"] else None
        target = ((stage or {}).get("targets") or {}).get(row["sensor_type"])
        judgement = judge(row["last_value"], target)
        recorded_at = row["last_recorded_at"]
        age = (now - recorded_at).total_seconds() if recorded_at else None
        target_bay["sensors"].append({
            "sensor_id": row["id"], "sensor": row["external_id"], "sensor_type": row["sensor_type"],
            "unit": row["unit"] or getattr(SENSOR_TYPES.get(row["sensor_type"]), "unit", None), "value": row["last_value"], "recorded_at": recorded_at,
            "age_seconds": None if age is None else max(0.0, age),
            "stale": age is None or age > STALE_INTERVALS * row["expected_interval_seconds"],
            "band": None if judgement.band is None else {"min": judgement.band.low, "max": judgement.band.high},
            "status": judgement.status,
        })
    for location in crops:
        bay(location)
    for location, counted in alerts.items():
        if location is not None:
            bay(location)
    return {"generated_at": now, "locations": [bays[name] for name in sorted(bays)]}
