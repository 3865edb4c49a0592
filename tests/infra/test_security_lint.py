"""Checkov (a security linter for CloudFormation/SAM, from PyPI) over infra/template.yaml: clean, or
each finding skipped with its reason (a resource's `Metadata: checkov: skip`, or NOT_APPLICABLE below
for checks about every function or queue alike); a skip without a reason fails here."""

import json
import subprocess
from pathlib import Path

import pytest

from tests.infra.conftest import TEMPLATE

CHECKOV = Path(__file__).resolve().parents[2] / ".local" / "checkov-venv" / "bin" / "checkov"
# Checks that hold for every function or queue alike, each with why it does not apply here; findings
# about one resource are skipped in that resource's Metadata instead.
NOT_APPLICABLE = {
    "CKV_AWS_27": "every queue sets SqsManagedSseEnabled (SSE with SQS-owned keys); the check only knows KMS keys",
    "CKV_AWS_115": "concurrency is bounded where it matters: the readings consumer's ScalingConfig (2), API "
                   "Gateway throttling; reserving concurrency per function would cap the account's pool",
    "CKV_AWS_116": "no function is invoked asynchronously by clients: SQS-triggered ones have their queue's DLQ, "
                   "scheduled ones record failures (job alerts), the retention run's failure is recorded and alerted",
    "CKV_AWS_173": "the environment holds names and URLs only; secrets come from Secrets Manager at run time",
}


@pytest.mark.skipif(not CHECKOV.exists(), reason="checkov is not installed (scripts/setup)")
def test_checkov_finds_nothing_unjustified():
    result = subprocess.run([str(CHECKOV), "--quiet", "--compact", "--output", "json", "--framework",
                             "cloudformation", "--skip-check", ",".join(NOT_APPLICABLE), "--file", str(TEMPLATE)],
                            capture_output=True, text=True, timeout=300)
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [f"{check['check_id']} {check['resource']}: {check['check_name']}"
              for one in reports for check in one.get("results", {}).get("failed_checks", [])]
    assert failed == [], "\n".join(failed)
    skipped = [check for one in reports for check in one.get("results", {}).get("skipped_checks", [])]
    assert all((check.get("suppress_comment") or "").strip() for check in skipped), skipped


def test_every_checkov_skip_gives_a_reason(resources):
    skips = [(name, skip) for name, resource in resources.items()
             for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])]
    assert skips, "the template's skips were not found"
    for name, skip in skips:
        assert skip["id"].startswith("CKV_") and len(skip.get("comment", "").strip()) > 30, (name, skip)
