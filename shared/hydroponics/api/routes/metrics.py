"""`GET /metrics`: the platform's state for Prometheus, for the metrics token (`Authorization: Bearer`) or an admin key."""

import hmac
from functools import lru_cache

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from hydroponics.api.deps import current_caller
from hydroponics.aws import client
from hydroponics.errors import Forbidden, Unauthorized
from hydroponics.monitoring.exposition import CONTENT_TYPE, render
from hydroponics.monitoring.scrape import cached
from hydroponics.settings import get_settings

router = APIRouter(tags=["platform"])
TOKEN_MAX_AGE_SECONDS = 300  # a rotated token is picked up within 5 minutes


@lru_cache(maxsize=1)
def _secrets() -> SecretsProvider:
    return SecretsProvider(boto3_client=client("secretsmanager"))


def metrics_token() -> str | None:
    """The token scrapers present: METRICS_TOKEN when set (local runs), else the Secrets Manager secret."""
    settings = get_settings()
    if settings.metrics_token is not None:
        return settings.metrics_token.get_secret_value()
    if settings.metrics_token_secret_arn:
        return _secrets().get(settings.metrics_token_secret_arn, max_age=TOKEN_MAX_AGE_SECONDS)
    return None


async def _authorise(request: Request) -> None:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and presented:
        expected = metrics_token()
        if expected and hmac.compare_digest(presented.encode(), expected.encode()):
            return
        raise Unauthorized("invalid metrics token")
    if not request.headers.get("x-api-key"):
        raise Unauthorized("send the metrics token (Authorization: Bearer ...) or an admin key (X-API-Key)")
    if not (await current_caller(request)).is_admin:
        raise Forbidden("metrics need the metrics token or an admin key")


@router.get("/metrics", summary="Prometheus metrics (text exposition); the metrics token or an admin key",
            response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}},
                                                401: {"description": "No or a wrong token or key"},
                                                403: {"description": "A key that is not an admin key"}})
async def metrics(request: Request) -> Response:
    await _authorise(request)
    body = await run_in_threadpool(cached.get, render)  # blocking sources: off the event loop
    return Response(body, media_type=CONTENT_TYPE)
