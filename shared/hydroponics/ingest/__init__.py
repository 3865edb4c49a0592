"""The ingest endpoint devices post readings to (`POST /api/data`)."""
