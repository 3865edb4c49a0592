"""Envelope encryption of secrets at rest: AES-256-GCM under a per-record data key that KMS generates and wraps.

`seal(plaintext, context)` asks KMS for a fresh data key (`GenerateDataKey`, bound to `context`),
encrypts the plaintext with it (AES-GCM, `context` as additional data) and returns what is stored:
`{"v", "alg", "key_id", "wrapped_key", "nonce", "ciphertext"}` (base64), never the plaintext nor the
plain data key. `unseal(sealed, context)` unwraps the data key (`Decrypt` with the same context and the
stored key id) and decrypts. The context names the record (its client and its id), so a sealed value
copied to another record, or another client's, does not open: KMS refuses the context, and AES-GCM
its additional data.

One data key per record: records are written rarely (a channel saved, a unit registered) and read
often (every notification, every command), so the unwrapped data keys are cached per container for
`SECRETS_KEY_CACHE_SECONDS` (default 300): a busy channel costs one KMS call per container per five
minutes, not one per message. The key that wraps new data keys is `SECRETS_KEY_ID` (the stage's KMS
key, from the template). `SECRETS_LOCAL_KEY` (base64, 256 bits) stands in for KMS in tests only: it
is used only when set explicitly and is refused inside a Lambda function, so a deployed stack never
falls back to it.
"""

import base64
import binascii
import hashlib
import json
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from cachetools import TTLCache
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hydroponics.errors import Conflict, ServiceUnavailable
from hydroponics.settings import get_settings

FORMAT = 1
ALGORITHM = "AES-256-GCM"
LOCAL_PREFIX = "local:"
_NONCE_BYTES = 12
UNREADABLE = "the stored secret does not open for this record (moved, altered or another key's): save it again"
_CACHE_ENTRIES = 1024



