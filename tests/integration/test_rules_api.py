"""/api/rules over real PostgreSQL: validation field by field, scoping to the client, cache and events.

Also the shared set-up of the alerting API tests (a test app, two farms with sensors and channels).
"""

from datetime import UTC, datetime
from typing import Any, Iterator
from uuid import UUID

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from hydroponics.api.routes import alerts, escalation_policies, rules, silences
from hydroponics.db.engine import session_scope
from hydroponics.db.models import Alert, Crop, Sensor, Variety
from hydroponics.records.clients import create_client
from hydroponics.rules import cache
from tests.routes_app import routes_app
from tests.sealed import channel_row

NOW = datetime.now(UTC).replace(microsecond=0)
CHANNELS = (("ops-email", "email"), ("oncall-sms", "sms"), ("manager-slack", "slack"))


@pytest.fixture
def app(platform_db) -> FastAPI:
    return routes_app(rules, alerts, silences, escalation_policies)


@pytest.fixture
def http(app) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


class Farm:
    """A client with a pH and an EC sensor at bay-a, a pH sensor at bay-b, three channels and an active crop."""

    def __init__(self, session, name: str):
        self.id = create_client(session, name)
        self.sensors = {}
        for external_id, kind, location in (("ph-1", "ph", "bay-a"), ("ec-1", "ec", "bay-a"), ("ph-2", "ph", "bay-b")):
            sensor = Sensor(client_id=self.id, external_id=external_id, sensor_type=kind, location=location)
            session.add(sensor)
            session.flush()
            self.sensors[external_id] = sensor.id
        for channel, kind in CHANNELS:
            session.add(channel_row(self.id, channel, kind, f"json://127.0.0.1:9/{channel}"))
        variety = Variety(client_id=self.id, name="Butterhead")
        session.add(variety)
        session.flush()
        crop = Crop(client_id=self.id, variety_id=variety.id, location="bay-a", batch_code="B-1", planted_at=NOW)
        session.add(crop)
        session.flush()
        self.crop = crop.id

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Test-Client": str(self.id)}


@pytest.fixture
def farms(platform_db) -> tuple[Farm, Farm]:
    with session_scope() as session:
        return Farm(session, "Greenleaf Farms"), Farm(session, "Blue Basin Growers")


def fields(reply) -> list[str]:
    """The fields a 422 names."""
    body = reply.json()
    assert reply.status_code == 422, body
    assert body["error"]["code"] == "validation_error"
    return [detail["field"] for detail in body["error"]["details"]]


def new_rule(http: TestClient, farm: Farm, **fields: Any) -> dict[str, Any]:
    body = {"name": "pH high", "sensor_id": str(farm.sensors["ph-1"]), "condition": {"kind": "above", "threshold": 6.5},
            "severity": "critical", "channels": ["ops-email"]} | fields
    reply = http.post("/api/rules", headers=farm.headers, json=body)
    assert reply.status_code == 201, reply.json()
    return reply.json()


def new_policy(http: TestClient, farm: Farm, levels: list[dict] | None = None, name: str = "on-call") -> dict:
    levels = levels or [{"after_seconds": 300, "channels": ["oncall-sms"]},
                        {"after_seconds": 900, "channels": ["manager-slack", "ops-email"]}]
    reply = http.post("/api/escalation-policies", headers=farm.headers, json={"name": name, "levels": levels})
    assert reply.status_code == 201, reply.json()
    return reply.json()


def open_alert(farm: Farm, rule_id: str | UUID, sensor: str = "ph-1", *, opened_at: datetime = NOW,
               status: str = "open", severity: str = "critical", silence_id: UUID | None = None) -> UUID:
    """An alert as the rules engine would open it (written directly)."""
    with session_scope() as session:
        alert = Alert(client_id=farm.id, rule_id=UUID(str(rule_id)), sensor_id=farm.sensors[sensor],
                      severity=severity, status=status, message="pH 7.1 above 6.5 at bay-a", value=7.1,
                      opened_at=opened_at, silence_id=silence_id)
        session.add(alert)
        session.flush()
        return alert.id


def events(event_type: str) -> list[Any]:
    with session_scope() as session:
        return list(session.execute(text("SELECT client_id, actor, subject_id, details FROM events"
                                         " WHERE event_type = :t ORDER BY id"), {"t": event_type}))


