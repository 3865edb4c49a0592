"""The sensor types the platform knows: canonical names, units, and each type's physical range."""

from dataclasses import dataclass


@dataclass(frozen=True)
class SensorType:
    name: str
    unit: str
    minimum: float
    maximum: float
    description: str


SENSOR_TYPES: dict[str, SensorType] = {t.name: t for t in (
    SensorType("ph", "pH", 0, 14, "nutrient solution acidity"),
    SensorType("ec", "mS/cm", 0, 20, "nutrient solution electrical conductivity"),
    SensorType("temperature", "°C", -10, 60, "nutrient solution (water) temperature"),
    SensorType("water_level", "%", 0, 100, "reservoir fill level"),
    SensorType("humidity", "%RH", 0, 100, "relative air humidity"),
    SensorType("air_temperature", "°C", -40, 70, "air temperature"),
    SensorType("dissolved_oxygen", "mg/L", 0, 50, "dissolved oxygen in the solution"),
    SensorType("co2", "ppm", 0, 10000, "air CO2 concentration"),
    SensorType("light", "lux", 0, 200000, "illuminance at canopy"),
    SensorType("par", "µmol/m²/s", 0, 3000, "photosynthetically active radiation"),
    SensorType("orp", "mV", -2000, 2000, "oxidation-reduction potential"),
    SensorType("tds", "ppm", 0, 20000, "total dissolved solids"),
    SensorType("flow_rate", "L/min", 0, 1000, "irrigation flow"),
    SensorType("vpd", "kPa", 0, 10, "vapour pressure deficit"),
)}

# Names some devices use for the same measurement.
ALIASES = {"water_temperature": "temperature", "temp": "temperature", "air_temp": "air_temperature",
           "rh": "humidity", "do": "dissolved_oxygen", "level": "water_level"}


def canonical_sensor_type(name: str) -> SensorType | None:
    key = name.strip().lower()
    return SENSOR_TYPES.get(ALIASES.get(key, key))
