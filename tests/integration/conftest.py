"""A migrated throwaway database per test module, and the core pointed at it."""

import json
import os
import uuid
from typing import Iterator

import pytest
from sqlalchemy import Engine, create_engine

from hydroponics import envelope
from hydroponics.aws import client
from hydroponics.db import migrate
from hydroponics.db.engine import _session_factory, get_engine
from hydroponics.rules import cache as rules_cache
from hydroponics.settings import get_settings


def reset_core_caches() -> None:
    """Forget settings, engine, clients and cached rules, so the next use reads the (patched) environment
    and the test's own database."""
    for cached in (get_settings, get_engine, _session_factory, client):
        cached.cache_clear()
    rules_cache.clear()
    envelope.clear_cache()


@pytest.fixture(scope="session", autouse=True)
def secrets_key() -> Iterator[str | None]:
    """The stage's KMS key, made in MiniStack once per run: channel targets and AC secrets are sealed under it
    (SECRETS_KEY_ID), as on a deployed stack. Without MiniStack nothing is set and sealing says so."""
    import boto3

    endpoint = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    kms = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test",
                                region_name="us-east-1").client("kms", endpoint_url=endpoint)
    try:
        key_arn = kms.create_key(Description="hydroponics tests: secrets at rest")["KeyMetadata"]["Arn"]
    except Exception:  # noqa: BLE001 - MiniStack down: tests that seal fail naming SECRETS_KEY_ID
        yield None
        return
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test",
                            "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}.items():
            patch.setenv(name, os.environ.get(name, value))
        patch.setenv("SECRETS_KEY_ID", key_arn)
        yield key_arn


@pytest.fixture
def migrated_database_url(empty_database_url: str) -> str:
    migrate.upgrade(empty_database_url)
    return empty_database_url


@pytest.fixture
def platform_db(migrated_database_url: str, monkeypatch) -> Iterator[Engine]:
    """The core's own engine/session factory, configured for a freshly migrated database."""
    monkeypatch.setenv("DATABASE_URL", migrated_database_url)
    monkeypatch.delenv("DB_SECRET_ARN", raising=False)
    reset_core_caches()
    yield get_engine()
    get_engine().dispose()
    reset_core_caches()


@pytest.fixture
def db(migrated_database_url: str) -> Iterator[Engine]:
    engine = create_engine(migrated_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def local_aws(monkeypatch) -> Iterator[dict[str, str]]:
    """Fresh MiniStack resources for one test: readings queue, key index and rate-limit tables."""
    import boto3

    endpoint = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    sqs, dynamodb = session.client("sqs", endpoint_url=endpoint), session.client("dynamodb", endpoint_url=endpoint)
    suffix = uuid.uuid4().hex[:8]
    try:
        queue_url = sqs.create_queue(QueueName=f"it-readings-{suffix}")["QueueUrl"]
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"MiniStack is not reachable on {endpoint} (scripts/ministack-up): {exc}")
    tables = {"API_KEYS_TABLE": ("key_hash", f"it-api-keys-{suffix}"), "RATE_LIMIT_TABLE": ("pk", f"it-limits-{suffix}")}
    for key, name in tables.values():
        dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": key, "KeyType": "HASH"}])
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1", "READINGS_QUEUE_URL": queue_url} | {k: v[1] for k, v in tables.items()}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if not os.environ.get("DATABASE_URL"):
        monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://unused@127.0.0.1:1/unused")
    reset_core_caches()
    yield env | {"sqs": sqs, "dynamodb": dynamodb}
    sqs.delete_queue(QueueUrl=queue_url)
    for _, name in tables.values():
        dynamodb.delete_table(TableName=name)
    reset_core_caches()


@pytest.fixture
def notifications_queue(local_aws: dict, monkeypatch) -> Iterator[dict[str, str]]:
    """A MiniStack notifications queue with its DLQ (maxReceiveCount 4, as in the template)."""
    sqs = local_aws["sqs"]
    suffix = uuid.uuid4().hex[:8]
    dlq_name = f"it-notifications-dlq-{suffix}"
    dlq_url = sqs.create_queue(QueueName=dlq_name)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=f"it-notifications-{suffix}",
        Attributes={"VisibilityTimeout": "30",
                    "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "4"})},
    )["QueueUrl"]
    monkeypatch.setenv("NOTIFICATIONS_QUEUE_URL", queue_url)
    monkeypatch.setenv("DEAD_LETTER_SOURCES", json.dumps({dlq_name: queue_url}))
    reset_core_caches()
    yield {"queue_url": queue_url, "dlq_url": dlq_url, "dlq_arn": dlq_arn, "dlq_name": dlq_name}
    for url in (queue_url, dlq_url):
        sqs.delete_queue(QueueUrl=url)
    reset_core_caches()
