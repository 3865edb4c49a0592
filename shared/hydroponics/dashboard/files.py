"""The dashboard's page and static files, as a small Starlette app of their own: the api function serves
them without loading the API (a cold start for a stylesheet costs Starlette, not FastAPI and the database
layer), and the FastAPI app mounts the same routes. Imports nothing of the core on purpose."""

from importlib.resources import files

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from hydroponics.http_hygiene import DASHBOARD_POLICY, Hygiene

PAGE = "/dashboard"
STATIC = files("hydroponics.dashboard") / "static"

# The page's policy and headers live with every other reply's (hydroponics/http_hygiene.py).
CONTENT_SECURITY_POLICY = DASHBOARD_POLICY
# Vendored libraries live under a versioned path and never change there; the page's own files are
# revalidated (ETag) on every load, so a deploy shows at once.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


class DashboardFiles(StaticFiles):
    """The page's static files, with their cache rules."""

    def file_response(self, full_path, stat_result, scope, status_code=200):
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = IMMUTABLE if "/vendor/" in scope["path"] else REVALIDATE
        return response


def page(_: Request) -> FileResponse:
    return FileResponse(str(STATIC / "index.html"), media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": REVALIDATE})


def back_to_page(_: Request) -> RedirectResponse:
    # The page's relative links assume /dashboard; relative, so it holds behind any path prefix
    # (MiniStack serves the API under /_aws/execute-api/{id}, and passes /dashboard/ as /dashboard).
    return RedirectResponse("../dashboard", status_code=308)


def routes() -> list[BaseRoute]:
    return [Route(PAGE, page, methods=["GET", "HEAD"]), Route(f"{PAGE}/", back_to_page, methods=["GET", "HEAD"]),
            Mount(f"{PAGE}/static", app=DashboardFiles(directory=str(STATIC)), name="dashboard-static")]


def serves(path: str) -> bool:
    """Whether a request path is the page's or one of its files' (the rest is the API's)."""
    return path == PAGE or path.startswith(f"{PAGE}/")


def static_app() -> Hygiene:
    """The page and its files under the page's content security policy (and no request body at all)."""
    return Hygiene(Starlette(routes=routes()), max_body=0)
