"""The deployed local stack: its URL, keys and a database connection for checking what it stored."""

import os
import time
from typing import Any, Callable

import boto3
import httpx
import pytest
from sqlalchemy import create_engine, make_url

from tests.conftest import local_env


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
    engine = create_engine(make_url(stack["DATABASE_URL"]).set(drivername="postgresql+pg8000"))
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
