"""Retention function (daily 02:00 UTC, or started through POST /admin/retention/run): creates the
coming months' readings partitions, archives expired readings and events to S3, then drops or
deletes them; every run is recorded in retention_runs (see hydroponics/retention/job.py)."""

from uuid import UUID

from hydroponics.observability import logger
from hydroponics.retention.job import run_retention


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:
    run_id = event.get("run_id")
    record = run_retention(requested_by=event.get("requested_by", "scheduler"),
                           run_id=UUID(run_id) if run_id else None)
    logger.info("retention run finished", extra={"run_id": str(record.id), "status": record.status,
                                                  "errors": record.errors})
    return {"job": "retention", "run_id": str(record.id), "status": record.status,
            "partitions_created": record.partitions_created, "partitions_dropped": record.partitions_dropped,
            "readings_archived": record.readings_archived, "events_archived": record.events_archived}
