"""Bulk moves between PostgreSQL and Arrow tables through COPY (CSV), on the session's own connection.

pg8000 decodes result rows one by one in Python (timestamps through strptime); COPY hands over the
bytes and pyarrow's CSV reader parses them in C++, an order of magnitude faster for a month of
readings. Timestamps cross as epoch microseconds (exact: EXTRACT returns numeric), floats as
PostgreSQL prints them (shortest text that reads back to the same double).
COPY takes no bind parameters, so the statements given here are built from values the caller
has already typed (UUIDs, datetimes) through `literal()`.
"""

import io
from datetime import datetime
from uuid import UUID

import pyarrow as pa
from pyarrow import csv
from sqlalchemy.orm import Session

def epoch_us(column: str) -> str:
    """SQL for a timestamptz column as whole epoch microseconds."""
    return f"(EXTRACT(EPOCH FROM {column}) * 1000000)::bigint"


def literal(value: UUID | datetime | str | None) -> str:
    """A typed value as an SQL literal (for COPY, which takes no parameters)."""
    if value is None:
        return "NULL"
    if isinstance(value, UUID):
        return f"'{value}'::uuid"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return f"'{value.isoformat()}'::timestamptz"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no literal for {type(value).__name__}")


def _dbapi(session: Session):
    return session.connection().connection.dbapi_connection


def copy_out(session: Session, query: str, schema: pa.Schema) -> pa.Table:
    """The rows of `query` (a SELECT, or a DELETE .. RETURNING) as an Arrow table of `schema`.

    Timestamp fields of the schema are read from epoch-microsecond integers (see epoch_us)."""
    buffer = io.BytesIO()
    cursor = _dbapi(session).cursor()
    try:
        cursor.execute(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)", stream=buffer)
    finally:
        cursor.close()
    raw_types = {f.name: (pa.int64() if pa.types.is_timestamp(f.type) else f.type) for f in schema}
    if buffer.tell() == 0:
        return schema.empty_table()
    buffer.seek(0)
    table = csv.read_csv(
        buffer,
        read_options=csv.ReadOptions(column_names=schema.names),
        parse_options=csv.ParseOptions(newlines_in_values=True),
        convert_options=csv.ConvertOptions(column_types=raw_types, strings_can_be_null=True,
                                           quoted_strings_can_be_null=False),
    )
    columns = [table.column(f.name).cast(f.type) if pa.types.is_timestamp(f.type) else table.column(f.name)
               for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def to_csv(table: pa.Table) -> bytes:
    """`table` as headerless CSV for COPY FROM, in PostgreSQL's conventions: NULL an unquoted empty
    field, an empty string `""`, timestamps as `2026-01-01 00:00:05.123456Z`."""
    sink = io.BytesIO()
    csv.write_csv(table, sink, write_options=csv.WriteOptions(include_header=False, quoting_style="needed"))
    return sink.getvalue()


def copy_in(session: Session, target: str, table: pa.Table, columns: list[str] | None = None) -> int:
    """COPY the rows of `table` into `target` (a table, usually a temporary one); returns how many."""
    if table.num_rows == 0:
        return 0
    names = columns or table.column_names
    cursor = _dbapi(session).cursor()
    try:
        cursor.execute(f"COPY {target} ({', '.join(names)}) FROM STDIN WITH (FORMAT csv)",
                       stream=io.BytesIO(to_csv(table.select(names))))
        return cursor.rowcount
    finally:
        cursor.close()
