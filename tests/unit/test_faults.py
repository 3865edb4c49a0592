"""The fault hook the reliability tests use is inert unless FAULT_INJECTION names its point."""

import subprocess
import sys

from tests.conftest import ROOT

CRASH = ("from hydroponics.faults import crash_point; crash_point('rules.after_evaluation',"
         " [{{'attributes': {{'ApproximateReceiveCount': '1'}}}}, {{'attributes': {{'ApproximateReceiveCount': {count!r}}}}}])")


def _run(first: bool, fault: str) -> int:
    return subprocess.run([sys.executable, "-c", CRASH.format(count="1" if first else "2")], cwd=ROOT, timeout=60,
                          env={"PYTHONPATH": str(ROOT / "shared"), "FAULT_INJECTION": fault}).returncode


def test_the_worker_dies_at_the_named_point_on_a_first_delivery_only():
    from hydroponics.faults import CRASHED

    assert _run(first=True, fault="rules.after_evaluation") == CRASHED
    assert _run(first=False, fault="rules.after_evaluation") == 0
    assert _run(first=True, fault="") == 0
    assert _run(first=True, fault="notify.other") == 0
