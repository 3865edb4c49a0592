"""Fixtures shared by every test layer: where PostgreSQL and the local stack are."""

import os
from typing import Iterator

import pytest

from tests.databases import ROOT, read_env_file, server_url, throwaway_database

__all__ = ["ROOT", "local_env"]

# The tests' receivers (SMTP, HTTP, MQTT) listen on 127.0.0.1, which the outbound policy refuses unless
# allowed, as scripts/deploy allows it for the local stack (tests of the policy set their own).
os.environ.setdefault("OUTBOUND_ALLOW", "127.0.0.1")


def local_env() -> dict[str, str]:
    """What scripts/up and scripts/db-up wrote: database URL, API URL, demo keys."""
    env = read_env_file(ROOT / ".local" / "db.env") | read_env_file(ROOT / ".local" / "stack.env")
    return env | {key: os.environ[key] for key in env if key in os.environ}


@pytest.fixture
def empty_database_url() -> Iterator[str]:
    """A brand-new, empty database on the test server, dropped after the test."""
    if server_url() is None:
        pytest.skip("no DATABASE_URL and no .local/db.env: run scripts/db-up first")
    with throwaway_database() as url:
        yield url


def pytest_collection_modifyitems(config, items):
    """Long load, soak and fault runs (marker `load`) run only with `scripts/test --load` (RUN_LOAD=1).

    The MiniStack restart test runs last: it redeploys the stack, under a new API URL.
    """
    items.sort(key=lambda item: "test_ministack_restart.py" in item.nodeid)
    if os.environ.get("RUN_LOAD") == "1":
        return
    skip = pytest.mark.skip(reason="long run: use scripts/test --load")
    for item in items:
        if "load" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def name_server(monkeypatch):
    """The outbound policy resolves through a NameServer (tests/resolver.py): names answer what the test says."""
    from hydroponics import outbound
    from tests.resolver import NameServer

    server = NameServer()
    monkeypatch.setattr(outbound, "_resolver", server)
    return server
