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


def crash_point(point: str, *, first_delivery: bool) -> None:
    """Die here if FAULT_INJECTION names `point` (on a batch's first delivery: its redelivery goes through)."""
    assert point in POINTS, point
    if first_delivery and point in os.environ.get("FAULT_INJECTION", "").split(","):
        logger.warning("fault injected: the worker dies", extra={"fault": point})
        os._exit(CRASHED)
