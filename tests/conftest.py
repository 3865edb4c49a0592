"""Fixtures shared by every test layer: where PostgreSQL and the local stack are."""

import os
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import URL

ROOT = Path(__file__).resolve().parent.parent


def _read_env_file(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def local_env() -> dict[str, str]:
    """What scripts/up and scripts/db-up wrote: database URL, API URL, demo keys."""
    env = _read_env_file(ROOT / ".local" / "db.env") | _read_env_file(ROOT / ".local" / "stack.env")
    return env | {key: os.environ[key] for key in env if key in os.environ}


def _server_url() -> URL:
    url = os.environ.get("DATABASE_URL") or local_env().get("DATABASE_URL")
    if not url:
        pytest.skip("no DATABASE_URL and no .local/db.env: run scripts/db-up first")
    return make_url(url).set(drivername="postgresql+pg8000")


@pytest.fixture
def empty_database_url() -> Iterator[str]:
    """A brand-new, empty database on the test server, dropped after the test."""
    server = _server_url()
    name = f"hydroponics_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
