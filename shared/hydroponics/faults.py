"""Fault injection for the reliability tests: a worker dies at a named point, only when FAULT_INJECTION names it.

Off unless the function's environment sets FAULT_INJECTION (comma-separated points); the tests set
it on the deployed function for the time of a test (tests/e2e/test_faults.py) and nothing else does.
The process exits at once, without unwinding, as a crashed or killed Lambda worker would: nothing
is acknowledged, so the queue delivers the batch again after its visibility timeout.
"""

import os

from hydroponics.observability import logger

POINTS = {"rules.after_evaluation"}  # the batch is stored and evaluated, the reply never leaves
CRASHED = 70


def crash_point(point: str, records: list[dict]) -> None:
    """Die here if FAULT_INJECTION names `point` and every SQS record is on its first delivery (the
    batch's redelivery goes through). Without FAULT_INJECTION this reads one environment variable."""
    assert point in POINTS, point
    if point not in os.environ.get("FAULT_INJECTION", "").split(","):
        return
    if all(r.get("attributes", {}).get("ApproximateReceiveCount") == "1" for r in records):
        logger.warning("fault injected: the worker dies", extra={"fault": point})
        os._exit(CRASHED)
