"""Retention function (daily 02:00 UTC): archives and drops expired time-series data."""

from hydroponics.observability import logger
from hydroponics.placeholder import not_yet_scheduled


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:
    return not_yet_scheduled("retention", event)
