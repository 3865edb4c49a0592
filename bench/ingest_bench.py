"""Ingest handler latency, in-process, with API Gateway v2 events against MiniStack SQS and DynamoDB.

Prints p50/p99 per request for a single legacy reading and for a 500-reading batch, each beside two
baselines measured in the same run, round-robin so that noise hits them alike:
  - the same app's no-op route through Mangum (the framework's floor, as the issue defines it), and
  - the physical floor: the AWS calls the request cannot do without, made bare through the core's
    own boto3 clients (one UpdateItem on the key's item, then SendMessageBatch: one call for a single
    reading, one call of 10 messages of 50 readings for a batch of 500, as readings/messages.py packs
    them). Beside the batch also: the path before several readings shared a message (50 calls of 10
    one-reading messages, 8 at a time).
Also prints the import time of the ingest function's handler in a fresh interpreter beside `import
boto3` alone, and, with --profile, a pyinstrument profile of the single-reading path.
Needs MiniStack (scripts/ministack-up; AWS_ENDPOINT_URL, default http://127.0.0.1:4566).

    .venv/bin/python bench/ingest_bench.py [--requests 300] [--profile]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))
sys.path.insert(0, str(ROOT))

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
BATCH = 500


def _aws_resources() -> dict[str, str]:
    import boto3

    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    suffix = uuid.uuid4().hex[:8]
    queue_url = session.client("sqs", endpoint_url=ENDPOINT).create_queue(QueueName=f"bench-readings-{suffix}")["QueueUrl"]
    dynamodb = session.client("dynamodb", endpoint_url=ENDPOINT)
    created = {"queue": queue_url}
    for variable, key, name in (("API_KEYS_TABLE", "key_hash", f"bench-keys-{suffix}"), ("RATE_LIMIT_TABLE", "pk", f"bench-limits-{suffix}")):
        dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": key, "KeyType": "HASH"}])
        os.environ[variable] = created[variable] = name
    os.environ.update({"AWS_ENDPOINT_URL": ENDPOINT, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "AWS_DEFAULT_REGION": "us-east-1", "READINGS_QUEUE_URL": queue_url,
                       "DATABASE_URL": os.environ.get("DATABASE_URL", "postgresql+pg8000://unused@127.0.0.1:1/unused")})
    return created


def _drop(created: dict[str, str]) -> None:
    from hydroponics.aws import client

    client("sqs").delete_queue(QueueUrl=created["queue"])
    for table in (created["API_KEYS_TABLE"], created["RATE_LIMIT_TABLE"]):
        client("dynamodb").delete_table(TableName=table)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def _round_robin(calls: dict[str, Callable[[int], object]], n: int) -> dict[str, list[float]]:
    """Seconds per call, the calls taking turns (after one warm-up each: imports, clients, connections)."""
    for call in calls.values():
        call(0)
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for i in range(n):
        for name, call in calls.items():
            start = time.perf_counter()
            call(i + 1)
            samples[name].append(time.perf_counter() - start)
    return samples


def _import_seconds(statement: str, runs: int = 3) -> float:
    """Median wall time of a fresh interpreter running `statement`, minus one running `pass`."""
    def once(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT / "shared")
        return time.perf_counter() - start
    return statistics.median(once(statement) for _ in range(runs)) - statistics.median(once("pass") for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile of single readings")
    args = parser.parse_args()
    created = _aws_resources()

    from concurrent.futures import ThreadPoolExecutor

    from mangum import Mangum

    from hydroponics.auth import key_index
    from hydroponics.auth.keys import issue_key
    from hydroponics.aws import client
    from hydroponics.ingest.app import create_ingest_app
    from hydroponics.readings.messages import QueuedReading, message_bodies
    from tests.lambda_events import http_event, lambda_context

    client_id, key, floor_key = uuid.uuid4(), issue_key(), issue_key()
    for k in (key, floor_key):
        key_index.put_key(k.key_hash, k.prefix, client_id, rate_limits={"ingest": 10**9})
    headers = {"X-API-Key": key.secret, "X-Client-Id": str(client_id)}

    app = create_ingest_app()

    @app.get("/bench/noop")
    def noop() -> dict:
        return {"status": "ok"}

    handler, context = Mangum(app, lifespan="off"), lambda_context("bench")
    start = datetime.now(timezone.utc) - timedelta(days=1)

    def post(body: object) -> None:
        reply = handler(http_event("POST", "/api/data", body, headers), context)
        assert reply["statusCode"] == 202, reply

    def single(i: int) -> None:
        post({"sensor_type": "ph", "value": 6.1, "location": "bench", "timestamp": (start + timedelta(seconds=i)).isoformat()})

    def batch(i: int) -> None:
        post([{"sensor_type": "ec", "value": 1.5, "sensor_id": f"s{j}", "timestamp": (start + timedelta(seconds=i)).isoformat()}
              for j in range(BATCH)])

    def noop_route(_: int) -> None:
        assert handler(http_event("GET", "/bench/noop", None, headers), context)["statusCode"] == 200

    queue_url = os.environ["READINGS_QUEUE_URL"]
    body = QueuedReading(client_id=client_id, sensor="ph@bench", sensor_type="ph", location="bench", value=6.1,
                         recorded_at=start, received_at=start).model_dump_json()
    pool = ThreadPoolExecutor(max_workers=8)

    def send(entries: int) -> None:
        client("sqs").send_message_batch(QueueUrl=queue_url, Entries=[{"Id": str(n), "MessageBody": body}
                                                                      for n in range(entries)])

    def floor_single(_: int) -> None:
        key_index.authenticate(floor_key.secret, "ingest")
        send(1)

    readings = [QueuedReading(client_id=client_id, sensor=f"s{j}", sensor_type="ec", location=None, value=1.5,
                              recorded_at=start, received_at=start) for j in range(BATCH)]
    packed = [body for _, body in message_bodies(readings)]  # what the ingest function queues: 10 x 50

    def floor_batch(_: int) -> None:
        key_index.authenticate(floor_key.secret, "ingest")
        client("sqs").send_message_batch(QueueUrl=queue_url, Entries=[{"Id": str(n), "MessageBody": message}
                                                                      for n, message in enumerate(packed)])

    def one_per_message(_: int) -> None:
        key_index.authenticate(floor_key.secret, "ingest")
        list(pool.map(lambda _: send(10), range(BATCH // 10)))

    try:
        singles = _round_robin({"no-op route through Mangum (baseline)": noop_route,
                                "physical floor: UpdateItem + SendMessageBatch": floor_single,
                                "single legacy reading": single}, args.requests)
        batches = _round_robin({"physical floor: UpdateItem + 1 SendMessageBatch (10 x 50)": floor_batch,
                                "batch of 500 readings": batch,
                                "(before) UpdateItem + 50 SendMessageBatch, 1/message": one_per_message},
                               max(10, args.requests // 10))
        base_p50, base_p99 = _percentiles(singles["no-op route through Mangum (baseline)"])
        print(f"ingest bench: {args.requests} single requests, {max(10, args.requests // 10)} batches, round-robin")
        print(f"{'request':52} {'p50 ms':>8} {'p99 ms':>8} {'p50/no-op':>10} {'p50/floor':>10}")
        for samples in (singles, batches):
            floor = next(v for name, v in samples.items() if name.startswith("physical floor"))
            floor_p50 = _percentiles(floor)[0]
            for name, values in samples.items():
                p50, p99 = _percentiles(values)
                print(f"{name:52} {p50:8.2f} {p99:8.2f} {p50 / base_p50:9.1f}x {p50 / floor_p50:9.2f}x")
        handler_import = _import_seconds("import sys; sys.path.insert(0, '../functions/ingest'); import handler")
        boto3_import = _import_seconds("import boto3")
        print(f"\nimport of the ingest handler (fresh interpreter): {handler_import * 1000:.0f} ms; "
              f"`import boto3` alone: {boto3_import * 1000:.0f} ms ({handler_import / boto3_import:.1f}x)")
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0002)
            profiler.start()
            for i in range(args.requests):
                single(i)
            profiler.stop()
            print(profiler.output_text(unicode=False, color=False))
    finally:
        pool.shutdown()
        _drop(created)


if __name__ == "__main__":
    main()
