"""Figures the load and fault tests measure: printed, and kept in .local/reliability.jsonl for docs/reliability.md."""

import json
import os
import platform
from datetime import UTC, datetime

from tests.conftest import ROOT

FIGURES = ROOT / ".local" / "reliability.jsonl"


def report(figure: str, **values) -> None:
    """Print one figure with what it was measured on (the machine is shared: its load is part of the figure)."""
    record = {"figure": figure, **values, "at": datetime.now(UTC).isoformat(timespec="seconds"),
              "load_1_5_15": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(),
              "machine": platform.node()}
    print(f"\nFIGURE {json.dumps(record)}")
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    with FIGURES.open("a") as out:
        out.write(json.dumps(record) + "\n")
