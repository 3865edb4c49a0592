"""A migrated throwaway database per test module, and the core pointed at it."""

from typing import Iterator

import pytest
from sqlalchemy import Engine, create_engine

from hydroponics.aws import client
from hydroponics.db import migrate
from hydroponics.db.engine import _session_factory, get_engine
from hydroponics.settings import get_settings


def reset_core_caches() -> None:
    """Forget settings, engine and clients, so the next use reads the (patched) environment."""
    for cached in (get_settings, get_engine, _session_factory, client):
        cached.cache_clear()


@pytest.fixture
def migrated_database_url(empty_database_url: str) -> str:
    migrate.upgrade(empty_database_url)
    return empty_database_url


@pytest.fixture
def platform_db(migrated_database_url: str, monkeypatch) -> Iterator[Engine]:
    """The core's own engine/session factory, configured for a freshly migrated database."""
    monkeypatch.setenv("DATABASE_URL", migrated_database_url)
    monkeypatch.delenv("DB_SECRET_ARN", raising=False)
    reset_core_caches()
    yield get_engine()
    get_engine().dispose()
    reset_core_caches()


@pytest.fixture
def db(migrated_database_url: str) -> Iterator[Engine]:
    engine = create_engine(migrated_database_url)
    yield engine
    engine.dispose()
