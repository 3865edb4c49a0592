"""Run retention in this process and kill it (os._exit, no clean-up) at a chosen point.

    python -m tests.integration.retention_crash <point> <now ISO>

Points: `archived` (the first object set is written and verified; its rows are still in the open
transaction, not yet deleted or dropped) and `recorded-steps` (every step committed, the run not
yet marked finished).
"""

import os
import sys
from datetime import datetime

from hydroponics.retention import job

CRASHED = 17


def _die(*_args, **_kwargs):
    sys.stdout.flush()
    os._exit(CRASHED)


def main() -> None:
    point, now = sys.argv[1], datetime.fromisoformat(sys.argv[2])
    if point == "archived":
        job.record_archive = _die
    elif point == "recorded-steps":
        job.finish_run = _die
    else:
        raise SystemExit(f"unknown point {point!r}")
    job.run_retention(requested_by="crash-test", now=now)
    raise SystemExit("the run finished without reaching the crash point")


if __name__ == "__main__":
    main()
