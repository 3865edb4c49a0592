"""Notification channels per client: kind-specific config in, the secret Apprise URL stored, a masked hint out.

What a channel needs to deliver (an SMTP password, a Slack/Teams/webhook URL whose path is the
credential, a phone number) is kept only sealed, in `target_sealed` (KMS envelope encryption bound
to the client and the channel: hydroponics/sealed_secrets.py); the `config` column holds what may be
shown (recipients, SMTP host, header names), and `target_hint` masks the rest. The API never
returns the target and nothing here logs it.

Config by kind (`config` of the API):
- email:   {"to": ["grower@farm.example"], "smtp_host": "smtp.example.com", "smtp_port": 587,
            "security": "starttls" | "ssl" | "none", "username": "...", "password": "...",
            "from": "alerts@farm.example"}   (port, credentials and from are optional)
- slack:   {"url": "https://hooks.slack.com/services/T/B/X"}  (or an Apprise slack:// URL)
- teams:   {"url": "https://<host>/workflows/<id>/triggers/manual/paths/invoke?..."}  (a Teams
            Workflows webhook, or an Apprise workflows:// URL)
- webhook: {"url": "https://receiver.example/hook", "headers": {"Authorization": "Bearer ..."}}
            (a JSON POST; http(s):// is turned into Apprise's json(s)://)
- sms:     {"phone_number": "+15551234567"}  (E.164; sent through SNS)
"""

import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import apprise
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hydroponics import outbound
from hydroponics.db.models import NotificationChannel
from hydroponics.envelope import SecretUnreadable
from hydroponics.errors import Conflict, InvalidInput, NotFound
from hydroponics.notifications.delivery import guarding
from hydroponics.records.pagination import Keyset, Page, PageRequest
from hydroponics.sealed_secrets import channel_target, seal_channel_target

KINDS = ("email", "slack", "teams", "webhook", "sms")
CHANNEL_ORDER = Keyset("channels", {"c.name": str})
# The Apprise plugin each kind must resolve to (a slack:// URL is no webhook channel).
PLUGINS = {"email": "NotifyEmail", "slack": "NotifySlack", "teams": "NotifyWorkflows", "webhook": "NotifyJSON"}

Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254,
                                         pattern=r"^[^@\s,/?#]+@[^@\s,/?#]+\.[^@\s,/?#]+$")]
HostName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=253,
                                            pattern=r"^[A-Za-z0-9.\-\[\]:]+$")]


class EmailConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    to: list[Email] = Field(min_length=1, max_length=50, description="recipients")
    smtp_host: HostName
    smtp_port: int | None = Field(None, ge=1, le=65535, description="default: 587 starttls, 465 ssl, 25 none")
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = Field(None, min_length=1, max_length=254)
    password: SecretStr | None = Field(None, min_length=1, max_length=1024, description="secret: never returned")
    from_address: Email | None = Field(None, alias="from", description="the sender; default: the username "
                                                                        "(then required to be an address)")


class UrlConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: SecretStr = Field(description="the incoming-webhook URL (secret: never returned)")


class WebhookConfig(UrlConfig):
    headers: dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9\-]{1,100}$")],
                  Annotated[str, StringConstraints(max_length=2000)]] = Field(
        default_factory=dict, max_length=20, description="sent with every POST (values secret: never returned)")


class SmsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone_number: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+[1-9][0-9]{6,14}$")] = Field(
        description="E.164, e.g. +15551234567 (secret: only the last digits are returned)")


CONFIGS: dict[str, type[BaseModel]] = {"email": EmailConfig, "slack": UrlConfig, "teams": UrlConfig,
                                       "webhook": WebhookConfig, "sms": SmsConfig}
EXAMPLES = {
    "email": {"to": ["grower@farm.example"], "smtp_host": "smtp.example.com", "smtp_port": 587,
              "security": "starttls", "username": "alerts@farm.example", "password": "app-password"},
    "slack": {"url": "https://hooks.slack.com/services/T000/B000/XXXX"},
    "teams": {"url": "https://prod-00.westus.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke"
                     "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=XXXX"},
    "webhook": {"url": "https://receiver.example/hooks/alerts", "headers": {"Authorization": "Bearer XXXX"}},
    "sms": {"phone_number": "+15551234567"},
}


@dataclass(frozen=True)
class Target:
    """What a config becomes: the secret target (Apprise URL or phone) and the part that may be shown."""

    url: str
    public: dict[str, Any]


@dataclass(frozen=True)
class ChannelRecord:
    id: uuid.UUID
    name: str
    kind: str
    config: dict[str, Any]  # public part only
    target_hint: str
    is_enabled: bool
    hourly_cap: int | None
    created_at: datetime
    updated_at: datetime


