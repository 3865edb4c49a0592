"""Real SMTP servers for tests: one that collects messages (aiosmtpd), one that accepts and never answers."""

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: Message

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        parts = self.message.walk() if self.message.is_multipart() else [self.message]
        return "\n".join(p.get_payload(decode=True).decode(errors="replace") for p in parts
                         if p.get_content_maintype() == "text")


@dataclass
class MailServer:
    """An SMTP server on 127.0.0.1 keeping every message it accepts (thread-safe list)."""

    host: str
    port: int
    messages: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self._lock:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          message_from_bytes(envelope.original_content or envelope.content)))
        return "250 Message accepted for delivery"


def _authenticator(credentials: dict[str, str], server: MailServer):
    def check(smtp, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and credentials.get(auth_data.login.decode()) == \
            auth_data.password.decode()
        if ok:
            server.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False)
    return check


@contextmanager
def smtp_server(credentials: dict[str, str] | None = None) -> Iterator[MailServer]:
    """A collecting SMTP server on a free port; with `credentials` ({user: password}) it requires AUTH."""
    server = MailServer(HOST, free_port())
    options = {}
    if credentials:
        options = {"authenticator": _authenticator(credentials, server), "auth_required": True,
                   "auth_require_tls": False}
    controller = Controller(server, hostname=HOST, port=server.port, **options)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@contextmanager
def silent_smtp_server() -> Iterator[tuple[str, int]]:
    """Accepts connections and never sends a byte (not even the greeting): a hung mail server."""
    listener = socket.socket()
    listener.bind((HOST, 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield HOST, listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for connection in accepted:
            connection.close()
        listener.close()
