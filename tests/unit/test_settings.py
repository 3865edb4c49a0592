"""Settings are parsed once from the environment and refuse to run without a database."""

import pytest
from pydantic import ValidationError

from hydroponics.settings import Settings


def test_database_url_is_a_secret_and_queue_urls_are_read(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://u:pw@127.0.0.1/db")
    monkeypatch.setenv("READINGS_QUEUE_URL", "http://127.0.0.1:4566/000000000000/readings")
    settings = Settings()
    assert settings.readings_queue_url.endswith("/readings")
    assert "pw" not in repr(settings)


def test_secret_arn_alone_is_enough(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DB_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:1:secret:x")
    monkeypatch.setenv("DB_PORT", "6432")
    assert Settings().db_port == 6432


def test_no_database_configured_is_refused(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DB_SECRET_ARN", raising=False)
    with pytest.raises(ValidationError, match="DATABASE_URL or DB_SECRET_ARN"):
        Settings()
