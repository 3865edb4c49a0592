"""The deployed functions as MiniStack runs them: their names, their environment, their worker processes."""

import os
import time
import uuid
from contextlib import contextmanager
from typing import Iterator

from tests.conftest import ROOT


def function_name(aws, suffix: str) -> str:
    """The deployed function named <project>-<stage>-<suffix> (STACK_NAME's, if several stacks share MiniStack)."""
    names = [f["FunctionName"] for page in aws("lambda").get_paginator("list_functions").paginate()
             for f in page["Functions"] if f["FunctionName"].endswith(f"-{suffix}")]
    assert names, f"no deployed function ends with -{suffix}: run scripts/deploy"
    stack = os.environ.get("STACK_NAME", "hydroponics-local")
    return next((name for name in names if name.startswith(stack)), names[0])


def _configure(aws, name: str, variables: dict[str, str]) -> None:
    aws("lambda").update_function_configuration(FunctionName=name, Environment={"Variables": variables})
    deadline = time.monotonic() + 60
    while aws("lambda").get_function_configuration(FunctionName=name).get("LastUpdateStatus") == "InProgress":
        assert time.monotonic() < deadline, f"{name}'s configuration update did not finish"
        time.sleep(0.5)


@contextmanager
def environment(aws, name: str, **changes: str) -> Iterator[None]:
    """The function runs with `changes` added to its environment, then as deployed again.

    Changing a function's configuration makes MiniStack (as Lambda) discard its workers: the next
    invocations start fresh ones, as after a deploy.
    """
    deployed = aws("lambda").get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    _configure(aws, name, deployed | changes)
    try:
        yield
    finally:
        _configure(aws, name, deployed)


def fresh_workers(aws, name: str):
    """As after a fresh deploy: the function has no worker, every concurrent first request starts one."""
    return environment(aws, name, FRESH_WORKERS=uuid.uuid4().hex)


def ministack_pid() -> int:
    return int((ROOT / ".local" / "ministack.pid").read_text())


def worker_processes() -> dict[int, tuple[str, int]]:
    """MiniStack's Lambda workers: pid -> (function, resident memory in bytes), read from /proc."""
    parent = str(ministack_pid())
    workers = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if fields[1] != parent:
                continue
            with open(f"/proc/{entry.name}/cmdline", "rb") as cmdline:
                command = cmdline.read().decode(errors="replace")
            with open(f"/proc/{entry.name}/statm") as statm:
                resident = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue  # it ended while we looked
        marker = "ministack-lambda-"
        if marker in command:
            function = command.split(marker, 1)[1].rsplit("-", 1)[0]
            workers[int(entry.name)] = (function, resident)
    return workers
