"""Notification channels, the outbox, delivery through Apprise and SNS, and flood control (digests)."""
