"""Channel configs become Apprise URLs; hints and failure reasons never carry the secret; backoff by receive count."""

import logging

import pytest

from hydroponics import outbound
from hydroponics.errors import InvalidInput
from hydroponics.notifications import channels, delivery, worker
from hydroponics.settings import get_settings
from tests.resolver import numeric_only


@pytest.fixture(autouse=True)
def no_dns(monkeypatch):
    """Settings for the outbound policy (127.0.0.1 allowed, as in every test), and no name server: names
    do not resolve, so only literal addresses are judged when a channel is built."""
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://unused@127.0.0.1:1/unused")
    monkeypatch.setattr(outbound, "_resolver", numeric_only)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def target(kind: str, config: dict) -> channels.Target:
    return channels.build_target(kind, channels.parse_config(kind, config))


def test_email_config_becomes_an_apprise_mail_url_and_a_public_part():
    built = target("email", {"to": ["a@farm.example", "b@farm.example"], "smtp_host": "smtp.farm.example",
                             "security": "ssl", "username": "bot@farm.example", "password": "p@ss:/word"})
    assert built.url.startswith("mailtos://bot%40farm.example:p%40ss%3A%2Fword@smtp.farm.example:465?")
    assert "mode=ssl" in built.url and "to=a@farm.example,b@farm.example" in built.url
    assert built.public["smtp_port"] == 465 and built.public["has_password"] is True
    assert "p@ss:/word" not in str(built.public)
    assert channels.target_hint("email", built.url) == "mailtos://***@smtp.farm.example"
    plain = {"to": ["a@farm.example"], "smtp_host": "127.0.0.1", "smtp_port": 2525, "security": "none"}
    with pytest.raises(InvalidInput) as raised:
        target("email", plain)
    assert raised.value.details == [{"field": "config.from", "reason": "required unless the username is an email "
                                                                       "address"}]
    built = target("email", plain | {"from": "alerts@farm.example"})
    assert built.url.startswith("mailto://127.0.0.1:2525?") and "from=alerts@farm.example" in built.url


def test_webhook_urls_become_json_posts_with_headers():
    built = target("webhook", {"url": "https://hooks.example/a/b?x=1", "headers": {"X-Token": "s e/cret"}})
    assert built.url == "jsons://hooks.example/a/b?x=1&+X-Token=s%20e%2Fcret"
    assert built.public == {"header_names": ["X-Token"]}
    assert channels.target_hint("webhook", built.url) == "jsons://hooks.example/***"


@pytest.mark.parametrize(("kind", "config", "field"), [
    ("slack", {"url": "https://example.com/hook"}, "config.url"),
    ("teams", {"url": "https://hooks.slack.com/services/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"}, "config.url"),
    ("webhook", {"url": "nope"}, "config.url"),
    ("sms", {"phone_number": "+0123"}, "config.phone_number"),
    ("email", {"to": ["x@y.example"], "smtp_host": "bad host"}, "config.smtp_host"),
])
def test_wrong_configs_name_the_field(kind, config, field):
    with pytest.raises(InvalidInput) as raised:
        target(kind, config)
    assert [d["field"] for d in raised.value.details] == [field]
    assert "secretsecret" not in str(raised.value.details)


def test_hints_mask_every_kind():
    assert channels.target_hint("sms", "+15551234567") == "sms:***4567"
    assert channels.target_hint("slack", "slack://T0/B0/C0") == "slack://***"
    assert channels.target_hint("teams", "workflows://host:443/id/sig") == "workflows://***"
    assert channels.target_hint("slack", "https://hooks.slack.com/services/T/B/C") == "https://hooks.slack.com/***"


def test_failure_reasons_lose_every_secret_piece():
    url = "jsons://user:pa55word@hooks.example:8443/T0SECRET/B0SECRET/tok?sig=abc%2Fdef&+Auth=Bearer%20xyz"
    text = ("Loaded JSON URL: jsons://user:pa55word@hooks.example:8443/T0SECRET/B0SECRET/tok?sig=abc%2Fdef "
            "Socket Exception: url: /T0SECRET/B0SECRET/tok sig abc/def Bearer xyz pa55word")
    cleaned = delivery.redact(text, url)
    for secret in ("pa55word", "T0SECRET", "B0SECRET", "abc%2Fdef", "abc/def", "Bearer xyz", "hooks.example"):
        assert secret not in cleaned


def test_apprise_log_lines_are_masked_while_a_target_is_in_use(caplog):
    caplog.set_level(logging.DEBUG)
    url = "json://127.0.0.1:1/hooks/S3CR3T-PATH"
    with delivery.guarding(url):
        logging.getLogger("apprise").warning("posting to %s", url)
    logging.getLogger("apprise").warning("after: nothing to mask")
    assert "S3CR3T-PATH" not in caplog.text and "posting to ***" in caplog.text


def test_a_refused_connection_is_a_failure_with_a_clean_reason():
    result = delivery.deliver("webhook", "json://127.0.0.1:1/hooks/S3CR3T-PATH", "subject", "body")
    assert not result.ok and result.error == "could not connect" and result.retryable


def test_backoff_follows_the_receive_count(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://unused@127.0.0.1:1/unused")
    monkeypatch.delenv("NOTIFY_BACKOFF_SECONDS", raising=False)
    get_settings.cache_clear()
    try:
        assert [worker.backoff_for(n) for n in (1, 2, 3, 4)] == [60, 300, 900, 0]
        assert [worker.is_final(n) for n in (1, 3, 4)] == [False, False, True]
    finally:
        get_settings.cache_clear()
