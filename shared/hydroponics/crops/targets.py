"""Target ranges of a stage profile: which metrics a stage watches and the band each should stay in."""

from hydroponics.readings.sensor_types import SENSOR_TYPES, canonical_sensor_type


def canonical_targets(targets: dict[str, dict[str, float | None]]) -> dict[str, dict[str, float]]:
    """Targets keyed by canonical sensor type, each {"min"?, "max"?} inside the type's physical range.

    Raises ValueError naming the offending metric (the API turns it into a 422 on the field).
    """
    result: dict[str, dict[str, float]] = {}
    for name, band in targets.items():
        kind = canonical_sensor_type(name)
        if kind is None:
            raise ValueError(f"unknown metric {name!r}; known metrics: {', '.join(SENSOR_TYPES)}")
        if kind.name in result:
            raise ValueError(f"metric {name!r} is given twice (as {kind.name!r})")
        low, high = band.get("min"), band.get("max")
        if low is None and high is None:
            raise ValueError(f"{name}: give min, max or both")
        if low is not None and high is not None and low > high:
            raise ValueError(f"{name}: min ({low}) is above max ({high})")
        for label, bound in (("min", low), ("max", high)):
            if bound is not None and not kind.minimum <= bound <= kind.maximum:
                raise ValueError(f"{name}: {label} {bound} is outside the physical range of {kind.name} "
                                 f"({kind.minimum:g} to {kind.maximum:g} {kind.unit})")
        result[kind.name] = {label: bound for label, bound in (("min", low), ("max", high)) if bound is not None}
    return result

