"""Rule validation that needs no database: condition problems named per field, and the scope rules."""

import pytest

from hydroponics.rules.records import _condition_problems, _scope_problems

NO_SCOPE = {"sensor_id": None, "sensor_type": None, "location": None, "crop_id": None}
ABOVE = {"kind": "above", "threshold": 6.5}


def test_a_valid_condition_is_stored_with_its_defaults():
    stored, problems = _condition_problems({"kind": "no_data"})
    assert problems == [] and stored == {"kind": "no_data", "after_seconds": None, "for_seconds": 0,
                                         "hysteresis": 0.0}


@pytest.mark.parametrize("condition, named", [
    ({"kind": "below"}, ["condition.threshold"]),
    ({"kind": "rate_of_change", "max_change": 0, "window_seconds": 0},
     ["condition.max_change", "condition.window_seconds"]),
    ({"threshold": 1}, ["condition.kind"]),
    ([1, 2], ["condition"]),
])
def test_condition_problems_name_the_field(condition, named):
    stored, problems = _condition_problems(condition)
    assert stored is None and [p["field"] for p in problems] == named


@pytest.mark.parametrize("scope, condition, named", [
    ({"sensor_id": "s"}, ABOVE, []),
    ({"sensor_type": "ph"}, ABOVE, []),
    ({"sensor_type": "ph", "location": "bay-a"}, ABOVE, []),
    ({"location": "bay-a"}, {"kind": "no_data"}, []),
    ({"crop_id": "c"}, {"kind": "outside_stage_range"}, []),
    ({"crop_id": "c", "sensor_type": "ph"}, ABOVE, []),
    ({"crop_id": "c"}, ABOVE, ["sensor_type"]),
    ({"location": "bay-a"}, ABOVE, ["sensor_type"]),
    ({}, {"kind": "no_data"}, ["sensor_id"]),
    ({"sensor_id": "s", "location": "bay-a", "crop_id": "c"}, ABOVE, ["location", "crop_id"]),
    ({"crop_id": "c", "location": "bay-a"}, {"kind": "outside_stage_range"}, ["location"]),
])
def test_scope_rules(scope, condition, named):
    assert [p["field"] for p in _scope_problems(NO_SCOPE | scope | {"condition": condition})] == named
