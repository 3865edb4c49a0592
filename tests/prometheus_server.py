"""A real Prometheus for tests: the shipped configuration and alert rules, rendered with short intervals.

The shipped rules (infra/monitoring/alerts.yml) are the ones promtool checks; a test cannot wait out
their `for:` durations or a five-minute backlog, so this rendering sets every `for:` to 0 s and swaps
the few thresholds named in SHORTER for ones a test reaches in seconds (each must be found exactly once).
"""

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml

from scripts.prometheus_config import render_config
from tests.mail_server import free_port

MONITORING = Path(__file__).resolve().parents[1] / "infra" / "monitoring"
SHORTER = {"ReadingsQueueBacklogOld": ("> 300", "> 15"), "ClientSilent": ("> 900", "> 20")}


def shortened_rules(shipped: dict) -> dict:
    rules = yaml.safe_load(yaml.safe_dump(shipped))
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule["for"] = "0s"
            if rule["alert"] in SHORTER:
                old, new = SHORTER[rule["alert"]]
                assert rule["expr"].count(old) == 1, (rule["alert"], rule["expr"])
                rule["expr"] = rule["expr"].replace(old, new)
    return rules


@contextmanager
def prometheus(api_url: str, token_file: str, workdir: Path, interval: str = "2s") -> Iterator[str]:
    """A Prometheus on 127.0.0.1 scraping `api_url`/metrics; yields its base URL."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: scripts/setup installs Debian's prometheus package"
    rules = workdir / "alerts.yml"
    rules.write_text(yaml.safe_dump(shortened_rules(yaml.safe_load((MONITORING / "alerts.yml").read_text()))))
    config = render_config(yaml.safe_load((MONITORING / "prometheus.yml").read_text()), api_url, token_file,
                           [str(rules)], interval=interval)
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (workdir / "prometheus.log").open("w")
    process = subprocess.Popen([binary, f"--config.file={workdir / 'prometheus.yml'}",
                                f"--storage.tsdb.path={workdir / 'data'}", "--storage.tsdb.retention.time=7d",
                                f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (workdir / "prometheus.log").read_text()
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def firing(url: str) -> list[dict]:
    """The alerts Prometheus has firing now (name and labels)."""
    alerts = httpx.get(f"{url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return [alert["labels"] for alert in alerts if alert["state"] == "firing"]
