"""Faults under load on the deployed stack lose nothing: PostgreSQL unavailable, the rules function dying
mid-batch, the mail and webhook receivers down. Each reports its figure (tests/e2e/figures.py).

Durations are the issue's by default and overridable (DB_OUTAGE_SECONDS, RECEIVERS_DOWN_SECONDS,
FAULT_DEVICES). The outage is of this stack's database role only (tests/outage.py): the PostgreSQL
server is shared with other checkouts and is never stopped.
"""

import os
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from werkzeug import Response

from tests.e2e.conftest import stored_readings, wait_for
from tests.e2e.figures import report
from tests.e2e.lambdas import environment, function_name
from tests.mail_server import smtp_server
from tests.outage import can_cause_outage, database_outage

DEVICES = int(os.environ.get("FAULT_DEVICES", "5"))
DB_OUTAGE_SECONDS = float(os.environ.get("DB_OUTAGE_SECONDS", "120"))
RECEIVERS_DOWN_SECONDS = float(os.environ.get("RECEIVERS_DOWN_SECONDS", "600"))


class Devices:
    """`count` devices, each posting one reading of its own sensor every second until stopped."""

    def __init__(self, stack, farm, count: int, location: str, value=lambda n, i: 6.0) -> None:
        self.stack, self.farm, self.location, self.value = stack, farm, location, value
        self.accepted = 0
        self.refused: list = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(count)]

    def _run(self, n: int) -> None:
        start = datetime.now(UTC) - timedelta(hours=1)  # one reading a second, times distinct per sensor
        with httpx.Client(base_url=self.stack["API_URL"], timeout=30) as client:
            i = 0
            while not self._stop.is_set():
                tick = time.monotonic()
                body = {"sensor_id": f"{self.location}-{n}", "sensor_type": "ph", "value": self.value(n, i),
                        "location": self.location, "timestamp": (start + timedelta(seconds=i)).isoformat()}
                try:
                    status = client.post("/api/data", headers=self.farm["headers"], json=body).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                with self._lock:
                    if status == 202:
                        self.accepted += 1
                    else:
                        self.refused.append(status)
                i += 1
                self._stop.wait(max(0.0, 1.0 - (time.monotonic() - tick)))

    def __enter__(self) -> "Devices":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)


@pytest.mark.load
def test_postgresql_unavailable_for_two_minutes_during_load_loses_no_reading(stack, make_client, stack_db):
    if not can_cause_outage():
        pytest.skip("needs root, to act as the postgres superuser for the outage")
    farm = make_client("Outage Farm", rate_limits={"ingest": 100_000})
    with Devices(stack, farm, DEVICES, "outage") as devices:
        time.sleep(15)  # steady state before
        stack_db.dispose()
        with database_outage(stack["DATABASE_URL"]):
            time.sleep(DB_OUTAGE_SECONDS)
        ended = time.monotonic()
        time.sleep(15)  # and after
    accepted = devices.accepted
    assert devices.refused == [] and accepted > 0  # ingest needs no PostgreSQL: every reading was taken
    drained = wait_for(lambda: stored_readings(stack_db, farm["client_id"])[0] >= accepted, timeout=900, interval=2)
    drain_seconds = time.monotonic() - ended
    wait_for(lambda: False, timeout=5)  # late duplicates, if any, would land now
    rows, distinct = stored_readings(stack_db, farm["client_id"])
    report("PostgreSQL outage", devices=DEVICES, outage_s=DB_OUTAGE_SECONDS, accepted=accepted, stored=rows,
           lost=accepted - rows, duplicated=rows - distinct, drained_s_after_outage=round(drain_seconds, 1))
    assert drained and rows == distinct == accepted


