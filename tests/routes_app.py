"""A FastAPI app over chosen route modules for tests: the caller named by a header, rate limits off."""

from types import ModuleType
from uuid import UUID

from fastapi import FastAPI, Request

from hydroponics.api.deps import current_caller
from hydroponics.api.errors import install_error_handlers
from hydroponics.auth.caller import Caller

LIMITS = ("api_limit", "control_limit", "callback_limit", "test_limit")  # the rate-limit dependencies route modules expose


def header_caller(request: Request) -> Caller:
    """Stands in for the key lookup: a key of the farm in X-Test-Client, or an admin key with X-Test-Admin."""
    if request.headers.get("x-test-admin"):
        return Caller(key_hash="a" * 64, prefix="hk_admin", client_id=None, scope="admin")
    return Caller(key_hash="x" * 64, prefix="hk_test", client_id=UUID(request.headers["x-test-client"]))


def routes_app(*modules: ModuleType) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    for module in modules:
        app.include_router(module.router)
        for name in LIMITS:
            if hasattr(module, name):
                app.dependency_overrides[getattr(module, name)] = lambda: None
    app.dependency_overrides[current_caller] = header_caller
    return app
