"""AC command delivery through a real FIFO queue (MiniStack), PostgreSQL and simulated units on real HTTP:
order per unit under concurrency, duplicates applied once, interlocks, an unreachable unit."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import func, select, text, update

from hydroponics.alerts.records import resolve_alert
from hydroponics.climate.delivery import handle_batch
from hydroponics.db.engine import session_scope
from hydroponics.db.models import AcCommand, AcUnit, Alert, Event, Notification, NotificationChannel
from tests.integration.ac_fixtures import (ac_queue, add_channels, all_final, as_farm, control, farms,  # noqa: F401
                                           free_port, http, register, run_concurrently, simulators, statuses, Worker)


def command_row(command_id: str) -> AcCommand:
    with session_scope() as session:
        return session.get_one(AcCommand, UUID(command_id))


def unit_row(unit_id: str) -> AcUnit:
    with session_scope() as session:
        return session.get_one(AcUnit, UUID(unit_id))


def event_types(subject_id: str) -> list[str]:
    with session_scope() as session:
        return list(session.scalars(select(Event.event_type).where(Event.subject_id == subject_id).order_by(Event.id)))


def set_unit(unit_id: str, **values) -> None:
    with session_scope() as session:
        session.execute(update(AcUnit).where(AcUnit.id == UUID(unit_id)).values(**values))


def test_a_command_is_sent_acknowledged_and_the_unit_state_recorded(http, farms, ac_queue, simulators) -> None:
    farm = farms[0]
    sim = simulators()
    unit = register(http, farm, endpoint=sim.url)
    command = control(http, farm, unit["id"], power="on", mode="cool", setpoint=22, fan="low")
    assert command["status"] == "queued"
    Worker(ac_queue["sqs"], ac_queue["queue_url"]).drain(all_final([UUID(command["id"])]))

    followed = http.get(f"/api/ac/commands/{command['id']}", headers=as_farm(farm)).json()
    assert (followed["status"], followed["attempts"], followed["reason"]) == ("acknowledged", 1, None)
    assert followed["sent_at"] and followed["acknowledged_at"]
    state = http.get(f"/api/ac/units/{unit['id']}", headers=as_farm(farm)).json()["state"]
    assert {k: state[k] for k in ("power", "mode", "setpoint", "fan")} == {"power": "on", "mode": "cool",
                                                                          "setpoint": 22, "fan": "low"}
    assert "room_temperature" in state
    assert [m["command_id"] for m in sim.unit.commands()] == [command["id"]]
    assert event_types(command["id"]) == ["ac.command.requested", "ac.command.sent", "ac.command.acknowledged"]
    assert event_types(unit["id"]) == ["ac.unit.registered", "ac.unit.state_changed"]


def test_powering_off_records_when_the_compressor_stopped(http, farms, ac_queue, simulators) -> None:
    farm = farms[0]
    unit = register(http, farm, endpoint=simulators().url)
    worker = Worker(ac_queue["sqs"], ac_queue["queue_url"])
    on = control(http, farm, unit["id"], power="on", mode="cool")
    worker.drain(all_final([UUID(on["id"])]))
    assert unit_row(unit["id"]).last_off_at is None
    off = control(http, farm, unit["id"], power="off")
    worker.drain(all_final([UUID(off["id"])]))
    assert unit_row(unit["id"]).last_off_at is not None


def test_each_unit_gets_its_commands_in_order_while_two_workers_drain(http, farms, ac_queue, simulators) -> None:
    farm = farms[0]
    sims = [simulators() for _ in range(4)]
    units = [register(http, farm, name=f"AC {n}", endpoint=sim.url) for n, sim in enumerate(sims)]
    requested: dict[str, list[str]] = {unit["id"]: [] for unit in units}
    for step in range(12):  # interleaved: unit 0, 1, 2, 3, unit 0, ...
        for unit in units:
            requested[unit["id"]].append(control(http, farm, unit["id"], setpoint=16 + step)["id"])
    ids = [UUID(i) for ids in requested.values() for i in ids]
    workers = [Worker(ac_queue["sqs"], ac_queue["queue_url"]) for _ in range(2)]
    run_concurrently(*(lambda w=w: w.drain(all_final(ids), timeout=90) for w in workers))

    assert set(statuses(ids).values()) == {"acknowledged"}
    for unit, sim in zip(units, sims):
        assert [m["command_id"] for m in sim.unit.commands()] == requested[unit["id"]]
        assert sim.unit.room.setpoint == 27
        assert unit_row(unit["id"]).state["setpoint"] == 27


def test_a_duplicate_message_is_applied_once(http, farms, ac_queue, simulators) -> None:
    farm = farms[0]
    sim = simulators()
    unit = register(http, farm, endpoint=sim.url)
    command = control(http, farm, unit["id"], fan="high")
    sqs = ac_queue["sqs"]
    # the same command published again after the queue's 5-minute deduplication window
    sqs.send_message(QueueUrl=ac_queue["queue_url"], MessageBody=json.dumps({"command_id": command["id"]}),
                     MessageGroupId=unit["id"], MessageDeduplicationId=f"{command['id']}-again")
    worker = Worker(sqs, ac_queue["queue_url"])
    worker.drain(lambda: int(sqs.get_queue_attributes(
        QueueUrl=ac_queue["queue_url"], AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        ["ApproximateNumberOfMessages"]) == 0 and all_final([UUID(command["id"])])())
    assert [m["command_id"] for m in sim.unit.commands()] == [command["id"]]
    assert command_row(command["id"]).attempts == 1


def test_duplicates_handled_at_the_same_time_send_once(http, farms, ac_queue, simulators) -> None:
    farm = farms[0]
    sim = simulators()
    unit = register(http, farm, endpoint=sim.url)
    command = control(http, farm, unit["id"], setpoint=21)

    def duplicate() -> dict:
        record = {"messageId": str(uuid.uuid4()), "receiptHandle": "rh", "body": json.dumps({"command_id": command["id"]}),
                  "attributes": {"ApproximateReceiveCount": "1", "MessageGroupId": unit["id"]}}
        return handle_batch([record])

    results = []
    run_concurrently(*(lambda: results.append(duplicate()) for _ in range(4)))
    assert results == [{"batchItemFailures": []}] * 4
    assert [m["command_id"] for m in sim.unit.commands()] == [command["id"]]
    assert command_row(command["id"]).status == "acknowledged"


def test_the_minimum_off_time_refuses_a_quick_restart(http, farms, ac_queue, simulators) -> None:
    farm = farms[0]
    sim = simulators()
    unit = register(http, farm, endpoint=sim.url, safety={"min_off_seconds": 300})
    with session_scope() as session:
        now = session.scalar(text("SELECT now()"))
    set_unit(unit["id"], state={"power": "off", "mode": "cool"}, state_updated_at=now,
             last_off_at=now - timedelta(seconds=60))
    command = control(http, farm, unit["id"], power="on")
    fan_only = control(http, farm, unit["id"], power="on", mode="fan")
    Worker(ac_queue["sqs"], ac_queue["queue_url"]).drain(all_final([UUID(command["id"]), UUID(fan_only["id"])]))
    refused = command_row(command["id"])
    assert refused.status == "rejected" and refused.reason.startswith("minimum_off_time")
    assert refused.sent_at is None and refused.attempts == 0
    assert command_row(fan_only["id"]).status == "acknowledged"  # no compressor: allowed
    assert [m["command_id"] for m in sim.unit.commands()] == [fan_only["id"]]
    assert event_types(command["id"]) == ["ac.command.requested", "ac.command.rejected"]


def test_the_safety_setpoint_bounds_refuse_what_the_unit_could_do(http, farms, ac_queue, simulators) -> None:
    farm = farms[0]
    sim = simulators()
    unit = register(http, farm, endpoint=sim.url, safety={"setpoint_min": 20, "setpoint_max": 26})
    command = control(http, farm, unit["id"], setpoint=28)  # within the unit's 16..30: accepted, then refused
    Worker(ac_queue["sqs"], ac_queue["queue_url"]).drain(all_final([UUID(command["id"])]))
    refused = command_row(command["id"])
    assert refused.status == "rejected" and refused.reason.startswith("setpoint_bounds")
    assert sim.unit.commands() == []


def test_the_hourly_command_budget_refuses_the_next_command(http, farms, ac_queue, simulators) -> None:
    farm = farms[0]
    sim = simulators()
    unit = register(http, farm, endpoint=sim.url, safety={"max_commands_per_hour": 2})
    ids = [control(http, farm, unit["id"], setpoint=20 + n)["id"] for n in range(3)]
    Worker(ac_queue["sqs"], ac_queue["queue_url"]).drain(all_final([UUID(i) for i in ids]))
    assert [command_row(i).status for i in ids] == ["acknowledged", "acknowledged", "rejected"]
    assert command_row(ids[2]).reason.startswith("command_rate")
    assert [m["command_id"] for m in sim.unit.commands()] == ids[:2]


def test_a_unit_whose_state_is_stale_and_silent_is_refused(http, farms, ac_queue) -> None:
    farm = farms[0]
    unit = register(http, farm, endpoint=f"http://127.0.0.1:{free_port()}/", safety={"state_stale_seconds": 60})
    with session_scope() as session:
        now = session.scalar(text("SELECT now()"))
    set_unit(unit["id"], state={"power": "on", "mode": "cool"}, state_updated_at=now - timedelta(minutes=5))
    command = control(http, farm, unit["id"], setpoint=22)
    Worker(ac_queue["sqs"], ac_queue["queue_url"]).drain(all_final([UUID(command["id"])]))
    refused = command_row(command["id"])
    assert refused.status == "rejected" and refused.reason.startswith("state_stale")
    assert refused.attempts == 0


def test_a_stale_unit_that_answers_the_status_query_gets_the_command(http, farms, ac_queue, simulators) -> None:
    farm = farms[0]
    sim = simulators()
    unit = register(http, farm, endpoint=sim.url, safety={"state_stale_seconds": 60})
    with session_scope() as session:
        now = session.scalar(text("SELECT now()"))
    set_unit(unit["id"], state={"power": "on", "mode": "cool"}, state_updated_at=now - timedelta(minutes=5))
    command = control(http, farm, unit["id"], setpoint=22)
    Worker(ac_queue["sqs"], ac_queue["queue_url"]).drain(all_final([UUID(command["id"])]))
    assert command_row(command["id"]).status == "acknowledged"
    assert [m["kind"] for m in sim.unit.received] == ["status", "command"]


def alert_notifications(alert_id: UUID) -> list[tuple[str, str, str, str]]:
    """(channel name, kind, status, subject) of the alert's notification rows, by channel name."""
    with session_scope() as session:
        rows = session.execute(
            select(NotificationChannel.name, Notification.kind, Notification.status, Notification.subject)
            .join(NotificationChannel, NotificationChannel.id == Notification.channel_id)
            .where(Notification.alert_id == alert_id).order_by(NotificationChannel.name))
        return [tuple(row) for row in rows]


