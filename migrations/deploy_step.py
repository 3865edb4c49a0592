"""Migrate function: the deployment's migrate step, `alembic upgrade head` on the stack's database.

It is deployed with this folder as its code, so it applies exactly the revision chain it ships with.
"""

import os

from hydroponics.db import migrate
from hydroponics.observability import logger

os.environ.setdefault("MIGRATIONS_DIR", os.path.dirname(os.path.abspath(__file__)))


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:
    revision = (event or {}).get("revision", "head")
    migrate.upgrade(revision=revision)
    logger.info("database migrated", extra={"revision": revision})
    return {"migrated_to": revision}
