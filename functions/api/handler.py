"""API function: the operators' REST API (FastAPI) behind API Gateway, through Mangum."""

from mangum import Mangum

from hydroponics.api.app import create_app
from hydroponics.observability import logger

_asgi = Mangum(create_app(), lifespan="off")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:
    return _asgi(event, context)
