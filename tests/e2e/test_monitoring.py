"""Monitoring end to end on the deployed stack, with a real Prometheus on this machine scraping it.

Readings posted through API Gateway are counted on /metrics (from the store) and as ingest requests
(from every container's counters); a webhook that answers 503 sends a notification to its DLQ, which
/metrics shows and Prometheus alerts on; a database outage of about 50 s (tests/outage.py: the stack's
role locked out, never the server stopped) makes the readings queue's backlog age rise while the
readings wait and fall once they are stored, and Prometheus fires the matching rules (shipped rules,
rendered with `for: 0s` and shorter thresholds: tests/prometheus_server.py). And one reading followed
by its correlation id from the POST to the alert, the email and the AC command in the functions' logs.
"""

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from werkzeug import Response

from hydroponics.settings import Settings
from tests.e2e.conftest import wait_for
from tests.mail_server import smtp_server
from tests.outage import can_cause_outage, database_outage
from tests.prometheus_server import firing, prometheus
from tests.monitoring_samples import metric_names

OUTAGE_SECONDS = 50


@pytest.fixture(scope="module")
def token(stack) -> str:
    path = Path(stack.get("METRICS_TOKEN_FILE", ""))
    if not path.is_file():
        pytest.fail("no metrics token: run scripts/deploy (it writes .local/metrics-token)")
    return path.read_text().strip()


@pytest.fixture(scope="module")
def watching(stack, tmp_path_factory):
    with prometheus(stack["API_URL"], stack["METRICS_TOKEN_FILE"], tmp_path_factory.mktemp("prometheus")) as url:
        yield url


def scrape(api: httpx.Client, token: str) -> list:
    reply = api.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 200, reply.text
    return [sample for family in text_string_to_metric_families(reply.text) for sample in family.samples]


