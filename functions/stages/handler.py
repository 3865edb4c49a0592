"""Stages function: the scheduled batch jobs, by the schedule's {"job": ...} input.

advance_stages (hourly): completes due growth stages and opens the next; calibration_due (daily):
overdue and soon-due calibrations as events; drift (daily): sensors disagreeing with peers or spot checks.
"""

from hydroponics.jobs import run_job
from hydroponics.observability import logger

DEFAULT_JOB = "advance_stages"  # the hourly schedule's job, for an invocation without input


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:
    return run_job((event or {}).get("job", DEFAULT_JOB), event)
