"""Sensor readings: the queued message shape, and storing batches of them in the time series."""
