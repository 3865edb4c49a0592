"""The dashboard in a real browser (Debian's headless Chromium through Playwright) against the deployed
stack: a farm of its own fed by the simulator's farm model through the ingest API, then sign-in, every
bay tile with values, a chart's drawn data and stage band, an alert acknowledged, an AC command refused
by an interlock with its reason, a wrong key refused, an operator's client picker; no console errors.
Screenshots of each view at desktop and phone width land in .local/screenshots/."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from hydroponics.simulator.farm import farm_rounds
from hydroponics.simulator.probes import SENSORS
from hydroponics.simulator.sender import FarmSender
from tests.e2e.browser import DESKTOP, PHONE, Watched, chromium  # noqa: F401
from tests.e2e.conftest import wait_for

BAYS = ("greenhouse-1/bay-a", "greenhouse-1/bay-b", "greenhouse-1/bay-c")
HISTORY = timedelta(hours=26)   # a day's chart and then some, one round every 5 virtual minutes
STEP_SECONDS = 300
PROFILE = [
    {"name": "seedling", "duration_days": 14, "targets": {"ph": {"min": 5.5, "max": 6.6}, "ec": {"min": 1.2, "max": 2.6}}},
    {"name": "vegetative", "duration_days": 28,
     "targets": {"ph": {"min": 5.5, "max": 6.6}, "ec": {"min": 1.2, "max": 2.6}, "air_temperature": {"min": 14, "max": 28}}},
]
UNIT = {"name": "Bay AC", "location": "greenhouse-1/bay-a", "driver": "simulated",
        "capabilities": {"modes": ["cool", "fan"], "setpoint_min": 16, "setpoint_max": 30, "fan_speeds": ["auto"]},
        "safety": {"min_off_seconds": 0, "setpoint_min": 18, "setpoint_max": 26}}


@pytest.fixture(scope="module")
def farm(make_client, api, stack, stack_db):
    """A farm with a crop per bay, a pH rule that keeps firing in bay-a (the doser holds pH at 5.8-6.5), an AC unit, and 26 h of simulated readings."""
    made = make_client("Dashboard Farm", rate_limits={"api": 6000, "query": 6000, "ingest": 6000, "ac_control": 600})
    headers = made["headers"]

    def call(method: str, path: str, expect: int = 200, **kwargs) -> dict:
        reply = api.request(method, path, headers=headers, **kwargs)
        assert reply.status_code == expect, reply.text
        return reply.json()

    variety = call("POST", "/api/varieties", 201, json={"name": "Butterhead", "stages": PROFILE})
    now = datetime.now(UTC)
    for n, bay in enumerate(BAYS):
        call("POST", "/api/crops", 201, json={"variety_id": variety["id"], "location": bay, "batch_code": f"DB-{n}",
                                              "planted_at": (now - timedelta(days=16 + 2 * n)).isoformat()})
    call("POST", "/api/rules", 201, json={"name": "bay-a pH above 5.5", "location": BAYS[0], "sensor_type": "ph",
                                          "severity": "warning", "condition": {"kind": "above", "threshold": 5.5}})
    unit = call("POST", "/api/ac/register", 201, json=UNIT)

    # Rounds start a minute into each 5-minute bucket (probes report up to 60 s into a round), so
    # every bucket of the day's chart holds exactly one reading per sensor.
    start = datetime.fromtimestamp((now - HISTORY).timestamp() // STEP_SECONDS * STEP_SECONDS + 60, UTC)
    readings = []
    for round_ in farm_rounds(seed=7, start=start, step=STEP_SECONDS, locations=len(BAYS), fault_rate=0.0):
        if round_[0].time > now - timedelta(seconds=30):
            break
        readings.extend(round_)
    sender = FarmSender(stack["API_URL"], made["client_id"], made["key"])
    try:
        accepted = sum(sender.post_round(readings[i:i + 500]).accepted for i in range(0, len(readings), 500))
    finally:
        sender.close()
    assert accepted == len(readings) == len(BAYS) * len(SENSORS) * (len(readings) // (len(BAYS) * len(SENSORS)))

    def stored() -> bool:
        with stack_db.connect() as conn:
            count = conn.exec_driver_sql("SELECT count(*) FROM readings WHERE client_id = %s",
                                         (made["client_id"],)).scalar()
        return count == accepted
    assert wait_for(stored, timeout=90, interval=1), "the readings were not all stored"
    alert = wait_for(lambda: call("GET", "/api/alerts", params={"status": "open"})["items"], timeout=30)
    assert alert, "the pH rule opened no alert"
    return {"key": made["key"], "client_id": made["client_id"], "call": call, "unit": unit, "variety": variety}


@pytest.fixture(scope="module")
def first_load(chromium, stack) -> float:
    """The page's first load after a deploy: each file fetched in parallel may start an execution
    environment of the api function, and MiniStack extracts the 92 MB core layer for each one (5-25 s
    here, by the machine's load; bench/dashboard_bench.py measures it). Later loads take ~1 s."""
    context = chromium.new_context(viewport=DESKTOP)
    started = time.monotonic()
    context.new_page().goto(f"{stack['API_URL']}/dashboard", timeout=120_000)
    context.close()
    return time.monotonic() - started


@pytest.fixture
def page(chromium, stack, first_load):
    context = chromium.new_context(viewport=DESKTOP)
    watched = Watched(context.new_page())
    watched.url = f"{stack['API_URL']}/dashboard"
    yield watched
    context.close()
    assert watched.problems == [], watched.problems


def sign_in(page: Watched, key: str) -> None:
    page.page.goto(page.url)
    page.page.fill("#api-key", key)
    page.page.click("#sign-in-form button[type=submit]")


def both_widths(page: Watched, name: str) -> None:
    page.screenshot(f"{name}-desktop")
    page.page.set_viewport_size(PHONE)
    page.page.wait_for_timeout(300)  # the chart follows its container's width
    page.screenshot(f"{name}-phone")
    page.page.set_viewport_size(DESKTOP)


def test_a_wrong_key_is_refused_with_a_clear_message(page, farm):
    sign_in(page, "hk_not-a-real-key-at-all")
    page.until("document.querySelector('#sign-in-error').textContent.length > 0")
    assert "refused" in page.page.locator("#sign-in-error").text_content()
    assert page.page.is_hidden("#tabs")
    assert page.page.evaluate("sessionStorage.length") == 0
    page.problems = [p for p in page.problems if "401" not in p]  # the refused sign-in call itself


def test_sign_in_shows_every_bay_with_values_and_keeps_the_key_in_the_tab_only(page, farm):
    sign_in(page, farm["key"])
    page.page.wait_for_selector(".tile .metric")
    tiles = page.page.locator(".tile")
    assert sorted(tiles.evaluate_all("ts => ts.map(t => t.dataset.location)")) == list(BAYS)
    for bay in BAYS:
        tile = page.page.locator(f'.tile[data-location="{bay}"]')
        metrics = tile.locator(".metric")
        assert sorted(metrics.evaluate_all("ms => ms.map(m => m.dataset.type)")) == sorted(SENSORS)
        values = metrics.locator(".value").all_text_contents()
        assert all(v != "—" and any(c.isdigit() for c in v) for v in values), values
        assert "Butterhead" in tile.locator(".crop").text_content()
        classes = metrics.evaluate_all("ms => ms.map(m => m.className)")
        assert all(any(s in c for s in ("in_band", "near_edge", "out_of_band", "no_band")) for c in classes), classes
    ph_a = page.page.locator(f'.tile[data-location="{BAYS[0]}"] .metric[data-type="ph"]')
    assert "5.5–6.6" in ph_a.text_content()  # the vegetative stage's band
    assert "1 open alert" in page.page.locator(f'.tile[data-location="{BAYS[0]}"] .alerts-badge').text_content()
    assert page.page.evaluate("sessionStorage.getItem('hydroponics.apiKey')") == farm["key"]
    assert farm["key"] not in page.page.url and page.page.context.cookies() == []
    strip = page.page.locator("#health")
    assert strip.locator('[data-queue="readings"]').text_content().startswith("readings: ")
    assert "dead letters:" in strip.text_content() and "failed task" not in strip.text_content()  # operators only
    assert strip.locator("[data-job]").evaluate_all("js => js.map(j => j.dataset.job)") == \
        ["escalation", "advance_stages", "calibration_due", "drift", "retention"]
    both_widths(page, "overview")


def test_a_chart_draws_the_bays_series_with_its_envelope_and_the_stage_band(page, farm):
    sign_in(page, farm["key"])
    page.page.wait_for_selector(".tile .metric")
    page.page.click(f'.tile[data-location="{BAYS[0]}"] .metric[data-type="ph"] a')
    page.until("document.querySelector('#chart').uplot?.data?.[0]?.length > 0")
    drawn = page.page.evaluate("""() => { const u = document.querySelector('#chart').uplot;
        return {labels: u.series.map(s => s.label), data: u.data, bands: u.bands.map(b => b.series)}; }""")
    labels = drawn["labels"]
    assert labels[1:4] == [BAYS[0], f"{BAYS[0]} min", f"{BAYS[0]} max"], labels
    assert labels[4:] == [f"target min ({BAYS[0]})", f"target max ({BAYS[0]})"]
    xs, avg, low, high, band_low, band_high = drawn["data"]
    window = page.page.evaluate("({...document.querySelector('#chart').dataset})")
    assert window["window"] == "5m"  # a day of 5-minute buckets, not thousands of raw points
    answer = farm["call"]("GET", "/api/data/query", params={
        "sensor_type": "ph", "location": BAYS[0], "window": "5m", "start": window["start"], "end": window["end"],
        "limit": 10000})
    assert xs == [datetime.fromisoformat(p["bucket_start"]).timestamp() for p in answer["points"]]  # all of them
    assert avg == [p["avg"] for p in answer["points"]]
    assert len(xs) >= 270 and {b - a for a, b in zip(xs, xs[1:])} == {STEP_SECONDS}  # the day, without a gap
    assert all(lo <= a <= hi for a, lo, hi in zip(avg, low, high) if a is not None)
    assert set(band_low) == {5.5} and set(band_high) == {6.6}  # the stage's band behind the whole day
    assert drawn["bands"] == [[3, 2], [5, 4]]
    assert page.page.locator(".u-over").count() == 1  # uPlot's own canvas overlay is there
    both_widths(page, "charts")

    page.page.check("#chart-overlay")
    page.until("document.querySelector('#chart').uplot.series.length === 12")
    labels = page.page.evaluate("document.querySelector('#chart').uplot.series.map(s => s.label)")
    assert [label for label in labels if label in BAYS] == list(BAYS)

    page.page.check('input[name="range"][value="hour"]')
    page.until("document.querySelector('#chart-note').textContent.includes('readings')")
    raw = page.page.evaluate("document.querySelector('#chart').uplot.data[1].filter(v => v != null)")
    window = page.page.evaluate("({...document.querySelector('#chart').dataset})")
    answer = farm["call"]("GET", "/api/data/query", params={
        "sensor_type": "ph", "location": BAYS[0], "window": "raw", "start": window["start"], "end": window["end"]})
    assert window["window"] == "raw" and raw == [p["value"] for p in answer["points"]]
    assert len(raw) >= 8  # the last hour's raw readings of bay-a, one per 5 minutes (up to now - 30 s)


def test_acknowledging_an_alert_on_the_page_changes_it_in_the_api(page, farm):
    alert = farm["call"]("GET", "/api/alerts", params={"status": "open"})["items"][0]
    sign_in(page, farm["key"])
    page.page.wait_for_selector(".tile")
    page.page.click('nav a[data-view="alerts"]')
    row = page.page.locator(f'tr[data-alert-id="{alert["id"]}"]')
    row.wait_for()
    assert "bay-a pH above 5.5" in row.text_content()
    both_widths(page, "alerts")
    row.locator("button", has_text="Acknowledge").click()
    page.page.wait_for_selector(f'section[aria-label="Acknowledged"] tr[data-alert-id="{alert["id"]}"]')
    after = farm["call"]("GET", f"/api/alerts/{alert['id']}")
    assert after["status"] == "acknowledged" and after["acknowledged_by"].startswith("api-key:hk_")

    acknowledged = page.page.locator(f'section[aria-label="Acknowledged"] tr[data-alert-id="{alert["id"]}"]')
    acknowledged.locator("button", has_text="Silence").click()
    dialog = page.page.locator("#silence-dialog")
    dialog.locator('select[name="minutes"]').select_option("240")
    dialog.locator('input[name="reason"]').fill("reservoir flush")
    dialog.locator("button", has_text="Silence").click()
    page.until("!document.querySelector('#silence-dialog').open")
    silences = farm["call"]("GET", "/api/silences")["items"]
    assert [(s["sensor_id"], s["reason"], s["state"]) for s in silences] == [(alert["sensor_id"], "reservoir flush", "active")]
    ends_in = datetime.fromisoformat(silences[0]["ends_at"]) - datetime.now(UTC)
    assert timedelta(hours=3, minutes=55) < ends_in <= timedelta(hours=4)


def test_an_ac_command_refused_by_an_interlock_shows_the_reason(page, farm):
    sign_in(page, farm["key"])
    page.page.wait_for_selector(".tile")
    page.page.click('nav a[data-view="climate"]')
    card = page.page.locator(f'.unit-card[data-unit-id="{farm["unit"]["id"]}"]')
    card.wait_for()
    card.locator('input[name="setpoint"]').fill("17")  # the unit can (16-30); its safety bounds say 18-26
    card.locator("button", has_text="Send command").click()
    page.until(f"""document.querySelector('[data-unit-id="{farm["unit"]["id"]}"] .outcome')?.textContent.includes('Refused')""",
        timeout=60)
    outcome = page.page.locator(f'[data-unit-id="{farm["unit"]["id"]}"] .outcome').text_content()
    assert "setpoint_bounds: 17.0 is outside the safety bounds 18.0..26.0" in outcome, outcome
    commands = farm["call"]("GET", f"/api/ac/units/{farm['unit']['id']}/commands")["items"]
    assert (commands[0]["status"], commands[0]["command"]) == ("rejected", {"setpoint": 17.0})
    page.page.wait_for_selector(f'tr[data-command-id="{commands[0]["id"]}"] .status.rejected')
    both_widths(page, "climate")


def test_crops_show_stage_progress_and_the_out_of_range_report(page, farm):
    sign_in(page, farm["key"])
    page.page.wait_for_selector(".tile")
    page.page.click('nav a[data-view="crops"]')
    cards = page.page.locator(".crop-card")
    cards.first.wait_for()
    assert cards.count() == len(BAYS)
    first = cards.filter(has_text="DB-0")
    assert "vegetative" in first.locator(".stages li.current").text_content()
    assert first.locator(".stages li.done").count() == 1
    first.locator("button", has_text="Out-of-range report").click()
    first.locator(".report table").first.wait_for()
    assert "ph" in first.locator(".report").text_content()
    both_widths(page, "crops")


def test_an_operator_key_picks_the_client_first(page, farm, stack):
    sign_in(page, stack["ADMIN_KEY"])
    page.page.wait_for_selector("#client-picker-label:not([hidden])")
    assert page.page.is_hidden("#tabs")
    page.page.select_option("#client-picker", farm["client_id"])
    page.page.wait_for_selector(f'.tile[data-location="{BAYS[0]}"] .metric')
    assert page.page.evaluate("sessionStorage.getItem('hydroponics.clientId')") == farm["client_id"]
    page.page.click("#health a[href='#failed']")  # the dead letters' link, for operators
    page.page.wait_for_selector("#failed-list table, #failed-list .empty")
    assert page.page.is_visible("#view-failed")
    both_widths(page, "failed-tasks")


def test_the_page_and_its_libraries_ship_in_the_deployed_function_under_a_strict_policy(api):
    page = api.get("/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    chart = api.get("/dashboard/static/vendor/uplot-1.6.32/uPlot.esm.js")
    assert chart.status_code == 200 and "(v1.6.32)" in chart.text and "javascript" in chart.headers["content-type"]
    assert "immutable" in chart.headers["cache-control"]
    assert 'const VERSION = "3.7.2"' in api.get("/dashboard/static/vendor/luxon-3.7.2/luxon.js").text
    assert api.get("/dashboard/static/vendor/uplot-1.6.32/LICENSE").status_code == 200
    own = api.get("/dashboard/static/js/main.js")
    assert own.headers["cache-control"] == "no-cache" and own.headers.get("etag")
    assert api.get("/dashboard/static/js/nothing-here.js").status_code == 404
