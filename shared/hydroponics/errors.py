"""Domain errors; the API maps each to one HTTP status in exactly one place (api/errors.py)."""


class DomainError(Exception):
    """Base of every error the core raises on purpose; `code` is stable for clients."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: list[dict] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.headers = headers or {}


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    status_code = 415
    code = "unsupported_media_type"


class InvalidInput(DomainError):
    """Input that parsed but breaks the domain's rules; `details` lists {field, reason}."""

    status_code = 422
    code = "validation_error"


class RateLimited(DomainError):
    """Over a rate limit; carries the X-RateLimit-* and Retry-After headers."""

    status_code = 429
    code = "rate_limited"


class ServiceUnavailable(DomainError):
    status_code = 503
    code = "service_unavailable"
