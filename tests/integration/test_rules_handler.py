"""The rules function end to end on SQS events: store, evaluate, and hand a batch back when evaluation fails."""

from datetime import timedelta

from sqlalchemy import text

from hydroponics.readings.messages import message_bodies
from hydroponics.rules import engine
from tests.integration.test_rules_engine import T0, add_rule, alerts, farm, notifications, series  # noqa: F401
from tests.sql_counter import recorded_statements
from tests.lambda_events import lambda_context, load_handler, sqs_event

rules_function = load_handler("rules")


def _event(readings) -> dict:
    return sqs_event([r.model_dump_json() for r in readings])


def test_a_batch_is_stored_and_evaluated(farm):  # noqa: F811
    add_rule(farm, {"kind": "above", "threshold": 6.5})
    reply = rules_function.handler(_event(series(farm, [6.0, 7.0, 7.2])), lambda_context("rules"))
    assert reply == {"batchItemFailures": []}
    [alert] = alerts()
    assert alert.repeat_count == 1 and len(notifications()) == 1


def test_a_database_error_while_evaluating_hands_the_stored_messages_back(platform_db, farm, monkeypatch):  # noqa: F811
    add_rule(farm, {"kind": "above", "threshold": 6.5})
    event = _event(series(farm, [7.0, 7.1]))
    event["Records"].append({**event["Records"][0], "messageId": "unreadable", "body": "{not json"})
    write_states = engine._WRITE_STATES
    monkeypatch.setattr(engine, "_WRITE_STATES", text("UPDATE rule_states SET state = 'broken'"))  # refused: check
    reply = rules_function.handler(event, lambda_context("rules"))
    assert sorted(f["itemIdentifier"] for f in reply["batchItemFailures"]) == \
        sorted(r["messageId"] for r in event["Records"])
    assert alerts() == [] and notifications() == []  # the evaluation rolled back as a whole
    with platform_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM readings")).scalar_one() == 2  # the store committed
    monkeypatch.setattr(engine, "_WRITE_STATES", write_states)  # the database takes it again
    redelivered = {**event, "Records": event["Records"][:2]}
    assert rules_function.handler(redelivered, lambda_context("rules")) == {"batchItemFailures": []}
    again = rules_function.handler(redelivered, lambda_context("rules"))  # once more: nothing new
    assert again == {"batchItemFailures": []}
    [alert] = alerts()
    assert alert.repeat_count == 1 and len(notifications()) == 1


def test_a_message_of_several_readings_is_handed_back_once_and_evaluated_once(platform_db, farm, monkeypatch):  # noqa: F811
    add_rule(farm, {"kind": "above", "threshold": 6.5})
    readings = series(farm, [6.0, 7.0, 7.1, 7.2])
    readings = [r.model_copy(update={"received_at": readings[-1].received_at}) for r in readings]  # one request
    event = sqs_event([body for _, body in message_bodies(readings[:3])] + [readings[3].model_dump_json()])
    assert len(event["Records"]) == 2  # three readings in one message, one in the first format
    write_states = engine._WRITE_STATES
    monkeypatch.setattr(engine, "_WRITE_STATES", text("UPDATE rule_states SET state = 'broken'"))
    reply = rules_function.handler(event, lambda_context("rules"))
    assert sorted(f["itemIdentifier"] for f in reply["batchItemFailures"]) == \
        sorted(r["messageId"] for r in event["Records"])  # each message once, however many readings it holds
    monkeypatch.setattr(engine, "_WRITE_STATES", write_states)
    assert rules_function.handler(event, lambda_context("rules")) == {"batchItemFailures": []}
    assert rules_function.handler(event, lambda_context("rules")) == {"batchItemFailures": []}
    with platform_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM readings")).scalar_one() == 4
    [alert] = alerts()
    assert alert.repeat_count == 2 and len(notifications()) == 1  # opened by 7.0, repeated by 7.1 and 7.2, once each


def test_a_batch_of_a_farm_without_rules_costs_no_evaluation_statement(platform_db, farm):  # noqa: F811
    rules_function.handler(_event(series(farm, [6.0])), lambda_context("rules"))  # caches "no rules"
    with recorded_statements(platform_db) as statements:
        rules_function.handler(_event(series(farm, [6.0], start=T0 + timedelta(minutes=1))), lambda_context("rules"))
    assert len(statements) == 1 and "INSERT INTO readings" in statements[0]
