"""Escalation function (every minute): escalates alerts nobody acknowledged in time."""

from hydroponics.observability import logger
from hydroponics.placeholder import not_yet_scheduled


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:
    return not_yet_scheduled("escalation", event)
