"""Ingest function: sensors POST readings here; they are queued durably before the 202."""

from hydroponics.observability import logger
from hydroponics.placeholder import not_yet_http


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:
    return not_yet_http("ingest", event)
