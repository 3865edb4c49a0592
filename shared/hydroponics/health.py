"""Health of the platform's dependencies: can this function reach PostgreSQL and its queue."""

from sqlalchemy import text

from hydroponics import __version__
from hydroponics.aws import client
from hydroponics.db.engine import get_engine
from hydroponics.observability import logger
from hydroponics.settings import get_settings


def _database_ok() -> bool:
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means "not reachable"; the reason goes to the log only
        logger.exception("health: database unreachable")
        return False


def _queue_ok() -> bool:
    queue_url = get_settings().readings_queue_url
    if not queue_url:
        return False
    try:
        client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
        return True
    except Exception:
        logger.exception("health: readings queue unreachable")
        return False


def check_health() -> dict:
    checks = {"database": _database_ok(), "readings_queue": _queue_ok()}
    return {"status": "ok" if all(checks.values()) else "degraded", "version": __version__, "checks": checks}
