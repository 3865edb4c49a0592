"""Ingest function: sensors POST readings here; they are queued durably before the 202."""

from mangum import Mangum

from hydroponics.ingest.app import create_ingest_app
from hydroponics.observability import logger

_asgi = Mangum(create_ingest_app(), lifespan="off")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:
    return _asgi(event, context)
