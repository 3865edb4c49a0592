"""Least privilege: every function's IAM policies, expanded to (action, resource) pairs, are exactly
what the function uses. A new permission, a wider resource or a "*" fails here until it is added
below with the reason it is needed; so does a permission nobody needs any more."""

import copy

import pytest

from tests.infra.rules import permissions

SECRET = ("secretsmanager:GetSecretValue", "DatabaseSecret")
BACKLOG = ("dynamodb:BatchWriteItem", "MonitoringTable")  # queue backlog records /metrics reads (monitoring/backlog.py)
SEAL = ("kms:GenerateDataKey", "SecretsKey")  # a new data key for each channel target / AC secret saved
OPEN = ("kms:Decrypt", "SecretsKey")  # unwrap a sealed record's data key (cached per container)
REQUEST_COUNTERS = ("dynamodb:UpdateItem", "MonitoringTable")  # request metrics added up across containers

# function -> {(action, resource): why}
EXPECTED: dict[str, dict[tuple[str, str], str]] = {
    "ApiFunction": {
        SECRET: "PostgreSQL credentials",
        ("s3:GetObject", "ArchiveBucket/*"): "queries past the retention horizon read archived months",
        ("lambda:InvokeFunction", "RetentionFunction"): "POST /admin/retention/run starts a run",
        ("secretsmanager:GetSecretValue", "MetricsTokenSecret"): "the token /metrics accepts",
        SEAL: "seal a channel's target or an AC unit's secret when saved",
        OPEN: "test a channel, compare a changed target, verify a controller's signed callback",
        ("dynamodb:UpdateItem", "RateLimitTable"): "per-IP and per-client rate limits",
        ("dynamodb:GetItem", "ApiKeysTable"): "look a key up",
        ("dynamodb:UpdateItem", "ApiKeysTable"): "authenticate and count in one call; issue a key",
        ("dynamodb:DeleteItem", "ApiKeysTable"): "revoke a key",
        ("dynamodb:BatchGetItem", "ApiKeysTable"): "the keys listing reads their last use",
        REQUEST_COUNTERS: "request metrics",
        ("dynamodb:Query", "MonitoringTable"): "/metrics: request counters, queue backlogs",
        ("dynamodb:Query", "MonitoringTable/index/oldest"): "/metrics: a queue's oldest handed-back message",
        ("sqs:GetQueueAttributes", "ReadingsQueue"): "/health, /metrics, the health strip",
        ("sqs:GetQueueAttributes", "NotificationsQueue"): "/health, /metrics, the health strip",
        ("sqs:GetQueueAttributes", "AcCommandsQueue"): "/health, /metrics, the health strip",
        **{(action, dlq): "failed tasks: list and redrive dead letters"
           for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
           for dlq in ("ReadingsDeadLetterQueue", "NotificationsDeadLetterQueue", "AcCommandsDeadLetterQueue")},
        ("sqs:SendMessage", "ReadingsQueue"): "a failed reading retried",
        ("sqs:SendMessage", "NotificationsQueue"): "notifications of alerts resolved by hand, retried ones",
        ("sqs:SendMessage", "AcCommandsQueue"): "operators' AC commands, retried ones",
    },
    "IngestFunction": {
        ("sqs:SendMessage*", "ReadingsQueue"): "queue readings before the 202",
        ("dynamodb:UpdateItem", "ApiKeysTable"): "authenticate the key and count the request in one call",
        ("dynamodb:GetItem", "ApiKeysTable"): "a window's first request reads the key's item",
        ("dynamodb:UpdateItem", "RateLimitTable"): "failed key attempts per source IP",
        REQUEST_COUNTERS: "request metrics",
    },
    "RulesFunction": {
        SECRET: "PostgreSQL credentials",
        ("sqs:ChangeMessageVisibility", "ReadingsQueue"): "back off while PostgreSQL is down",
        ("sqs:SendMessage*", "NotificationsQueue"): "alerts' notifications",
        ("sqs:SendMessage*", "AcCommandsQueue"): "rules' AC actions",
        ("sqs:SendMessage*", "ReadingsDeadLetterQueue"): "never-storable readings, at once",
        BACKLOG: "readings handed back",
    },
    "NotifyFunction": {
        SECRET: "PostgreSQL credentials",
        ("sqs:ChangeMessageVisibility", "NotificationsQueue"): "retry backoff",
        ("sns:Publish", "*"): "SMS to a phone number has no topic ARN (AWS requires '*')",
        OPEN: "open the channel's sealed target to deliver",
        BACKLOG: "notifications handed back",
    },
    "AcControlFunction": {
        SECRET: "PostgreSQL credentials",
        ("sqs:ChangeMessageVisibility", "AcCommandsQueue"): "retry backoff",
        ("sqs:SendMessage*", "NotificationsQueue"): "an unreachable unit's alert notifications",
        OPEN: "open the unit's sealed secret to sign commands and check replies",
        BACKLOG: "commands handed back",
    },
    "StagesFunction": {SECRET: "PostgreSQL credentials"},
    "DeadLettersFunction": {SECRET: "PostgreSQL credentials", BACKLOG: "a message that reached a DLQ is no backlog"},
    "EscalationFunction": {
        SECRET: "PostgreSQL credentials",
        ("sqs:SendMessage*", "NotificationsQueue"): "escalations, digests, requeued notifications",
        ("sqs:SendMessage*", "AcCommandsQueue"): "requeued AC commands",
    },
    "RetentionFunction": {
        SECRET: "PostgreSQL credentials",
        ("s3:PutObject", "ArchiveBucket/*"): "write archive objects",
        ("s3:GetObject", "ArchiveBucket/*"): "read them back (verify), merge late rows",
        ("s3:DeleteObject", "ArchiveBucket/*"): "remove superseded objects",
        ("s3:ListBucket", "ArchiveBucket"): "a month's objects",
        ("sqs:SendMessage*", "NotificationsQueue"): "a failed run's alert",
    },
    "MigrateFunction": {SECRET: "PostgreSQL credentials", SEAL: "revision 0017 seals the secrets already stored",
                        OPEN: "its downgrade opens them again"},
}


