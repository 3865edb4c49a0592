"""/api/alerts over real PostgreSQL: list and filters, acknowledge, operator resolve, scoping, events."""

from datetime import timedelta

from sqlalchemy import select, text

from hydroponics.db.engine import session_scope
from hydroponics.db.models import Notification, RuleState
from tests.integration.test_rules_api import (  # noqa: F401
    NOW, app, events, farms, fields, http, new_rule, open_alert,
)


def notifications(kind: str | None = None) -> list[Notification]:
    with session_scope() as session:
        query = select(Notification).order_by(Notification.created_at)
        return list(session.scalars(query.where(Notification.kind == kind) if kind else query))


def test_alerts_list_newest_first_with_filters_and_pages(http, farms):
    greenleaf, _ = farms
    high = new_rule(http, greenleaf)
    low = new_rule(http, greenleaf, name="pH low", condition={"kind": "below", "threshold": 5.5}, severity="warning")
    first = open_alert(greenleaf, high["id"], opened_at=NOW - timedelta(hours=3), status="resolved")
    second = open_alert(greenleaf, low["id"], opened_at=NOW - timedelta(hours=2), severity="warning")
    third = open_alert(greenleaf, high["id"], "ph-2", opened_at=NOW - timedelta(hours=1))

    listed = http.get("/api/alerts", headers=greenleaf.headers).json()
    assert [a["id"] for a in listed["items"]] == [str(third), str(second), str(first)]
    top = listed["items"][0]
    assert (top["rule_name"], top["sensor_external_id"], top["location"], top["status"], top["escalation_level"]) == \
        ("pH high", "ph-2", "bay-b", "open", 0)

    def ids(**params) -> list[str]:
        return [a["id"] for a in http.get("/api/alerts", headers=greenleaf.headers, params=params).json()["items"]]

    assert ids(status="open") == [str(third), str(second)]
    assert ids(severity="warning") == [str(second)]
    assert ids(rule_id=high["id"]) == [str(third), str(first)]
    assert ids(sensor_id=str(greenleaf.sensors["ph-1"])) == [str(second), str(first)]
    assert ids(since=(NOW - timedelta(hours=2)).isoformat()) == [str(third), str(second)]
    page = http.get("/api/alerts", headers=greenleaf.headers, params={"limit": 2}).json()
    rest = http.get("/api/alerts", headers=greenleaf.headers, params={"limit": 2, "cursor": page["next_cursor"]})
    assert [a["id"] for a in rest.json()["items"]] == [str(first)] and rest.json()["next_cursor"] is None
    assert fields(http.get("/api/alerts", headers=greenleaf.headers, params={"status": "closed"})) == ["query.status"]
    assert http.get(f"/api/alerts/{second}", headers=greenleaf.headers).json()["rule_name"] == "pH low"


def test_another_farm_never_sees_or_touches_an_alert(http, farms):
    greenleaf, blue_basin = farms
    alert = open_alert(blue_basin, new_rule(http, blue_basin)["id"])
    for reply in (http.get(f"/api/alerts/{alert}", headers=greenleaf.headers),
                  http.post(f"/api/alerts/{alert}/acknowledge", headers=greenleaf.headers),
                  http.post(f"/api/alerts/{alert}/resolve", headers=greenleaf.headers)):
        assert reply.status_code == 404, reply.json()
    assert http.get("/api/alerts", headers=greenleaf.headers).json()["items"] == []
    assert http.get(f"/api/alerts/{alert}", headers=blue_basin.headers).json()["status"] == "open"
    assert events("alert.acknowledged") == [] and events("alert.resolved") == []


def test_acknowledge_only_an_open_alert(http, farms):
    greenleaf, _ = farms
    alert = open_alert(greenleaf, new_rule(http, greenleaf)["id"])
    reply = http.post(f"/api/alerts/{alert}/acknowledge", headers=greenleaf.headers, json={"note": "on my way"})
    assert reply.status_code == 200, reply.json()
    body = reply.json()
    assert (body["status"], body["acknowledged_by"]) == ("acknowledged", "api-key:hk_test")
    assert body["acknowledged_at"] is not None
    again = http.post(f"/api/alerts/{alert}/acknowledge", headers=greenleaf.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    [acknowledged] = events("alert.acknowledged")
    assert (acknowledged.subject_id, acknowledged.details["note"]) == (str(alert), "on my way")
    assert notifications() == []  # acknowledging notifies nobody


def test_operator_resolve_resets_the_rule_and_queues_one_resolved_message(http, farms):
    greenleaf, _ = farms
    rule = new_rule(http, greenleaf, channels=["ops-email", "manager-slack"])
    alert = open_alert(greenleaf, rule["id"])
    with session_scope() as session:
        session.add(RuleState(rule_id=rule["id"], sensor_id=greenleaf.sensors["ph-1"], state="firing",
                              pending_since=NOW, last_value=7.1))
    http.post(f"/api/alerts/{alert}/acknowledge", headers=greenleaf.headers)
    reply = http.post(f"/api/alerts/{alert}/resolve", headers=greenleaf.headers, json={"note": "probe recalibrated"})
    assert reply.status_code == 200, reply.json()
    assert (reply.json()["status"], reply.json()["resolved_by"]) == ("resolved", "api-key:hk_test")

    sent = notifications()
    assert sorted((n.kind, n.status, n.escalation_level) for n in sent) == [("resolved", "pending", 0)] * 2
    assert all("[RESOLVED] pH high" == n.subject and "probe recalibrated" in n.body for n in sent)
    with session_scope() as session:
        state = session.get(RuleState, (rule["id"], greenleaf.sensors["ph-1"]))
        assert (state.state, state.pending_since) == ("ok", None)
    again = http.post(f"/api/alerts/{alert}/resolve", headers=greenleaf.headers)
    assert again.status_code == 409
    assert len(notifications()) == 2
    [resolved] = events("alert.resolved")
    assert resolved.details == {"from": "acknowledged", "note": "probe recalibrated", "notifications": 2}


def test_resolving_a_silenced_alert_records_the_message_as_suppressed(http, farms):
    greenleaf, _ = farms
    rule = new_rule(http, greenleaf)
    silence = http.post("/api/silences", headers=greenleaf.headers, json={
        "location": "bay-a", "ends_at": (NOW + timedelta(hours=2)).isoformat(), "reason": "flush"}).json()
    alert = open_alert(greenleaf, rule["id"], silence_id=silence["id"])
    assert http.post(f"/api/alerts/{alert}/resolve", headers=greenleaf.headers).status_code == 200
    assert [(n.kind, n.status) for n in notifications()] == [("resolved", "suppressed")]
    with session_scope() as session:
        assert session.execute(text("SELECT count(*) FROM alerts WHERE status = 'resolved'")).scalar_one() == 1