def test_a_rule_is_created_normalised_and_recorded(http, farms):
    greenleaf, _ = farms
    rule = new_rule(http, greenleaf, condition={"kind": "above", "threshold": 6.5, "for_seconds": 120})
    assert rule["condition"] == {"kind": "above", "threshold": 6.5, "for_seconds": 120, "hysteresis": 0.0}
    assert (rule["severity"], rule["channels"], rule["is_enabled"], rule["sensor_type"]) == \
        ("critical", ["ops-email"], True, None)
    assert http.get(f"/api/rules/{rule['id']}", headers=greenleaf.headers).json() == rule
    [created] = events("rule.created")
    assert (created.client_id, created.actor, created.subject_id) == (greenleaf.id, "api-key:hk_test", rule["id"])
    assert created.details["condition"]["threshold"] == 6.5

    by_type = new_rule(http, greenleaf, sensor_id=None, sensor_type="water_temperature", location="bay-a",
                       condition={"kind": "rate_of_change", "max_change": 2, "window_seconds": 600})
    assert by_type["sensor_type"] == "temperature"  # aliases are stored canonical
    crop = new_rule(http, greenleaf, sensor_id=None, crop_id=str(greenleaf.crop),
                    condition={"kind": "outside_stage_range", "hysteresis": 0.1})
    assert crop["crop_id"] == str(greenleaf.crop)


@pytest.mark.parametrize("change, named", [
    ({"condition": {"kind": "above"}}, ["condition.threshold"]),
    ({"condition": {"kind": "above", "threshold": "high"}}, ["condition.threshold"]),
    ({"condition": {"kind": "sideways", "threshold": 1}}, ["condition.kind"]),
    ({"condition": {"kind": "above", "threshold": 6.5, "for_seconds": -1}}, ["condition.for_seconds"]),
    ({"condition": {"kind": "above", "threshold": 6.5, "colour": "red"}}, ["condition.colour"]),
    ({"condition": {"kind": "rate_of_change", "max_change": 0.5, "window_seconds": 60, "hysteresis": 1}},
     ["condition"]),
    ({"condition": "above 6.5"}, ["condition"]),
    ({"channels": ["ops-email", "pager"]}, ["channels.1"]),
    ({"channels": ["ops-email", "ops-email"]}, ["channels.1"]),
    ({"severity": "catastrophic"}, ["severity"]),
    ({"sensor_id": None}, ["sensor_id"]),
    ({"sensor_id": None, "location": "bay-a"}, ["sensor_type"]),
    ({"location": "bay-a"}, ["location"]),
    ({"sensor_id": None, "sensor_type": "salinity"}, ["sensor_type"]),
    ({"name": ""}, ["name"]),
    ({"sensor_id": "not-a-uuid"}, ["sensor_id"]),
])
def test_invalid_rules_are_refused_naming_the_field(http, farms, change, named):
    greenleaf, _ = farms
    body = {"name": "pH high", "sensor_id": str(greenleaf.sensors["ph-1"]),
            "condition": {"kind": "above", "threshold": 6.5}, "channels": ["ops-email"]} | change
    assert fields(http.post("/api/rules", headers=greenleaf.headers, json=body)) == named
    with session_scope() as session:
        assert session.execute(text("SELECT count(*) FROM rules")).scalar_one() == 0


def test_another_farms_sensor_crop_policy_and_channels_are_not_found(http, farms):
    greenleaf, blue_basin = farms
    theirs = new_policy(http, blue_basin)
    body = {"name": "x", "condition": {"kind": "above", "threshold": 6.5}}
    for reference, value in (("sensor_id", blue_basin.sensors["ph-1"]),
                             ("crop_id", blue_basin.crop),
                             ("escalation_policy_id", theirs["id"])):
        scope = {} if reference == "sensor_id" else {"sensor_type": "ph"}
        if reference == "escalation_policy_id":
            scope = {"sensor_id": str(greenleaf.sensors["ph-1"])}
        reply = http.post("/api/rules", headers=greenleaf.headers, json=body | scope | {reference: str(value)})
        assert reply.status_code == 404, reply.json()
        assert reply.json()["error"]["details"] == [{"field": reference, "reason": reply.json()["error"]["details"][0]
                                                     ["reason"]}]
    # channel names are per client: Blue Basin's "pager" is not Greenleaf's
    with session_scope() as session:
        session.add(channel_row(blue_basin.id, "pager", "sms", "+15550000000"))
    assert fields(http.post("/api/rules", headers=greenleaf.headers, json=body | {
        "sensor_id": str(greenleaf.sensors["ph-1"]), "channels": ["pager"]})) == ["channels.0"]


