"""Sustained ingest on the deployed local stack: N devices x 1 reading/s, POST -> stored, through MiniStack's API Gateway.

Each device (a thread) posts one legacy reading of its own sensor every second through the HTTP API
for --seconds; a poller watches PostgreSQL (every 50 ms) and notes when each reading is stored.
Devices join over --ramp seconds after a warm-up request: MiniStack, like Lambda, starts a new
worker process (~75 MB, a 1.5-2.5 s cold start here) for every request that finds no idle one, and
50 devices starting at once on a cold stack made it start over a hundred; only the steady state is
measured (readings posted after the ramp). --workers (default 16) sets the ingest function's reserved
concurrency for the run (removed after), which bounds those worker processes as it bounds Lambda's;
requests over it are throttled (429) and counted as errors.
Printed: POST -> 202 and POST -> stored (p50/p95/max), errors (non-202 answers) and readings not
stored within 10 s, beside the baseline measured in the same run: MiniStack's own round trip to a
no-op Lambda function (created for the run, invoked synchronously five times a second, then deleted).
Needs the deployed stack (scripts/up or scripts/deploy, which write .local/stack.env).

    .venv/bin/python bench/sustained_ingest_bench.py [--devices 50] [--seconds 30]
"""

import argparse
import io
import os
import statistics
import sys
import threading
import time
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))
sys.path.insert(0, str(ROOT))

from tests.conftest import local_env  # noqa: E402

POLL = 0.05
STORED_WITHIN = 10.0
NO_OP = "def handler(event, context):\n    return {}\n"


def _farm(env: dict[str, str]) -> tuple[str, str]:
    """A fresh client and key whose ingest limit the run cannot exceed (the demo farm stays untouched)."""
    from hydroponics.auth.api_keys import create_api_key
    from hydroponics.db.engine import session_scope
    from hydroponics.records.clients import create_client

    with session_scope() as session:
        client_id = create_client(session, f"Sustained Bench {uuid.uuid4().hex[:6]}",
                                  settings={"rate_limits": {"ingest": 1_000_000}})
        _, key = create_api_key(session, client_id, "sustained ingest bench")
    return str(client_id), key.secret


def _ingest_function(env: dict[str, str]) -> str:
    """The deployed ingest function's name (the template names it <project>-<stage>-ingest)."""
    from hydroponics.aws import client

    names = [f["FunctionName"] for page in client("lambda").get_paginator("list_functions").paginate()
             for f in page["Functions"] if f["FunctionName"].endswith("-ingest")]
    stack = env.get("STACK_NAME", "hydroponics-local")
    return next((name for name in names if name.startswith(stack)), names[0])


def _percentiles(samples: list[float]) -> str:
    if not samples:
        return "no samples"
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (f"p50 {statistics.median(ordered) * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  "
            f"max {ordered[-1] * 1000:7.1f} ms  (n={len(ordered)})")


