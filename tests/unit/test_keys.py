"""API keys are random, shown once, and stored only as a hash."""

from hydroponics.auth.keys import SHOWN_PREFIX_LENGTH, hash_key, issue_key


def test_issued_key_hash_matches_and_prefix_is_its_start():
    key = issue_key()
    assert key.key_hash == hash_key(key.secret)
    assert key.secret.startswith(key.prefix) and len(key.prefix) == SHOWN_PREFIX_LENGTH
    assert key.secret not in key.key_hash


def test_keys_differ():
    assert len({issue_key().secret for _ in range(100)}) == 100