@pytest.mark.load
def test_the_rules_function_dying_mid_batch_loses_and_duplicates_nothing(stack, api, aws, make_client, stack_db):
    """Every batch's first delivery is stored and evaluated, then the worker dies before replying."""
    farm = make_client("Crash Farm", rate_limits={"ingest": 100_000, "api": 5000})
    headers = {"X-API-Key": farm["key"]}
    rule = api.post("/api/rules", headers=headers, json={
        "name": "pH above 7", "location": "crash", "sensor_type": "ph", "severity": "warning",
        "condition": {"kind": "above", "threshold": 7.0}, "channels": []})
    assert rule.status_code == 201, rule.text
    rules = function_name(aws, "rules")
    with environment(aws, rules, FAULT_INJECTION="rules.after_evaluation"):
        with Devices(stack, farm, DEVICES, "crash", value=lambda n, i: 7.5) as devices:
            time.sleep(30)
        accepted = devices.accepted
        assert devices.refused == [] and accepted > 0
        # the first deliveries were stored before the crash; their redelivery comes after the visibility timeout
        drained = wait_for(lambda: stored_readings(stack_db, farm["client_id"])[0] >= accepted, timeout=600, interval=2)
        wait_for(lambda: False, timeout=150)  # every crashed batch is redelivered (visibility 120 s) and settles
    rows, distinct = stored_readings(stack_db, farm["client_id"])
    with stack_db.connect() as conn:
        alerts = conn.execute(text("SELECT count(*), coalesce(sum(repeat_count), 0) FROM alerts WHERE client_id = :c"),
                              {"c": farm["client_id"]}).one()
    report("rules function crash mid-batch", devices=DEVICES, accepted=accepted, stored=rows,
           lost=accepted - rows, duplicated=rows - distinct, alerts=alerts[0], repeats=alerts[1])
    assert drained and rows == distinct == accepted
    # one alert per sensor, each further breaching reading counted once at most (none twice after a crash)
    assert alerts[0] == DEVICES and alerts[1] <= accepted - DEVICES


@pytest.mark.load
def test_mail_and_webhook_receivers_down_for_ten_minutes_then_every_notification_is_delivered_once(
        stack, api, make_client, stack_db, receiver):
    farm = make_client("Receivers Farm", rate_limits={"ingest": 100_000, "api": 5000})
    headers, admin = {"X-API-Key": farm["key"]}, {"X-API-Key": stack["ADMIN_KEY"]}
    hooks: list[dict] = []
    up = threading.Event()

    def webhook(request):
        if not up.is_set():
            return Response("down", status=503)
        hooks.append(request.get_json())
        return Response("ok", status=200)

    receiver.expect_request("/hooks/ops", method="POST").respond_with_handler(webhook)
    with smtp_server() as mail:
        mail_port = mail.port
    # the mail server is down (nothing listens on its port) until it is started again on the same port
    for name, kind, config, cap in (
            ("ops-hook", "webhook", {"url": f"http://127.0.0.1:{receiver.port}/hooks/ops"}, None),
            ("ops-mail", "email", {"to": ["grower@farm.example"], "smtp_host": "127.0.0.1", "smtp_port": mail_port,
                                   "security": "none", "from": "alerts@farm.example"}, 3)):
        made = api.post("/api/channels", headers=headers, json={"name": name, "kind": kind, "config": config,
                                                               "hourly_cap": cap})
        assert made.status_code == 201, made.text
    sensors = 6
    for n in range(sensors):  # one alert per sensor: 6 notifications per channel, the mail channel caps at 3
        made = api.post("/api/rules", headers=headers, json={
            "name": f"pH above 7 at tank {n}", "location": f"tank-{n}", "sensor_type": "ph", "severity": "critical",
            "condition": {"kind": "above", "threshold": 7.0}, "channels": ["ops-hook", "ops-mail"]})
        assert made.status_code == 201, made.text
    now = datetime.now(UTC)
    readings = [{"sensor_type": "ph", "value": 7.8, "location": f"tank-{n}",
                 "timestamp": now.isoformat()} for n in range(sensors)]
    assert api.post("/api/data", headers=farm["headers"], json={"readings": readings}).status_code == 202
    went_down = time.monotonic()
    time.sleep(RECEIVERS_DOWN_SECONDS)
    with smtp_server_on(mail_port) as mail:
        up.set()
        back = time.monotonic()
        # past the retries (short backoff) they are dead letters: the operator retries them (README's runbook)
        failed = _failed_notification_tasks(api, admin, farm["client_id"], stack_db)
        for task in failed:
            assert api.post(f"/admin/failed-tasks/{task}/retry", headers=admin).status_code == 200
        delivered = wait_for(lambda: _delivered_or_held(stack_db, farm["client_id"]), timeout=1200, interval=2)
        settle_seconds = time.monotonic() - back
        # the hourly cap frees up an hour after the 3 mails: move them an hour back, the minute job digests the rest
        with stack_db.begin() as conn:
            conn.execute(text("UPDATE notifications SET sent_at = sent_at - interval '61 minutes' WHERE client_id = :c"
                              " AND status = 'sent'"), {"c": farm["client_id"]})
        digested = wait_for(lambda: _states(stack_db, farm["client_id"]).get(("email", "digested")) == 3
                            and _states(stack_db, farm["client_id"]).get(("email", "sent")) == 4, timeout=180, interval=2)
        wait_for(lambda: False, timeout=10)  # nothing more arrives
        messages = list(mail.messages)
    states = {f"{kind}:{status}": count for (kind, status), count in _states(stack_db, farm["client_id"]).items()}
    report("mail and webhook receivers down", down_s=round(back - went_down), alerts=sensors,
           webhook_deliveries=len(hooks), mails=len(messages), dead_letters_retried=len(failed),
           states=states, delivered_s_after_back=round(settle_seconds, 1))
    assert delivered and digested, states
    assert len(hooks) == sensors and states["webhook:sent"] == sensors  # each alert's webhook once
    assert len(messages) == 4  # 3 under the cap, then the other 3 in one digest


