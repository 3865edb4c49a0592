"""A PostgreSQL outage for one deployed stack only: its role may not log in and its sessions are ended.

Stopping the whole server would also take down every other checkout's stack and tests on the same
machine. What the platform sees is the same as in a fast shutdown: open connections are terminated
(FATAL 57P01, as a shutdown sends) and new ones are refused while the outage lasts.
"""

import os
import shutil
import subprocess
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import make_url


def _as_postgres(sql: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
                   check=True, capture_output=True, text=True)


def can_cause_outage() -> bool:
    """Only root can act as the postgres superuser over the local socket (as scripts/db-up does)."""
    return os.geteuid() == 0 and shutil.which("runuser") is not None and shutil.which("psql") is not None


@contextmanager
def database_outage(database_url: str) -> Iterator[None]:
    """While inside: the URL's role cannot connect and none of its sessions survive."""
    role = make_url(database_url).username
    assert role and role.replace("_", "").isalnum(), role
    _as_postgres(f"ALTER ROLE {role} NOLOGIN")
    try:
        _as_postgres(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
        yield
    finally:
        _as_postgres(f"ALTER ROLE {role} LOGIN")
