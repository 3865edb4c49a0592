"""Flood control (hourly cap -> held -> one digest) and SMS through SNS on MiniStack."""

import json
import logging
import urllib.request
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text

from hydroponics.db.engine import session_scope
from hydroponics.notifications.digest import send_digests
from tests.integration.test_notify_seed import (  # noqa: F401
    app, drain, email_config, farm, fast_backoff, http, new_channel, notification_rows, notify, raise_alert,
)
from tests.mail_server import smtp_server

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH")


def test_over_the_hourly_cap_messages_are_held_then_sent_as_one_digest(
        http, farm, notify, notifications_queue, local_aws):
    sqs, queue_url = local_aws["sqs"], notifications_queue["queue_url"]
    with smtp_server() as mail:
        new_channel(http, farm, "ops-email", "email", email_config(mail), hourly_cap=2)
        alerts = [raise_alert(farm, ["ops-email"], message=f"pH high at bay-{n}")[0] for n in range(5)]
        drain(sqs, queue_url, notify, seconds=10)
        assert len(mail.messages) == 2
        rows = notification_rows(kind="alert")
        assert sorted(r["status"] for r in rows) == ["held", "held", "held", "sent", "sent"]
        assert all(r["attempts"] == 0 for r in rows if r["status"] == "held")

        # within the hour there is no room: the digest waits (nothing is dropped)
        with session_scope() as session:
            now = session.scalar(text("SELECT now()"))
            assert send_digests(session, now)["digests"] == 0
        # an hour later there is room again: one digest carries all three
        with session_scope() as session:
            outcome = send_digests(session, now + timedelta(hours=1, minutes=1))
        assert (outcome["digests"], outcome["digested"]) == (1, 3)
        with session_scope() as session:  # running it again makes nothing more
            assert send_digests(session, now + timedelta(hours=1, minutes=2))["digests"] == 0
        drain(sqs, queue_url, notify, seconds=10)
        # (the cap counts the last real hour: two sent, but a digest is exempt from the cap)
        assert len(mail.messages) == 3
    digest, = notification_rows(kind="digest")
    assert digest["status"] == "sent" and digest["alert_id"] is None
    held = [r for r in notification_rows(kind="alert") if r["status"] == "digested"]
    assert len(held) == 3 and {r["digest_id"] for r in held} == {digest["id"]}
    assert "3 alert notification(s) held back on ops-email" in mail.messages[2].subject
    for row in held:
        assert row["subject"] in mail.messages[2].text
    assert set(alerts) == {r["alert_id"] for r in notification_rows(kind="alert")}


def test_sms_goes_through_sns_on_ministack(http, farm, notify, notifications_queue, local_aws, caplog):
    caplog.set_level(logging.DEBUG)
    phone = "+15550106789"
    channel = new_channel(http, farm, "night-sms", "sms", {"phone_number": phone})
    assert channel["target_hint"] == "sms:***6789" and phone not in json.dumps(channel)
    text_ = f"EC 2.4 above 1.8 at bay-b ({uuid.uuid4().hex[:8]})"  # MiniStack keeps every SMS: find this run's
    _, (notification_id,) = raise_alert(farm, ["night-sms"], message=text_)
    drain(local_aws["sqs"], notifications_queue["queue_url"], notify, seconds=8)
    row, = notification_rows(id=notification_id)
    assert row["status"] == "sent"
    with urllib.request.urlopen(f"{local_aws['AWS_ENDPOINT_URL']}/_ministack/sns/sms-messages") as reply:
        sent = json.load(reply)["sms_messages"].get(phone, [])
    assert [m["Message"] for m in sent if text_ in m["Message"]] == [f"{text_}\n{text_}\nOpened just now."]
    assert phone not in caplog.text
