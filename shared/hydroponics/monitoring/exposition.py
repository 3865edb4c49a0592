"""A scrape in Prometheus' text exposition format (prometheus-client), under the names README "Monitoring" lists."""

from collections import defaultdict
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from hydroponics.monitoring.queues import short_name
from hydroponics.monitoring.requests import BUCKETS
from hydroponics.monitoring.scrape import Scrape

SEVERITIES = ("info", "warning", "critical")
UNRESOLVED = ("open", "acknowledged")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _gauge(name: str, documentation: str, labels: list[str], samples) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for label_values, value in samples:
        family.add_metric([str(v) for v in label_values], value)
    return family


def _counter(name: str, documentation: str, labels: list[str], samples) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=labels)
    for label_values, value in samples:
        family.add_metric([str(v) for v in label_values], value)
    return family


def _queue_families(s: Scrape) -> Iterator[Metric]:
    yield _gauge("hydroponics_queue_messages", "Messages in each queue and DLQ: visible, in flight, delayed (SQS).",
                 ["queue", "role", "state"],
                 [((q.queue, q.role, state), value) for q in s.queues
                  for state, value in (("visible", q.visible), ("in_flight", q.in_flight), ("delayed", q.delayed))])
    yield _gauge("hydroponics_queue_oldest_message_age_seconds",
                 "Age of the oldest message the queue's consumer handed back and has not finished (0: none).",
                 ["queue"], [((queue,), age) for queue, age in s.backlog.items()])
    failed = s.state.failed_tasks
    yield _gauge("hydroponics_failed_tasks", "Dead letters recorded from each work queue, by status.",
                 ["queue", "status"], [((short_name(t.source_queue), t.status), t.count) for t in failed])
    yield _gauge("hydroponics_failed_tasks_oldest_age_seconds", "How long the oldest unhandled dead letter has waited.",
                 ["queue"], [((short_name(t.source_queue),), t.oldest_age_seconds) for t in failed
                             if t.status == "failed"])


def _database_families(s: Scrape) -> Iterator[Metric]:
    connections = s.state.connections
    if connections is not None:
        yield _gauge("hydroponics_db_connections", "This database's client connections by state (waiting: on a lock).",
                     ["state"], [((state,), n) for state, n in sorted(connections.states.items())])
        yield _gauge("hydroponics_db_server_connections", "Client connections to the whole server.", [],
                     [((), connections.server)])
        yield _gauge("hydroponics_db_connections_limit", "Connections the server (or the role) allows.", [],
                     [((), connections.limit)])
    yield _gauge("hydroponics_readings_partition_bytes", "Size of each readings partition with its indexes.",
                 ["partition"], [((name,), size) for name, size in sorted(s.state.partitions.items())])


def _farm_families(s: Scrape) -> Iterator[Metric]:
    state = s.state
    yield _gauge("hydroponics_client_info", "Active clients (client_id to name).", ["client_id", "client"],
                 [((client_id, name), 1) for client_id, name in state.clients.items()])
    yield _counter("hydroponics_readings_stored", "Readings stored, per client and sensor type (from the store).",
                   ["client_id", "sensor_type"], [((r.client_id, r.sensor_type), r.stored) for r in state.readings])
    yield _gauge("hydroponics_ingest_lag_seconds", "Seconds since the client's newest stored reading was taken.",
                 ["client_id"], [((lag.client_id,), lag.seconds) for lag in state.ingest_lag])
    if s.up.get("postgres"):
        yield _gauge("hydroponics_alerts_unresolved", "Alerts open or acknowledged, by severity.",
                     ["severity", "status"], [((severity, status), state.alerts.get((severity, status), 0))
                                              for severity in SEVERITIES for status in UNRESOLVED])
    yield _gauge("hydroponics_notifications", "The last day's notifications per channel and state (retrying: failed, attempts left).",
                 ["channel_id", "channel", "kind", "state"],
                 [((n.channel_id, n.channel, n.kind, n.state), n.count) for n in state.notifications])
    yield _gauge("hydroponics_ac_commands", "AC commands by state.", ["state"],
                 [((status,), n) for status, n in sorted(state.ac_commands.items())])
    yield _counter("hydroponics_ac_interlock_refusals", "AC commands an interlock refused, by interlock.",
                   ["interlock"], [((reason,), n) for reason, n in sorted(state.refusals.items())])


def _job_families(s: Scrape) -> Iterator[Metric]:
    # labelled scheduled_job: Prometheus itself sets `job` (the scrape job) on every series
    jobs = s.state.jobs
    yield _gauge("hydroponics_job_interval_seconds", "How often each scheduled job should run.", ["scheduled_job"],
                 [((j.job,), j.every_seconds) for j in jobs])
    yield _gauge("hydroponics_job_last_run_timestamp_seconds", "When the job last ran.", ["scheduled_job"],
                 [((j.job,), j.last_run_at) for j in jobs if j.last_run_at is not None])
    yield _gauge("hydroponics_job_last_success_timestamp_seconds", "When the job last ran without a failure.", ["scheduled_job"],
                 [((j.job,), j.last_success_at) for j in jobs if j.last_success_at is not None])
    yield _gauge("hydroponics_job_last_duration_seconds", "How long the job's last successful run took.", ["scheduled_job"],
                 [((j.job,), j.last_duration_seconds) for j in jobs if j.last_duration_seconds is not None])


def _request_families(s: Scrape) -> Iterator[Metric]:
    yield _counter("hydroponics_http_requests", "HTTP requests per function, route template, method and status.",
                   ["function", "method", "route", "status"],
                   [((c.function, c.method, c.route, c.status), c.count) for c in s.requests])
    histogram = HistogramMetricFamily("hydroponics_http_request_duration_seconds",
                                      "HTTP request latency in the function, per function, route and method.",
                                      labels=["function", "method", "route"])
    merged: dict[tuple[str, str, str], tuple[list[int], float]] = defaultdict(lambda: ([0] * (len(BUCKETS) + 1), 0.0))
    for c in s.requests:  # the histogram is over every status (fewer series)
        buckets, seconds = merged[(c.function, c.method, c.route)]
        merged[(c.function, c.method, c.route)] = ([a + b for a, b in zip(buckets, c.buckets)], seconds + c.seconds)
    for labels, (buckets, seconds) in sorted(merged.items()):
        cumulative, running = [], 0
        for bound, n in zip([*map(str, BUCKETS), "+Inf"], buckets):
            running += n
            cumulative.append((bound, running))
        histogram.add_metric(list(labels), cumulative, seconds)
    yield histogram


def _scrape_families(s: Scrape) -> Iterator[Metric]:
    yield _gauge("hydroponics_scrape_source_up", "Whether each source answered this scrape.", ["source"],
                 [((name,), 1 if ok else 0) for name, ok in s.up.items()])
    yield _gauge("hydroponics_scrape_source_duration_seconds", "How long each source took.", ["source"],
                 [((name,), seconds) for name, seconds in s.durations.items()])


class _ScrapeCollector(Collector):
    def __init__(self, scraped: Scrape) -> None:
        self.scraped = scraped

    def collect(self) -> Iterator[Metric]:
        for families in (_queue_families, _database_families, _farm_families, _job_families, _request_families,
                         _scrape_families):
            yield from families(self.scraped)


def render(scraped: Scrape) -> bytes:
    """The scrape as Prometheus text exposition."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ScrapeCollector(scraped))
    return generate_latest(registry)
