"""Notification channels, the outbox, delivery through Apprise and SNS, flood control and dead letters."""