def test_an_unreachable_unit_is_retried_then_failed_with_an_alert_and_the_dlq(http, farms, ac_queue) -> None:
    farm = farms[0]
    add_channels(farm, "ops-hook", "pager-hook", "quiet-hook")
    unit = register(http, farm, name="AC north", endpoint=f"http://127.0.0.1:{free_port()}/",
                    alert_channels=["pager-hook", "ops-hook"])
    first = control(http, farm, unit["id"], power="on", mode="cool")
    second = control(http, farm, unit["id"], setpoint=23)
    sqs = ac_queue["sqs"]
    Worker(sqs, ac_queue["queue_url"]).drain(all_final([UUID(first["id"]), UUID(second["id"])]), timeout=60)

    failed = command_row(first["id"])
    assert (failed.status, failed.attempts) == ("failed", 3)
    assert failed.reason.startswith("unit unreachable after 3 attempts")
    held = command_row(second["id"])
    assert (held.status, held.attempts) == ("failed", 0) and held.reason.startswith("not delivered")
    assert event_types(first["id"]).count("ac.command.attempt_failed") == 3
    with session_scope() as session:
        alerts = list(session.scalars(select(Alert).where(Alert.client_id == farm)))
    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert.severity, alert.rule_id, alert.sensor_id, alert.status) == ("critical", None, None, "open")
    assert "AC north" in alert.message
    subject = "[critical] AC unit AC north at bay-a unreachable"
    assert alert_notifications(alert.id) == [("ops-hook", "alert", "pending", subject),
                                             ("pager-hook", "alert", "pending", subject)]
    with session_scope() as session:
        opened = session.scalar(select(Event.details).where(Event.event_type == "alert.opened",
                                                            Event.subject_id == str(alert.id)))
    assert opened["notifications"] == 2

    def dead_letters() -> list[str]:
        messages = sqs.receive_message(QueueUrl=ac_queue["dlq_url"], MaxNumberOfMessages=10).get("Messages", [])
        return sorted(json.loads(m["Body"])["command_id"] for m in messages)

    Worker(sqs, ac_queue["queue_url"]).poll_once()  # the next receive moves them to the DLQ
    assert dead_letters() == sorted([first["id"], second["id"]])

    with session_scope() as session:  # an operator resolves it: the unit's channels hear so
        resolved = resolve_alert(session, farm, alert.id, "key:ops", datetime.now(UTC), note="unit replaced")
    assert (resolved["status"], resolved["resolved_by"], resolved["ac_unit_id"]) == ("resolved", "key:ops",
                                                                                     UUID(unit["id"]))
    assert sorted(kind for _, kind, _, _ in alert_notifications(alert.id)) == ["alert", "alert", "resolved",
                                                                                "resolved"]


