"""AC control function: applies air-conditioning commands from the FIFO queue, unit by unit."""

from hydroponics.climate.delivery import handle_batch
from hydroponics.monitoring.backlog import tracked
from hydroponics.observability import logger


@logger.inject_lambda_context(clear_state=True)
@tracked("ac-commands")
def handler(event: dict, context: object) -> dict:
    return handle_batch(event.get("Records", []))
