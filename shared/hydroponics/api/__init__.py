"""The operators' HTTP API (FastAPI, served by Mangum in the api function)."""
