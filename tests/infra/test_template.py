"""Properties the platform relies on, asserted on infra/template.yaml itself."""

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.conftest import TEMPLATE
from tests.infra.rules import (
    consumer_timeouts,
    queue_problems,
    schedule_expressions,
    sqs_event_sources,
)

REQUIRED_FUNCTIONS = {"ingest", "api", "rules", "notify", "ac_control", "retention", "stages"}


def _functions(resources: dict) -> dict:
    return {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}


def test_every_required_function_is_wired_to_its_folder(resources):
    code_uris = {fn["Properties"]["CodeUri"] for fn in _functions(resources).values()}
    folders = {uri.rsplit("/", 1)[-1] for uri in code_uris}
    assert REQUIRED_FUNCTIONS <= folders
    for uri in code_uris:
        assert (TEMPLATE.parent / uri).is_dir(), uri


def test_every_function_handler_file_exists(resources, template):
    default = template["Globals"]["Function"]["Handler"]
    for name, fn in _functions(resources).items():
        module = fn["Properties"].get("Handler", default).rsplit(".", 1)[0]
        assert (TEMPLATE.parent / fn["Properties"]["CodeUri"] / f"{module}.py").is_file(), name


def test_queues_are_sound(resources):
    assert queue_problems(resources) == []


def test_queue_checks_catch_a_missing_dlq_and_a_short_visibility(resources):
    broken = copy.deepcopy(resources)
    del broken["ReadingsQueue"]["Properties"]["RedrivePolicy"]
    broken["NotificationsQueue"]["Properties"]["VisibilityTimeout"] = 300  # notify's timeout is 60 s
    problems = " ".join(queue_problems(broken))
    assert "ReadingsQueue has no dead-letter queue" in problems
    assert "NotificationsQueue visibility 300s < 6x" in problems


def test_ac_commands_queue_and_its_dlq_are_fifo(resources):
    assert resources["AcCommandsQueue"]["Properties"]["FifoQueue"] is True
    assert resources["AcCommandsDeadLetterQueue"]["Properties"]["FifoQueue"] is True


def test_queue_consumers_report_partial_batch_failures(resources):
    sources = sqs_event_sources(resources)
    assert {queue for _, queue, _ in sources} >= {"ReadingsQueue", "NotificationsQueue", "AcCommandsQueue"}
    for function, queue, properties in sources:
        assert properties.get("FunctionResponseTypes") == ["ReportBatchItemFailures"], (function, queue)


def test_consumer_timeouts_known(resources, template):
    timeouts = consumer_timeouts(resources, template["Globals"]["Function"].get("Timeout", 3))
    assert timeouts["ReadingsQueue"] == 60


def test_one_rules_invocation_is_bounded_in_readings(resources):
    """Messages hold several readings now: the batch size bounds the readings one invocation stores."""
    from hydroponics.readings.messages import MESSAGE_BYTES, READINGS_PER_MESSAGE
    [(_, _, readings)] = [s for s in sqs_event_sources(resources) if s[1] == "ReadingsQueue"]
    assert readings["BatchSize"] * READINGS_PER_MESSAGE <= 1000
    assert readings["BatchSize"] * MESSAGE_BYTES <= 6 * 1024 * 1024  # Lambda's event payload
    assert readings["MaximumBatchingWindowInSeconds"] >= 1  # SQS batches over 10 need a window


def test_schedules(resources):
    expressions = schedule_expressions(resources)
    assert expressions["StagesFunction.Hourly"] == "rate(1 hour)"
    assert expressions["StagesFunction.DailyCalibrationCheck"] == "cron(0 6 * * ? *)"
    assert expressions["StagesFunction.DailyDriftCheck"] == "cron(0 3 * * ? *)"
    assert expressions["EscalationFunction.EveryMinute"] == "rate(1 minute)"
    assert expressions["RetentionFunction.Daily"] == "cron(0 2 * * ? *)"