def functions(resources: dict) -> dict:
    return {name: r for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}


def test_every_function_is_listed(resources):
    assert set(functions(resources)) == set(EXPECTED)


@pytest.mark.parametrize("function", sorted(EXPECTED))
def test_each_function_has_exactly_the_permissions_it_uses(resources, function):
    granted = permissions(resources[function])
    assert sorted(granted - set(EXPECTED[function])) == [], "granted but not expected (add it here, with why)"
    assert sorted(set(EXPECTED[function]) - granted) == [], "expected but not granted"


def test_no_wildcard_action_and_only_the_justified_wildcard_resource(resources):
    for name, function in functions(resources).items():
        for action, resource in permissions(function):
            assert action != "*" and not action.endswith(":*"), (name, action)
            assert resource != "*" or (action, resource) == ("sns:Publish", "*"), (name, action)


def test_the_check_catches_a_wider_grant(resources):
    widened = copy.deepcopy(resources["IngestFunction"])
    widened["Properties"]["Policies"].append({"DynamoDBCrudPolicy": {"TableName": {"Ref": "ApiKeysTable"}}})
    with pytest.raises(ValueError, match="DynamoDBCrudPolicy"):
        permissions(widened)
    widened = copy.deepcopy(resources["IngestFunction"])
    keys = next(statement for policy in widened["Properties"]["Policies"] for statement in policy.get("Statement", [])
                if statement["Resource"] == {"Fn::GetAtt": ["ApiKeysTable", "Arn"]})
    keys["Action"].append("dynamodb:Scan")
    assert ("dynamodb:Scan", "ApiKeysTable") in permissions(widened)
