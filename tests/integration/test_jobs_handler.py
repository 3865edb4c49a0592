"""The stages function: dispatches on the schedule's {"job": ...} input and logs each run."""

import pytest
from sqlalchemy import text

from hydroponics.db.engine import session_scope
from hydroponics.errors import InvalidInput
from tests.integration.test_crops_seed import farms, seed_crops, seed_variety  # noqa: F401
from tests.lambda_events import lambda_context, load_handler

stages = load_handler("stages")


def test_each_schedule_input_runs_its_job(farms):
    greenleaf, _ = farms
    with session_scope() as session:
        seed_crops(session, greenleaf, seed_variety(session, greenleaf, "Chard"), count=4, due=3)
    assert stages.handler({"job": "advance_stages"}, lambda_context("stages")) == \
        {"job": "advance_stages", "stages_advanced": 3, "crops_awaiting_harvest": 0}
    assert stages.handler({"job": "calibration_due"}, lambda_context("stages")) == \
        {"job": "calibration_due", "overdue": 0, "due_soon": 0}
    assert stages.handler({"job": "drift"}, lambda_context("stages")) == \
        {"job": "drift", "drifts_raised": 0, "drifting_sensors": 0}
    assert stages.handler({}, lambda_context("stages"))["job"] == "advance_stages"  # a bare invocation
    with session_scope() as session:
        runs = session.execute(text("SELECT subject_id FROM events WHERE event_type = 'job.ran' ORDER BY id"))
        assert runs.scalars().all() == ["advance_stages", "calibration_due", "drift", "advance_stages"]


def test_an_unknown_job_fails_loudly(platform_db):
    with pytest.raises(InvalidInput, match="unknown job 'retention'"):
        stages.handler({"job": "retention"}, lambda_context("stages"))
