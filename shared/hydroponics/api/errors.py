"""The JSON error shape every endpoint answers with: {"error": {"code", "message", "details"}}."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from hydroponics.errors import DomainError
from hydroponics.text import UNPAIRED_SURROGATE, escaped

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
               409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_error",
               429: "rate_limited", 503: "service_unavailable"}


class FieldProblem(BaseModel):
    field: str = Field(description="where: a dotted path into the body, or query.<name>, path.<name>")
    reason: str


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, e.g. not_found, validation_error, rate_limited")
    message: str
    details: list[FieldProblem] = Field(description="each invalid field with the reason (may be empty)")


class ErrorOut(BaseModel):
    """Every error's body."""

    error: ErrorDetail


_DOCUMENTED = {401: "No API key, or an unknown, expired or revoked one",
               403: "The key may not do this (its scope, or another client's X-Client-Id)",
               404: "Not found (another client's records are not found either)",
               409: "Conflicts with the record's state (e.g. a name already taken)",
               413: "The request body is too large", 415: "The body is not JSON",
               422: "Invalid input: each invalid field is named with the reason",
               429: "Rate limit exceeded, or too many failed key attempts from the address: see Retry-After",
               503: "A service the request needs is unavailable: see Retry-After"}
# Documented on every route of the API, so /openapi.json describes every answer it can give.
ERROR_RESPONSES: dict[int | str, dict] = {status: {"model": ErrorOut, "description": text}
                                          for status, text in _DOCUMENTED.items()}


def _echoable(detail: dict) -> dict:
    """A detail whose field and reason can be sent back as JSON: a field path may hold a key the caller
    sent (a NUL, an unpaired surrogate, which would not even encode), so such characters are escaped."""
    return {key: escaped(value) if key in ("field", "reason") and isinstance(value, str) else value
            for key, value in detail.items()}


NOT_JSON = {"field": "body", "reason": "is not valid JSON (or not UTF-8)"}
_UNPARSABLE_BODY = "There was an error parsing the body"  # FastAPI's HTTPException detail for a body it cannot decode


def error_body(code: str, message: str, details: list | None = None) -> dict:
    return {"error": {"code": code, "message": message,
                      "details": [_echoable(d) if isinstance(d, dict) else d for d in details or []]}}


def _field_errors(exc: RequestValidationError) -> list[dict]:
    """One entry per invalid field: where it is (dotted) and why it was refused."""
    return [
        NOT_JSON if err["type"] == "json_invalid" else
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
        if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
            # bad input is a 422 naming the field, as everywhere else (FastAPI's own answer is a bare 400)
            return JSONResponse(error_body("validation_error", "request body is not valid JSON", [NOT_JSON]), 422)
        code = _HTTP_CODES.get(exc.status_code, "error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=getattr(exc, "headers", None))
    # An unexpected exception is answered by hydroponics.http_hygiene.Hygiene (the apps' outermost
    # layer, so the 500 carries the security headers too): "internal error", nothing of the exception.
