"""The one SQLAlchemy engine and session factory (postgresql+pg8000, small pool per container)."""

import json
import socket
from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

from hydroponics.aws import client
from hydroponics.settings import Settings, get_settings


def database_url(settings: Settings) -> URL:
    """Where PostgreSQL is: the Secrets Manager secret when configured, else DATABASE_URL."""
    if settings.db_secret_arn:
        secret = json.loads(client("secretsmanager").get_secret_value(SecretId=settings.db_secret_arn)["SecretString"])
        return URL.create(
            "postgresql+pg8000",
            username=secret["username"],
            password=secret.get("password") or None,
            host=secret.get("host") or settings.db_host,
            port=int(secret.get("port") or settings.db_port),
            database=secret.get("dbname") or settings.db_name,
        )
    assert settings.database_url is not None  # guaranteed by Settings' validator
    return make_url(settings.database_url.get_secret_value()).set(drivername="postgresql+pg8000")


def _send_at_once(dbapi_connection, _record) -> None:
    """Set TCP_NODELAY, as libpq does and pg8000 does not: without it every statement over 8 KiB
    (a batch of readings) waits ~40 ms for the server's delayed ACK (bench/README.md, Store)."""
    sock = getattr(dbapi_connection, "_usock", None)
    if sock is not None and sock.family != socket.AF_UNIX:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    """The process-wide engine, created lazily; pre-ping drops connections the proxy closed."""
    settings = get_settings()
    engine = create_engine(
        database_url(settings),
        pool_size=settings.db_pool_size,
        max_overflow=2,
        pool_pre_ping=True,
        pool_recycle=300,
        pool_timeout=10,
        connect_args={"timeout": 5},
    )
    event.listen(engine, "connect", _send_at_once)
    return engine


@lru_cache(maxsize=1)
def _session_factory() -> sessionmaker[Session]:
    return sessionmaker(get_engine(), expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A unit of work: commits when the block succeeds, rolls back when it raises."""
    with _session_factory().begin() as session:
        yield session
