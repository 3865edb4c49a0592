"""Page load of the dashboard's overview over MiniStack's API Gateway (scripts/up or scripts/deploy first).

A fresh farm (three bays of six sensors, one simulated round through the ingest API) is signed in to
in headless Chromium; each sample times the overview from navigation to every tile drawn:
- first load: a new browser context (empty cache, sessionStorage already holding the key);
- refresh: a reload in the same context (the page's files revalidated by ETag, the vendored
  libraries from the cache; the overview and health strip asked for again).
Baseline, interleaved in the same run: the /health round trip through the same gateway (httpx),
one request through the api function. Usage:
  .venv/bin/python bench/dashboard_bench.py [--samples N]
"""

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.alert_latency_bench import _farm  # noqa: E402
from hydroponics.simulator.farm import farm_rounds  # noqa: E402
from hydroponics.simulator.sender import FarmSender  # noqa: E402
from tests.conftest import local_env  # noqa: E402
from tests.e2e.browser import ARGS, CHROMIUM, DESKTOP  # noqa: E402

BAYS = 3
SENSORS_PER_BAY = 6


def overview_drawn(page, expected: int) -> None:
    page.wait_for_selector(".tile .metric")
    deadline = time.monotonic() + 30
    while page.locator(".tile .metric .value").count() < expected:
        if time.monotonic() > deadline:
            raise SystemExit("the overview did not draw every sensor")
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=15)
    args = parser.parse_args()
    env = local_env()
    client_id, key = _farm(env)
    now = datetime.now(UTC)
    round_ = next(farm_rounds(seed=1, start=now - timedelta(seconds=30), locations=BAYS, fault_rate=0.0))
    sender = FarmSender(env["API_URL"], client_id, key)
    assert sender.post_round(round_).accepted == BAYS * SENSORS_PER_BAY
    sender.close()
    url = f"{env['API_URL']}/dashboard"
    expected = BAYS * SENSORS_PER_BAY
    time.sleep(2)  # the readings through the queue into PostgreSQL

    from playwright.sync_api import sync_playwright

    first, refresh, health = [], [], []
    with sync_playwright() as playwright, httpx.Client(timeout=30) as http:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)

        def signed_in_context():
            context = browser.new_context(viewport=DESKTOP)
            context.add_init_script(f"sessionStorage.setItem('hydroponics.apiKey', {key!r})")
            return context

        warm = signed_in_context()  # warm the function's environments (one per parallel request)
        warm_page = warm.new_page()
        warm_page.goto(url, timeout=120_000)
        overview_drawn(warm_page, expected)
        warm.close()
        for _ in range(args.samples):
            started = time.perf_counter()
            assert http.get(f"{env['API_URL']}/health").status_code == 200
            health.append(time.perf_counter() - started)

            context = signed_in_context()
            page = context.new_page()
            started = time.perf_counter()
            page.goto(url)
            overview_drawn(page, expected)
            first.append(time.perf_counter() - started)

            started = time.perf_counter()
            page.reload()
            overview_drawn(page, expected)
            refresh.append(time.perf_counter() - started)
            context.close()
        browser.close()

    def p(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000 if len(values) > 1 else values[0] * 1000

    base = p(health, 50)
    print(f"{args.samples} samples, {expected} sensors in {BAYS} bays")
    print("| | p50 ms | p95 ms | p50 / health |")
    print("|---|---:|---:|---:|")
    for label, values in (("/health round trip (baseline)", health), ("overview, first load", first),
                          ("overview, refresh", refresh)):
        print(f"| {label} | {p(values, 50):.0f} | {p(values, 95):.0f} | {p(values, 50) / base:.1f}x |")


if __name__ == "__main__":
    main()