def test_an_unreachable_unit_without_alert_channels_notifies_no_one(http, farms, ac_queue) -> None:
    farm = farms[0]
    add_channels(farm, "ops-hook")  # the farm's channel, not the unit's
    unit = register(http, farm, name="AC south", endpoint=f"http://127.0.0.1:{free_port()}/")
    assert unit["alert_channels"] == []
    command = control(http, farm, unit["id"], power="on", mode="cool")
    Worker(ac_queue["sqs"], ac_queue["queue_url"]).drain(all_final([UUID(command["id"])]), timeout=60)
    assert command_row(command["id"]).status == "failed"
    with session_scope() as session:
        alert = session.scalars(select(Alert).where(Alert.client_id == farm)).one()
        assert session.scalar(select(func.count()).select_from(Notification)) == 0
    assert alert.severity == "critical" and "AC south" in alert.message


def test_an_unreachable_units_alert_counts_each_failure_once_and_resolves_when_it_answers(
        http, farms, ac_queue, simulators) -> None:
    farm = farms[0]
    add_channels(farm, "ops-hook")
    port = free_port()
    unit = register(http, farm, name="AC east", endpoint=f"http://127.0.0.1:{port}/", alert_channels=["ops-hook"])
    worker = Worker(ac_queue["sqs"], ac_queue["queue_url"])
    for command in ({"power": "on", "mode": "cool"}, {"setpoint": 23}):  # two failures, one after the other
        sent = control(http, farm, unit["id"], **command)
        worker.drain(all_final([UUID(sent["id"])]), timeout=60)
        assert command_row(sent["id"]).status == "failed"
    with session_scope() as session:
        [alert] = session.scalars(select(Alert).where(Alert.client_id == farm))
    assert (alert.ac_unit_id, alert.status, alert.repeat_count) == (UUID(unit["id"]), "open", 1)
    assert [kind for _, kind, _, _ in alert_notifications(alert.id)] == ["alert"]

    simulators(port=port)  # the unit is back
    sent = control(http, farm, unit["id"], fan="auto")
    worker.drain(all_final([UUID(sent["id"])]), timeout=60)
    assert command_row(sent["id"]).status == "acknowledged"
    with session_scope() as session:
        resolved = session.get_one(Alert, alert.id)
    assert (resolved.status, resolved.resolved_by) == ("resolved", "ac_control")
    kinds = sorted((kind, status) for _, kind, status, _ in alert_notifications(alert.id))
    assert kinds == [("alert", "pending"), ("resolved", "pending")]


