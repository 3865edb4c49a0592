"""Core of the hydroponic farm platform: domain, services, adapters and the HTTP API."""

__version__ = "0.1.0"
