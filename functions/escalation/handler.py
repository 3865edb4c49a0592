"""Escalation function (every minute): escalates unacknowledged alerts, checks silent sensors,
sends notification digests and requeues notifications whose queue message was lost."""

from hydroponics.jobs.alerting import run_alerting_minute
from hydroponics.observability import logger


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:
    return run_alerting_minute()
