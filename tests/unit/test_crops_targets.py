"""Stage targets: canonical metric names, bands inside each type's physical range."""

import pytest

from hydroponics.crops.targets import canonical_targets


def test_aliases_become_canonical_and_empty_bounds_are_dropped():
    assert canonical_targets({"PH": {"min": 5.5, "max": 6.5}, "rh": {"min": None, "max": 70},
                              "water_temperature": {"max": 24}}) == {
        "ph": {"min": 5.5, "max": 6.5}, "humidity": {"max": 70}, "temperature": {"max": 24}}


@pytest.mark.parametrize(("targets", "complaint"), [
    ({"nitrogen": {"min": 1}}, "unknown metric 'nitrogen'"),
    ({"ec": {"min": 2, "max": 1}}, r"ec: min \(2\) is above max \(1\)"),
    ({"ph": {"max": 15}}, "outside the physical range of ph"),
    ({"humidity": {"min": -1}}, "outside the physical range"),
    ({"ph": {}}, "give min, max or both"),
    ({"temperature": {"max": 30}, "water_temperature": {"max": 25}}, "given twice"),
])
def test_bad_bands_are_refused_naming_the_metric(targets, complaint):
    with pytest.raises(ValueError, match=complaint):
        canonical_targets(targets)
