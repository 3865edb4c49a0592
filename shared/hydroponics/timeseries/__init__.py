"""Time series of sensor readings: one store interface, a PostgreSQL and an InfluxDB 2.x backend."""
