"""Sustained ingest on the deployed local stack: N devices x 1 reading/s, POST -> stored, through MiniStack's API Gateway.

Each device (a thread) posts one legacy reading of its own sensor every second through the HTTP API
for --seconds; a poller watches PostgreSQL (every 50 ms) and notes when each reading is stored.
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
        self.client.delete_function(FunctionName=self.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=30)
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
    posted: dict[tuple[str, str], float] = {}  # (sensor, recorded_at) -> when the POST was sent
    accepted: list[float] = []
    errors: list[str] = []
    lock, stop = threading.Lock(), threading.Event()

    def device(n: int) -> None:
        sensor = f"sustain-{run}-{n:03d}"
        with httpx.Client(timeout=10) as http:
            next_at = time.monotonic() + n / args.devices  # spread over the second
            for _ in range(args.seconds):
                time.sleep(max(0.0, next_at - time.monotonic()))
                next_at += 1.0
                at = datetime.now(UTC).isoformat()
                sent = time.perf_counter()
                with lock:
                    posted[(sensor, at)] = sent
                try:
                    reply = http.post(url, headers=headers, json={"sensor_type": "ph", "value": 6.2, "sensor_id": sensor,
                                                                   "timestamp": at})
                    ok = reply.status_code == 202
                except httpx.HTTPError as exc:
                    ok, reply = False, exc
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

    no_op = NoOpLambda(client("lambda"))
    baseline: list[float] = []

    def baseline_caller() -> None:
        while not stop.is_set():
            baseline.append(no_op.invoke())
            time.sleep(0.2)

    print(f"sustained ingest bench: {args.devices} devices x 1 reading/s for {args.seconds} s through {url}")
    watchers = [threading.Thread(target=poller), threading.Thread(target=baseline_caller)]
    devices = [threading.Thread(target=device, args=(n,)) for n in range(args.devices)]
    try:
        for thread in watchers + devices:
            thread.start()
        for thread in devices:
            thread.join()
        deadline = time.monotonic() + STORED_WITHIN
        while time.monotonic() < deadline and any(key not in stored for key in posted):
            time.sleep(POLL)
    finally:
        stop.set()
        for thread in watchers:
            thread.join()
        no_op.delete()
    latencies = [stored[key] - sent for key, sent in posted.items() if key in stored]
    missing = sum(1 for key in posted if key not in stored)
    print(f"{'MiniStack no-op Lambda, invoked (baseline)':44} {_percentiles(baseline)}")
    print(f"{'POST /api/data -> 202':44} {_percentiles(accepted)}")
    print(f"{'POST /api/data -> stored in PostgreSQL':44} {_percentiles(latencies)}")
    if baseline and latencies:
        print(f"stored p50 / no-op Lambda p50: {statistics.median(latencies) / statistics.median(baseline):.1f}x")
    print(f"posted {len(posted)}, errors {len(errors)} {sorted(set(errors))[:5]}, "
          f"not stored within {STORED_WITHIN:.0f} s: {missing}")


if __name__ == "__main__":
    main()
