"""The one SQLAlchemy engine and session factory (postgresql+pg8000, small pool per container).

Round trips are what a statement costs here, so the engine spends none it can avoid:
- no pre-ping on every checkout: a connection idle for PING_AFTER_IDLE_SECONDS or more is pinged
  (one simple query, no transaction) and replaced if dead; one in steady use is not. Hot paths
  that can repeat their work (reads, the idempotent store) retry once on a connection that turns
  out dead instead (`read_one`, readings/batch.py).
- reads run outside a transaction (`read_one`): pg8000 sends BEGIN and COMMIT as round trips of
  their own, which a single SELECT does not need.
- hot statements run as server-side prepared statements (execution option `prepared=True`): pg8000
  sends an unnamed statement in three round trips (parse, describe, then bind and execute) and
  scans its text in Python each time; a prepared one is parsed once per connection and then
  costs one round trip a run.
"""

import json
import socket
import time
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Callable, Iterator, TypeVar
from weakref import WeakKeyDictionary

from pg8000.converters import make_params
from pg8000.dbapi import IntegrityError, ProgrammingError, convert_paramstyle
from pg8000.exceptions import DatabaseError, InterfaceError
from sqlalchemy import URL, Connection, Engine, Row, create_engine, event, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import TextClause

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


PING_AFTER_IDLE_SECONDS = 10.0
_IDLE_SINCE = "idle_since"
T = TypeVar("T")


def _checked_in(_dbapi_connection, record) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
    """Ping a connection that sat idle (a Lambda container thawed, a proxy that may have closed it);
    the pool replaces it if the ping fails. Connections in steady use go out unpinged."""
    idle_since = record.info.get(_IDLE_SINCE)
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
        return
    try:
        dbapi_connection.execute_simple("SELECT 1")  # simple query protocol: no BEGIN first
    except Exception as exc:  # noqa: BLE001 - any failure means this connection is no good
        raise DisconnectionError(str(exc)) from exc


# Per pg8000 connection: statement text -> (name, columns, input converters) of its prepared statement.
# Only statements marked `prepared` (a fixed, small set of texts) are kept, for the connection's life.
_PREPARED: WeakKeyDictionary[Any, dict[str, tuple]] = WeakKeyDictionary()


def _driver_error(exc: DatabaseError) -> Exception:
    """The class pg8000's own cursor raises for a server error (what the rest of the code expects)."""
    fields = exc.args[0] if exc.args else None
    if not isinstance(fields, dict):
        return ProgrammingError(fields)
    return {"28000": InterfaceError, "23505": IntegrityError}.get(fields.get("C"), ProgrammingError)(fields)


def _execute_prepared(cursor, statement: str, parameters, context) -> bool:
    """SQLAlchemy's do_execute hook: a statement with execution option `prepared` runs as this
    connection's server-side prepared statement, as pg8000's cursor would otherwise run it unnamed
    (same transaction handling, same errors; SQLAlchemy wraps them and spots disconnects as usual)."""
    if not context.execution_options.get("prepared"):
        return False
    connection = cursor._c
    statements = _PREPARED.setdefault(connection, {})
    try:
        if not connection._in_transaction and not connection.autocommit:
            connection.execute_simple("begin transaction")
        prepared = statements.get(statement)
        if prepared is None:
            native, _ = convert_paramstyle("format", statement, parameters)
            prepared = statements[statement] = connection.prepare_statement(native, ())
        name, columns, input_funcs = prepared
        cursor._context = connection.execute_named(name, make_params(connection.py_types, parameters), columns,
                                                   input_funcs, statement)
        cursor._row_iter = iter(cursor._context.rows or [])
    except DatabaseError as exc:
        raise _driver_error(exc) from exc
    except OSError as exc:  # pg8000 lets a reset on the first read of an answer through unwrapped
        raise InterfaceError("network error") from exc
    return True


def _fatal_is_a_disconnect(context) -> None:
    """A FATAL error (e.g. 57P01, the session was terminated) means the server closed the session:
    mark it a disconnect, so the pool drops the connection and a retry gets a fresh one."""
    fields = getattr(context.original_exception, "args", None) or [None]
    if isinstance(fields[0], dict) and fields[0].get("S") == "FATAL":
        context.is_disconnect = True


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    """The process-wide engine, created lazily (see the module docstring on pings and round trips)."""
    settings = get_settings()
    engine = create_engine(
        database_url(settings),
        pool_size=settings.db_pool_size,
        max_overflow=2,
        pool_recycle=300,
        pool_timeout=10,
        connect_args={"timeout": 5},
    )
    event.listen(engine, "connect", _send_at_once)
    event.listen(engine.pool, "checkin", _checked_in)
    event.listen(engine.pool, "checkout", _ping_if_idle)
    event.listen(engine, "do_execute", _execute_prepared)
    event.listen(engine, "handle_error", _fatal_is_a_disconnect)
    return engine


def retrying_once(work: Callable[[], T]) -> T:
    """Run `work` (safe to repeat); if its connection turned out dead, once more on a fresh one."""
    try:
        return work()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    return work()


@contextmanager
def _outside_transaction() -> Iterator[Connection]:
    """A pooled connection whose statements each commit on their own (pg8000 autocommit): no BEGIN or
    COMMIT round trips. Flipped on the DBAPI connection, not through SQLAlchemy's isolation level,
    whose reset on check-in costs two more round trips with pg8000."""
    with get_engine().connect() as connection:
        dbapi_connection = connection.connection.dbapi_connection
        dbapi_connection.autocommit = True
        try:
            yield connection
        finally:
            dbapi_connection.autocommit = False


def one_statement(work: Callable[[Connection], T]) -> T:
    """Run `work`, one statement that is safe to repeat (a read, an idempotent write), on a connection
    outside a transaction: the statement is atomic on its own, so it costs its own round trip and no
    BEGIN or COMMIT. Retried once on a fresh connection if the first one turned out dead."""
    def run() -> T:
        with _outside_transaction() as connection:
            return work(connection)
    return retrying_once(run)


def read_one(statement: TextClause, parameters: dict[str, Any]) -> Row:
    """The one row of a read-only statement: one round trip (prepared), retried once on a dead connection."""
    return one_statement(lambda connection: connection.execute(statement.execution_options(prepared=True),
                                                               parameters).one())


@lru_cache(maxsize=1)
def _session_factory() -> sessionmaker[Session]:
    return sessionmaker(get_engine(), expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A unit of work: commits when the block succeeds, rolls back when it raises."""
    with _session_factory().begin() as session:
        yield session
