"""Request metrics of the HTTP functions (ingest, api): count, latency histogram and errors per route and status.

One ASGI middleware measures every request and gives the figures two ways:

- CloudWatch EMF through Powertools Metrics: one JSON log line per request inside Lambda, no call;
  on AWS CloudWatch aggregates them across containers (dimensions: function, route, method, status class).
- Counters in the monitoring DynamoDB table, which `/metrics` serves to Prometheus (MiniStack does
  not turn EMF lines into metrics, and CloudWatch percentiles are no Prometheus histogram). Each
  container adds its requests up in memory and a background thread adds them to the table every
  REQUEST_METRICS_FLUSH_SECONDS, one UpdateItem (ADD, atomic) per (function, method, route, status)
  seen: the request never waits for DynamoDB, and the table's figures are exact across containers.
  A container recycled by Lambda loses at most its last interval's counts (EMF still has them).

Labels are bounded: the route's template (`/api/crops/{crop_id}`), never an id; a path no route
matched is `unmatched`. The request also gets its correlation id here (see hydroponics.correlation).
"""

import os
import threading
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from hydroponics.aws import client
from hydroponics.correlation import acceptable, correlated, new_correlation_id
from hydroponics.observability import SERVICE, logger
from hydroponics.settings import get_settings

# Latency buckets (seconds, upper bounds; +Inf after the last), as Prometheus' defaults
BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PARTITION = "requests"
UNMATCHED = "unmatched"
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
Key = tuple[str, str, str, int]  # (function, method, route, status)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass
class RequestCounter:
    """Requests of one (function, method, route, status): how many, their total seconds, and per bucket."""

    function: str
    method: str
    route: str
    status: int
    count: int = 0
    seconds: float = 0.0
    buckets: list[int] | None = None  # len(BUCKETS) + 1 counts, not cumulative

    def __post_init__(self) -> None:
        if self.buckets is None:
            self.buckets = [0] * (len(BUCKETS) + 1)

    def add(self, seconds: float) -> None:
        self.count += 1
        self.seconds += seconds
        self.buckets[bisect_left(BUCKETS, seconds)] += 1

    def merge(self, other: "RequestCounter") -> None:
        self.count += other.count
        self.seconds += other.seconds
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets)]


class RequestRecorder:
    """This container's counts since the last flush, and the thread that adds them to the monitoring table."""

    def __init__(self, background: bool = False) -> None:
        self._lock = threading.Lock()
        self._pending: dict[Key, RequestCounter] = {}
        self._background = background  # flush from a thread of its own (the container's recorder), or by flush()
        self._flusher: threading.Thread | None = None

    def record(self, function: str, method: str, route: str, status: int, seconds: float) -> None:
        key = (function, method, route, status)
        with self._lock:
            counter = self._pending.get(key)
            if counter is None:
                counter = self._pending[key] = RequestCounter(*key)
            counter.add(seconds)
            if self._background and self._flusher is None and get_settings().monitoring_table:
                self._flusher = threading.Thread(target=self._flush_forever, name="request-metrics", daemon=True)
                self._flusher.start()

    def _take(self) -> dict[Key, RequestCounter]:
        with self._lock:
            pending, self._pending = self._pending, {}
        return pending

    def _give_back(self, counters: list[RequestCounter]) -> None:
        with self._lock:
            for counter in counters:
                key = (counter.function, counter.method, counter.route, counter.status)
                if key in self._pending:
                    self._pending[key].merge(counter)
                else:
                    self._pending[key] = counter

    def flush(self) -> int:
        """Add the pending counts to the table now; returns the items updated (failed ones wait for the next flush)."""
        table = get_settings().monitoring_table
        failed, updated = [], 0
        for counter in self._take().values():
            try:
                _add_to_table(table, counter)
                updated += 1
            except Exception:  # noqa: BLE001 - kept for the next flush; the requests themselves went fine
                logger.exception("could not add request counts to the monitoring table")
                failed.append(counter)
        self._give_back(failed)
        return updated

    def _flush_forever(self) -> None:
        interval = get_settings().request_metrics_flush_seconds
        while True:
            time.sleep(interval)
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the thread must outlive a bad moment (settings, network)
                logger.exception("request metrics flush failed")


