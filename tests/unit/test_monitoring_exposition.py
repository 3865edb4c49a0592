"""The Prometheus text /metrics serves: names, labels and values from a scrape, parsed back with prometheus-client."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hydroponics.monitoring.exposition import render
from hydroponics.settings import get_settings
from tests.monitoring_samples import FARM, HOOK, MONITORED, full_scrape


@pytest.fixture(autouse=True)
def settings(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://unused@127.0.0.1/unused")
    import json
    monkeypatch.setenv("MONITORED_QUEUES", json.dumps(MONITORED))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def samples(text: bytes) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text.decode()) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


def test_every_source_is_in_the_exposition_with_its_labels():
    found = samples(render(full_scrape()))
    assert value(found, "hydroponics_queue_messages", queue="readings", role="work", state="in_flight") == 2
    assert value(found, "hydroponics_queue_messages", queue="readings", role="dead_letter", state="visible") == 1
    assert value(found, "hydroponics_queue_oldest_message_age_seconds", queue="readings") == 42
    assert value(found, "hydroponics_failed_tasks", queue="readings", status="failed") == 3
    assert value(found, "hydroponics_failed_tasks_oldest_age_seconds", queue="readings") == 120
    assert value(found, "hydroponics_readings_stored_total", client_id=str(FARM), sensor_type="ph") == 1200
    assert value(found, "hydroponics_ingest_lag_seconds", client_id=str(FARM)) == 4.5
    assert value(found, "hydroponics_client_info", client_id=str(FARM), client="Greenhouse A") == 1
    assert value(found, "hydroponics_db_connections", state="waiting") == 1
    assert value(found, "hydroponics_db_server_connections") == 12
    assert value(found, "hydroponics_db_connections_limit") == 97
    assert value(found, "hydroponics_notifications", channel_id=str(HOOK), channel="ops-hook", kind="webhook",
                 state="retrying") == 1
    assert value(found, "hydroponics_ac_commands", state="rejected") == 2
    assert value(found, "hydroponics_ac_interlock_refusals_total", interlock="minimum_off_time") == 2
    assert value(found, "hydroponics_job_last_success_timestamp_seconds", scheduled_job="escalation") == 1_799_999_990
    assert value(found, "hydroponics_job_interval_seconds", scheduled_job="drift") == 86400
    assert value(found, "hydroponics_readings_partition_bytes", partition="readings_202612") == 65536
    assert value(found, "hydroponics_scrape_source_up", source="postgres") == 1


def test_unresolved_alerts_are_reported_for_every_severity_even_at_zero():
    found = samples(render(full_scrape()))
    assert value(found, "hydroponics_alerts_unresolved", severity="critical", status="open") == 2
    assert value(found, "hydroponics_alerts_unresolved", severity="info", status="acknowledged") == 0


def test_a_job_that_never_ran_has_no_last_run_series():
    names = {name for name, labels in samples(render(full_scrape()))
             if ("scheduled_job", "drift") in labels}
    assert names == {"hydroponics_job_interval_seconds"}


def test_requests_are_counted_per_status_and_the_histogram_is_cumulative_over_statuses():
    found = samples(render(full_scrape()))
    route = {"function": "ingest", "method": "POST", "route": "/api/data"}
    assert value(found, "hydroponics_http_requests_total", status="202", **route) == 3
    assert value(found, "hydroponics_http_requests_total", status="503", **route) == 1
    assert value(found, "hydroponics_http_request_duration_seconds_bucket", le="0.005", **route) == 3
    assert value(found, "hydroponics_http_request_duration_seconds_bucket", le="10.0", **route) == 3
    assert value(found, "hydroponics_http_request_duration_seconds_bucket", le="+Inf", **route) == 4
    assert value(found, "hydroponics_http_request_duration_seconds_count", **route) == 4
    assert value(found, "hydroponics_http_request_duration_seconds_sum", **route) == pytest.approx(12.512)


def test_a_source_down_leaves_its_figures_out_and_says_so():
    scraped = full_scrape()
    scraped.up["postgres"] = False
    scraped.state = type(scraped.state)()
    found = samples(render(scraped))
    assert value(found, "hydroponics_scrape_source_up", source="postgres") == 0
    assert value(found, "hydroponics_queue_messages", queue="readings", role="work", state="visible") == 4
    assert not [key for key in found if key[0] in ("hydroponics_alerts_unresolved", "hydroponics_db_connections")]
