"""The key index against MiniStack's DynamoDB: one conditional UpdateItem authenticates and counts."""

import uuid

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


def test_unknown_and_removed_keys_are_refused_and_leave_no_item(local_aws):
    assert key_index.authenticate(issue_key().secret, "ingest") is None
    _, key = _key()
    assert key_index.authenticate(key.secret, "ingest") is not None
    key_index.remove_key(key.key_hash)
    assert key_index.authenticate(key.secret, "ingest") is None
    assert key_index.lookup(key.secret) is None
    items = local_aws["dynamodb"].scan(TableName=local_aws["API_KEYS_TABLE"])["Items"]
    assert items == []  # a refused request creates nothing (the update's condition failed)


def test_an_inactive_item_is_refused_by_both_paths(local_aws):
    _, key = _key()
    local_aws["dynamodb"].update_item(TableName=local_aws["API_KEYS_TABLE"], Key={"key_hash": {"S": hash_key(key.secret)}},
                                      UpdateExpression="SET active = :no", ExpressionAttributeValues={":no": {"BOOL": False}})
    assert key_index.authenticate(key.secret, "ingest", now=WINDOW) is None  # the window's first request
    assert key_index.lookup(key.secret) is None


def test_admin_key_without_client(local_aws):
    key = issue_key()
    key_index.put_key(key.key_hash, key.prefix, None, is_admin=True)
    counted = key_index.authenticate(key.secret, "api")
    assert counted.caller.is_admin and counted.caller.client_id is None
