"""Monitoring costs: the request-metrics middleware per request, and one /metrics scrape with 10k sensors.

1. A no-op route through Mangum, bare (the baseline) and with the RequestMetrics middleware (in-memory
   counts; and with the EMF line it prints inside Lambda), rounds interleaved; beside them, one
   synchronous DynamoDB UpdateItem on MiniStack: what counting each request in the table would cost.
2. GET /metrics through the api app and Mangum (cache off) against a throwaway database seeded with
   --sensors sensors (and alerts, notifications, AC commands, failed tasks, months of job runs) and
   MiniStack queues and a monitoring table; beside it GET /health (one SELECT 1, one SQS call) through
   the same app, and the PostgreSQL statement alone.

Needs PostgreSQL (DATABASE_URL or .local/db.env) and MiniStack (AWS_ENDPOINT_URL, default :4566).
Usage: .venv/bin/python bench/metrics_bench.py [--sensors 10000] [--requests 2000] [--scrapes 40]
"""

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
TOKEN = "bench-" + uuid.uuid4().hex


def p50_p95(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000


def aws_resources(session) -> dict[str, str]:
    """Fresh queues (+DLQs), a rate-limit table and a monitoring table built as the template builds it."""
    from tests.infra.conftest import load_template

    suffix = uuid.uuid4().hex[:8]
    sqs, dynamodb = session.client("sqs", endpoint_url=ENDPOINT), session.client("dynamodb", endpoint_url=ENDPOINT)
    queues = {name: {"queue": sqs.create_queue(QueueName=f"bench-{name}-{suffix}")["QueueUrl"],
                     "dead_letter": sqs.create_queue(QueueName=f"bench-{name}-dlq-{suffix}")["QueueUrl"]}
              for name in ("readings", "notifications", "ac-commands")}
    monitoring = load_template()["Resources"]["MonitoringTable"]["Properties"]
    dynamodb.create_table(TableName=f"bench-monitoring-{suffix}", BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=monitoring["AttributeDefinitions"], KeySchema=monitoring["KeySchema"],
                          LocalSecondaryIndexes=monitoring["LocalSecondaryIndexes"])
    dynamodb.create_table(TableName=f"bench-limits-{suffix}", BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    return {"MONITORED_QUEUES": json.dumps(queues), "READINGS_QUEUE_URL": queues["readings"]["queue"],
            "MONITORING_TABLE": f"bench-monitoring-{suffix}", "RATE_LIMIT_TABLE": f"bench-limits-{suffix}"}


SEED = """
INSERT INTO clients (name) SELECT 'Farm ' || n FROM generate_series(1, :clients) n;
INSERT INTO sensors (client_id, external_id, sensor_type, location, last_value, last_recorded_at)
SELECT c.id, 's-' || n, (ARRAY['ph','ec','temperature','water_level','humidity','air_temperature'])[1 + mod(n, 6)],
       'bay-' || (mod(n, 20)), 6.0, now() - (mod(n, 600)) * interval '1 second'
FROM (SELECT id, row_number() OVER () AS k FROM clients) c, generate_series(1, :per_client) n;
INSERT INTO reading_counts (client_id, sensor_type, stored)
SELECT client_id, sensor_type, count(*) * 100000 FROM sensors GROUP BY 1, 2;
INSERT INTO readings (sensor_id, client_id, recorded_at, value)
SELECT s.id, s.client_id, now() - m * interval '1 minute', 6.0 FROM (SELECT * FROM sensors LIMIT 2000) s,
       generate_series(1, 50) m;
INSERT INTO rules (client_id, name, condition) SELECT id, 'pH above 7', '{"kind": "above", "threshold": 7}' FROM clients;
INSERT INTO alerts (client_id, rule_id, sensor_id, severity, status, message)
SELECT r.client_id, r.id, s.id, (ARRAY['info','warning','critical'])[1 + mod(n, 3)],
       CASE WHEN mod(n, 10) = 0 THEN 'open' ELSE 'resolved' END, 'bench'
FROM rules r JOIN LATERAL (SELECT id FROM sensors WHERE client_id = r.client_id LIMIT 100) s ON true,
     generate_series(1, 1) n;
INSERT INTO notification_channels (client_id, name, kind, target_sealed, target_hint)  -- never delivered: no sealed target
SELECT id, 'ops', 'webhook', '{}', 'json://127.0.0.1/***' FROM clients;
INSERT INTO notifications (client_id, channel_id, idempotency_key, status, attempts, created_at)
SELECT ch.client_id, ch.id, ch.id || ':' || n, (ARRAY['sent','sent','sent','failed','suppressed'])[1 + mod(n, 5)], 1 + mod(n, 4),
       now() - mod(n, 30) * interval '1 day' - mod(n, 1440) * interval '1 minute'
FROM notification_channels ch, generate_series(1, :notifications_per_channel) n;
INSERT INTO ac_units (client_id, name, location) SELECT id, 'ac', 'room' FROM clients;
INSERT INTO ac_commands (client_id, ac_unit_id, source, command, status, reason)
SELECT u.client_id, u.id, 'rule', '{}', CASE WHEN mod(n, 10) = 0 THEN 'rejected' ELSE 'acknowledged' END,
       CASE WHEN mod(n, 10) = 0 THEN 'minimum_off_time: the compressor stopped 30 s ago' END
FROM ac_units u, generate_series(1, :commands_per_unit) n;
INSERT INTO failed_tasks (source_queue, body, status) SELECT 'q', '{}', 'failed' FROM generate_series(1, 500);
INSERT INTO events (client_id, event_type, actor, subject_type, subject_id, details, occurred_at)
SELECT NULL, 'job.ran', 'scheduler', 'job', 'escalation', '{"failed": []}', now() - n * interval '1 minute'
FROM generate_series(1, :escalation_runs) n;
INSERT INTO events (client_id, event_type, actor, subject_type, subject_id, details, occurred_at)
SELECT NULL, 'job.ran', 'scheduler', 'job', 'advance_stages', '{"duration_seconds": 0.2}', now() - n * interval '1 hour'
FROM generate_series(1, 720) n;
ANALYZE;
"""


def seed(url: str, sensors: int) -> None:
    from sqlalchemy import create_engine, text

    clients = 50
    engine = create_engine(url)
    with engine.begin() as conn:
        for statement in filter(str.strip, SEED.split(";")):
            conn.execute(text(statement), {"clients": clients, "per_client": sensors // clients,
                                           "notifications_per_channel": 1000, "commands_per_unit": 200,
                                           "escalation_runs": 43200})
    engine.dispose()


def timed(call, n: int) -> list[float]:
    call()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def middleware_costs(requests: int) -> None:
    from fastapi import FastAPI
    from mangum import Mangum

    from hydroponics.monitoring import requests as request_metrics
    from hydroponics.monitoring.requests import RequestMetrics
    from tests.lambda_events import http_event, lambda_context

    def app(with_metrics: bool) -> Mangum:
        api = FastAPI()

        @api.get("/bench/noop")
        def noop() -> dict:
            return {"status": "ok"}

        if with_metrics:
            api.add_middleware(RequestMetrics, function="bench")
        return Mangum(api, lifespan="off")

    event, context = http_event("GET", "/bench/noop"), lambda_context("bench")
    variants = {"bare app (baseline)": app(False), "with RequestMetrics": app(True), "with RequestMetrics + EMF": app(True)}
    emf_app = variants["with RequestMetrics + EMF"]
    samples: dict[str, list[float]] = {name: [] for name in variants}
    sink = io.StringIO()
    for name, handler in variants.items():
        handler(event, context)  # warm
    for _ in range(10):
        for name, handler in variants.items():
            def call() -> None:
                handler(event, context)
            if handler is emf_app:
                middleware = emf_app.app.middleware_stack  # built on the first call
                _set_emf(middleware, True)
                with contextlib.redirect_stdout(sink):
                    samples[name] += timed(call, requests // 10)
                sink.seek(0)
                sink.truncate()
            else:
                samples[name] += timed(call, requests // 10)
    request_metrics.recorder._take()  # the bench's own counts go nowhere
    base = p50_p95(samples["bare app (baseline)"])
    print(f"request metrics, {requests} requests per variant, no-op route through Mangum:")
    for name, found in samples.items():
        p50, p95 = p50_p95(found)
        print(f"  {name:28s} p50 {p50 * 1000:7.0f} us  p95 {p95 * 1000:7.0f} us   = {p50 / base[0]:4.2f}x baseline"
              f"  (+{(p50 - base[0]) * 1000:5.0f} us)")


def _set_emf(stack, value: bool) -> None:
    """Find the RequestMetrics layer in a built middleware stack and switch its EMF line on."""
    from hydroponics.monitoring.requests import RequestMetrics

    layer = stack
    while layer is not None:
        if isinstance(layer, RequestMetrics):
            layer.emf = value
            return
        layer = getattr(layer, "app", None)
    raise RuntimeError("RequestMetrics not found in the middleware stack")


def synchronous_update_item(session, table: str, n: int = 200) -> None:
    dynamodb = session.client("dynamodb", endpoint_url=ENDPOINT)

    def update() -> None:
        dynamodb.update_item(TableName=table, Key={"pk": {"S": "bench"}, "sk": {"S": "bench"}},
                             UpdateExpression="ADD n :one", ExpressionAttributeValues={":one": {"N": "1"}})
    p50, p95 = p50_p95(timed(update, n))
    print(f"  one synchronous UpdateItem on MiniStack (what counting each request in the table would add): "
          f"p50 {p50 * 1000:7.0f} us  p95 {p95 * 1000:7.0f} us")


def scrape_costs(sensors: int, scrapes: int) -> None:
    from mangum import Mangum

    from hydroponics.api.app import create_app
    from hydroponics.db.engine import session_scope
    from hydroponics.monitoring.requests import RequestRecorder
    from hydroponics.monitoring.state import platform_state
    from tests.lambda_events import http_event, lambda_context

    recorder = RequestRecorder()  # fill the request counters as a busy api would have
    for route in range(60):
        for status in (200, 404, 422):
            recorder.record("api", "GET", f"/api/route-{route}", status, 0.02)
    recorder.flush()
    handler, context = Mangum(create_app(), lifespan="off"), lambda_context("bench")
    metrics_event = http_event("GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    health_event = http_event("GET", "/health")

    def scrape() -> None:
        reply = handler(metrics_event, context)
        assert reply["statusCode"] == 200, reply

    def health() -> None:
        reply = handler(health_event, context)
        assert reply["statusCode"] == 200, reply

    def statement() -> None:
        with session_scope() as session:
            platform_state(session)

    results = {"GET /health (baseline)": [], "platform state statement": [], "GET /metrics": []}
    for _ in range(4):
        results["GET /health (baseline)"] += timed(health, scrapes // 4)
        results["platform state statement"] += timed(statement, scrapes // 4)
        results["GET /metrics"] += timed(scrape, scrapes // 4)
    size = len(handler(metrics_event, context)["body"])
    base = p50_p95(results["GET /health (baseline)"])
    print(f"/metrics with {sensors} sensors (50 clients, 50k notifications, 10k AC commands, 44k job runs), "
          f"{scrapes} scrapes, cache off, {size / 1024:.0f} KiB of exposition:")
    for name, found in results.items():
        p50, p95 = p50_p95(found)
        print(f"  {name:26s} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms   = {p50 / base[0]:4.2f}x baseline")
    p95 = p50_p95(results["GET /metrics"])[1]
    print(f"  scrape p95 {'under' if p95 < 200 else 'OVER'} the 200 ms aim")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sensors", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--scrapes", type=int, default=40)
    args = parser.parse_args()

    import boto3

    from hydroponics.db import migrate
    from hydroponics.db.engine import get_engine
    from tests.databases import server_url, throwaway_database
    from tests.integration.conftest import reset_core_caches

    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    os.environ.update({"AWS_ENDPOINT_URL": ENDPOINT, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "AWS_DEFAULT_REGION": "us-east-1", "METRICS_TOKEN": TOKEN, "METRICS_CACHE_SECONDS": "0"})
    os.environ.update(aws_resources(session))
    server = server_url()
    if server is None:
        sys.exit("no PostgreSQL: set DATABASE_URL or run scripts/db-up")
    os.environ["DATABASE_URL"] = server.render_as_string(hide_password=False)
    reset_core_caches()
    middleware_costs(args.requests)
    synchronous_update_item(session, os.environ["MONITORING_TABLE"])
    with throwaway_database("hydroponics_bench") as url:
        migrate.upgrade(url)
        seed(url, args.sensors)
        os.environ["DATABASE_URL"] = url
        reset_core_caches()
        try:
            scrape_costs(args.sensors, args.scrapes)
        finally:
            get_engine().dispose()


if __name__ == "__main__":
    main()