def _invalid(field: str, reason: str) -> InvalidInput:
    return InvalidInput(f"{field} is invalid", details=[{"field": field, "reason": reason}])


def parse_config(kind: str, raw: Any) -> BaseModel:
    """The kind's config model; InvalidInput naming `config.<field>` (never echoing a value) when wrong."""
    try:
        return CONFIGS[kind].model_validate(raw)
    except ValidationError as exc:
        details = [{"field": ".".join(["config", *(str(p) for p in err["loc"])]), "reason": err["msg"]}
                   for err in exc.errors(include_input=False, include_url=False)]
        raise InvalidInput("config is invalid", details=details) from None


def _email_url(config: EmailConfig) -> Target:
    secure = config.security != "none"
    mode = {"starttls": "starttls", "ssl": "ssl", "none": "insecure"}[config.security]
    port = config.smtp_port or {"starttls": 587, "ssl": 465, "none": 25}[config.security]
    sender = config.from_address or (config.username if config.username and "@" in config.username else None)
    if sender is None:
        raise _invalid("config.from", "required unless the username is an email address")
    credentials = ""
    if config.username:
        credentials = quote(config.username, safe="")
        if config.password:
            credentials += ":" + quote(config.password.get_secret_value(), safe="")
        credentials += "@"
    query = urlencode({"smtp": config.smtp_host, "from": sender, "to": ",".join(config.to), "mode": mode},
                      safe="@,")
    url = f"{'mailtos' if secure else 'mailto'}://{credentials}{config.smtp_host}:{port}?{query}"
    public = {"to": config.to, "smtp_host": config.smtp_host, "smtp_port": port, "security": config.security,
              "username": config.username, "from": sender, "has_password": config.password is not None}
    return Target(url, public)


def _webhook_url(config: WebhookConfig) -> Target:
    url = config.url.get_secret_value().strip()
    scheme, _, rest = url.partition("://")
    scheme = {"http": "json", "https": "jsons"}.get(scheme.lower(), scheme.lower())
    url = f"{scheme}://{rest}"
    if config.headers:
        url += ("&" if "?" in rest else "?") + "&".join(f"+{quote(k, safe='')}={quote(v, safe='')}"
                                                       for k, v in config.headers.items())
    return Target(url, {"header_names": sorted(config.headers)})


def build_target(kind: str, config: BaseModel) -> Target:
    """The secret target of a validated config (checked by Apprise, or E.164 for SMS)."""
    if kind == "sms":
        return Target(config.phone_number, {})
    check_outbound(kind, config)
    if kind == "email":
        target = _email_url(config)
    elif kind == "webhook":
        target = _webhook_url(config)
    else:
        target = Target(config.url.get_secret_value().strip(), {})
    check_apprise_url(kind, target.url)
    return target


def check_outbound(kind: str, config: BaseModel) -> None:
    """422 when the outbound policy refuses the host the channel connects to (Slack's is Slack's own)."""
    if kind == "email":
        outbound.check_target("config.smtp_host", config.smtp_host, config.smtp_port)
    elif kind in ("webhook", "teams"):
        outbound.check_target("config.url", urlsplit(config.url.get_secret_value().strip()).hostname)


def check_apprise_url(kind: str, url: str) -> None:
    """422 unless Apprise accepts the URL as the kind's service (the reason never repeats the URL)."""
    field = "config.url" if kind != "email" else "config"
    with guarding(url):
        server = apprise.Apprise.instantiate(url, suppress_exceptions=True)
        accepted = server is not None and apprise.Apprise().add(server)
    if not accepted:
        raise _invalid(field, f"not a valid {kind} target")
    if type(server).__name__ != PLUGINS[kind]:
        raise _invalid(field, f"this URL is not a {kind} service (got {getattr(server, 'service_name', '?')})")


def target_hint(kind: str, target_url: str) -> str:
    """A masked form of the secret: enough to recognise the channel, nothing to use it."""
    if kind == "sms":
        return f"sms:***{target_url[-4:]}"
    parts = urlsplit(target_url)
    scheme = parts.scheme.lower()
    if kind == "email":
        smtp = parse_qs(parts.query).get("smtp", [parts.hostname or ""])[0]
        return f"{scheme}://***@{smtp}"
    if kind == "slack" and scheme == "slack" or kind == "teams" and scheme.startswith("workflow"):
        return f"{scheme}://***"  # the host of these Apprise URLs is itself a token
    port = f":{parts.port}" if parts.port else ""
    return f"{scheme}://{parts.hostname or ''}{port}/***"


