"""The farm's records (clients, sensors, calibrations, the audit log): the SQL behind the records API."""
