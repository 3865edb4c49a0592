"""Monitoring: the platform's state read from its authoritative sources, as plain values.

queues (SQS depths), backlog (age of the oldest message a consumer handed back), state (one
PostgreSQL statement: connections, readings stored, ingest lag, alerts, notifications, AC commands,
failed tasks, scheduled jobs, partitions) and requests (request counts and latencies the functions
add up in DynamoDB). None of these depend on prometheus-client: `exposition` turns a `scrape`
into the text `/metrics` serves.
"""
