"""Envelope encryption (moto's KMS): sealed values hold no plaintext, open only for their own record, and
unwrapped data keys are cached a bounded time; without a configured key nothing is sealed."""

import base64
import json
import os

import boto3
import pytest
from moto import mock_aws

from hydroponics import envelope
from hydroponics.aws import client
from hydroponics.errors import ServiceUnavailable
from hydroponics.sealed_secrets import channel_target_context, unit_secret_context
from hydroponics.settings import get_settings

PLANTED = "https://hooks.example/services/T0/B0/planted-token-5f0c1e"
MINE = channel_target_context("client-a", "channel-1")


def reset() -> None:
    get_settings.cache_clear()
    client.cache_clear()
    envelope.clear_cache()


@pytest.fixture
def kms(monkeypatch):
    """A moto KMS key as the stage's key; the KMS client counts its Decrypt calls."""
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://unused@127.0.0.1:1/unused")
    for name in ("AWS_ENDPOINT_URL", "SECRETS_LOCAL_KEY", "AWS_LAMBDA_FUNCTION_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    with mock_aws():
        key_arn = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
        monkeypatch.setenv("SECRETS_KEY_ID", key_arn)
        reset()
        calls = []
        real = client("kms")
        real.meta.events.register("before-call.kms.*", lambda model, **_: calls.append(model.name))
        yield {"arn": key_arn, "calls": calls}
    reset()


def test_a_sealed_value_holds_no_plaintext_and_opens_for_its_record(kms):
    sealed = envelope.seal(PLANTED, MINE)
    assert PLANTED not in json.dumps(sealed) and "planted-token" not in json.dumps(sealed)
    assert sealed["key_id"] == kms["arn"] and sealed["alg"] == "AES-256-GCM"
    envelope.clear_cache()
    assert envelope.unseal(sealed, MINE) == PLANTED
    assert kms["calls"] == ["GenerateDataKey", "Decrypt"]


def test_a_sealed_value_moved_to_another_record_or_client_does_not_open(kms):
    sealed = envelope.seal(PLANTED, MINE)
    wrapped = base64.b64decode(sealed["wrapped_key"])
    data_key = client("kms").decrypt(CiphertextBlob=wrapped, EncryptionContext=MINE)["Plaintext"]
    for other in (channel_target_context("client-b", "channel-1"), channel_target_context("client-a", "channel-2"),
                  unit_secret_context("client-a", "channel-1")):
        envelope.clear_cache()  # KMS itself refuses the context
        with pytest.raises(envelope.SecretUnreadable) as refused:
            envelope.unseal(sealed, other)
        assert PLANTED not in str(refused.value)
        envelope._remember(wrapped, sealed["key_id"], other, data_key)  # and with the data key at hand,
        with pytest.raises(envelope.SecretUnreadable):  # AES-GCM refuses the other record's additional data
            envelope.unseal(sealed, other)


def test_an_altered_value_does_not_open(kms):
    sealed = envelope.seal(PLANTED, MINE)
    ciphertext = bytearray(base64.b64decode(sealed["ciphertext"]))
    ciphertext[0] ^= 1
    with pytest.raises(envelope.SecretUnreadable):
        envelope.unseal(sealed | {"ciphertext": base64.b64encode(bytes(ciphertext)).decode()}, MINE)
    for broken in ({}, sealed | {"v": 2}, sealed | {"nonce": "not base64!"}, sealed | {"wrapped_key": 7}):
        with pytest.raises(envelope.SecretUnreadable):
            envelope.unseal(broken, MINE)


def test_unwrapped_data_keys_are_cached_for_the_configured_time(kms, monkeypatch):
    sealed = envelope.seal(PLANTED, MINE)
    envelope.clear_cache()
    kms["calls"].clear()
    for _ in range(20):
        assert envelope.unseal(sealed, MINE) == PLANTED
    assert kms["calls"] == ["Decrypt"]  # one KMS call for 20 deliveries
    monkeypatch.setenv("SECRETS_KEY_CACHE_SECONDS", "0")
    get_settings.cache_clear()
    kms["calls"].clear()
    for _ in range(3):
        envelope.unseal(sealed, MINE)
    assert kms["calls"] == ["Decrypt"] * 3


def test_each_record_gets_its_own_data_key(kms):
    first, second = envelope.seal(PLANTED, MINE), envelope.seal(PLANTED, MINE)
    assert first["wrapped_key"] != second["wrapped_key"] and first["ciphertext"] != second["ciphertext"]


def test_kms_unreachable_is_a_503_naming_no_secret(kms, monkeypatch):
    def refuse(**_):
        raise ConnectionError("no route")
    monkeypatch.setattr(client("kms"), "generate_data_key", refuse)
    with pytest.raises(ServiceUnavailable) as unavailable:
        envelope.seal(PLANTED, MINE)
    assert unavailable.value.status_code == 503 and unavailable.value.headers == {"Retry-After": "5"}
    assert "GenerateDataKey" in unavailable.value.message


def test_without_a_key_nothing_is_sealed(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://unused@127.0.0.1:1/unused")
    for name in ("SECRETS_KEY_ID", "SECRETS_LOCAL_KEY"):
        monkeypatch.delenv(name, raising=False)
    reset()
    with pytest.raises(envelope.SecretsNotConfigured, match="SECRETS_KEY_ID"):
        envelope.seal(PLANTED, MINE)
    reset()


def test_a_local_key_only_when_set_and_never_inside_a_function(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://unused@127.0.0.1:1/unused")
    monkeypatch.delenv("SECRETS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    monkeypatch.setenv("SECRETS_LOCAL_KEY", base64.b64encode(os.urandom(32)).decode())
    reset()
    sealed = envelope.seal(PLANTED, MINE)
    assert sealed["key_id"].startswith("local:") and PLANTED not in json.dumps(sealed)
    assert envelope.unseal(sealed, MINE) == PLANTED
    envelope.clear_cache()
    with pytest.raises(envelope.SecretUnreadable):
        envelope.unseal(sealed, channel_target_context("client-b", "channel-1"))
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "hydroponics-prod-notify")
    envelope.clear_cache()
    with pytest.raises(envelope.SecretsNotConfigured, match="refused inside a Lambda"):
        envelope.unseal(sealed, MINE)
    monkeypatch.setenv("SECRETS_LOCAL_KEY", base64.b64encode(b"short").decode())
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    reset()
    with pytest.raises(envelope.SecretsNotConfigured, match="32 bytes"):
        envelope.seal(PLANTED, MINE)
    reset()
