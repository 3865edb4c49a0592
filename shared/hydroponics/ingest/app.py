"""The ingest function's HTTP app: only `POST /api/data`, the hot path, kept free of PostgreSQL."""

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from hydroponics import __version__
from hydroponics.api.deps import acting_client, add_rate_limit_headers, rate_limited
from hydroponics.api.errors import ErrorOut, install_error_handlers
from hydroponics.correlation import current_correlation_id
from hydroponics.http_hygiene import INGEST_BODY_LIMIT, Hygiene
from hydroponics.ingest.service import check_content_type, ingest
from hydroponics.monitoring.requests import RequestMetrics
from hydroponics.readings.incoming import MAX_BATCH, IncomingReading

router = APIRouter(tags=["readings"])

_READING = IncomingReading.model_json_schema()
_BATCH = {"type": "array", "items": _READING, "maxItems": MAX_BATCH}
_BODY_DOC = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "oneOf": [_READING, _BATCH, {"type": "object", "properties": {"readings": _BATCH}, "required": ["readings"]}]}}}}}


@router.post("/api/data", status_code=202, dependencies=[Depends(rate_limited("ingest", needs="device"))],
             summary="Post sensor readings (one, or a batch of up to 500)", openapi_extra=_BODY_DOC,
             responses={202: {"description": "Queued durably; stored and evaluated shortly after"},
                        413: {"model": ErrorOut, "description": "Body or batch too large"},
                        422: {"model": ErrorOut, "description": "Invalid reading(s): each error names the field and "
                                                                "reason"},
                        503: {"model": ErrorOut, "description": "Queue unavailable (see Retry-After); nothing was "
                                                                "accepted"}})
async def post_readings(request: Request, client_id=Depends(acting_client)) -> JSONResponse:
    """Legacy devices send `{"sensor_type", "value", "timestamp"?, "location"?}` with `X-API-Key` and
    `X-Client-Id`; a batch is a JSON array or `{"readings": [...]}` and gets per-reading results."""
    check_content_type(request.headers.get("content-type"))
    outcome = ingest(await request.body(), client_id, current_correlation_id())
    return JSONResponse(outcome.body(), status_code=202)


def create_ingest_app() -> FastAPI:
    app = FastAPI(title="Hydroponic farm platform: sensor ingest", version=__version__, docs_url=None,
                  redoc_url=None, openapi_url=None)  # documented by the api function's /docs
    install_error_handlers(app)
    add_rate_limit_headers(app)
    app.add_middleware(RequestMetrics, function="ingest")
    app.include_router(router)
    app.add_middleware(Hygiene, max_body=INGEST_BODY_LIMIT)
    return app
