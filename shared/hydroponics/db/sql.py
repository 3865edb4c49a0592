"""Statement text as the platform writes it: one line, single spaces, typed parameters.

pg8000 scans the statement text in Python on every run (hence one line), and sends parameters
untyped: a timestamp next to `- interval '1 day'` or inside jsonb_build_object() would be guessed
wrong or not at all, so statements name their timestamp and interval parameters' types, which
SQLAlchemy renders as casts.
"""

from sqlalchemy import DateTime, Interval, TextClause, bindparam, text
from sqlalchemy.types import TypeEngine

MOMENT = DateTime(timezone=True)
SPAN = Interval()


def statement(sql: str, **types: TypeEngine) -> TextClause:
    clause = text(" ".join(sql.split()))
    return clause.bindparams(*(bindparam(name, type_=kind) for name, kind in types.items())) if types else clause
