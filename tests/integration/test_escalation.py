"""Escalation policies (/api/escalation-policies) and the escalation job over real PostgreSQL.

The job is run with `now` given, as the alerting minute does, to step through a policy's delays.
"""

from datetime import timedelta

from sqlalchemy import select, text

from hydroponics.alerts.escalation import escalate_unacknowledged
from hydroponics.db.engine import _session_factory, session_scope
from hydroponics.db.models import Alert, Notification
from tests.integration.test_rules_api import (  # noqa: F401
    NOW, app, events, farms, fields, http, new_policy, new_rule, open_alert,
)

T = NOW - timedelta(hours=1)  # when the test alerts open


def escalate(at) -> dict:
    with session_scope() as session:
        return escalate_unacknowledged(session, at)


def escalation_messages() -> list[tuple[int, str]]:
    with session_scope() as session:
        rows = session.execute(text("SELECT n.escalation_level, c.name FROM notifications n"
                                    " JOIN notification_channels c ON c.id = n.channel_id"
                                    " WHERE n.kind = 'escalation' ORDER BY 1, 2"))
        return [tuple(row) for row in rows]


def level_of(alert_id) -> int:
    with session_scope() as session:
        return session.scalar(select(Alert.escalation_level).where(Alert.id == alert_id))


def escalating_alert(http, farm, policy_name: str = "on-call", **rule_fields):
    policy = new_policy(http, farm, name=policy_name)
    rule = new_rule(http, farm, escalation_policy_id=policy["id"], **rule_fields)
    return open_alert(farm, rule["id"], opened_at=T)


def test_policies_are_validated_per_level(http, farms):
    greenleaf, blue_basin = farms

    def refused(levels) -> list[str]:
        return fields(http.post("/api/escalation-policies", headers=greenleaf.headers,
                                json={"name": "p", "levels": levels}))

    assert refused([]) == ["levels"]
    assert refused([{"after_seconds": 0, "channels": ["oncall-sms"]}]) == ["levels.0.after_seconds"]
    assert refused([{"after_seconds": 60, "channels": []}]) == ["levels.0.channels"]
    assert refused([{"after_seconds": 60, "channels": ["oncall-sms", "pager"]}]) == ["levels.0.channels.1"]
    assert refused([{"after_seconds": 600, "channels": ["oncall-sms"]},
                    {"after_seconds": 300, "channels": ["ops-email"]}]) == ["levels.1.after_seconds"]
    assert refused([{"after_seconds": 60}]) == ["levels.0.channels"]
    policy = new_policy(http, greenleaf)
    again = http.post("/api/escalation-policies", headers=greenleaf.headers,
                      json={"name": "on-call", "levels": policy["levels"]})
    assert again.status_code == 409 and again.json()["error"]["details"][0]["field"] == "name"
    assert new_policy(http, blue_basin)["name"] == "on-call"  # names are per client
    assert [p["id"] for p in http.get("/api/escalation-policies", headers=greenleaf.headers).json()] == [policy["id"]]
    assert len(events("escalation_policy.created")) == 2


def test_another_farm_never_sees_or_changes_a_policy(http, farms):
    greenleaf, blue_basin = farms
    url = f"/api/escalation-policies/{new_policy(http, blue_basin)['id']}"
    for reply in (http.get(url, headers=greenleaf.headers),
                  http.patch(url, headers=greenleaf.headers, json={"name": "mine"}),
                  http.delete(url, headers=greenleaf.headers)):
        assert reply.status_code == 404, reply.json()
    assert http.get(url, headers=blue_basin.headers).json()["name"] == "on-call"


def test_changing_and_deleting_a_policy(http, farms):
    greenleaf, _ = farms
    policy = new_policy(http, greenleaf)
    rule = new_rule(http, greenleaf, escalation_policy_id=policy["id"])
    url = f"/api/escalation-policies/{policy['id']}"
    reply = http.patch(url, headers=greenleaf.headers,
                       json={"levels": [{"after_seconds": 120, "channels": ["oncall-sms"]}]})
    assert reply.status_code == 200 and reply.json()["levels"] == [{"after_seconds": 120, "channels": ["oncall-sms"]}]
    assert fields(http.patch(url, headers=greenleaf.headers, json={"levels": None})) == ["levels"]
    [updated] = events("escalation_policy.updated")
    assert set(updated.details["changes"]) == {"levels"}
    assert http.delete(url, headers=greenleaf.headers).status_code == 204
    assert http.get(f"/api/rules/{rule['id']}", headers=greenleaf.headers).json()["escalation_policy_id"] is None
    [deleted] = events("escalation_policy.deleted")
    assert deleted.details["rules"] == [rule["id"]]