def test_a_unit_back_before_the_last_attempt_gets_the_command(http, farms, ac_queue, simulators) -> None:
    farm = farms[0]
    port = free_port()
    unit = register(http, farm, endpoint=f"http://127.0.0.1:{port}/")
    command = control(http, farm, unit["id"], fan="auto")
    worker = Worker(ac_queue["sqs"], ac_queue["queue_url"])
    worker.drain(lambda: command_row(command["id"]).attempts == 1)
    assert command_row(command["id"]).status == "sent"
    sim = simulators(port=port)
    worker.drain(all_final([UUID(command["id"])]))
    row = command_row(command["id"])
    assert (row.status, row.attempts) == ("acknowledged", 2)
    assert [m["command_id"] for m in sim.unit.commands()] == [command["id"]]
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 0


def test_a_simulated_unit_and_the_rules_entry_point(http, farms, ac_queue) -> None:
    from hydroponics.climate.commands import request_rule_action

    farm = farms[0]
    unit = register(http, farm)  # driver simulated: an in-process room
    rule_id = uuid.uuid4()
    action = {"ac_unit_id": unit["id"], "command": {"power": "on", "mode": "cool", "setpoint": 24}}
    with session_scope() as session:
        command_id = request_rule_action(session, farm, rule_id, action).id
    Worker(ac_queue["sqs"], ac_queue["queue_url"]).drain(all_final([command_id]))
    row = command_row(str(command_id))
    assert (row.status, row.source, row.requested_by) == ("acknowledged", "rule", f"rule:{rule_id}")
    with session_scope() as session:  # already so: nothing to request
        assert request_rule_action(session, farm, rule_id, action) is None
