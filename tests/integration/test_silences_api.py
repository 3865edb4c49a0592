"""/api/silences over real PostgreSQL: time-boxed windows, scope checks, listing by state, ending early, events."""

from datetime import timedelta

from tests.integration.test_rules_api import (  # noqa: F401
    NOW, app, events, farms, fields, http, new_rule,
)


def silence(http, farm, **fields) -> dict:
    body = {"location": "bay-a", "ends_at": (NOW + timedelta(hours=2)).isoformat(), "reason": "reservoir flush"}
    reply = http.post("/api/silences", headers=farm.headers, json=body | fields)
    assert reply.status_code == 201, reply.json()
    return reply.json()


def test_a_silence_starts_now_by_default_and_is_recorded(http, farms):
    greenleaf, _ = farms
    made = silence(http, greenleaf)
    assert (made["state"], made["created_by"], made["location"], made["sensor_id"]) == \
        ("active", "api-key:hk_test", "bay-a", None)
    rule = new_rule(http, greenleaf)
    by_rule = silence(http, greenleaf, location=None, rule_id=rule["id"])
    by_sensor = silence(http, greenleaf, location=None, sensor_id=str(greenleaf.sensors["ph-2"]),
                        starts_at=(NOW + timedelta(days=1)).isoformat(), ends_at=(NOW + timedelta(days=2)).isoformat())
    assert (by_rule["rule_id"], by_sensor["state"]) == (rule["id"], "scheduled")
    whole_farm = silence(http, greenleaf, location=None)
    assert (whole_farm["sensor_id"], whole_farm["location"], whole_farm["rule_id"]) == (None, None, None)
    created = events("silence.created")
    assert len(created) == 4 and created[0].details["reason"] == "reservoir flush"


def test_invalid_windows_and_scopes_are_refused(http, farms):
    greenleaf, blue_basin = farms
    base = {"location": "bay-a", "ends_at": (NOW + timedelta(hours=2)).isoformat(), "reason": "flush"}

    def refused(**change) -> list[str]:
        return fields(http.post("/api/silences", headers=greenleaf.headers, json=base | change))

    assert refused(ends_at=(NOW - timedelta(hours=1)).isoformat(), starts_at=NOW.isoformat()) == ["ends_at"]
    assert refused(starts_at=(NOW + timedelta(hours=3)).isoformat()) == ["ends_at"]  # ends before it starts
    assert refused(ends_at=(NOW + timedelta(days=31)).isoformat()) == ["ends_at"]  # longer than 30 days
    assert refused(starts_at=(NOW - timedelta(days=2)).isoformat(), ends_at=(NOW - timedelta(days=1)).isoformat()) \
        == ["ends_at"]  # over already
    assert refused(reason="  ") == ["reason"]
    assert fields(http.post("/api/silences", headers=greenleaf.headers, json={"location": "bay-a"})) \
        == ["ends_at", "reason"]
    assert refused(colour="red") == ["colour"]
    for reference, value in (("sensor_id", blue_basin.sensors["ph-1"]),
                             ("rule_id", new_rule(http, blue_basin)["id"])):
        reply = http.post("/api/silences", headers=greenleaf.headers, json=base | {reference: str(value)})
        assert reply.status_code == 404 and reply.json()["error"]["details"][0]["field"] == reference
    assert events("silence.created") == []


def test_list_by_state_and_another_farm_never_sees_one(http, farms):
    greenleaf, blue_basin = farms
    active = silence(http, greenleaf)
    scheduled = silence(http, greenleaf, starts_at=(NOW + timedelta(days=1)).isoformat(),
                        ends_at=(NOW + timedelta(days=1, hours=1)).isoformat())
    ended = silence(http, greenleaf, location="bay-b")
    assert http.delete(f"/api/silences/{ended['id']}", headers=greenleaf.headers).json()["state"] == "ended"

    def ids(**params) -> list[str]:
        return [s["id"] for s in http.get("/api/silences", headers=greenleaf.headers, params=params).json()["items"]]

    assert ids() == [scheduled["id"], ended["id"], active["id"]]  # latest start first
    assert ids(state="active") == [active["id"]]
    assert ids(state="scheduled") == [scheduled["id"]]
    assert ids(state="ended") == [ended["id"]]
    assert ids(location="bay-b") == [ended["id"]]
    page = http.get("/api/silences", headers=greenleaf.headers, params={"limit": 2}).json()
    assert len(page["items"]) == 2 and page["next_cursor"]

    theirs = silence(http, blue_basin)
    url = f"/api/silences/{theirs['id']}"
    for reply in (http.get(url, headers=greenleaf.headers),
                  http.patch(url, headers=greenleaf.headers, json={"reason": "mine now"}),
                  http.delete(url, headers=greenleaf.headers)):
        assert reply.status_code == 404, reply.json()
    assert http.get(url, headers=blue_basin.headers).json()["state"] == "active"


def test_extend_then_end_early(http, farms):
    greenleaf, _ = farms
    made = silence(http, greenleaf, starts_at=(NOW - timedelta(minutes=5)).isoformat())
    url = f"/api/silences/{made['id']}"
    longer = http.patch(url, headers=greenleaf.headers, json={"ends_at": (NOW + timedelta(hours=6)).isoformat()})
    assert longer.status_code == 200, longer.json()
    too_long = {"ends_at": (NOW + timedelta(days=40)).isoformat()}
    assert fields(http.patch(url, headers=greenleaf.headers, json=too_long)) == ["ends_at"]
    assert fields(http.patch(url, headers=greenleaf.headers, json={"location": "bay-b"})) == ["location"]
    [updated] = events("silence.updated")
    assert set(updated.details["changes"]) == {"ends_at"}

    ended = http.delete(url, headers=greenleaf.headers)
    assert ended.status_code == 200 and ended.json()["state"] == "ended"
    assert http.delete(url, headers=greenleaf.headers).status_code == 409
    assert http.patch(url, headers=greenleaf.headers, json={"reason": "x"}).status_code == 409
    assert len(events("silence.ended")) == 1


def test_ending_a_silence_not_yet_begun_removes_it(http, farms):
    greenleaf, _ = farms
    made = silence(http, greenleaf, starts_at=(NOW + timedelta(days=1)).isoformat(),
                   ends_at=(NOW + timedelta(days=2)).isoformat())
    reply = http.delete(f"/api/silences/{made['id']}", headers=greenleaf.headers)
    assert reply.status_code == 200 and reply.json()["state"] == "removed"
    assert http.get(f"/api/silences/{made['id']}", headers=greenleaf.headers).status_code == 404
    [removed] = events("silence.removed")
    assert removed.subject_id == made["id"]