def test_state_tables_bucket_and_secret_exist(resources):
    types = {name: r["Type"] for name, r in resources.items()}
    assert types["IdempotencyTable"] == types["RateLimitTable"] == "AWS::DynamoDB::Table"
    assert types["ArchiveBucket"] == "AWS::S3::Bucket"
    assert types["DatabaseSecret"] == "AWS::SecretsManager::Secret"
    block = resources["ArchiveBucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert all(block.values())


def test_rds_proxy_only_behind_its_condition(resources, template):
    assert "WithRdsProxy" in template["Conditions"]
    for name in ("DatabaseProxy", "DatabaseProxyTargetGroup", "DatabaseProxyRole"):
        assert resources[name]["Condition"] == "WithRdsProxy"


def test_http_api_routes_are_explicit(resources):
    routes = {r["Properties"]["RouteKey"] for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Route"}
    assert {"POST /api/data", "ANY /{proxy+}"} <= routes
    permissions = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
    assert {p["Properties"]["FunctionName"]["Ref"] for p in permissions} == {"ApiFunction", "IngestFunction"}


@pytest.mark.skipif(shutil.which("cfn-lint") is None and not (Path(sys.executable).parent / "cfn-lint").exists(),
                    reason="cfn-lint is not installed")
def test_template_passes_cfn_lint():
    cfn_lint = shutil.which("cfn-lint") or str(Path(sys.executable).parent / "cfn-lint")
    result = subprocess.run([cfn_lint, str(TEMPLATE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_environment_values_are_strings(resources, template):
    """Lambda takes only string environment values (MiniStack hands a bare YAML number through as an int)."""
    blocks = [template["Globals"]["Function"].get("Environment", {})]
    blocks += [fn["Properties"].get("Environment", {}) for fn in _functions(resources).values()]
    for block in blocks:
        for name, value in block.get("Variables", {}).items():
            assert isinstance(value, (str, dict)), (name, value)


def test_retention_runs_daily_at_two_and_can_alert(resources):
    retention = resources["RetentionFunction"]["Properties"]
    assert retention["Events"]["Daily"]["Properties"]["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["NotificationsQueue", "QueueName"]}}} in retention[
        "Policies"]
def test_the_rules_function_dead_letters_never_storable_readings_itself(resources):
    """The store step sends a reading the database refuses for a data reason to the readings DLQ at
    once: it needs the DLQ's URL and may send to that queue (and to no other readings queue)."""
    rules = resources["RulesFunction"]["Properties"]
    assert rules["Environment"]["Variables"]["READINGS_DEAD_LETTER_QUEUE_URL"] == {"Ref": "ReadingsDeadLetterQueue"}
    may_send_to = [policy["SQSSendMessagePolicy"]["QueueName"] for policy in rules["Policies"]
                   if isinstance(policy, dict) and "SQSSendMessagePolicy" in policy]
    assert {"Fn::GetAtt": ["ReadingsDeadLetterQueue", "QueueName"]} in may_send_to
    assert {"Fn::GetAtt": ["ReadingsQueue", "QueueName"]} not in may_send_to


def test_api_gateway_throttles_every_route_and_ingest_on_its_own(resources, template):
    settings = resources["HttpApiStage"]["Properties"]
    assert settings["DefaultRouteSettings"] == {"ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
                                                "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"}}
    assert settings["RouteSettings"]["POST /api/data"]["ThrottlingRateLimit"] == {"Ref": "IngestThrottlingRateLimit"}
    for name in ("ThrottlingBurstLimit", "ThrottlingRateLimit", "IngestThrottlingRateLimit"):
        assert int(template["Parameters"][name]["Default"]) > 0


def test_cors_origins_are_a_parameter_empty_by_default(template):
    assert template["Parameters"]["CorsAllowOrigins"]["Default"] == ""
    assert template["Globals"]["Function"]["Environment"]["Variables"]["CORS_ALLOW_ORIGINS"] == {
        "Ref": "CorsAllowOrigins"}
