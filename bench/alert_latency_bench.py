"""POST /api/data -> alert latency on the deployed local stack (scripts/up or scripts/deploy first).

For each sample one out-of-range reading of a new sensor is posted through MiniStack's API Gateway
and the database is polled (every 20 ms) until the alert exists. The baseline, measured in the same
run and interleaved with it, is POST -> the reading stored for an in-range sensor: the queue and
store path every alert rides on. The ratio shows what rule evaluation adds. Usage:
  .venv/bin/python bench/alert_latency_bench.py [--samples N]
"""

import argparse
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import create_engine, make_url, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import local_env  # noqa: E402

POLL = 0.02


def _farm(env: dict[str, str]) -> tuple[str, str]:
    """A fresh client with a key and a generous ingest limit (the demo farm's own limits stay untouched)."""
    import os

    from hydroponics.auth.api_keys import create_api_key
    from hydroponics.db.engine import session_scope
    from hydroponics.records.clients import create_client

    os.environ.update({"DATABASE_URL": env["DATABASE_URL"], "API_KEYS_TABLE": env["API_KEYS_TABLE"],
                       "AWS_ENDPOINT_URL": os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
                       "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"})
    with session_scope() as session:
        client_id = create_client(session, f"Bench Farm {uuid.uuid4().hex[:6]}",
                                  settings={"rate_limits": {"ingest": 10_000, "api": 10_000}})
        _, key = create_api_key(session, client_id, "alert latency bench")
    return str(client_id), key.secret


def _wait(engine, sql: str, params: dict, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        while conn.execute(text(sql), params).first() is None:
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {params}")
            time.sleep(POLL)
            conn.rollback()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=40)
    args = parser.parse_args()
    env = local_env()
    engine = create_engine(make_url(env["DATABASE_URL"]).set(drivername="postgresql+pg8000"))
    client_id, key = _farm(env)
    api = httpx.Client(base_url=env["API_URL"], timeout=30, headers={"X-API-Key": key, "X-Client-Id": client_id})
    reply = api.post("/api/rules", json={"name": "bench: pH above 7", "location": "bench-bay", "sensor_type": "ph",
                                         "severity": "info", "condition": {"kind": "above", "threshold": 7.0}})
    assert reply.status_code == 201, reply.text

    def post(sensor: str, value: float) -> float:
        started = time.perf_counter()
        reading = {"sensor_id": sensor, "sensor_type": "ph", "value": value, "location": "bench-bay",
                   "timestamp": datetime.now(UTC).isoformat()}
        answer = api.post("/api/data", json=reading)
        assert answer.status_code == 202, answer.text
        return started

    stored, alerted = [], []
    for i in range(args.samples + 2):  # the first two warm the path up
        sensor = f"bench-ok-{i}-{uuid.uuid4().hex[:4]}"
        started = post(sensor, 6.0)
        _wait(engine, "SELECT 1 FROM readings r JOIN sensors s ON s.id = r.sensor_id"
                      " WHERE s.client_id = :c AND s.external_id = :e", {"c": client_id, "e": sensor})
        if i >= 2:
            stored.append(time.perf_counter() - started)
        sensor = f"bench-high-{i}-{uuid.uuid4().hex[:4]}"
        started = post(sensor, 7.8)
        _wait(engine, "SELECT 1 FROM alerts a JOIN sensors s ON s.id = a.sensor_id"
                      " WHERE s.client_id = :c AND s.external_id = :e", {"c": client_id, "e": sensor})
        if i >= 2:
            alerted.append(time.perf_counter() - started)

    def figures(samples: list[float]) -> tuple[float, float]:
        return statistics.median(samples), statistics.quantiles(samples, n=20)[-1]

    (stored_p50, stored_p95), (alert_p50, alert_p95) = figures(stored), figures(alerted)
    print(f"POST -> alert latency, {args.samples} samples each (poll every {POLL * 1000:.0f} ms)")
    print(f"  {'':28} {'p50':>8} {'p95':>8}")
    print(f"  {'POST -> reading stored':28} {stored_p50 * 1000:7.0f}ms {stored_p95 * 1000:7.0f}ms   (baseline)")
    print(f"  {'POST -> alert exists':28} {alert_p50 * 1000:7.0f}ms {alert_p95 * 1000:7.0f}ms   "
          f"ratio p50 {alert_p50 / stored_p50:.2f}x, p95 {alert_p95 / stored_p95:.2f}x; budget p95 5000 ms")
    engine.dispose()


if __name__ == "__main__":
    main()
