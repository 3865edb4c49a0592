"""/api/crops over real PostgreSQL: planting opens stages, lists with the current stage, harvest, scoping."""

from datetime import datetime, timedelta

from sqlalchemy import text

from hydroponics.db.engine import session_scope
from tests.integration.test_crops_seed import (  # noqa: F401
    NOW, app, as_farm, farms, fields, http, new_variety, plant, seed_crops, seed_variety,
)
from tests.sql_counter import recorded_statements


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_planting_opens_the_first_stage_due_after_its_duration(http, farms):
    greenleaf, _ = farms
    variety = new_variety(http, greenleaf)
    crop = plant(http, greenleaf, variety["id"], batch_code="L-001")
    assert (crop["status"], crop["batch_code"], crop["variety_name"], crop["awaiting_harvest"]) == \
        ("active", "L-001", "Butterhead", False)
    stage = crop["current_stage"]
    assert (stage["name"], stage["stage_order"], stage["days_in_stage"], stage["completed_at"]) == \
        ("germination", 0, 0, None)
    assert at(stage["started_at"]) == NOW and at(stage["due_at"]) == NOW + timedelta(days=7)
    assert [s["name"] for s in crop["stages"]] == ["germination"] and crop["harvest"] is None
    with session_scope() as session:
        event = session.execute(text("SELECT subject_id, details FROM events WHERE event_type = 'crop.planted'")).one()
    assert event.subject_id == crop["id"] and event.details["stage"] == "germination"


def test_a_batch_entered_after_planting_lands_in_its_current_stage_with_history(http, farms):
    greenleaf, _ = farms
    variety = new_variety(http, greenleaf)
    crop = plant(http, greenleaf, variety["id"], planted_at=NOW - timedelta(days=10))
    assert (crop["current_stage"]["name"], crop["current_stage"]["days_in_stage"]) == ("seedling", 3)
    history = crop["stages"]
    assert [(s["name"], s["completed_at"] is not None) for s in history] == [("germination", True), ("seedling", False)]
    assert at(history[0]["completed_at"]) == at(history[1]["started_at"]) == NOW - timedelta(days=3)
    assert at(history[1]["due_at"]) == NOW + timedelta(days=11)

    done = plant(http, greenleaf, variety["id"], planted_at=NOW - timedelta(days=60), batch_code="old")
    assert done["awaiting_harvest"] and done["current_stage"]["name"] == "vegetative"
    assert all(s["completed_at"] for s in done["stages"])

    later = plant(http, greenleaf, variety["id"], planted_at=NOW + timedelta(days=2), batch_code="next")
    assert (later["current_stage"]["name"], later["current_stage"]["days_in_stage"]) == ("germination", 0)


def test_planting_refuses_bad_input_and_other_farms_varieties(http, farms):
    greenleaf, blue_basin = farms
    theirs = new_variety(http, blue_basin)
    reply = http.post("/api/crops", headers=as_farm(greenleaf), json={
        "variety_id": theirs["id"], "location": "bay-a", "batch_code": "x", "planted_at": NOW.isoformat()})
    assert reply.status_code == 404 and reply.json()["error"]["details"][0]["field"] == "variety_id"
    base = {"variety_id": theirs["id"], "location": "bay-a", "batch_code": "x", "planted_at": NOW.isoformat()}
    assert fields(http.post("/api/crops", headers=as_farm(greenleaf), json=base | {"variety_id": "nope"})) \
        == ["variety_id"]
    assert fields(http.post("/api/crops", headers=as_farm(greenleaf), json=base | {"location": ""})) == ["location"]
    assert fields(http.post("/api/crops", headers=as_farm(greenleaf), json=base | {"planted_at": "1999-12-31"})) \
        == ["planted_at"]
    assert fields(http.post("/api/crops", headers=as_farm(greenleaf), json={"location": "bay-a"})) \
        == ["variety_id", "batch_code", "planted_at"]
    with session_scope() as session:
        assert session.execute(text("SELECT count(*) FROM crops")).scalar_one() == 0


def test_another_farms_crop_is_not_found_anywhere(http, farms):
    greenleaf, blue_basin = farms
    crop = plant(http, blue_basin, new_variety(http, blue_basin)["id"])
    mine = as_farm(greenleaf)
    for reply in (http.get(f"/api/crops/{crop['id']}", headers=mine),
                  http.get(f"/api/crops/{crop['id']}/report", headers=mine),
                  http.post(f"/api/crops/{crop['id']}/harvest", headers=mine, json={"yield_amount": 1})):
        assert reply.status_code == 404, reply.json()
    assert http.get("/api/crops", headers=mine).json() == {"items": [], "next_cursor": None}
    assert http.get(f"/api/crops/{crop['id']}", headers=as_farm(blue_basin)).json()["status"] == "active"


