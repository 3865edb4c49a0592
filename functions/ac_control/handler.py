"""AC control function: applies air-conditioning commands from the FIFO queue, unit by unit."""

from hydroponics.observability import logger
from hydroponics.placeholder import not_yet_batch


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:
    return not_yet_batch("ac_control", event)
