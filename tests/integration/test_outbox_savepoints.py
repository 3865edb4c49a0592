"""Staged notifications and AC commands are published once the transaction commits, not when a savepoint
inside it is released (a rule's AC action runs in one): the notify function would find no row yet."""

import uuid

from sqlalchemy import text

from hydroponics.climate import commands
from hydroponics.db.engine import session_scope
from hydroponics.notifications import outbox


def test_a_released_savepoint_publishes_nothing_and_the_commit_publishes_everything(platform_db, monkeypatch):
    published: list[tuple[str, list]] = []
    monkeypatch.setattr(outbox, "publish", lambda ids: published.append(("notifications", list(ids))))
    monkeypatch.setattr(commands, "publish", lambda pairs: published.append(("ac", list(pairs))))
    notification, command, unit = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with session_scope() as session:
        outbox.stage(session, [notification])
        with session.begin_nested():
            commands.stage(session, [(command, unit)])
            session.execute(text("SELECT 1"))
        assert published == []
        try:
            with session.begin_nested():
                raise ValueError("a domain error inside the action's savepoint")
        except ValueError:
            pass
        assert published == []
    assert sorted(published) == [("ac", [(command, unit)]), ("notifications", [notification])]
