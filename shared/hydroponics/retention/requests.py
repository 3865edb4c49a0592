"""What the API asks of retention: a dry run (read-only, here), or a run started on the retention function.

No pyarrow here: the api function imports this at start, and the archive's code only when it runs.
"""

import json
from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import text

from hydroponics.aws import client
from hydroponics.db.engine import session_scope
from hydroponics.errors import ServiceUnavailable
from hydroponics.retention.horizons import current_horizons
from hydroponics.retention.plan import RetentionPlan, plan_retention
from hydroponics.retention.runs import JOB, RunRecord, finish_run, get_run, queue_run
from hydroponics.settings import get_settings



def dry_run(now: datetime | None = None) -> RetentionPlan:
    """What a run would do now, changing nothing (a read-only transaction)."""
    with session_scope() as session:
        session.execute(text("SET TRANSACTION READ ONLY"))
        return plan_retention(session, current_horizons(session, now))


def request_run(requested_by: str) -> RunRecord:
    """Queue a run and start the retention function on it asynchronously (the API's real run).

    409 if a run is already queued or running; 503, with the run recorded as failed, if the function
    cannot be started."""
    function = get_settings().retention_function_name
    if not function:
        raise ServiceUnavailable("RETENTION_FUNCTION_NAME is not configured: start runs with the CLI")
    with session_scope() as session:
        run_id = queue_run(session, requested_by)
    try:
        client("lambda").invoke(FunctionName=function, InvocationType="Event", Payload=json.dumps(
            {"job": JOB, "run_id": str(run_id), "requested_by": requested_by}).encode())
    except (BotoCoreError, ClientError) as exc:
        with session_scope() as session:
            finish_run(session, run_id, "failed", [{"step": "start", "error": f"could not start {function}: {exc}"}])
        raise ServiceUnavailable("the retention function could not be started; try again later") from exc
    with session_scope() as session:
        return get_run(session, run_id)