def _states(stack_db, client_id: str) -> dict:
    """(channel kind, notification status) -> notifications, for the client."""
    with stack_db.connect() as conn:
        return {(kind, status): count for kind, status, count in conn.execute(text(
            "SELECT c.kind, n.status, count(*) FROM notifications n JOIN notification_channels c ON c.id = n.channel_id"
            " WHERE n.client_id = :c GROUP BY 1, 2"), {"c": client_id}).all()}


def _delivered_or_held(stack_db, client_id: str) -> bool:
    """Every webhook sent, 3 mails sent and 3 held by the cap (their digest comes when the cap has room)."""
    states = _states(stack_db, client_id)
    return states == {("webhook", "sent"): 6, ("email", "sent"): 3, ("email", "held"): 3}


def _failed_notification_tasks(api, admin, client_id: str, stack_db) -> list[str]:
    """The client's notifications recorded as dead letters (the dead-letters function), once they all are."""
    def recorded() -> list[str]:
        with stack_db.connect() as conn:
            return [str(i) for i in conn.execute(text(
                "SELECT f.id FROM failed_tasks f WHERE f.status = 'failed' AND EXISTS (SELECT 1 FROM notifications n"
                " WHERE n.client_id = :c AND f.body LIKE '%' || n.id::text || '%')"), {"c": client_id}).scalars()]
    with stack_db.connect() as conn:
        retrying = conn.execute(text("SELECT count(*) FROM notifications WHERE client_id = :c AND status <> 'failed'"),
                                {"c": client_id}).scalar_one()
    if retrying:  # a long backoff: the notify function is still retrying them, no dead letter to redrive
        return []
    return wait_for(lambda: len(found := recorded()) == 12 and found, timeout=120, interval=2) or recorded()


class smtp_server_on:  # noqa: N801 - used as a context manager like smtp_server
    """The collecting SMTP server (tests/mail_server.py) started again on the port it had."""

    def __init__(self, port: int) -> None:
        self.port = port

    def __enter__(self):
        from aiosmtpd.controller import Controller

        from tests.mail_server import HOST, MailServer

        self.server = MailServer(HOST, self.port)
        self.controller = Controller(self.server, hostname=HOST, port=self.port)
        self.controller.start()
        return self.server

    def __exit__(self, *exc) -> None:
        self.controller.stop()
