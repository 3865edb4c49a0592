"""Counts the SQL statements an engine runs inside a block (the no-N+1 checks use it), and the round
trips to PostgreSQL (every wait for the server's answer, whatever sent it: BEGIN, a ping, a parse)."""

from contextlib import contextmanager
from typing import Iterator

from pg8000.core import CoreConnection
from sqlalchemy import Engine, event


@contextmanager
def recorded_statements(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


@contextmanager
def counted_round_trips() -> Iterator[list[int]]:
    """[n]: how many times any pg8000 connection waited for the server inside the block."""
    count = [0]
    handle_messages = CoreConnection.handle_messages

    def counting(self, context):
        count[0] += 1
        return handle_messages(self, context)

    CoreConnection.handle_messages = counting
    try:
        yield count
    finally:
        CoreConnection.handle_messages = handle_messages