recorder = RequestRecorder(background=True)


def _add_to_table(table: str | None, counter: RequestCounter) -> None:
    if not table:
        return
    adds = {"n": counter.count, "seconds": counter.seconds} | {
        f"b{i}": n for i, n in enumerate(counter.buckets) if n}
    names = {f"#{name}": name for name in adds} | {"#fn": "function", "#m": "method", "#r": "route", "#st": "status"}
    values = {f":{name}": {"N": f"{value:.6f}" if isinstance(value, float) else str(value)}
              for name, value in adds.items()} | {
        ":fn": {"S": counter.function}, ":m": {"S": counter.method}, ":r": {"S": counter.route},
        ":st": {"N": str(counter.status)}}
    client("dynamodb").update_item(
        TableName=table,
        Key={"pk": {"S": PARTITION},
             "sk": {"S": f"{counter.function}|{counter.method}|{counter.route}|{counter.status}"}},
        UpdateExpression="SET #fn = :fn, #m = :m, #r = :r, #st = :st ADD " + ", ".join(
            f"#{name} :{name}" for name in adds),
        ExpressionAttributeNames=names, ExpressionAttributeValues=values)


def request_counters() -> list[RequestCounter]:
    """Every (function, method, route, status)'s counts since the table was created, from every container."""
    table = get_settings().monitoring_table
    if not table:
        return []
    counters, start = [], None
    while True:
        page = client("dynamodb").query(
            TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": PARTITION}},
            **({"ExclusiveStartKey": start} if start else {}))
        for item in page.get("Items", []):
            if not {"function", "method", "route", "status"} <= item.keys():
                continue  # not a counter the middleware wrote
            counters.append(RequestCounter(
                item["function"]["S"], item["method"]["S"], item["route"]["S"], int(item["status"]["N"]),
                int(item.get("n", {"N": "0"})["N"]), float(item.get("seconds", {"N": "0"})["N"]),
                [int(item.get(f"b{i}", {"N": "0"})["N"]) for i in range(len(BUCKETS) + 1)]))
        start = page.get("LastEvaluatedKey")
        if not start:
            return counters


def _emit_emf(function: str, method: str, route: str, status: int, seconds: float) -> None:
    """One EMF line for CloudWatch (inside Lambda only: elsewhere nobody collects stdout)."""
    emf = EphemeralMetrics(namespace="Hydroponics", service=SERVICE)
    for name, value in (("function", function), ("route", route), ("method", method),
                        ("status_class", f"{status // 100}xx")):
        emf.add_dimension(name=name, value=value)
    emf.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    emf.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=round(seconds * 1000, 3))
    emf.add_metric(name="ServerErrors", unit=MetricUnit.Count, value=1 if status >= 500 else 0)
    emf.flush_metrics()


def route_of(scope: Scope) -> str:
    """The matched route's template; `unmatched` for a path no route knows (its raw path would be unbounded)."""
    route = scope.get("route")
    return getattr(route, "path", None) or UNMATCHED


def _request_id(scope: Scope) -> str:
    """The caller's X-Request-Id, else API Gateway's request id, else a new one."""
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            chosen = acceptable(value.decode("latin-1"))
            if chosen:
                return chosen
    event = scope.get("aws.event") or {}
    return acceptable((event.get("requestContext") or {}).get("requestId")) or new_correlation_id()


class RequestMetrics:
    """ASGI middleware: measures each HTTP request of `function` and sets its correlation id (echoed as X-Request-Id)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], function: str) -> None:
        self.app = app
        self.function = function
        self.emf = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception escaped the app
        request_id = _request_id(scope)

        async def send_and_note(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        with correlated(request_id):
            try:
                await self.app(scope, receive, send_and_note)
            finally:
                seconds = time.perf_counter() - started
                method = scope.get("method", "GET") if scope.get("method") in _METHODS else "OTHER"
                route = route_of(scope)
                recorder.record(self.function, method, route, status, seconds)
                if self.emf:
                    _emit_emf(self.function, method, route, status, seconds)