class _DataKeysWithheld(logging.Filter):
    """botocore logs every response body at DEBUG, and KMS's carry the plain data key: withhold those."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
                b'"Plaintext"' in arg if isinstance(arg, bytes) else isinstance(arg, str) and '"Plaintext"' in arg
                for arg in record.args):
            record.msg, record.args = "Response body: (withheld: it holds a KMS data key)", ()
        return True


logging.getLogger("botocore.parsers").addFilter(_DataKeysWithheld())

_cache_lock = threading.Lock()
_cache: TTLCache | None = None


class SecretUnreadable(Conflict):
    """A sealed value that does not open with this record's context (moved, altered, or another key's): the
    record must be saved again with its secret (409; the message never holds the value)."""


class SecretsNotConfigured(ServiceUnavailable):
    """Neither a KMS key nor (in tests) a local key is configured: secrets can be neither sealed nor opened."""


def _aad(context: Mapping[str, str]) -> bytes:
    return json.dumps(dict(context), sort_keys=True, separators=(",", ":")).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise SecretUnreadable("the sealed value is malformed")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SecretUnreadable("the sealed value is malformed") from None


def _local_key() -> bytes | None:
    configured = get_settings().secrets_local_key
    if configured is None:
        return None
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        raise SecretsNotConfigured("SECRETS_LOCAL_KEY is for tests only and is refused inside a Lambda function")
    try:
        key = base64.b64decode(configured.get_secret_value(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise SecretsNotConfigured("SECRETS_LOCAL_KEY must be 32 bytes, base64-encoded")
    return key


def _local_key_id(key: bytes) -> str:
    return LOCAL_PREFIX + hashlib.sha256(key).hexdigest()[:16]


def _kms() -> Any:
    from hydroponics.aws import client

    return client("kms")


def _kms_error(action: str, exc: Exception) -> Exception:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    if code in ("InvalidCiphertextException", "IncorrectKeyException"):
        return SecretUnreadable(UNREADABLE)
    return ServiceUnavailable(f"the secrets key could not be used ({action}: {code or type(exc).__name__})",
                              headers={"Retry-After": "5"})


def _new_data_key(context: Mapping[str, str]) -> tuple[bytes, bytes, str]:
    """(plain data key, wrapped data key, key id) for one record."""
    settings = get_settings()
    if settings.secrets_key_id:
        try:
            reply = _kms().generate_data_key(KeyId=settings.secrets_key_id, KeySpec="AES_256",
                                             EncryptionContext=dict(context))
        except Exception as exc:  # noqa: BLE001 - botocore's errors: KMS down or the key unusable
            raise _kms_error("GenerateDataKey", exc) from None
        return reply["Plaintext"], reply["CiphertextBlob"], reply["KeyId"]
    local = _local_key()
    if local is None:
        raise SecretsNotConfigured("no key for secrets at rest: set SECRETS_KEY_ID (the stage's KMS key)")
    data_key, nonce = AESGCM.generate_key(bit_length=256), os.urandom(_NONCE_BYTES)
    return data_key, nonce + AESGCM(local).encrypt(nonce, data_key, _aad(context)), _local_key_id(local)


def _unwrap(wrapped: bytes, key_id: str, context: Mapping[str, str]) -> bytes:
    if key_id.startswith(LOCAL_PREFIX):
        local = _local_key()
        if local is None or _local_key_id(local) != key_id:
            raise SecretsNotConfigured("this secret was sealed with a local test key that is not configured here")
        try:
            return AESGCM(local).decrypt(wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], _aad(context))
        except InvalidTag:
            raise SecretUnreadable(UNREADABLE) from None
    try:
        return _kms().decrypt(CiphertextBlob=wrapped, KeyId=key_id, EncryptionContext=dict(context))["Plaintext"]
    except Exception as exc:  # noqa: BLE001 - botocore's errors
        raise _kms_error("Decrypt", exc) from None


def _cached_data_key(wrapped: bytes, key_id: str, context: Mapping[str, str]) -> bytes:
    seconds = get_settings().secrets_key_cache_seconds
    if seconds <= 0:
        return _unwrap(wrapped, key_id, context)
    with _cache_lock:
        data_key = None if _cache is None or _cache.ttl != seconds else _cache.get((wrapped, key_id, _aad(context)))
    if data_key is None:
        data_key = _unwrap(wrapped, key_id, context)
        _remember(wrapped, key_id, context, data_key)
    return data_key


def _remember(wrapped: bytes, key_id: str, context: Mapping[str, str], data_key: bytes) -> None:
    global _cache
    seconds = get_settings().secrets_key_cache_seconds
    if seconds <= 0:
        return
    with _cache_lock:
        if _cache is None or _cache.ttl != seconds:
            _cache = TTLCache(maxsize=_CACHE_ENTRIES, ttl=seconds)
        _cache[(wrapped, key_id, _aad(context))] = data_key


def clear_cache() -> None:
    """Forget every unwrapped data key of this container (tests; after a key is retired)."""
    global _cache
    with _cache_lock:
        _cache = None


def seal(plaintext: str, context: Mapping[str, str]) -> dict[str, Any]:
    """The stored form of `plaintext`, bound to `context` (which must name the record it belongs to)."""
    data_key, wrapped, key_id = _new_data_key(context)
    nonce = os.urandom(_NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext.encode(), _aad(context))
    _remember(wrapped, key_id, context, data_key)  # the writer is often the next reader (a channel saved, tested)
    return {"v": FORMAT, "alg": ALGORITHM, "key_id": key_id, "wrapped_key": _b64(wrapped),
            "nonce": _b64(nonce), "ciphertext": _b64(ciphertext)}


def unseal(sealed: Mapping[str, Any], context: Mapping[str, str]) -> str:
    """The plaintext of a value `seal` stored for this same record; SecretUnreadable otherwise."""
    if not isinstance(sealed, Mapping) or sealed.get("v") != FORMAT or sealed.get("alg") != ALGORITHM \
            or not isinstance(sealed.get("key_id"), str):
        raise SecretUnreadable("the sealed value is malformed")
    wrapped, nonce, ciphertext = (_unb64(sealed.get(name)) for name in ("wrapped_key", "nonce", "ciphertext"))
    data_key = _cached_data_key(wrapped, sealed["key_id"], context)
    try:
        return AESGCM(data_key).decrypt(nonce, ciphertext, _aad(context)).decode()
    except (InvalidTag, ValueError):
        raise SecretUnreadable(UNREADABLE) from None