def _record(channel: NotificationChannel) -> ChannelRecord:
    return ChannelRecord(id=channel.id, name=channel.name, kind=channel.kind, config=dict(channel.config),
                         target_hint=channel.target_hint, is_enabled=channel.is_enabled,
                         hourly_cap=channel.hourly_cap, created_at=channel.created_at, updated_at=channel.updated_at)


def _flush_unique_name(session: Session, name: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"a channel named {name!r} already exists",
                       details=[{"field": "name", "reason": "already used by another channel"}]) from None


def create_channel(session: Session, client_id: uuid.UUID, name: str, kind: str, config: Any,
                   hourly_cap: int | None = None, is_enabled: bool = True) -> ChannelRecord:
    target = build_target(kind, parse_config(kind, config))
    channel_id = uuid.uuid4()  # known before the insert: the sealed target is bound to it
    channel = NotificationChannel(id=channel_id, client_id=client_id, name=name, kind=kind,
                                  target_sealed=seal_channel_target(client_id, channel_id, target.url),
                                  target_hint=target_hint(kind, target.url), config=target.public,
                                  hourly_cap=hourly_cap, is_enabled=is_enabled)
    session.add(channel)
    _flush_unique_name(session, name)
    session.refresh(channel)
    return _record(channel)


def load_channel(session: Session, client_id: uuid.UUID, channel_id: uuid.UUID, *, lock: bool = False
                 ) -> NotificationChannel:
    """The client's channel row (with its secret: for delivery, never for a response); 404 otherwise."""
    statement = select(NotificationChannel).where(NotificationChannel.id == channel_id,
                                                  NotificationChannel.client_id == client_id)
    channel = session.scalar(statement.with_for_update() if lock else statement)
    if channel is None:
        raise NotFound(f"channel {channel_id} not found")
    return channel


def open_target(channel: NotificationChannel) -> str:
    """The channel's secret target, unsealed (for delivery only: never logged, never returned)."""
    return channel_target(channel.client_id, channel.id, channel.target_sealed)


def get_channel(session: Session, client_id: uuid.UUID, channel_id: uuid.UUID) -> ChannelRecord:
    return _record(load_channel(session, client_id, channel_id))


def list_channels(session: Session, client_id: uuid.UUID, request: PageRequest,
                  kind: str | None = None) -> Page[ChannelRecord]:
    page = CHANNEL_ORDER.clause(request)
    statement = select(NotificationChannel).where(NotificationChannel.client_id == client_id)
    if kind:
        statement = statement.where(NotificationChannel.kind == kind)
    if request.cursor is not None:
        (after,) = CHANNEL_ORDER.decode(request.cursor)
        statement = statement.where(NotificationChannel.name > after)
    rows = session.scalars(statement.order_by(NotificationChannel.name).limit(page.params["page_limit"]))
    return CHANNEL_ORDER.page([_record(row) for row in rows], request)


def update_channel(session: Session, client_id: uuid.UUID, channel_id: uuid.UUID,
                   changes: dict[str, Any]) -> tuple[ChannelRecord, dict[str, Any]]:
    """Apply `changes` (name, is_enabled, hourly_cap, config: replaces the whole config, secrets included).

    Returns the channel and what changed (old -> new, secrets reduced to their hint) for the event.
    """
    channel = load_channel(session, client_id, channel_id, lock=True)
    changed: dict[str, Any] = {}
    if "config" in changes:
        target = build_target(channel.kind, parse_config(channel.kind, changes["config"]))
        try:
            secret_changed = not hmac.compare_digest(target.url.encode(), open_target(channel).encode())
        except SecretUnreadable:  # saving the config again is how an unreadable target is repaired
            secret_changed = True
        if secret_changed or target.public != channel.config:
            changed["config"] = {"old": channel.config, "new": target.public, "secret_changed": secret_changed}
            channel.config = target.public
            if secret_changed:
                channel.target_sealed = seal_channel_target(channel.client_id, channel.id, target.url)
                channel.target_hint = target_hint(channel.kind, target.url)
    for field in ("name", "is_enabled", "hourly_cap"):
        if field in changes and getattr(channel, field) != changes[field]:
            changed[field] = {"old": getattr(channel, field), "new": changes[field]}
            setattr(channel, field, changes[field])
    if changed:
        channel.updated_at = func.now()
        _flush_unique_name(session, channel.name)
        session.refresh(channel)
    return _record(channel), changed


def delete_channel(session: Session, client_id: uuid.UUID, channel_id: uuid.UUID) -> ChannelRecord:
    """Delete the channel (its delivery log goes with it); rules naming it simply skip it."""
    channel = load_channel(session, client_id, channel_id, lock=True)
    record = _record(channel)
    session.delete(channel)
    session.flush()
    return record