def test_another_farm_never_sees_or_changes_a_rule(http, farms):
    greenleaf, blue_basin = farms
    rule = new_rule(http, blue_basin)
    url = f"/api/rules/{rule['id']}"
    for reply in (http.get(url, headers=greenleaf.headers),
                  http.patch(url, headers=greenleaf.headers, json={"severity": "info"}),
                  http.delete(url, headers=greenleaf.headers)):
        assert reply.status_code == 404, reply.json()
    assert http.get("/api/rules", headers=greenleaf.headers).json() == {"items": [], "next_cursor": None}
    assert http.get(url, headers=blue_basin.headers).json()["severity"] == "critical"


def test_patch_revalidates_the_whole_rule_and_records_the_changes(http, farms):
    greenleaf, _ = farms
    rule = new_rule(http, greenleaf)
    url = f"/api/rules/{rule['id']}"
    policy = new_policy(http, greenleaf)
    reply = http.patch(url, headers=greenleaf.headers, json={
        "severity": "warning", "channels": ["ops-email", "manager-slack"], "escalation_policy_id": policy["id"]})
    assert reply.status_code == 200, reply.json()
    assert (reply.json()["severity"], reply.json()["escalation_policy_id"]) == ("warning", policy["id"])
    [updated] = events("rule.updated")
    assert updated.details["changes"]["severity"] == {"from": "critical", "to": "warning"}
    assert set(updated.details["changes"]) == {"severity", "channels", "escalation_policy_id"}

    # moving the rule to a sensor type: the sensor must be cleared in the same change
    assert fields(http.patch(url, headers=greenleaf.headers, json={"sensor_type": "ph"})) == ["sensor_type"]
    moved = http.patch(url, headers=greenleaf.headers, json={"sensor_id": None, "sensor_type": "ph"})
    assert (moved.json()["sensor_id"], moved.json()["sensor_type"]) == (None, "ph")
    assert fields(http.patch(url, headers=greenleaf.headers, json={"condition": {"kind": "below"}})) \
        == ["condition.threshold"]
    assert fields(http.patch(url, headers=greenleaf.headers, json={})) == ["body"]
    assert fields(http.patch(url, headers=greenleaf.headers, json={"severity": None})) == ["severity"]
    assert http.get(url, headers=greenleaf.headers).json()["condition"]["kind"] == "above"


def test_changes_forget_the_clients_cached_rules(http, farms):
    greenleaf, _ = farms
    rule = new_rule(http, greenleaf)
    with session_scope() as session:
        assert [r.name for r in cache.rules_for(session, greenleaf.id)] == ["pH high"]
    http.patch(f"/api/rules/{rule['id']}", headers=greenleaf.headers, json={"name": "pH too high"})
    with session_scope() as session:
        assert [r.name for r in cache.rules_for(session, greenleaf.id)] == ["pH too high"]
    http.delete(f"/api/rules/{rule['id']}", headers=greenleaf.headers)
    with session_scope() as session:
        assert cache.rules_for(session, greenleaf.id) == ()


def test_deleting_a_rule_resolves_its_alerts_and_is_recorded(http, farms):
    greenleaf, _ = farms
    rule = new_rule(http, greenleaf)
    alert = open_alert(greenleaf, rule["id"])
    reply = http.delete(f"/api/rules/{rule['id']}", headers=greenleaf.headers)
    assert reply.status_code == 204
    assert http.get(f"/api/rules/{rule['id']}", headers=greenleaf.headers).status_code == 404
    with session_scope() as session:
        kept = session.scalar(select(Alert).where(Alert.id == alert))
        assert (kept.status, kept.rule_id, kept.resolved_by) == ("resolved", None, "api-key:hk_test")
    [deleted] = events("rule.deleted")
    assert deleted.details["resolved_alerts"] == 1 and deleted.details["name"] == "pH high"


def test_list_filters_and_pages_newest_first(http, farms):
    greenleaf, _ = farms
    made = [new_rule(http, greenleaf, name=f"rule {n}", severity="info" if n % 2 else "critical") for n in range(5)]
    seen, cursor = [], None
    while True:
        page = http.get("/api/rules", headers=greenleaf.headers,
                        params={"limit": 2} | ({"cursor": cursor} if cursor else {})).json()
        seen += [rule["id"] for rule in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [rule["id"] for rule in reversed(made)]
    infos = http.get("/api/rules", headers=greenleaf.headers, params={"severity": "info"}).json()["items"]
    assert [rule["name"] for rule in infos] == ["rule 3", "rule 1"]
    assert fields(http.get("/api/rules", headers=greenleaf.headers, params={"cursor": "garbage"})) == ["query.cursor"]
