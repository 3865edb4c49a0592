"""The rule engine over real PostgreSQL: alerts open once, repeat, resolve with hysteresis, honour silences."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import text

from hydroponics.crops.crops import plant_crop
from hydroponics.crops.varieties import StageProfile, create_variety
from hydroponics.db.engine import session_scope
from hydroponics.db.models import Rule, Silence
from hydroponics.readings.messages import QueuedReading
from hydroponics.readings.store import store_readings
from hydroponics.records.clients import create_client
from hydroponics.rules import cache
from hydroponics.rules.engine import EvaluationOutcome, evaluate_readings
from hydroponics.rules.no_data import check_silent_sensors
from tests.integration.test_crops_seed import LETTUCE
from tests.sealed import channel_row
from tests.sql_counter import recorded_statements

NOW = datetime.now(UTC).replace(microsecond=0)
T0 = NOW - timedelta(hours=2)


@pytest.fixture
def farm(platform_db) -> UUID:
    with session_scope() as session:
        farm = create_client(session, "Greenleaf Farms")
        session.add(channel_row(farm, "ops-email", "email", "mailtos://user:secret@mail.local?to=ops@greenleaf.test"))
        return farm


@pytest.fixture
def lettuce_in_vegetative_stage(farm) -> UUID:
    """A lettuce crop at bay-a, planted 25 days ago: in its vegetative stage (pH target 5.5 to 6.5)."""
    with session_scope() as session:
        variety = create_variety(session, farm, "Butterhead", None, [StageProfile(**stage) for stage in LETTUCE])
        crop = plant_crop(session, farm, variety["id"], "bay-a", "B-1", NOW - timedelta(days=25), NOW)
    assert crop["current_stage"]["name"] == "vegetative"
    return crop["id"]


def add_rule(farm: UUID, condition: dict[str, Any], **scope: Any) -> UUID:
    with session_scope() as session:
        rule = Rule(client_id=farm, name=scope.pop("name", f"{condition['kind']} rule"), condition=condition,
                    severity=scope.pop("severity", "critical"), channels=scope.pop("channels", ["ops-email"]), **scope)
        session.add(rule)
        session.flush()
        return rule.id


def reading(farm: UUID, value: float, at: datetime, sensor: str = "ph-a1", sensor_type: str = "ph",
            location: str = "bay-a") -> QueuedReading:
    return QueuedReading(client_id=farm, sensor=sensor, sensor_type=sensor_type, location=location, value=value,
                         recorded_at=at, received_at=at)


def series(farm: UUID, values: list[float], start: datetime = T0, every: int = 60, **where: Any) -> list[QueuedReading]:
    return [reading(farm, value, start + timedelta(seconds=every * i), **where) for i, value in enumerate(values)]


def deliver(readings: list[QueuedReading], now: datetime = NOW) -> EvaluationOutcome:
    """What the rules function does with a batch: store it, then evaluate it in its own transaction."""
    with session_scope() as session:
        store_readings(session, readings)
    with session_scope() as session:
        return evaluate_readings(session, readings, now=now)


def rows(sql: str, **params: Any) -> list[Any]:
    with session_scope() as session:
        return session.execute(text(sql), params).all()


def alerts() -> list[Any]:
    return rows("SELECT a.*, s.external_id FROM alerts a LEFT JOIN sensors s ON s.id = a.sensor_id ORDER BY opened_at")


def notifications() -> list[Any]:
    return rows("SELECT kind, status, subject, body, alert_id FROM notifications ORDER BY created_at, kind")


def state(rule_id: UUID) -> Any:
    return rows("SELECT * FROM rule_states WHERE rule_id = :r", r=rule_id)[0]


def test_ph_excursion_in_the_vegetative_stage_opens_one_alert_and_recovery_resolves_it(
        farm, lettuce_in_vegetative_stage):
    rule = add_rule(farm, {"kind": "outside_stage_range", "hysteresis": 0.1}, sensor_type="ph", name="pH in band")
    outcome = deliver(series(farm, [6.0, 6.2, 7.1, 7.3, 7.2]))
    assert len(outcome.alerts_opened) == 1 and outcome.repeats == 2 and outcome.notifications_queued == 1
    [alert] = alerts()
    assert (alert.status, alert.severity, alert.repeat_count, alert.value) == ("open", "critical", 2, 7.2)
    assert alert.last_seen_at == T0 + timedelta(minutes=4)
    assert "vegetative" in alert.message and "5.5 to 6.5" in alert.message and "bay-a" in alert.message
    [note] = notifications()
    assert (note.kind, note.status) == ("alert", "pending") and "7.1" in note.subject
    assert state(rule).state == "firing"

    outcome = deliver(series(farm, [6.45, 6.3], start=T0 + timedelta(minutes=5)))  # 6.45: inside, not by 0.1
    assert outcome.alerts_resolved == [alert.id]
    [alert] = alerts()
    assert (alert.status, alert.resolved_by) == ("resolved", "rule") and alert.resolved_at is not None
    assert [(n.kind, n.status) for n in notifications()] == [("alert", "pending"), ("resolved", "pending")]
    assert "resolved" in notifications()[1].subject
    assert state(rule).state == "ok" and state(rule).last_value == 6.3
    events = rows("SELECT event_type, subject_id FROM events WHERE event_type LIKE 'alert.%' ORDER BY id")
    assert [e.event_type for e in events] == ["alert.opened", "alert.resolved"]
    assert {e.subject_id for e in events} == {str(alert.id)}


def test_a_value_hovering_at_the_limit_does_not_flap(farm):
    add_rule(farm, {"kind": "above", "threshold": 6.5, "hysteresis": 0.1})
    outcome = deliver(series(farm, [6.6, 6.5, 6.55, 6.45, 6.52, 6.48, 6.51, 6.42]))
    assert len(outcome.alerts_opened) == 1 and outcome.alerts_resolved == []
    [alert] = alerts()
    assert alert.status == "open" and alert.repeat_count == 3
    assert len(notifications()) == 1


def test_the_pending_period_must_pass_before_firing(farm):
    rule = add_rule(farm, {"kind": "below", "threshold": 5.5, "for_seconds": 300})
    deliver(series(farm, [5.2, 5.1, 5.3]))  # 2 minutes of breach
    assert alerts() == [] and state(rule).state == "pending" and state(rule).pending_since == T0
    deliver(series(farm, [5.2, 5.6], start=T0 + timedelta(minutes=3)))  # recovers before 5 minutes
    assert alerts() == [] and state(rule).state == "ok"
    outcome = deliver(series(farm, [5.0] * 7, start=T0 + timedelta(minutes=10)))  # 6 minutes of breach
    assert len(outcome.alerts_opened) == 1
    [alert] = alerts()
    assert alert.last_seen_at == T0 + timedelta(minutes=16) and alert.repeat_count == 1


def test_rate_of_change_compares_with_the_reading_a_window_earlier(farm):
    add_rule(farm, {"kind": "rate_of_change", "max_change": 0.5, "window_seconds": 300})
    deliver(series(farm, [6.0, 6.1, 6.1, 6.2, 6.2, 6.3]))  # drifts 0.3 in 5 minutes: fine
    assert alerts() == []
    outcome = deliver(series(farm, [6.5, 6.9], start=T0 + timedelta(minutes=6)))  # 6.9 vs 6.1 at minute 2
    assert len(outcome.alerts_opened) == 1
    [alert] = alerts()
    assert alert.value == 6.9 and "changed by 0.8" in notifications()[0].subject
    deliver(series(farm, [6.9] * 6, start=T0 + timedelta(minutes=8)))  # steady again, 0 change over 5 min
    assert alerts()[0].status == "resolved"


def test_no_data_opens_an_alert_and_a_later_reading_resolves_it(farm):
    rule = add_rule(farm, {"kind": "no_data", "after_seconds": 600}, sensor_type="ph")
    deliver([reading(farm, 6.0, NOW - timedelta(minutes=30))])
    assert alerts() == []  # a reading never opens a no-data alert
    with session_scope() as session:
        assert check_silent_sensors(session, NOW - timedelta(minutes=25)) == {"silent_sensors": 0, "alerts_opened": 0}
    with session_scope() as session:
        assert check_silent_sensors(session, NOW) == {"silent_sensors": 1, "alerts_opened": 1}
    with session_scope() as session:
        assert check_silent_sensors(session, NOW + timedelta(minutes=1))["alerts_opened"] == 0  # once
    [alert] = alerts()
    assert alert.status == "open" and alert.value is None and "no reading" in alert.message
    assert [(n.kind, n.status) for n in notifications()] == [("alert", "pending")]
    assert state(rule).state == "firing"
    outcome = deliver([reading(farm, 6.1, NOW)])
    assert outcome.alerts_resolved == [alert.id] and alerts()[0].status == "resolved"
    assert state(rule).state == "ok"


def test_a_silenced_location_records_the_alert_and_sends_nothing(farm):
    add_rule(farm, {"kind": "above", "threshold": 6.5})
    with session_scope() as session:
        silence = Silence(client_id=farm, location="bay-a", reason="nutrient change",
                          starts_at=NOW - timedelta(hours=1), ends_at=NOW + timedelta(hours=1), created_by="ops")
        session.add(silence)
        session.flush()
        silence_id = silence.id
    outcome = deliver(series(farm, [7.0]) + series(farm, [7.0], sensor="ph-b1", location="bay-b"))
    assert len(outcome.alerts_opened) == 2 and outcome.notifications_queued == 1
    by_sensor = {alert.external_id: alert for alert in alerts()}
    assert by_sensor["ph-a1"].silence_id == silence_id and by_sensor["ph-b1"].silence_id is None
    statuses = {(n.alert_id, n.status) for n in notifications()}
    assert statuses == {(by_sensor["ph-a1"].id, "suppressed"), (by_sensor["ph-b1"].id, "pending")}


def test_a_burst_of_1000_out_of_range_readings_in_one_batch_is_one_alert(platform_db, farm):
    add_rule(farm, {"kind": "above", "threshold": 6.5})
    burst = series(farm, [8.0 + i / 1000 for i in range(1000)], every=1)
    with session_scope() as session:
        store_readings(session, burst)
    with recorded_statements(platform_db) as statements:
        with session_scope() as session:
            outcome = evaluate_readings(session, burst, now=NOW)
    assert len(outcome.alerts_opened) == 1 and outcome.repeats == 999 and outcome.notifications_queued == 1
    [alert] = alerts()
    assert alert.repeat_count == 999 and alert.value == pytest.approx(8.999)
    assert len(notifications()) == 1
    # rules, sensors, lock states, silences, alert upsert, its event, channels, notifications, write states
    assert len(statements) == 9, statements


def test_a_burst_of_1000_readings_over_many_batches_is_one_alert(platform_db, farm):
    add_rule(farm, {"kind": "above", "threshold": 6.5})
    burst = series(farm, [8.0] * 1000, every=1)
    counts = []
    for start in range(0, 1000, 100):
        with recorded_statements(platform_db) as statements:
            deliver(burst[start:start + 100])
        counts.append(len(statements))
    [alert] = alerts()
    assert alert.repeat_count == 999 and len(notifications()) == 1
    # a batch while firing, rules cached: store, sensors, lock states, one repeat update, write states
    assert counts[1:] == [5] * 9, counts


def test_a_redelivered_batch_is_not_counted_twice(farm):
    add_rule(farm, {"kind": "above", "threshold": 6.5})
    batch = series(farm, [7.0, 7.1, 7.2])
    deliver(batch)
    again = deliver(batch)
    assert again.readings_skipped == 3 and again.readings_evaluated == 0 and again.repeats == 0
    [alert] = alerts()
    assert alert.repeat_count == 2 and len(notifications()) == 1
    partly = deliver(batch[1:] + series(farm, [7.3], start=T0 + timedelta(minutes=3)))
    assert partly.readings_skipped == 2 and partly.repeats == 1 and alerts()[0].repeat_count == 3


def test_rules_of_another_client_never_apply(farm):
    with session_scope() as session:
        other = create_client(session, "Blue Basin Growers")
    add_rule(other, {"kind": "above", "threshold": 1.0}, channels=[])
    outcome = deliver(series(farm, [7.0]))
    assert outcome.readings_evaluated == 0 and alerts() == []
    add_rule(farm, {"kind": "above", "threshold": 6.5})
    cache.forget(farm)
    outcome = deliver(series(farm, [7.0], start=T0 + timedelta(minutes=1)) + series(other, [0.5]))
    assert len(outcome.alerts_opened) == 1 and {a.client_id for a in alerts()} == {farm}


def test_scope_by_sensor_type_location_and_crop(farm, lettuce_in_vegetative_stage):
    add_rule(farm, {"kind": "above", "threshold": 1.0}, sensor_type="ec", location="bay-a", name="ec at bay-a")
    add_rule(farm, {"kind": "above", "threshold": 6.5}, crop_id=lettuce_in_vegetative_stage, name="crop pH")
    deliver(series(farm, [2.0], sensor="ec-a1", sensor_type="ec") + series(farm, [2.0], sensor="ec-b1",
                                                                          sensor_type="ec", location="bay-b")
            + series(farm, [7.0]) + series(farm, [7.0], sensor="ph-b1", location="bay-b"))
    assert sorted(a.external_id for a in alerts()) == ["ec-a1", "ph-a1"]


def test_a_fired_rule_hands_its_action_on(farm):
    action = {"ac_unit": "bay-a-ac", "command": {"mode": "cool", "setpoint": 22}}
    rule = add_rule(farm, {"kind": "above", "threshold": 28}, sensor_type="air_temperature", action=action)
    outcome = deliver(series(farm, [30.0, 31.0], sensor="air-a1", sensor_type="air_temperature"))
    [fired] = outcome.actions
    assert (fired.rule_id, fired.action, fired.alert_id) == (rule, action, alerts()[0].id)
