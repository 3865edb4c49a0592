"""How the overview judges a reading against a stage's target band."""

import pytest

from hydroponics.dashboard.overview import judge


@pytest.mark.parametrize("value, target, status", [
    (6.0, {"min": 5.5, "max": 6.5}, "in_band"),
    (6.45, {"min": 5.5, "max": 6.5}, "near_edge"),   # within 10% of the width (0.1) of the top
    (5.55, {"min": 5.5, "max": 6.5}, "near_edge"),
    (6.5, {"min": 5.5, "max": 6.5}, "near_edge"),    # at the limit is inside (as the rules judge it)
    (6.51, {"min": 5.5, "max": 6.5}, "out_of_band"),
    (5.4, {"min": 5.5, "max": 6.5}, "out_of_band"),
    (60.0, {"max": 70}, "in_band"),
    (68.0, {"max": 70}, "near_edge"),                 # within 5% of a lone limit
    (71.0, {"max": 70}, "out_of_band"),
    (6.0, None, "no_band"),
    (None, {"min": 5.5, "max": 6.5}, "no_reading"),
])
def test_judge(value, target, status):
    assert judge(value, target).status == status
