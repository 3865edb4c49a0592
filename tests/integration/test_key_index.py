"""The key index against MiniStack's DynamoDB: one conditional UpdateItem authenticates and counts."""

import uuid

import pytest

from hydroponics.auth import key_index
from hydroponics.auth.keys import hash_key, issue_key

WINDOW = 1_764_417_600  # a minute boundary (2025-11-29T12:00:00Z)


def _key(rate_limits=None):
    client_id, key = uuid.uuid4(), issue_key()
    key_index.put_key(key.key_hash, key.prefix, client_id, rate_limits=rate_limits)
    return client_id, key


def test_one_call_authenticates_and_counts_per_limit_and_window(local_aws):
    client_id, key = _key({"ingest": 240})
    first = key_index.authenticate(key.secret, "ingest", now=WINDOW + 1)
    assert first.caller.client_id == client_id and first.caller.prefix == key.prefix
    assert first.caller.rate_limits == {"ingest": 240} and (first.hits, first.window_start) == (1, WINDOW)
    assert key_index.authenticate(key.secret, "ingest", now=WINDOW + 59).hits == 2
    assert key_index.authenticate(key.secret, "api", now=WINDOW + 30).hits == 1  # each limit counts apart
    following = key_index.authenticate(key.secret, "ingest", now=WINDOW + 61)
    assert (following.hits, following.window_start) == (1, WINDOW + 60)  # a new window starts from one
    # a container whose clock is behind counts in the newer window instead of going back
    assert key_index.authenticate(key.secret, "ingest", now=WINDOW + 10).hits == 2


def test_refreshing_a_key_keeps_its_count(local_aws):
    client_id, key = _key()
    key_index.authenticate(key.secret, "ingest", now=WINDOW)
    key_index.put_key(key.key_hash, key.prefix, client_id, rate_limits={"ingest": 5})  # new client limits
    counted = key_index.authenticate(key.secret, "ingest", now=WINDOW + 1)
    assert counted.hits == 2 and counted.caller.rate_limits == {"ingest": 5}


def _refused(call, *args, **kwargs) -> str:
    with pytest.raises(key_index.KeyRefused) as refused:
        call(*args, **kwargs)
    return refused.value.reason


def test_unknown_and_removed_keys_are_refused_and_leave_no_item(local_aws):
    assert _refused(key_index.authenticate, issue_key().secret, "ingest") == key_index.UNKNOWN
    _, key = _key()
    assert key_index.authenticate(key.secret, "ingest") is not None
    key_index.remove_key(key.key_hash)
    assert _refused(key_index.authenticate, key.secret, "ingest") == key_index.UNKNOWN
    assert _refused(key_index.lookup, key.secret) == key_index.UNKNOWN
    items = local_aws["dynamodb"].scan(TableName=local_aws["API_KEYS_TABLE"])["Items"]
    assert items == []  # a refused request creates nothing (the update's condition failed)


def test_an_inactive_item_is_refused_by_both_paths(local_aws):
    _, key = _key()
    local_aws["dynamodb"].update_item(TableName=local_aws["API_KEYS_TABLE"], Key={"key_hash": {"S": hash_key(key.secret)}},
                                      UpdateExpression="SET active = :no", ExpressionAttributeValues={":no": {"BOOL": False}})
    assert _refused(key_index.authenticate, key.secret, "ingest", now=WINDOW) == key_index.UNKNOWN  # a first request
    assert _refused(key_index.lookup, key.secret) == key_index.UNKNOWN


def test_admin_key_without_client(local_aws):
    key = issue_key()
    key_index.put_key(key.key_hash, key.prefix, None, scope="admin")
    counted = key_index.authenticate(key.secret, "api")
    assert counted.caller.is_admin and counted.caller.client_id is None


def _item(local_aws, key) -> dict:
    return local_aws["dynamodb"].get_item(TableName=local_aws["API_KEYS_TABLE"], Key={"key_hash": {"S": key.key_hash}},
                                          ConsistentRead=True)["Item"]


def test_the_scope_comes_back_with_the_item(local_aws):
    device = issue_key()
    key_index.put_key(device.key_hash, device.prefix, uuid.uuid4(), scope="device")
    assert key_index.authenticate(device.secret, "ingest").caller.scope == "device"
    assert key_index.lookup(device.secret).scope == "device"


def test_an_item_written_before_scopes_is_an_operator_or_admin_key(local_aws):
    operator, admin = issue_key(), issue_key()
    for key, is_admin in ((operator, False), (admin, True)):
        local_aws["dynamodb"].put_item(TableName=local_aws["API_KEYS_TABLE"], Item={
            "key_hash": {"S": key.key_hash}, "prefix": {"S": key.prefix}, "client_id": {"S": str(uuid.uuid4())},
            "is_admin": {"BOOL": is_admin}, "rate_limits": {"M": {}}, "active": {"BOOL": True}})
    assert key_index.authenticate(operator.secret, "api").caller.scope == "operator"
    assert key_index.authenticate(admin.secret, "api").caller.scope == "admin"
    key_index.put_key(admin.key_hash, admin.prefix, uuid.uuid4(), scope="admin")  # a rebuild rewrites it
    assert "is_admin" not in _item(local_aws, admin) and _item(local_aws, admin)["scope"] == {"S": "admin"}


def test_an_expired_key_is_refused_in_the_same_call_and_nothing_is_counted(local_aws):
    key = issue_key()
    key_index.put_key(key.key_hash, key.prefix, uuid.uuid4(), expires_at=WINDOW + 30)
    assert key_index.authenticate(key.secret, "ingest", now=WINDOW + 29.5).hits == 1  # the window's first request
    assert key_index.authenticate(key.secret, "ingest", now=WINDOW + 29.9).hits == 2  # the one-call path
    before = _item(local_aws, key)
    assert _refused(key_index.authenticate, key.secret, "ingest", now=WINDOW + 30) == key_index.EXPIRED
    assert _refused(key_index.authenticate, key.secret, "ingest", now=WINDOW + 90) == key_index.EXPIRED  # next window
    assert _refused(key_index.lookup, key.secret, now=WINDOW + 31) == key_index.EXPIRED
    assert _item(local_aws, key) == before  # neither counted nor marked used


def test_each_request_records_the_last_use_and_removing_hands_it_back(local_aws):
    _, key = _key()
    assert key_index.last_uses([key.key_hash]) == {}  # never used
    key_index.authenticate(key.secret, "ingest", now=WINDOW + 1.25)
    assert key_index.last_uses([key.key_hash]) == {key.key_hash: WINDOW + 1.25}
    key_index.authenticate(key.secret, "api", now=WINDOW + 7.5)
    assert key_index.last_uses([key.key_hash, issue_key().key_hash]) == {key.key_hash: WINDOW + 7.5}
    key_index.put_key(key.key_hash, key.prefix, uuid.uuid4(), last_used=WINDOW)  # a rebuild keeps the newer one
    assert key_index.remove_key(key.key_hash) == WINDOW + 7.5
    assert key_index.remove_key(key.key_hash) is None  # gone already


def test_last_uses_reads_many_keys_in_batches(local_aws):
    keys = [_key()[1] for _ in range(105)]
    for n, key in enumerate(keys):
        key_index.authenticate(key.secret, "api", now=WINDOW + n)
    assert key_index.last_uses([k.key_hash for k in keys]) == {k.key_hash: WINDOW + n for n, k in enumerate(keys)}
