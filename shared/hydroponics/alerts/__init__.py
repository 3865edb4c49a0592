"""Alerts: lifecycle, silences, escalation policies and the operator actions on them."""
