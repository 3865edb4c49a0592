"""The load test's simulated farm for locust: sensors posting every second, operators querying, the dashboard polling.

Run by tests/e2e/test_load.py (headless, bounded, against the local API Gateway on 127.0.0.1):
    locust -f tests/load/locustfile.py --headless --host $API_URL -u N -r R -t 10m --csv out
LOAD_API_KEY / LOAD_CLIENT_ID name the farm (a client of its own, made by the test); LOAD_SENSORS,
LOAD_OPERATORS and LOAD_DASHBOARDS how many of each user run.
"""

import itertools
import os
import random
from datetime import UTC, datetime, timedelta

from locust import HttpUser, between, constant_pacing, task

HEADERS = {"X-API-Key": os.environ.get("LOAD_API_KEY", ""), "X-Client-Id": os.environ.get("LOAD_CLIENT_ID", "")}
KINDS = [("ph", 6.0, 0.3), ("ec", 1.6, 0.2), ("temperature", 21.0, 1.5)]
_numbers = itertools.count()


class Sensor(HttpUser):
    """One device: a reading of its own sensor every second, as the legacy firmware posts it."""

    fixed_count = int(os.environ.get("LOAD_SENSORS", "50"))
    wait_time = constant_pacing(1)

    def on_start(self) -> None:
        self.number = next(_numbers)
        self.kind, self.centre, self.spread = KINDS[self.number % len(KINDS)]

    @task
    def post_reading(self) -> None:
        self.client.post("/api/data", name="POST /api/data", headers=HEADERS, json={
            "sensor_id": f"load-{self.number}", "sensor_type": self.kind, "location": f"bay-{self.number % 5}",
            "value": round(random.gauss(self.centre, self.spread), 3), "timestamp": datetime.now(UTC).isoformat()})


class Operator(HttpUser):
    """Someone at the farm's API: latest values, a chart's hour, open alerts."""

    fixed_count = int(os.environ.get("LOAD_OPERATORS", "2"))
    wait_time = between(3, 8)

    @task(3)
    def latest(self) -> None:
        self.client.get("/api/data/latest", name="GET /api/data/latest", headers=HEADERS)

    @task(2)
    def query(self) -> None:
        start = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        self.client.get("/api/data/query", name="GET /api/data/query", headers=HEADERS,
                        params={"sensor_type": "ph", "window": "1m", "start": start})

    @task(1)
    def alerts(self) -> None:
        self.client.get("/api/alerts", name="GET /api/alerts", headers=HEADERS, params={"status": "open"})


class Dashboard(HttpUser):
    """An open dashboard tab: its overview and health strip every 15 s (static/app.js's refresh)."""

    fixed_count = int(os.environ.get("LOAD_DASHBOARDS", "1"))
    wait_time = constant_pacing(15)

    @task
    def refresh(self) -> None:
        self.client.get("/api/dashboard/overview", name="GET /api/dashboard/overview", headers=HEADERS)
        self.client.get("/api/dashboard/status", name="GET /api/dashboard/status", headers=HEADERS)
