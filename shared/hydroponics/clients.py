"""Clients: the farms using the platform (their records live in hydroponics.records.clients)."""

from hydroponics.records.clients import create_client, find_client_by_name, set_rate_limits

__all__ = ["create_client", "find_client_by_name", "set_rate_limits"]