def test_an_unacknowledged_critical_alert_escalates_level_by_level(http, farms):
    greenleaf, _ = farms
    alert = escalating_alert(http, greenleaf)  # levels: 300 s -> oncall-sms, then 900 s more -> slack + email

    assert escalate(T + timedelta(seconds=299)) == {"escalated": 0, "notifications": 0}
    assert escalate(T + timedelta(seconds=300)) == {"escalated": 1, "notifications": 1}
    assert level_of(alert) == 1 and escalation_messages() == [(1, "oncall-sms")]
    # the second level waits 900 s from the first escalation, not from the opening
    assert escalate(T + timedelta(seconds=900))["escalated"] == 0
    assert escalate(T + timedelta(seconds=1199))["escalated"] == 0
    assert escalate(T + timedelta(seconds=1200)) == {"escalated": 1, "notifications": 2}
    assert level_of(alert) == 2
    assert escalation_messages() == [(1, "oncall-sms"), (2, "manager-slack"), (2, "ops-email")]
    assert escalate(T + timedelta(days=1))["escalated"] == 0  # no level beyond the last
    with session_scope() as session:
        escalated = session.scalar(select(Alert).where(Alert.id == alert))
        assert escalated.last_escalated_at == T + timedelta(seconds=1200) and escalated.status == "open"
        subjects = session.scalars(select(Notification.subject).where(Notification.kind == "escalation")).all()
        assert all(subject.startswith("[ESCALATED L") and "[CRITICAL] pH high" in subject for subject in subjects)
    assert [(e.actor, e.details["level"]) for e in events("alert.escalated")] == [("scheduler", 1), ("scheduler", 2)]


def test_acknowledging_stops_escalation(http, farms):
    greenleaf, _ = farms
    alert = escalating_alert(http, greenleaf)
    assert escalate(T + timedelta(seconds=300))["escalated"] == 1
    assert http.post(f"/api/alerts/{alert}/acknowledge", headers=greenleaf.headers).status_code == 200
    assert escalate(T + timedelta(days=1))["escalated"] == 0
    assert level_of(alert) == 1 and escalation_messages() == [(1, "oncall-sms")]
    other = escalating_alert(http, greenleaf, "on-call 2", name="pH high 2", sensor_id=str(greenleaf.sensors["ph-2"]))
    http.post(f"/api/alerts/{other}/resolve", headers=greenleaf.headers)  # resolved ones neither
    assert escalate(T + timedelta(days=2))["escalated"] == 0


def test_alerts_without_a_policy_do_not_escalate(http, farms):
    greenleaf, _ = farms
    open_alert(greenleaf, new_rule(http, greenleaf)["id"], opened_at=T - timedelta(days=1))
    assert escalate(NOW)["escalated"] == 0


def test_silenced_alerts_do_not_escalate(http, farms):
    greenleaf, _ = farms
    policy = new_policy(http, greenleaf)
    rule = new_rule(http, greenleaf, escalation_policy_id=policy["id"])
    window = http.post("/api/silences", headers=greenleaf.headers, json={
        "location": "bay-b", "starts_at": T.isoformat(), "ends_at": (NOW + timedelta(hours=1)).isoformat(),
        "reason": "reservoir flush"}).json()
    # opened under a silence (recorded with it): never escalates
    muted = open_alert(greenleaf, rule["id"], "ph-1", opened_at=T, silence_id=window["id"])
    # opened before a silence of its location began: held while the silence is active
    held = open_alert(greenleaf, rule["id"], "ph-2", opened_at=T)
    assert escalate(NOW)["escalated"] == 0
    assert escalate(NOW + timedelta(hours=1)) == {"escalated": 1, "notifications": 1}  # the window is over
    assert (level_of(muted), level_of(held)) == (0, 1)


def test_concurrent_runs_escalate_once(http, farms, platform_db):
    greenleaf, _ = farms
    alert = escalating_alert(http, greenleaf)
    at = T + timedelta(seconds=300)
    first, second = _session_factory()(), _session_factory()()
    try:
        first.begin()
        assert escalate_unacknowledged(first, at)["escalated"] == 1  # holds the alert's row lock
        second.begin()
        second.execute(text("SET LOCAL lock_timeout = '2s'"))  # SKIP LOCKED must not wait at all
        assert escalate_unacknowledged(second, at)["escalated"] == 0
        second.commit()
        first.commit()
    finally:
        first.close()
        second.close()
    assert escalate(at)["escalated"] == 0  # a late run sees the first one's escalation
    assert level_of(alert) == 1 and escalation_messages() == [(1, "oncall-sms")]
    assert len(events("alert.escalated")) == 1


def test_a_rerun_never_queues_an_escalation_message_twice(http, farms):
    greenleaf, _ = farms
    alert = escalating_alert(http, greenleaf)
    escalate(T + timedelta(seconds=300))
    with session_scope() as session:  # as if the run's change were lost but its outbox rows kept
        session.execute(text("UPDATE alerts SET escalation_level = 0, last_escalated_at = NULL WHERE id = :id"),
                        {"id": alert})
    assert escalate(T + timedelta(seconds=300)) == {"escalated": 1, "notifications": 0}
    assert escalation_messages() == [(1, "oncall-sms")]
