"""Notify function: delivers alert notifications from the notifications queue through the channels."""

from hydroponics.observability import logger
from hydroponics.placeholder import not_yet_batch


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:
    return not_yet_batch("notify", event)
