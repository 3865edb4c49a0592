"""Ingest handler latency, in-process, with API Gateway v2 events against MiniStack SQS and DynamoDB.

Prints p50/p99 per request for a single legacy reading and for a 500-reading batch, each beside
the same app's no-op route through Mangum measured in the same run (the framework's floor).
Needs MiniStack on 127.0.0.1:4566 (scripts/ministack-up). Usage: .venv/bin/python bench/ingest_bench.py [--requests N]
"""

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")


def _aws_resources() -> None:
    import boto3

    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    suffix = uuid.uuid4().hex[:8]
    queue_url = session.client("sqs", endpoint_url=ENDPOINT).create_queue(QueueName=f"bench-readings-{suffix}")["QueueUrl"]
    dynamodb = session.client("dynamodb", endpoint_url=ENDPOINT)
    for variable, key, name in (("API_KEYS_TABLE", "key_hash", f"bench-keys-{suffix}"), ("RATE_LIMIT_TABLE", "pk", f"bench-limits-{suffix}")):
        dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": key, "KeyType": "HASH"}])
        os.environ[variable] = name
    os.environ.update({"AWS_ENDPOINT_URL": ENDPOINT, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "AWS_DEFAULT_REGION": "us-east-1", "READINGS_QUEUE_URL": queue_url,
                       "DATABASE_URL": os.environ.get("DATABASE_URL", "postgresql+pg8000://unused@127.0.0.1:1/unused")})


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def _time(call, event, n: int) -> list[float]:
    from tests.lambda_events import lambda_context

    context = lambda_context("bench")
    call(event(0), context)  # warm: imports, clients, connections
    samples = []
    for i in range(n):
        e = event(i + 1)
        start = time.perf_counter()
        reply = call(e, context)
        samples.append(time.perf_counter() - start)
        assert reply["statusCode"] in (200, 202), reply
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    _aws_resources()

    from mangum import Mangum

    from hydroponics.auth import key_index
    from hydroponics.auth.keys import issue_key
    from hydroponics.ingest.app import create_ingest_app
    from tests.lambda_events import http_event

    client_id, key = uuid.uuid4(), issue_key()
    key_index.put_key(key.key_hash, key.prefix, client_id, rate_limits={"ingest": 10**9})
    headers = {"X-API-Key": key.secret, "X-Client-Id": str(client_id)}

    app = create_ingest_app()

    @app.get("/bench/noop")
    def noop() -> dict:
        return {"status": "ok"}

    handler = Mangum(app, lifespan="off")
    start = datetime.now(timezone.utc) - timedelta(days=1)

    def single(i: int) -> dict:
        return http_event("POST", "/api/data", {"sensor_type": "ph", "value": 6.1, "location": "bench",
                                                "timestamp": (start + timedelta(seconds=i)).isoformat()}, headers)

    def batch(i: int) -> dict:
        return http_event("POST", "/api/data", [{"sensor_type": "ec", "value": 1.5, "sensor_id": f"s{j}",
                                                 "timestamp": (start + timedelta(seconds=i)).isoformat()}
                                                for j in range(500)], headers)

    def noop_event(i: int) -> dict:
        return http_event("GET", "/bench/noop", None, headers)

    floor = _time(handler, noop_event, args.requests)
    singles = _time(handler, single, args.requests)
    batches = _time(handler, batch, max(10, args.requests // 10))
    base_p50, base_p99 = _percentiles(floor)
    print(f"no-op route through Mangum (baseline): p50 {base_p50:7.2f} ms  p99 {base_p99:7.2f} ms")
    for label, samples in (("single legacy reading", singles), ("batch of 500 readings", batches)):
        p50, p99 = _percentiles(samples)
        print(f"{label:37s}: p50 {p50:7.2f} ms  p99 {p99:7.2f} ms   = {p50 / base_p50:5.1f}x / {p99 / base_p99:5.1f}x baseline")


if __name__ == "__main__":
    main()