def test_harvest_closes_the_crop_and_its_open_stage_once(http, farms):
    greenleaf, _ = farms
    headers = as_farm(greenleaf)
    crop = plant(http, greenleaf, new_variety(http, greenleaf)["id"], planted_at=NOW - timedelta(days=10))
    harvested_at = NOW - timedelta(hours=1)
    reply = http.post(f"/api/crops/{crop['id']}/harvest", headers=headers, json={
        "harvested_at": harvested_at.isoformat(), "yield_amount": "12.5", "yield_unit": "kg", "quality_grade": "A",
        "notes": "early"})
    assert reply.status_code == 200, reply.json()
    body = reply.json()
    assert (body["status"], at(body["closed_at"])) == ("harvested", harvested_at)
    assert body["harvest"] | {"id": None} == {"id": None, "harvested_at": body["harvest"]["harvested_at"],
                                             "yield_amount": "12.5", "yield_unit": "kg", "quality_grade": "A",
                                             "notes": "early"}
    assert at(body["stages"][-1]["completed_at"]) == harvested_at and not body["awaiting_harvest"]

    again = http.post(f"/api/crops/{crop['id']}/harvest", headers=headers, json={})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    with session_scope() as session:
        assert session.execute(text("SELECT count(*) FROM harvests")).scalar_one() == 1
        assert session.execute(text("SELECT count(*) FROM growth_stages WHERE completed_at IS NULL")).scalar_one() == 0
        assert session.execute(text("SELECT count(*) FROM events WHERE event_type = 'crop.harvested'")).scalar_one() == 1


def test_harvest_refuses_bad_input(http, farms):
    greenleaf, _ = farms
    headers = as_farm(greenleaf)
    crop = plant(http, greenleaf, new_variety(http, greenleaf)["id"])
    url = f"/api/crops/{crop['id']}/harvest"
    assert fields(http.post(url, headers=headers, json={"yield_amount": -1})) == ["yield_amount"]
    assert fields(http.post(url, headers=headers, json={"harvested_at": (NOW + timedelta(days=1)).isoformat()})) \
        == ["harvested_at"]
    assert fields(http.post(url, headers=headers, json={"weight": 3})) == ["weight"]
    early = http.post(url, headers=headers, json={"harvested_at": (NOW - timedelta(days=1)).isoformat()})
    assert fields(early) == ["harvested_at"]
    assert http.get(f"/api/crops/{crop['id']}", headers=headers).json()["status"] == "active"


def test_list_filters_and_pages_newest_planting_first(http, farms):
    greenleaf, blue_basin = farms
    headers = as_farm(greenleaf)
    butterhead, romaine = new_variety(http, greenleaf)["id"], new_variety(http, greenleaf, "Romaine")["id"]
    planted = [plant(http, greenleaf, butterhead, planted_at=NOW - timedelta(days=n), batch_code=f"B-{n}",
                     location="bay-a" if n % 2 else "bay-b")["id"] for n in range(5)]
    plant(http, greenleaf, romaine, batch_code="R-1")
    plant(http, blue_basin, new_variety(http, blue_basin)["id"])
    http.post(f"/api/crops/{planted[4]}/harvest", headers=headers, json={})

    def ids(**params) -> list[str]:
        found, cursor = [], None
        while True:
            body = http.get("/api/crops", params=params | ({"cursor": cursor} if cursor else {}), headers=headers).json()
            found += [c["id"] for c in body["items"]]
            if not (cursor := body["next_cursor"]):
                return found

    assert ids(variety_id=butterhead, limit=2) == planted
    assert ids(variety_id=butterhead, status="active") == planted[:4]
    assert ids(status="harvested") == [planted[4]]
    assert ids(location="bay-a", variety_id=butterhead) == [planted[1], planted[3]]
    assert len(ids()) == 6
    first = http.get("/api/crops", params={"variety_id": butterhead, "limit": 1}, headers=headers).json()["items"][0]
    assert (first["current_stage"]["name"], first["current_stage"]["days_in_stage"]) == ("germination", 0)
    assert fields(http.get("/api/crops", params={"status": "wilted"}, headers=headers)) == ["query.status"]


def test_listing_crops_takes_one_statement_whatever_their_number(http, farms, platform_db):
    greenleaf, _ = farms
    with session_scope() as session:
        variety = seed_variety(session, greenleaf, "Chard")
    counts = {}
    for total in (3, 300):
        with session_scope() as session:
            seed_crops(session, greenleaf, variety, total - counts.get("seeded", 0), due=0)
        counts["seeded"] = total
        with recorded_statements(platform_db) as statements:
            body = http.get("/api/crops", params={"limit": 500, "status": "active"}, headers=as_farm(greenleaf)).json()
        assert len(body["items"]) == total
        assert all(c["current_stage"]["name"] == "stage-0" for c in body["items"])
        counts[total] = len(statements)
    assert counts[3] == counts[300] == 1