def total(samples: list, name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def readings(location: str, values: list[float], start: datetime) -> list[dict]:
    return [{"sensor_type": "ph", "value": v, "location": location, "timestamp": (start + timedelta(seconds=i)).isoformat()}
            for i, v in enumerate(values)]


def test_metrics_need_the_token_or_an_admin_key(api, stack, token):
    assert api.get("/metrics").status_code == 401
    assert api.get("/metrics", headers={"Authorization": "Bearer not-the-token"}).status_code == 401
    assert api.get("/metrics", headers={"X-API-Key": stack["API_KEY"]}).status_code == 403  # a client's key
    assert api.get("/metrics", headers={"X-API-Key": stack["ADMIN_KEY"]}).status_code == 200
    reply = api.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 200 and "hydroponics_queue_messages" in reply.text


def test_every_dashboard_and_rule_metric_is_on_the_live_endpoint(api, token):
    import json

    import yaml
    monitoring = Path(__file__).resolve().parents[2] / "infra" / "monitoring"
    dashboard = json.loads((monitoring / "grafana-dashboard.json").read_text())
    rules = yaml.safe_load((monitoring / "alerts.yml").read_text())["groups"][0]["rules"]
    wanted = set().union(*(metric_names(t["expr"]) for p in dashboard["panels"] for t in p.get("targets", [])),
                         *(metric_names(r["expr"]) for r in rules)) - {"up"}
    # families present only when there is something to count: make sure there is, then look
    exposed = {s.name for s in scrape(api, token)}
    sometimes = {"hydroponics_job_last_duration_seconds", "hydroponics_ac_interlock_refusals_total",
                 "hydroponics_failed_tasks_oldest_age_seconds", "hydroponics_ingest_lag_seconds",
                 "hydroponics_readings_stored_total", "hydroponics_notifications", "hydroponics_ac_commands",
                 "hydroponics_failed_tasks", "hydroponics_job_last_success_timestamp_seconds",
                 "hydroponics_job_last_run_timestamp_seconds"}
    missing = wanted - exposed
    assert missing <= sometimes, missing - sometimes
    text = api.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
    for name in sorted(missing):  # still declared (HELP/TYPE), so a query names a real family
        assert f"# TYPE {name} " in text or f"# TYPE {name.removesuffix('_total')} " in text, name


@pytest.mark.skipif(not can_cause_outage(), reason="needs root and psql to lock the stack's role out")
def test_readings_dead_letters_and_an_outage_on_metrics_and_in_prometheus(
        api, stack, token, make_client, receiver, short_backoff, watching):
    farm = make_client("Monitored Farm", rate_limits={"ingest": 5000, "api": 5000})
    receiver.expect_request("/hooks/monitored", method="POST").respond_with_response(Response("down", status=503))
    call = {"X-API-Key": farm["key"]}
    assert api.post("/api/channels", headers=call, json={
        "name": "mon-hook", "kind": "webhook",
        "config": {"url": f"http://127.0.0.1:{receiver.port}/hooks/monitored"}}).status_code == 201
    assert api.post("/api/rules", headers=call, json={
        "name": "pH above 7", "location": "bay-mon", "sensor_type": "ph", "severity": "critical",
        "condition": {"kind": "above", "threshold": 7.0}, "channels": ["mon-hook"]}).status_code == 201
    before = scrape(api, token)
    ingest_202 = {"function": "ingest", "route": "/api/data", "status": "202"}
    posts_before = total(before, "hydroponics_http_requests_total", **ingest_202)
    dead_before = total(before, "hydroponics_failed_tasks", queue="notifications", status="failed")

    start = datetime.now(UTC) - timedelta(minutes=2)
    for batch in (readings("bay-mon", [6.0] * 10, start), readings("bay-mon", [7.9], start + timedelta(seconds=30))):
        assert api.post("/api/data", json={"readings": batch}, headers=farm["headers"]).status_code == 202

    def stored() -> float:
        return total(scrape(api, token), "hydroponics_readings_stored_total", client_id=farm["client_id"])

    assert wait_for(lambda: stored() == 11, timeout=60, interval=2), stored()
    assert wait_for(lambda: total(scrape(api, token), "hydroponics_http_requests_total", **ingest_202)
                    >= posts_before + 2, timeout=60, interval=2)  # flushed by every ingest container
    assert wait_for(lambda: total(scrape(api, token), "hydroponics_failed_tasks", queue="notifications",
                                  status="failed") >= dead_before + 1, timeout=60 + 4 * short_backoff, interval=2)
    fired = set()

    def prometheus_fires(alert: str, **labels: str) -> bool:
        now_firing = [a for a in firing(watching) if a["alertname"] == alert and labels.items() <= a.items()]
        if now_firing:
            fired.add(alert)
        return bool(now_firing)

    assert wait_for(lambda: prometheus_fires("DeadLetterQueueNotEmpty", queue="notifications"), timeout=30, interval=1)
    assert wait_for(lambda: prometheus_fires("NotificationsFailing", channel="mon-hook"), timeout=30, interval=1)

    ages, postgres_up = [], []
    with database_outage(stack["DATABASE_URL"]):
        outage_started = time.monotonic()
        time.sleep(8)
        during = readings("bay-mon", [6.1] * 5, datetime.now(UTC) - timedelta(seconds=5))
        assert api.post("/api/data", json={"readings": during}, headers=farm["headers"]).status_code == 202
        while time.monotonic() - outage_started < OUTAGE_SECONDS:
            samples = scrape(api, token)
            ages.append(total(samples, "hydroponics_queue_oldest_message_age_seconds", queue="readings"))
            postgres_up.append(total(samples, "hydroponics_scrape_source_up", source="postgres"))
            prometheus_fires("ReadingsQueueBacklogOld", queue="readings")
            prometheus_fires("MetricsSourceDown", source="postgres")
            time.sleep(3)
    assert 0 in postgres_up, postgres_up  # /metrics kept answering with PostgreSQL down, and said so
    assert max(ages) >= 20, ages
    rising = [age for age in ages if age > 0]
    # the age grew while readings waited. Each api container answers from its own /metrics cache (up to
    # metrics_cache_seconds old, filled by whichever scrape came first, Prometheus's included), so a
    # sample may come from an answer computed a moment before the previous one: in order within that.
    stale = Settings.model_fields["metrics_cache_seconds"].default
    assert all(later >= earlier - stale for earlier, later in zip(rising, rising[1:])), ages
    assert rising[-1] - rising[0] >= 15, ages
    assert {"ReadingsQueueBacklogOld", "MetricsSourceDown"} <= fired, fired

    assert wait_for(lambda: stored() == 16, timeout=90, interval=2), stored()  # nothing lost
    assert wait_for(lambda: total(scrape(api, token), "hydroponics_queue_oldest_message_age_seconds",
                                  queue="readings") == 0, timeout=30, interval=2)  # and the age fell
    assert wait_for(lambda: not prometheus_fires("ReadingsQueueBacklogOld", queue="readings"), timeout=30, interval=1)
    assert total(scrape(api, token), "hydroponics_scrape_source_up", source="postgres") == 1


def _log_lines(aws, group: str, since_ms: int, needle: str) -> list[str]:
    lines, token = [], None
    while True:
        page = aws("logs").filter_log_events(logGroupName=group, startTime=since_ms, **({"nextToken": token} if token else {}))
        lines += [event["message"] for event in page.get("events", []) if needle in event["message"]]
        token = page.get("nextToken")
        if not token:
            return lines


def test_one_reading_followed_from_post_to_alert_email_and_ac_command(api, stack, make_client, aws):
    farm = make_client("Traced Farm", rate_limits={"ingest": 5000, "api": 5000, "ac_control": 5000})
    call = {"X-API-Key": farm["key"]}
    since_ms = int(time.time() * 1000) - 5000
    with smtp_server() as mail:
        assert api.post("/api/channels", headers=call, json={"name": "ops-email", "kind": "email", "config": {
            "to": ["grower@farm.example"], "smtp_host": mail.host, "smtp_port": mail.port, "security": "none",
            "from": "alerts@farm.example"}}).status_code == 201
        unit = api.post("/api/ac/register", headers=call, json={
            "name": "Room C AC", "location": "room-c", "driver": "simulated",
            "capabilities": {"modes": ["cool", "fan"], "setpoint_min": 16, "setpoint_max": 30, "fan_speeds": ["auto"]},
            "safety": {"min_off_seconds": 0, "setpoint_min": 18, "setpoint_max": 26}})
        assert unit.status_code == 201, unit.text
        assert api.post("/api/rules", headers=call, json={
            "name": "Room C too warm", "location": "room-c", "sensor_type": "air_temperature", "severity": "warning",
            "condition": {"kind": "above", "threshold": 28.0}, "channels": ["ops-email"],
            "action": {"ac_unit_id": unit.json()["id"], "command": {"power": "on", "mode": "cool"},
                       "when": "above"}}).status_code == 201
        trace = f"trace-{uuid.uuid4().hex[:12]}"
        posted = api.post("/api/data", headers=farm["headers"] | {"X-Request-Id": trace}, json={
            "sensor_type": "air_temperature", "value": 31.0, "location": "room-c"})
        assert posted.status_code == 202 and posted.headers["x-request-id"] == trace
        assert wait_for(lambda: [m for m in list(mail.messages) if "Room C too warm" in m.text + m.subject], timeout=30)

    functions = {name: stack["RULES_FUNCTION"].removesuffix("-rules") + f"-{name}"
                 for name in ("ingest", "rules", "notify", "ac-control")}
    expected = {"ingest": "readings queued", "rules": "alert opened", "notify": "notification sent",
                "ac-control": "sending AC command"}

    def trail() -> dict[str, list[str]]:
        return {name: [line for line in _log_lines(aws, f"/aws/lambda/{function}", since_ms, trace)
                       if expected[name] in line] for name, function in functions.items()}

    def complete() -> dict[str, list[str]] | None:
        lines = trail()
        return lines if all(lines.values()) else None

    found = wait_for(complete, timeout=30, interval=2)
    assert found, trail()
    for name, lines in found.items():
        assert f'"correlation_id":"{trace}"' in lines[0].replace(" ", ""), (name, lines[0])
