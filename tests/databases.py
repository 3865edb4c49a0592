"""Throwaway databases on the test server, for tests and benchmarks alike."""

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import URL

ROOT = Path(__file__).resolve().parent.parent


def read_env_file(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def server_url() -> URL | None:
    """The PostgreSQL server: DATABASE_URL, else what scripts/db-up wrote to .local/db.env."""
    url = os.environ.get("DATABASE_URL") or read_env_file(ROOT / ".local" / "db.env").get("DATABASE_URL")
    return make_url(url).set(drivername="postgresql+pg8000") if url else None


@contextmanager
def throwaway_database(prefix: str = "hydroponics_test") -> Iterator[str]:
    """A brand-new, empty database on the server, dropped (connections and all) afterwards."""
    server = server_url()
    if server is None:
        raise RuntimeError("no DATABASE_URL and no .local/db.env: run scripts/db-up first")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
