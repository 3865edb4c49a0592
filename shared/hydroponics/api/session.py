"""The database session dependency of the api function's routes."""

from typing import Iterator

from sqlalchemy.orm import Session

from hydroponics.db.engine import session_scope


def db_session() -> Iterator[Session]:
    """A unit of work per request: committed when the endpoint returns, rolled back if it raises."""
    with session_scope() as session:
        yield session
