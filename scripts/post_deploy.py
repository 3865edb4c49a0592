"""After a local deploy: point the stack's database secret at the local PostgreSQL, run the
deployment's migrate step, make sure the demo and operator clients exist, and write .local/stack.env.

Keys are printed once, when they are created; later runs keep the ones in .local/stack.env.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import boto3
from sqlalchemy import make_url

from hydroponics.auth.api_keys import create_api_key, key_belongs_to, rebuild_key_index
from hydroponics.records.clients import create_client, find_client_by_name, set_rate_limits
from hydroponics.db.engine import session_scope

DEMO_CLIENT = "Demo Farm"
OPERATOR_CLIENT = "Platform Operators"
DEMO_LIMITS = {"ingest": 600}


def stack_outputs(stack: str) -> dict[str, str]:
    described = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def point_secret_at_local_database(secret_arn: str) -> None:
    url = make_url(os.environ["DATABASE_URL"])
    secret = {"username": url.username, "password": url.password or "", "host": url.host or "127.0.0.1",
              "port": url.port or 5432, "dbname": url.database}
    boto3.client("secretsmanager").put_secret_value(SecretId=secret_arn, SecretString=json.dumps(secret))


def write_metrics_token(secret_arn: str, path: Path) -> None:
    """The token Prometheus presents to /metrics, where the local Prometheus reads it (owner-only)."""
    token = boto3.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(token)


def run_migrate_step(function_name: str) -> None:
    reply = boto3.client("lambda").invoke(FunctionName=function_name, Payload=b"{}")
    payload = reply["Payload"].read().decode()
    if reply.get("FunctionError"):
        sys.exit(f"the migrate function failed: {payload}")
    print(f"  migrate step: {payload}")


def warm_up(outputs: dict[str, str]) -> None:
    """Smoke-test the hot-path functions once, so their first real request finds them warm."""
    probe = {"version": "2.0", "routeKey": "$default", "rawPath": "/health", "rawQueryString": "", "headers": {},
             "requestContext": {"http": {"method": "GET", "path": "/health", "protocol": "HTTP/1.1",
                                         "sourceIp": "127.0.0.1", "userAgent": "deploy"}}, "isBase64Encoded": False}
    for name, event in ((outputs["RulesFunctionName"], {"Records": []}), (outputs["NotifyFunctionName"], {"Records": []}),
                        (outputs["IngestFunctionName"], probe), (outputs["ApiFunctionName"], probe)):
        reply = boto3.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode())
        if reply.get("FunctionError"):
            sys.exit(f"smoke test of {name} failed: {reply['Payload'].read().decode()}")
    print("  smoke test: rules, notify, ingest and api answer")


def ensure_key(env: dict[str, str], variable: str, client_name: str, *, scope: str) -> tuple[str, str]:
    """(client id, key): the key already in the env file if it still works, else a new one."""
    with session_scope() as session:
        client_id = find_client_by_name(session, client_name) or create_client(session, client_name)
        existing = env.get(variable)
        if existing and key_belongs_to(session, existing, client_id):
            return str(client_id), existing
        _, key = create_api_key(session, client_id, f"{client_name} (local stack)", scope=scope)
    print(f"  new {variable} for {client_name}: {key.secret}   (shown once; also in .local/stack.env)")
    return str(client_id), key.secret


def read_env(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--env-file", type=Path, required=True)
    args = parser.parse_args()

    outputs = stack_outputs(args.stack)
    point_secret_at_local_database(outputs["DatabaseSecretArn"])
    run_migrate_step(outputs["MigrateFunctionName"])
    warm_up(outputs)
    token_file = args.env_file.parent / "metrics-token"
    write_metrics_token(outputs["MetricsTokenSecretArn"], token_file)

    os.environ["API_KEYS_TABLE"] = outputs["ApiKeysTableName"]
    env = read_env(args.env_file)
    client_id, api_key = ensure_key(env, "API_KEY", DEMO_CLIENT, scope="operator")
    _, admin_key = ensure_key(env, "ADMIN_KEY", OPERATOR_CLIENT, scope="admin")
    with session_scope() as session:
        # The demo farm's devices post one reading per request (legacy shape): 18 sensors every
        # 5 s is above the default 120/min, so its limit is raised, as an operator would.
        set_rate_limits(session, client_id, DEMO_LIMITS)
        # MiniStack keeps its state in memory: after a restart the key index is empty, so rebuild it.
        print(f"  key index: {rebuild_key_index(session)} active keys")
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566").rstrip("/")
    env.update({
        "API_URL": f"{endpoint}/_aws/execute-api/{outputs['ApiId']}",
        "CLIENT_ID": client_id,
        "API_KEY": api_key,
        "ADMIN_KEY": admin_key,
        "STACK_NAME": args.stack,
        "API_KEYS_TABLE": outputs["ApiKeysTableName"],
        "RATE_LIMIT_TABLE": outputs["RateLimitTableName"],
        "READINGS_QUEUE_URL": outputs["ReadingsQueueUrl"],
        "READINGS_DLQ_URL": outputs["ReadingsDeadLetterQueueUrl"],
        "STAGES_FUNCTION": outputs["StagesFunctionName"],
        "RULES_FUNCTION": outputs["RulesFunctionName"],
        "RETENTION_FUNCTION": outputs["RetentionFunctionName"],
        "NOTIFICATIONS_QUEUE_URL": outputs["NotificationsQueueUrl"],
        "NOTIFICATIONS_DLQ_URL": outputs["NotificationsDeadLetterQueueUrl"],
        "AC_COMMANDS_QUEUE_URL": outputs["AcCommandsQueueUrl"],
        "NOTIFY_FUNCTION": outputs["NotifyFunctionName"],
        "ESCALATION_FUNCTION": outputs["EscalationFunctionName"],
        "DEAD_LETTERS_FUNCTION": outputs["DeadLettersFunctionName"],
        "NOTIFY_BACKOFF_SECONDS": os.environ.get("NOTIFY_BACKOFF_SECONDS", "[60,300,900]"),
        "MONITORING_TABLE": outputs["MonitoringTableName"],
        "METRICS_TOKEN_FILE": str(token_file),
        "SECRETS_KEY_ARN": outputs["SecretsKeyArn"],  # the stage's KMS key (python -m hydroponics.sealed_secrets)
    })
    args.env_file.parent.mkdir(parents=True, exist_ok=True)
    args.env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    args.env_file.chmod(0o600)
    print(f"  API URL: {env['API_URL']}")


if __name__ == "__main__":
    main()
