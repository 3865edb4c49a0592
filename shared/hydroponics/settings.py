"""The one settings object: every environment variable the platform reads, parsed and typed once."""

import re
from functools import lru_cache
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration of a function or command, read from the environment (names are upper-case)."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    stage: str = Field("local", description="Deployment stage name (local, dev, prod).")

    # Database: either a full URL (local, tests) or a Secrets Manager secret holding the
    # credentials plus host/port/name (AWS, where the host is the RDS Proxy endpoint).
    database_url: SecretStr | None = None
    db_secret_arn: str | None = None
    db_host: str = "127.0.0.1"
    db_port: int = 5432
    db_name: str = "hydroponics"
    db_pool_size: int = Field(2, ge=1, le=20, description="Connections kept per Lambda container.")

    # AWS wiring (names and URLs come from the template's environment).
    aws_endpoint_url: str | None = None
    aws_region: str = Field("us-east-1", validation_alias="AWS_DEFAULT_REGION")
    readings_queue_url: str | None = None
    # where the store step sends, at once, a reading message that can never be stored
    readings_dead_letter_queue_url: str | None = None
    notifications_queue_url: str | None = None
    ac_commands_queue_url: str | None = None
    idempotency_table: str | None = None
    api_keys_table: str | None = None
    rate_limit_table: str | None = None
    archive_bucket: str | None = None
    # dead-letter queue name -> URL of the work queue it catches for (redrive sends messages back there)
    dead_letter_sources: dict[str, str] = Field(default_factory=dict)

    # Monitoring: every queue by its short name, with its DLQ ({"readings": {"queue": url, "dead_letter": url}}),
    # the DynamoDB table of request counters and queue backlogs, and what /metrics accepts.
    monitored_queues: dict[str, dict[str, str]] = Field(default_factory=dict)
    monitoring_table: str | None = None
    metrics_token_secret_arn: str | None = None
    metrics_token: SecretStr | None = Field(None, description="The metrics token itself (local runs, tests).")
    metrics_cache_seconds: float = Field(5, ge=0, le=60, description="How long a /metrics answer is reused.")
    request_metrics_flush_seconds: float = Field(
        10, gt=0, le=60, description="How often a container adds its request counts to the monitoring table.")

    # Alerting
    rules_cache_seconds: int = Field(60, ge=0, le=60, description="How long a client's rules are cached.")
    notify_backoff_seconds: list[int] = Field(
        default_factory=lambda: [60, 300, 900],
        description="Visibility delay before the 2nd, 3rd, 4th delivery attempt (then the DLQ).",
    )

    # Retention (the retention function, daily 02:00 UTC; see hydroponics/retention/)
    retention_readings_days: int = Field(90, ge=7, description="Readings older than this leave PostgreSQL "
                                         "(a client's settings.retention_days overrides it, minimum 7).")
    retention_events_days: int = Field(365, ge=7, description="Events older than this leave PostgreSQL.")
    retention_function_name: str | None = None  # the API starts real runs there (asynchronously)
    admin_channel: str = Field("admin", min_length=1, description="Name of the platform operators' channel "
                               "(a channel of a client holding an admin key) told when a scheduled job fails.")

    # Outbound policy (hydroponics/outbound.py): networks and host names that channels and AC units may
    # reach although they are private, loopback, link-local or reserved. Empty (AWS): only public addresses.
    outbound_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated networks (10.0.4.0/24, 127.0.0.1, fd00::/8) and host names (mail.farm.internal).",
    )

    # Secrets at rest (hydroponics/envelope.py): channel targets and AC controller secrets are sealed under
    # data keys that this KMS key wraps (the stage's key, set by the template). A local key is for tests only.
    secrets_key_id: str | None = Field(None, description="KMS key (ARN, id or alias) that wraps new data keys.")
    secrets_local_key: SecretStr | None = Field(
        None, description="Tests only: a base64 256-bit key used instead of KMS; refused inside a Lambda function.")
    secrets_key_cache_seconds: float = Field(
        300, ge=0, le=3600, description="How long a container keeps an unwrapped data key (0: ask KMS every time).")

    # Browser origins allowed to call the API (CORS), e.g. https://farm.example; none by default.
    cors_allow_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated origins (scheme://host[:port]); '*' is refused.")

    @field_validator("cors_allow_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [entry.rstrip("/") for entry in value.replace(",", " ").split() if entry]
        return value

    @field_validator("cors_allow_origins")
    @classmethod
    def _exact_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if not re.fullmatch(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?", origin):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port]; no wildcard, no path)")
        return origins

    @field_validator("outbound_allow", mode="before")
    @classmethod
    def _split_allowlist(cls, value: object) -> object:
        if isinstance(value, str):
            return [entry for entry in value.replace(",", " ").split() if entry]
        return value

    @field_validator("outbound_allow")
    @classmethod
    def _allowlist_entries(cls, entries: list[str]) -> list[str]:
        from hydroponics.outbound import parse_allow_entry  # the policy owns what an entry may be

        for entry in entries:
            parse_allow_entry(entry)
        return entries

    @model_validator(mode="after")
    def _needs_a_database(self) -> "Settings":
        if self.database_url is None and self.db_secret_arn is None:
            raise ValueError("set DATABASE_URL or DB_SECRET_ARN so the platform can reach PostgreSQL")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process, parsed on first use (never at import time)."""
    return Settings()
