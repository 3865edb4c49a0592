"""The deployed local stack: its URL, keys and a database connection for checking what it stored."""

import json
import os
import time
import uuid
from typing import Any, Callable

import boto3
import httpx
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import create_engine, make_url, text

from tests.conftest import local_env
from tests.mail_server import free_port


@pytest.fixture(scope="session")
def stack() -> dict[str, str]:
    env = local_env()
    missing = {"API_URL", "API_KEY", "CLIENT_ID", "DATABASE_URL"} - env.keys()
    if missing:
        pytest.fail(f"the local stack is not deployed ({', '.join(sorted(missing))} missing): run scripts/deploy")
    return env


@pytest.fixture(scope="session")
def api(stack) -> httpx.Client:
    with httpx.Client(base_url=stack["API_URL"], timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def stack_db(stack):
    # pre-ping: a database outage test (tests/outage.py) ends this role's sessions, pooled ones included
    engine = create_engine(make_url(stack["DATABASE_URL"]).set(drivername="postgresql+pg8000"), pool_pre_ping=True)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def aws(stack) -> Callable[[str], Any]:
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    return lambda service: session.client(service, endpoint_url=endpoint)


def wait_for(condition: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Poll `condition` until it returns something truthy; fail with the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


@pytest.fixture(scope="session")
def make_client(stack):
    """Create another client with a key (and optional rate-limit overrides) in the deployed stack."""
    from hydroponics.auth.api_keys import create_api_key
    from hydroponics.records.clients import create_client
    from hydroponics.db.engine import session_scope
    from tests.integration.conftest import reset_core_caches

    def make(name: str, rate_limits: dict[str, int] | None = None) -> dict[str, str]:
        with pytest.MonkeyPatch.context() as patch:
            for variable in ("DATABASE_URL", "API_KEYS_TABLE"):
                patch.setenv(variable, stack[variable])
            patch.setenv("AWS_ENDPOINT_URL", os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"))
            for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                patch.setenv(variable, "test")
            patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
            reset_core_caches()
            with session_scope() as session:
                client_id = create_client(session, f"{name} {uuid.uuid4().hex[:6]}",
                                          settings={"rate_limits": rate_limits or {}})
                _, key = create_api_key(session, client_id, f"{name} e2e key")
        reset_core_caches()
        return {"client_id": str(client_id), "key": key.secret,
                "headers": {"X-API-Key": key.secret, "X-Client-Id": str(client_id)}}

    return make


@pytest.fixture(scope="session")
def demo_device(stack) -> dict[str, str]:
    return {"X-API-Key": stack["API_KEY"], "X-Client-Id": stack["CLIENT_ID"]}


@pytest.fixture
def short_backoff(stack) -> float:
    delays = json.loads(stack.get("NOTIFY_BACKOFF_SECONDS", "[60,300,900]"))
    if max(delays) > 5:
        pytest.skip(f"the stack retries notifications after {delays} s: deploy it with scripts/test "
                    "(or NOTIFY_BACKOFF_SECONDS='[2,2,2]' scripts/deploy)")
    return float(sum(delays))


@pytest.fixture
def receiver():
    server = HTTPServer(host="127.0.0.1", port=free_port())
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def stored_readings(stack_db, client_id: str) -> tuple[int, int]:
    """(rows, distinct (sensor, time) pairs) of a client's readings: equal when none was stored twice."""
    with stack_db.connect() as conn:
        return tuple(conn.execute(text(
            "SELECT count(*), count(DISTINCT (r.sensor_id, r.recorded_at)) FROM readings r"
            " JOIN sensors s ON s.id = r.sensor_id WHERE s.client_id = :c"), {"c": client_id}).one())
