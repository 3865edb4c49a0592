"""/api/varieties over real PostgreSQL: profiles, validation naming the field, scoping, 409s, statement counts."""

from sqlalchemy import text

from hydroponics.db.engine import session_scope
from tests.integration.test_crops_seed import LETTUCE, app, as_farm, farms, fields, http, new_variety, plant  # noqa: F401
from tests.sql_counter import recorded_statements


def test_a_variety_keeps_its_stages_in_order_with_canonical_targets(http, farms):
    greenleaf, _ = farms
    stages = [{"name": "germination", "duration_days": 5, "targets": {"PH": {"min": 5.8, "max": 6.2},
                                                                       "water_temperature": {"max": 24}}},
              {"name": "harvest", "duration_days": 2}]
    reply = http.post("/api/varieties", headers=as_farm(greenleaf),
                      json={"name": "Basil", "description": "Genovese", "stages": stages})
    assert reply.status_code == 201, reply.json()
    body = reply.json()
    assert (body["name"], body["description"], body["active_crops"]) == ("Basil", "Genovese", 0)
    assert [(s["name"], s["stage_order"], s["duration_days"], s["targets"]) for s in body["stages"]] == [
        ("germination", 0, 5, {"ph": {"min": 5.8, "max": 6.2}, "temperature": {"max": 24.0}}),
        ("harvest", 1, 2, {}),
    ]
    assert http.get(f"/api/varieties/{body['id']}", headers=as_farm(greenleaf)).json() == body
    with session_scope() as session:
        event = session.execute(text("SELECT actor, subject_id, details FROM events"
                                     " WHERE event_type = 'variety.created'")).one()
    assert event.actor == "api-key:hk_test" and event.subject_id == body["id"]
    assert event.details["stages"] == ["germination", "harvest"]


def test_bad_profiles_get_422_naming_the_field(http, farms):
    greenleaf, _ = farms
    headers = as_farm(greenleaf)

    def post(**changes):
        return http.post("/api/varieties", headers=headers, json={"name": "Kale", "stages": LETTUCE} | changes)

    assert fields(post(name="")) == ["name"]
    assert fields(post(stages=[])) == ["stages"]
    nitrogen = [{"name": "a", "duration_days": 3, "targets": {"nitrogen": {"min": 1}}}]
    reply = post(stages=nitrogen)
    assert fields(reply) == ["stages.0.targets"] and "nitrogen" in reply.json()["error"]["details"][0]["reason"]
    upside_down = [LETTUCE[0], {"name": "b", "duration_days": 3, "targets": {"ec": {"min": 2, "max": 1}}}]
    assert fields(post(stages=upside_down)) == ["stages.1.targets"]
    assert fields(post(stages=[{"name": "a", "duration_days": 3, "targets": {"ph": {"max": 15}}}])) \
        == ["stages.0.targets"]
    assert fields(post(stages=[{"name": "a", "duration_days": 3, "targets": {"ph": {}}}])) == ["stages.0.targets"]
    assert fields(post(stages=[{"name": "a", "duration_days": 0}])) == ["stages.0.duration_days"]
    assert fields(post(stages=[{"name": "a", "duration_days": 1}, {"name": "A", "duration_days": 1}])) == ["stages"]
    with session_scope() as session:
        assert session.execute(text("SELECT count(*) FROM varieties")).scalar_one() == 0


def test_names_are_unique_per_farm_only(http, farms):
    greenleaf, blue_basin = farms
    new_variety(http, greenleaf, "Butterhead")
    reply = http.post("/api/varieties", headers=as_farm(greenleaf), json={"name": "Butterhead", "stages": LETTUCE})
    assert reply.status_code == 409 and reply.json()["error"]["code"] == "conflict"
    new_variety(http, blue_basin, "Butterhead")


def test_another_farms_variety_is_not_found(http, farms):
    greenleaf, blue_basin = farms
    theirs = new_variety(http, blue_basin)
    for reply in (http.get(f"/api/varieties/{theirs['id']}", headers=as_farm(greenleaf)),
                  http.patch(f"/api/varieties/{theirs['id']}", headers=as_farm(greenleaf), json={"name": "Mine"})):
        assert reply.status_code == 404 and reply.json()["error"]["code"] == "not_found"
    assert http.get(f"/api/varieties/{theirs['id']}", headers=as_farm(blue_basin)).json()["name"] == "Butterhead"
    assert fields(http.get("/api/varieties/not-a-uuid", headers=as_farm(greenleaf))) == ["path.variety_id"]


def test_patch_renames_and_replaces_stages_only_without_active_crops(http, farms):
    greenleaf, _ = farms
    headers = as_farm(greenleaf)
    variety = new_variety(http, greenleaf)
    new_variety(http, greenleaf, "Romaine")
    renamed = http.patch(f"/api/varieties/{variety['id']}", headers=headers,
                         json={"name": "Butterhead II", "description": "faster"})
    assert renamed.status_code == 200 and (renamed.json()["name"], renamed.json()["description"]) == \
        ("Butterhead II", "faster")
    assert renamed.json()["stages"] == variety["stages"]
    assert http.patch(f"/api/varieties/{variety['id']}", headers=headers, json={"name": "Romaine"}).status_code == 409
    assert fields(http.patch(f"/api/varieties/{variety['id']}", headers=headers, json={"name": None})) == ["body"]

    crop = plant(http, greenleaf, variety["id"])
    short = [{"name": "all-in-one", "duration_days": 30}]
    refused = http.patch(f"/api/varieties/{variety['id']}", headers=headers, json={"stages": short})
    assert refused.status_code == 409 and refused.json()["error"]["details"][0]["field"] == "stages"
    assert http.get(f"/api/varieties/{variety['id']}", headers=headers).json()["active_crops"] == 1

    assert http.post(f"/api/crops/{crop['id']}/harvest", headers=headers, json={}).status_code == 200
    replaced = http.patch(f"/api/varieties/{variety['id']}", headers=headers, json={"stages": short})
    assert replaced.status_code == 200
    assert [(s["name"], s["stage_order"]) for s in replaced.json()["stages"]] == [("all-in-one", 0)]
    history = http.get(f"/api/crops/{crop['id']}", headers=headers).json()["stages"]
    assert [s["name"] for s in history] == ["germination"]  # the harvested crop's history survives
    with session_scope() as session:
        kinds = session.execute(text("SELECT details FROM events WHERE event_type = 'variety.updated' ORDER BY id"))
        assert [sorted(d) for d in kinds.scalars()] == [["description", "name"], ["stages"]]


def test_list_pages_through_varieties_by_name_in_a_fixed_number_of_statements(http, farms, platform_db):
    greenleaf, blue_basin = farms
    names = [f"Variety {n:02d}" for n in range(7)]
    for name in reversed(names):
        new_variety(http, greenleaf, name)
    new_variety(http, blue_basin, "Theirs")

    seen, cursor, pages = [], None, 0
    with recorded_statements(platform_db) as statements:
        while True:
            params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
            body = http.get("/api/varieties", params=params, headers=as_farm(greenleaf)).json()
            seen += [v["name"] for v in body["items"]]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
    assert seen == names and pages == 3
    assert len(statements) == pages  # one per page, whatever the number of stages or varieties
    assert all(len(v["stages"]) == 3 for v in http.get("/api/varieties", headers=as_farm(greenleaf)).json()["items"])
    assert fields(http.get("/api/varieties", params={"limit": 501}, headers=as_farm(greenleaf))) == ["query.limit"]
    assert fields(http.get("/api/varieties", params={"cursor": "bogus"}, headers=as_farm(greenleaf))) \
        == ["query.cursor"]
