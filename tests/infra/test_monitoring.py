"""infra/monitoring: the alert rules pass promtool (check and unit tests), the Prometheus configuration
renders and checks, the Grafana dashboard is a valid dashboard whose every query reads metrics /metrics
exposes, and the job intervals the missed-run rule uses match the template's schedules."""

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from hydroponics.monitoring.exposition import render
from hydroponics.monitoring.jobs import SCHEDULED_JOBS
from scripts.prometheus_config import render_config
from tests.infra.rules import schedule_expressions
from tests.monitoring_samples import metric_names, full_scrape

MONITORING = Path(__file__).resolve().parents[2] / "infra" / "monitoring"
README = Path(__file__).resolve().parents[2] / "README.md"

# What Grafana needs to import a dashboard and what every panel of ours must have
DASHBOARD_SCHEMA = {
    "type": "object",
    "required": ["title", "uid", "schemaVersion", "panels", "__inputs", "time"],
    "properties": {
        "uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "schemaVersion": {"type": "integer", "minimum": 30},
        "__inputs": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["name", "type", "pluginId"],
            "properties": {"type": {"const": "datasource"}, "pluginId": {"const": "prometheus"}}}},
        "panels": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["id", "type", "title", "gridPos"],
            "properties": {
                "id": {"type": "integer"},
                "type": {"enum": ["row", "timeseries", "stat", "bargauge", "table", "gauge"]},
                "gridPos": {"type": "object", "required": ["x", "y", "w", "h"],
                            "properties": {"x": {"type": "integer", "minimum": 0, "maximum": 23},
                                           "w": {"type": "integer", "minimum": 1, "maximum": 24},
                                           "y": {"type": "integer", "minimum": 0},
                                           "h": {"type": "integer", "minimum": 1}}},
                "targets": {"type": "array", "items": {
                    "type": "object", "required": ["refId", "expr", "datasource"],
                    "properties": {"expr": {"type": "string", "minLength": 1},
                                   "datasource": {"const": {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}}}}}},
            "if": {"properties": {"type": {"not": {"const": "row"}}}},
            "then": {"required": ["targets", "datasource"], "properties": {"targets": {"minItems": 1}}}}},
    },
}


def promtool(*args: str) -> subprocess.CompletedProcess:
    if shutil.which("promtool") is None:
        pytest.fail("promtool is missing: scripts/setup installs Debian's prometheus package")
    return subprocess.run(["promtool", *args], cwd=MONITORING, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads((MONITORING / "grafana-dashboard.json").read_text())


@pytest.fixture(scope="module")
def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]
            for rule in group["rules"]]


@pytest.fixture(scope="module")
def exposed() -> set[str]:
    """Every sample name a fully populated /metrics answer has (plus Prometheus' own `up`)."""
    from hydroponics.settings import get_settings
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", "postgresql+pg8000://unused@127.0.0.1/unused")
        get_settings.cache_clear()
        text = render(full_scrape()).decode()
    get_settings.cache_clear()
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples} | {"up"}


def test_the_alert_rules_pass_promtool_check():
    checked = promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 10 rules found" in checked.stdout


def test_the_alert_rules_pass_their_promtool_unit_tests():
    tested = promtool("test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_rule_is_unit_tested_and_has_a_runbook_line(alert_rules):
    unit_tests = yaml.safe_load((MONITORING / "alerts_test.yml").read_text())["tests"]
    tested = {case["alertname"] for test in unit_tests for case in test["alert_rule_test"] if case["exp_alerts"]}
    readme = README.read_text()
    for rule in alert_rules:
        assert rule["alert"] in tested, f"{rule['alert']} never fires in alerts_test.yml"
        assert rule["annotations"]["runbook"] == f"README.md#monitoring: {rule['alert']}"
        assert f"| `{rule['alert']}` |" in readme, f"README has no runbook row for {rule['alert']}"


def test_every_rule_reads_metrics_that_metrics_exposes(alert_rules, exposed):
    for rule in alert_rules:
        names = metric_names(rule["expr"])
        assert names and names <= exposed, (rule["alert"], names - exposed)


def test_the_dashboard_is_a_grafana_dashboard(dashboard):
    jsonschema.validate(dashboard, DASHBOARD_SCHEMA)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dashboard["panels"]:
        refs = [target["refId"] for target in panel.get("targets", [])]
        assert len(refs) == len(set(refs)), panel["title"]


def test_the_schema_refuses_a_broken_dashboard(dashboard):
    broken = json.loads(json.dumps(dashboard))
    del broken["panels"][1]["targets"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, DASHBOARD_SCHEMA)


def test_every_panel_query_reads_metrics_that_metrics_exposes(dashboard, exposed):
    queries = [(panel["title"], target["expr"]) for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert len(queries) >= 20
    for title, expr in queries:
        names = metric_names(expr)
        assert names and names <= exposed, (title, names - exposed)


def test_the_dashboard_shows_every_metric_we_expose(dashboard, exposed):
    shown = {name for panel in dashboard["panels"] for target in panel.get("targets", [])
             for name in metric_names(target["expr"])}
    families = {name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count") for name in exposed}
    shown_families = {name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count") for name in shown}
    assert families - shown_families == set()


def test_the_prometheus_configuration_renders_for_the_local_stack_and_checks(tmp_path):
    shipped = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    token = tmp_path / "token"
    token.write_text("secret")
    config = render_config(shipped, "http://127.0.0.1:4512/_aws/execute-api/abc123", str(token),
                           [str(MONITORING / "alerts.yml")])
    [job] = config["scrape_configs"]
    assert (job["scheme"], job["metrics_path"], job["static_configs"]) == (
        "http", "/_aws/execute-api/abc123/metrics", [{"targets": ["127.0.0.1:4512"]}])
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    checked = promtool("check", "config", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    shipped_checked = promtool("check", "config", "--syntax-only", "prometheus.yml")
    assert shipped_checked.returncode == 0, shipped_checked.stdout + shipped_checked.stderr


def test_job_intervals_match_the_templates_schedules(resources):
    every = {"rate(1 minute)": 60, "rate(1 hour)": 3600}
    schedules = {}
    for name, resource in resources.items():
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event["Type"] == "ScheduleV2":
                job = json.loads(event["Properties"]["Input"])["job"]
                expression = event["Properties"]["ScheduleExpression"]
                schedules[job] = every.get(expression, 86400 if expression.startswith("cron(0 ") else None)
    schedules["escalation"] = schedules.pop("escalate_alerts")  # its job.ran events name it escalation
    assert schedules == SCHEDULED_JOBS
    assert schedule_expressions(resources)  # the template's schedules are where the rules helper finds them
