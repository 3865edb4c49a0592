"""The JSON error shape every endpoint answers with: {"error": {"code", "message", "details"}}."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hydroponics.errors import DomainError
from hydroponics.observability import logger
from hydroponics.text import UNPAIRED_SURROGATE, escaped

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
               409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_error",
               429: "rate_limited", 503: "service_unavailable"}


def _echoable(detail: dict) -> dict:
    """A detail whose field and reason can be sent back as JSON: a field path may hold a key the caller
    sent (a NUL, an unpaired surrogate, which would not even encode), so such characters are escaped."""
    return {key: escaped(value) if key in ("field", "reason") and isinstance(value, str) else value
            for key, value in detail.items()}


def error_body(code: str, message: str, details: list | None = None) -> dict:
    return {"error": {"code": code, "message": message,
                      "details": [_echoable(d) if isinstance(d, dict) else d for d in details or []]}}


def _field_errors(exc: RequestValidationError) -> list[dict]:
    """One entry per invalid field: where it is (dotted) and why it was refused."""
    return [
        {"field": ".".join(str(part) for part in err["loc"] if part != "body") or "body",
         "reason": UNPAIRED_SURROGATE if err["type"] == "string_unicode" else err["msg"]}
        for err in exc.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.details), exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("validation_error", "request is invalid", _field_errors(exc)), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return JSONResponse(error_body("internal_error", "internal error"), 500)
