"""API function: the operators' REST API (FastAPI) behind API Gateway, through Mangum.

The dashboard's page and files go to a small Starlette app instead, and the API is loaded on the
first request that needs it: the browser fetches a dozen files at once, each may land on a fresh
execution environment, and none of those should pay for importing the whole API (seconds, not
tenths, on a busy 2-core machine).
"""

from mangum import Mangum

from hydroponics.dashboard.files import serves, static_app

_static = Mangum(static_app(), lifespan="off")
_api = None


def _api_handler():
    global _api
    if _api is None:
        from hydroponics.api.app import create_app
        from hydroponics.observability import logger

        asgi = Mangum(create_app(), lifespan="off")
        _api = logger.inject_lambda_context(clear_state=True)(lambda event, context: asgi(event, context))
    return _api


def handler(event: dict, context: object) -> dict:
    if serves(event.get("rawPath") or event.get("path") or ""):
        return _static(event, context)
    return _api_handler()(event, context)
