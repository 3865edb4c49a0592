"""GET /api/crops/{id}/report: time-weighted hours outside each stage's target range, from SQL."""

from datetime import timedelta

from tests.integration.test_crops_seed import (  # noqa: F401
    NOW, app, as_farm, farms, http, new_variety, plant, write_readings,
)
from tests.sql_counter import recorded_statements

PROFILE = [
    {"name": "germination", "duration_days": 7, "targets": {"ph": {"min": 5.8, "max": 6.2}}},
    {"name": "seedling", "duration_days": 14, "targets": {"ph": {"min": 5.5, "max": 6.5}, "ec": {"max": 1.2}}},
]


def minutes(start, values: list[float]) -> list[tuple]:
    """One reading a minute from `start`."""
    return [(start + timedelta(minutes=n), value) for n, value in enumerate(values)]


def test_the_report_weighs_each_reading_by_the_time_it_held(http, farms, platform_db):
    greenleaf, blue_basin = farms
    planted = NOW - timedelta(days=10)
    crop = plant(http, greenleaf, new_variety(http, greenleaf, stages=PROFILE)["id"], planted_at=planted)
    germinating = planted + timedelta(hours=1)
    # ph-1: an hour in range, half an hour above, half an hour below, then back in range (held 5 min at most)
    write_readings(greenleaf, "ph-1", "ph", "bay-a", minutes(germinating, [6.0] * 60 + [6.4] * 30 + [5.6] * 30 + [6.0]))
    # ph-2, its redundant peer, stays in range: the location's hours are the two probes' mean
    write_readings(greenleaf, "ph-2", "ph", "bay-a", minutes(germinating, [6.0] * 121))
    write_readings(greenleaf, "ph-1", "ph", "bay-a", [(planted - timedelta(hours=1), 9.0)])  # before planting
    write_readings(greenleaf, "ph-far", "ph", "bay-b", minutes(germinating, [9.0] * 30))  # another bay
    write_readings(blue_basin, "ph-1", "ph", "bay-a", minutes(germinating, [9.0] * 30))  # another farm
    seedling = NOW - timedelta(days=2)
    write_readings(greenleaf, "ec-1", "ec", "bay-a", minutes(seedling, [1.5] * 60 + [1.0]))

    with recorded_statements(platform_db) as statements:
        reply = http.get(f"/api/crops/{crop['id']}/report", headers=as_farm(greenleaf))
    assert reply.status_code == 200, reply.json()
    assert len(statements) == 2
    report = reply.json()
    assert report["crop"]["id"] == crop["id"] and report["harvest"] is None
    germination, seedling_stage = report["stages"]
    assert (germination["name"], germination["targets"]) == ("germination", {"ph": {"min": 5.8, "max": 6.2}})
    assert germination["metrics"] == [{"metric": "ph", "min": 5.8, "max": 6.2, "sensors": 2, "hours_measured": 2.083,
                                       "hours_below": 0.25, "hours_above": 0.25, "hours_outside": 0.5}]
    assert seedling_stage["completed_at"] is None
    assert seedling_stage["metrics"] == [
        {"metric": "ec", "min": None, "max": 1.2, "sensors": 1, "hours_measured": 1.083, "hours_below": 0.0,
         "hours_above": 1.0, "hours_outside": 1.0},
        {"metric": "ph", "min": 5.5, "max": 6.5, "sensors": 0, "hours_measured": 0.0, "hours_below": 0.0,
         "hours_above": 0.0, "hours_outside": 0.0},
    ]


def test_a_silent_sensor_does_not_stretch_its_last_value_and_the_harvest_is_included(http, farms):
    greenleaf, _ = farms
    planted = NOW - timedelta(days=3)
    crop = plant(http, greenleaf, new_variety(http, greenleaf, stages=PROFILE)["id"], planted_at=planted)
    write_readings(greenleaf, "ph-1", "ph", "bay-a", [(planted + timedelta(hours=1), 7.0),
                                                      (planted + timedelta(hours=30), 6.0)])
    harvest = http.post(f"/api/crops/{crop['id']}/harvest", headers=as_farm(greenleaf), json={
        "harvested_at": (NOW - timedelta(days=1)).isoformat(), "yield_amount": 3, "yield_unit": "kg"})
    assert harvest.status_code == 200
    report = http.get(f"/api/crops/{crop['id']}/report", headers=as_farm(greenleaf)).json()
    assert report["crop"]["status"] == "harvested" and report["harvest"]["yield_unit"] == "kg"
    (stage,) = report["stages"]
    assert stage["measured_until"] == stage["completed_at"]
    # 7.0 held 5 minutes (5 x the 60 s interval), not the 29 hours until the next reading
    assert stage["metrics"][0] | {"hours_measured": None} == {
        "metric": "ph", "min": 5.8, "max": 6.2, "sensors": 1, "hours_measured": None, "hours_below": 0.0,
        "hours_above": 0.083, "hours_outside": 0.083}
