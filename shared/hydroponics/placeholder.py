"""Behaviour of functions whose issue has not landed yet: deployable, invocable, and honest about it.

A scheduled job still records each run in the events log (so operators and tests can see the
schedule fire); a queue consumer leaves its messages on the queue (they are not lost); an HTTP
function answers 501 in the API's error shape.
"""

import json

from sqlalchemy import text

from hydroponics.db.engine import session_scope
from hydroponics.observability import logger


def not_yet_scheduled(job: str, event: dict) -> dict:
    logger.info("scheduled job ran (not implemented yet)", extra={"job": job})
    with session_scope() as session:
        session.execute(
            text("INSERT INTO events (event_type, actor, subject_type, subject_id, details)"
                 " VALUES ('job.ran', 'scheduler', 'job', :job, CAST(:details AS jsonb))"),
            {"job": job, "details": json.dumps({"implemented": False, "input": event})},
        )
    return {"job": job, "implemented": False}


def not_yet_batch(consumer: str, event: dict) -> dict:
    records = event.get("Records", [])
    logger.warning("consumer not implemented yet; returning messages to the queue", extra={"consumer": consumer})
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]}


def not_yet_http(function: str, event: dict) -> dict:
    body = {"error": {"code": "not_implemented", "message": f"{function} is not available yet", "details": []}}
    return {"statusCode": 501, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}
