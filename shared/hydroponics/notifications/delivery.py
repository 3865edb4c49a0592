"""Send one message through one channel (Apprise, or SNS for SMS), bounded in time, with the reason in our words.

Every Apprise send runs under the outbound policy (hydroponics/outbound.py): a target that resolves
to a refused address fails with "refused by the outbound policy: ...", for good (not retried). Other
failures are told in the platform's words ("could not connect", "timed out", "rejected by the
server: 550", "rejected by the server: HTTP 500"), read from Apprise's log lines of the send
(apprise.LogCapture), never the resolver's, socket's or library's own text. Those lines name URLs,
hosts and paths (a Slack or webhook path is the credential), so the `apprise` logger does not
propagate to the function's logs; the captured detail is logged for operators at debug level
only with every piece of the channel's secret replaced by `***`.
"""

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import apprise
from apprise.logger import LOGGER_NAME
from apprise.plugins.email import NotifyEmail
from botocore.exceptions import BotoCoreError, ClientError

from hydroponics import outbound
from hydroponics.aws import client
from hydroponics.observability import logger

CONNECT_TIMEOUT_SECONDS = 5.0  # TCP connect (HTTP services)
READ_TIMEOUT_SECONDS = 10.0  # HTTP response
EMAIL_TIMEOUT_SECONDS = 10.0  # every SMTP socket operation (a mail server that hangs costs at most this)
SERVICE_TIMEOUT_SECONDS = 25.0  # Apprise's budget for one send, retries included
MAX_REASON = 1000
SMS_MAX = 1400
_MIN_SECRET_PIECE = 3

_apprise_logger = logging.getLogger(LOGGER_NAME)
_apprise_logger.propagate = False  # its lines reach the function's logs only through the captured reason
_active: dict[int, list[str]] = {}  # secret pieces of the targets in use right now (any thread)
_active_lock = threading.Lock()
_KEEP = re.compile(r" - (WARNING|ERROR|CRITICAL) - |Socket Exception|did not finish")
# What the kept lines say, in the platform's words (first match wins: a reply's code beats the rest).
_SMTP_CODE = re.compile(r"\((\d{3}), b['\"]|was refused: (\d{3})")
_HTTP_CODE = re.compile(r"error=(\d{3})")
_TIMED_OUT = re.compile(r"timed out|did not finish within", re.IGNORECASE)
_TLS = re.compile(r"\[SSL|SSLError|certificate|TLS")
_CONNECT = re.compile(r"connect|Errno|resolv|Name or service|unreachable|closed", re.IGNORECASE)


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    error: str | None = None
    retryable: bool = True  # False: trying again cannot help (refused by the outbound policy, bad target)


def secret_pieces(target: str) -> list[str]:
    """Every fragment of a target that could reveal it: the whole, user, password, host, path parts, query values."""
    pieces = {target, unquote(target)}
    parts = urlsplit(target)
    if parts.scheme and parts.netloc:
        pieces.update(filter(None, (parts.username, parts.password, parts.hostname)))
        pieces.update(unquote(p) for p in (parts.username, parts.password) if p)
        pieces.update(seg for seg in re.split(r"[/]", unquote(parts.path)) if seg)
        pieces.update(parts.path.strip("/").split("/"))
        for pair in parts.query.split("&"):
            key, _, value = pair.partition("=")
            if value and unquote(key).lower() not in ("mode", "smtp", "from", "to", "cto", "rto"):
                pieces.update((value, unquote(value), unquote(value.replace("+", " "))))
    # the host of an email channel and its recipients are shown by the API anyway; other hosts are kept
    # out too (slack://TOKEN/..., webhook hosts), longest first so no part of a longer piece survives.
    return sorted((p for p in pieces if len(p) >= _MIN_SECRET_PIECE), key=len, reverse=True)


def redact(text: str, target: str) -> str:
    for piece in secret_pieces(target):
        text = text.replace(piece, "***")
    return text