class NoOpLambda:
    """A no-op Python function in MiniStack, invoked synchronously: the emulator's own floor."""

    def __init__(self, lambda_client) -> None:
        self.client, self.name = lambda_client, f"bench-noop-{uuid.uuid4().hex[:8]}"
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr("index.py", NO_OP)
        self.client.create_function(FunctionName=self.name, Runtime="python3.12", Handler="index.handler",
                                    Role="arn:aws:iam::000000000000:role/bench", Code={"ZipFile": archive.getvalue()},
                                    Timeout=10)
        for _ in range(3):  # the cold start is not what is measured
            self.invoke()

    def invoke(self) -> float:
        start = time.perf_counter()
        reply = self.client.invoke(FunctionName=self.name, Payload=b"{}")
        assert reply["StatusCode"] == 200 and "FunctionError" not in reply, reply
        return time.perf_counter() - start

    def delete(self) -> None:
        try:
            self.client.delete_function(FunctionName=self.name)
        except Exception as exc:  # noqa: BLE001 - a leftover no-op function is harmless; say so
            print(f"could not delete the no-op function {self.name}: {exc}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=30, help="of steady state, after the ramp")
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds over which the devices join")
    parser.add_argument("--workers", type=int, default=16,
                        help="reserved concurrency of the ingest function during the run (0: leave it unbounded)")
    args = parser.parse_args()
    env = local_env()
    os.environ.update({"DATABASE_URL": env["DATABASE_URL"], "API_KEYS_TABLE": env["API_KEYS_TABLE"],
                       "AWS_ENDPOINT_URL": os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
                       "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"})
    from hydroponics.aws import client

    client_id, secret = _farm(env)
    run = uuid.uuid4().hex[:6]
    url = env["API_URL"].rstrip("/") + "/api/data"
    headers = {"X-API-Key": secret, "X-Client-Id": client_id}
    posted: dict[tuple[str, str], float] = {}  # (sensor, recorded_at) -> when the POST was sent, steady state only
    accepted: list[float] = []
    errors: list[str] = []
    lock, stop = threading.Lock(), threading.Event()

    began = steady_from = until = 0.0  # set once the stack is warm, just before the devices start

    def device(n: int) -> None:
        sensor = f"sustain-{run}-{n:03d}"
        with httpx.Client(timeout=10) as http:
            next_at = began + args.ramp * n / args.devices  # join one by one, then once a second
            while next_at < until and not stop.is_set():
                time.sleep(max(0.0, next_at - time.monotonic()))
                steady = next_at >= steady_from
                next_at += 1.0
                at = datetime.now(UTC).isoformat()
                sent = time.perf_counter()
                if steady:
                    with lock:
                        posted[(sensor, at)] = sent
                try:
                    reply = http.post(url, headers=headers, json={"sensor_type": "ph", "value": 6.2, "sensor_id": sensor,
                                                                   "timestamp": at})
                    ok = reply.status_code == 202
                except httpx.HTTPError as exc:
                    ok, reply = False, exc
                if steady:
                    with lock:
                        if ok:
                            accepted.append(time.perf_counter() - sent)
                        else:
                            errors.append(str(getattr(reply, "status_code", reply)))

    stored: dict[tuple[str, str], float] = {}

    def poller() -> None:
        engine = create_engine(env["DATABASE_URL"])
        with engine.connect() as conn:
            while not stop.is_set():
                rows = conn.execute(text(
                    "SELECT s.external_id, r.recorded_at FROM readings r JOIN sensors s ON s.id = r.sensor_id"
                    " WHERE r.client_id = :c AND s.client_id = :c"), {"c": client_id}).all()
                conn.rollback()
                seen = time.perf_counter()
                for sensor, at in rows:
                    stored.setdefault((sensor, at.astimezone(UTC).isoformat()), seen)
                time.sleep(POLL)
        engine.dispose()

    endpoint = os.environ["AWS_ENDPOINT_URL"]
    emulator_down: list[str] = []

    def watchdog() -> None:
        """Stops the run if MiniStack itself stops answering its health check (three tries running)."""
        misses = 0
        with httpx.Client(timeout=3) as http:
            while not stop.is_set():
                try:
                    misses = 0 if http.get(f"{endpoint}/_localstack/health").status_code == 200 else misses + 1
                except httpx.HTTPError:
                    misses += 1
                if misses >= 3:
                    joined = min(args.devices, int((time.monotonic() - began) * args.devices / max(args.ramp, 0.001)))
                    emulator_down.append(f"MiniStack stopped answering its health check ~{time.monotonic() - began:.0f} s"
                                         f" into the run, with ~{joined} devices posting")
                    stop.set()
                time.sleep(2)

    if args.workers:  # bound MiniStack's worker processes, as reserved concurrency bounds Lambda's
        client("lambda").put_function_concurrency(FunctionName=_ingest_function(env),
                                                  ReservedConcurrentExecutions=args.workers)
    no_op = NoOpLambda(client("lambda"))
    baseline: list[float] = []
    baseline_errors: list[str] = []

    def baseline_caller() -> None:
        while not stop.is_set():
            try:
                baseline.append(no_op.invoke())
            except Exception as exc:  # noqa: BLE001 - counted: the emulator itself could not keep up
                baseline_errors.append(type(exc).__name__)
            time.sleep(0.2)

    with httpx.Client(timeout=30) as http:  # one warm worker before the devices come
        for _ in range(3):
            http.post(url, headers=headers, json={"sensor_type": "ph", "value": 6.2, "sensor_id": f"sustain-{run}-warm"})
    began = time.monotonic()
    steady_from, until = began + args.ramp + 1.0, began + args.ramp + 1.0 + args.seconds
    print(f"sustained ingest bench: {args.devices} devices x 1 reading/s, joining over {args.ramp:.0f} s, then "
          f"{args.seconds} s measured, through {url}")
    watchers = [threading.Thread(target=poller), threading.Thread(target=baseline_caller),
                threading.Thread(target=watchdog)]
    devices = [threading.Thread(target=device, args=(n,)) for n in range(args.devices)]
    try:
        for thread in watchers + devices:
            thread.start()
        for thread in devices:
            thread.join()
        deadline = time.monotonic() + STORED_WITHIN
        while not stop.is_set() and time.monotonic() < deadline and any(key not in stored for key in posted):
            time.sleep(POLL)
    finally:
        stop.set()
        for thread in watchers:
            thread.join()
    if emulator_down:
        print(f"STOPPED: {emulator_down[0]}; the figures below cover the run up to then")
    latencies = [stored[key] - sent for key, sent in posted.items() if key in stored]
    missing = sum(1 for key in posted if key not in stored)
    print(f"{'MiniStack no-op Lambda, invoked (baseline)':44} {_percentiles(baseline)}")
    print(f"{'POST /api/data -> 202':44} {_percentiles(accepted)}")
    print(f"{'POST /api/data -> stored in PostgreSQL':44} {_percentiles(latencies)}")
    if baseline and latencies:
        print(f"stored p50 / no-op Lambda p50: {statistics.median(latencies) / statistics.median(baseline):.1f}x")
    print(f"posted {len(posted)}, errors {len(errors)} {sorted(set(errors))[:5]}, "
          f"not stored within {STORED_WITHIN:.0f} s: {missing}; no-op Lambda calls that failed: "
          f"{len(baseline_errors)} {sorted(set(baseline_errors))}")
    if args.workers:
        try:
            client("lambda").delete_function_concurrency(FunctionName=_ingest_function(env))
        except Exception as exc:  # noqa: BLE001 - say so: the deployed function keeps the bound
            print(f"could not remove the ingest function's reserved concurrency: {exc}")
    if emulator_down:
        sys.exit(1)
    no_op.delete()


if __name__ == "__main__":
    main()
