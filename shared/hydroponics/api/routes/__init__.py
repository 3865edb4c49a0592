"""The API's route modules; each exposes `router`, which api/app.py includes."""