class _Redact(logging.Filter):
    """Rewrites every record of a logger that may quote a target (Apprise, urllib3, botocore's request log)
    with the secret pieces of the targets in use replaced, before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        with _active_lock:
            pieces = sorted({p for ps in _active.values() for p in ps}, key=len, reverse=True)
        if pieces:
            message = record.getMessage()
            for piece in pieces:
                message = message.replace(piece, "***")
            record.msg, record.args = message, None
        return True


for _name in (LOGGER_NAME, "urllib3.connectionpool", "botocore.endpoint", "botocore.parsers"):
    logging.getLogger(_name).addFilter(_Redact())


@contextmanager
def guarding(target: str) -> Iterator[None]:
    """While the block runs, log lines of Apprise/urllib3/botocore have `target`'s secret pieces masked."""
    key = id(object())
    with _active_lock:
        _active[key] = secret_pieces(target)
    try:
        yield
    finally:
        with _active_lock:
            del _active[key]


def failure_reason(captured: str) -> str:
    """What went wrong, in the platform's words, from the warning and exception lines Apprise logged."""
    kept = "\n".join(line.split(" - ", 2)[-1] for line in captured.splitlines() if _KEEP.search(line))
    if match := _SMTP_CODE.search(kept):
        return f"rejected by the server: {match.group(1) or match.group(2)}"
    if match := _HTTP_CODE.search(kept):
        return f"rejected by the server: HTTP {match.group(1)}"
    if _TIMED_OUT.search(kept):
        return "timed out"
    if _TLS.search(kept):
        return "could not establish a secure connection"
    if _CONNECT.search(kept):
        return "could not connect"
    return "the service did not accept the message"


def _apprise_server(target: str):
    asset = apprise.AppriseAsset(storage_mode="memory", service_timeout=SERVICE_TIMEOUT_SECONDS)
    server = apprise.Apprise.instantiate(target, asset=asset, suppress_exceptions=True)
    if server is None:
        return None
    server.socket_connect_timeout = CONNECT_TIMEOUT_SECONDS
    server.socket_read_timeout = READ_TIMEOUT_SECONDS
    if isinstance(server, NotifyEmail):  # smtplib uses this for every socket operation
        server.socket_connect_timeout = EMAIL_TIMEOUT_SECONDS
    server.redirects = False  # whatever the URL says (?redirect=yes): a redirect is a failed delivery
    return server


def send_apprise(target: str, subject: str, body: str) -> DeliveryResult:
    with guarding(target):
        return _send_apprise(target, subject, body)


def _send_apprise(target: str, subject: str, body: str) -> DeliveryResult:
    server = _apprise_server(target)
    if server is None:
        return DeliveryResult(False, "the channel's target is not a valid Apprise URL", retryable=False)
    notifier = apprise.Apprise(asset=server.asset)
    notifier.add(server)
    with outbound.guarded() as guard, apprise.LogCapture(level=logging.DEBUG) as captured:
        try:
            ok = bool(notifier.notify(title=subject, body=body, body_format=apprise.NotifyFormat.TEXT))
        except Exception as exc:  # noqa: BLE001 - a plugin bug is a failed delivery, not a crashed batch
            ok = False
            _apprise_logger.warning("delivery raised %s: %s", type(exc).__name__, exc)
    if ok:
        return DeliveryResult(True)
    if guard.refusal:
        return DeliveryResult(False, guard.refusal, retryable=False)
    reason = failure_reason(captured.getvalue())
    logger.debug("channel delivery failed", extra={"reason": reason,
                                                   "detail": redact(captured.getvalue(), target)[-MAX_REASON:]})
    return DeliveryResult(False, reason)


def send_sms(phone_number: str, subject: str, body: str) -> DeliveryResult:
    message = f"{subject}\n{body}" if subject else body
    try:
        with guarding(phone_number):
            client("sns").publish(PhoneNumber=phone_number, Message=message[:SMS_MAX])
    except ClientError as exc:
        return DeliveryResult(False, f"rejected by the SMS service: {exc.response.get('Error', {}).get('Code', '?')}")
    except BotoCoreError:
        return DeliveryResult(False, "could not connect to the SMS service")
    return DeliveryResult(True)


def deliver(kind: str, target: str, subject: str, body: str) -> DeliveryResult:
    """Send one message; never raises for a delivery problem, and the error never contains the target."""
    if kind == "sms":
        return send_sms(target, subject, body)
    return send_apprise(target, subject, body)
