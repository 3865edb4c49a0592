"""The outbound policy: where the platform may connect on a client's behalf (channels, AC units, anything later).

Clients choose the targets of their notification channels and AC units, and the functions run next
to the platform's own services (in the VPC on AWS), so every connection made for a client is judged.
Every address the target's name resolves to must be public: loopback, link-local (the cloud
metadata address 169.254.169.254 included), private, shared (carrier-grade NAT), unique-local,
multicast and the other special-purpose ranges of IPv4 and IPv6 are refused, unless the settings'
OUTBOUND_ALLOW names the network or the host. An IPv4 address carried inside IPv6 (::ffff:a.b.c.d,
NAT64 64:ff9b::a.b.c.d) is judged as that IPv4 address. Decimal, hex and short spellings
(2130706433, 0x7f000001, 127.1) are judged as what the system resolver makes of them: 127.0.0.1.

Where the check sits: `socket.getaddrinfo`, which urllib3 (requests: the HTTP AC driver and
Apprise's Slack, Teams and webhook services), smtplib (Apprise's email) and paho-mqtt (through
socket.create_connection) call right before they connect, to the addresses it returns and no
others. The hook is installed before the first `guarded()` block and does nothing outside one, so
the platform's own connections (PostgreSQL, AWS) are never judged; inside one, the check is on the
resolution the connection uses, so a name that was public when the channel was saved and resolves
to a private address now (DNS rebinding) is refused at the connection itself. HTTP calls in a guarded block
follow no redirects and read at most MAX_RESPONSE_BYTES of a reply, within RESPONSE_SECONDS.
No library does this for requests, smtplib and paho together (the requests-only ones, such as
advocate, are unmaintained or cannot take an allowlist of networks and names), hence this module.
"""

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache

from hydroponics.errors import InvalidInput

MAX_RESPONSE_BYTES = 64 * 1024  # a webhook's or controller's reply: the status and a short JSON body matter
RESPONSE_SECONDS = 10.0  # reading the reply's body, whatever the per-read timeout (a slow drip is cut)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IANA's special-purpose address registries (and multicast): what is not on the public internet, with
# how a reason names it. The first network that holds an address names it.
_REFUSED: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "an unspecified"), ("10.0.0.0/8", "a private"), ("100.64.0.0/10", "a shared (carrier-grade NAT)"),
    ("127.0.0.0/8", "a loopback"), ("169.254.0.0/16", "a link-local"), ("172.16.0.0/12", "a private"),
    ("192.0.0.0/24", "a reserved"), ("192.0.2.0/24", "a documentation"), ("192.88.99.0/24", "a reserved"),
    ("192.168.0.0/16", "a private"), ("198.18.0.0/15", "a benchmarking"), ("198.51.100.0/24", "a documentation"),
    ("203.0.113.0/24", "a documentation"), ("224.0.0.0/4", "a multicast"), ("240.0.0.0/4", "a reserved"),
    ("::1/128", "a loopback"), ("::/128", "an unspecified"), ("::/96", "a reserved"), ("64:ff9b:1::/48", "a private"),
    ("100::/64", "a reserved"), ("2001:db8::/32", "a documentation"), ("2001::/23", "a reserved"),
    ("2002::/16", "a reserved"), ("3fff::/20", "a documentation"), ("5f00::/16", "a reserved"),
    ("fc00::/7", "a unique-local"), ("fe80::/10", "a link-local"), ("fec0::/10", "a site-local"),
    ("ff00::/8", "a multicast"),
)
REFUSED_NETWORKS: tuple[tuple[IPNetwork, str], ...] = tuple((ipaddress.ip_network(n), k) for n, k in _REFUSED)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

_resolver = socket.getaddrinfo  # the system's resolver (tests replace it to play a rebinding name server)


class OutboundRefused(OSError):
    """The outbound policy refuses the target (an OSError, so the libraries treat it as a failed connect)."""


def parse_allow_entry(entry: str) -> IPNetwork | str:
    """An OUTBOUND_ALLOW entry: a network (a bare address is a /32 or /128) or a host name (lower case)."""
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        pass
    name = entry.strip().rstrip(".").lower()
    labels = name.split(".")
    if not name or len(name) > 253 or not all(
            label and len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii() for label in labels):
        raise ValueError(f"OUTBOUND_ALLOW entry {entry!r} is neither a network nor a host name")
    return name


def _carried(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries (mapped, NAT64), else the address itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


@dataclass(frozen=True)
class Policy:
    """Public addresses, plus the allowed networks and host names."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def from_entries(cls, entries: list[str] | tuple[str, ...]) -> "Policy":
        parsed = [parse_allow_entry(entry) for entry in entries]
        return cls(tuple(p for p in parsed if not isinstance(p, str)), frozenset(p for p in parsed if isinstance(p, str)))

    def allows_host(self, host: str) -> bool:
        return host.rstrip(".").lower() in self.hosts

    def kind_refused(self, address: str) -> str | None:
        """What kind of non-public address this is (None: it may be reached)."""
        ip = _carried(ipaddress.ip_address(address.split("%", 1)[0]))  # fe80::1%eth0: the scope is no part of it
        if any(ip in network for network in self.networks):
            return None
        return next((kind for network, kind in REFUSED_NETWORKS if ip in network), None)

    def refusal(self, host: str, addresses: list[str]) -> str | None:
        """Why a connection to `host`, resolved to `addresses`, is refused (None: allowed). Every address counts."""
        if self.allows_host(host):
            return None
        for address in addresses:
            kind = self.kind_refused(address)
            if kind:
                return f"refused by the outbound policy: the target resolves to {kind} address"
        return None


@lru_cache(maxsize=8)
def _policy_of(entries: tuple[str, ...]) -> Policy:
    return Policy.from_entries(entries)


def current_policy() -> Policy:
    """The policy of this process's settings (OUTBOUND_ALLOW)."""
    from hydroponics.settings import get_settings

    return _policy_of(tuple(get_settings().outbound_allow))


@dataclass
class Guard:
    """One outbound call: its policy, and what the hooks saw (the caller turns these into its reason)."""

    policy: Policy
    refusal: str | None = None
    reply_too_large: bool = False
    reply_too_slow: bool = False


_current: ContextVar[Guard | None] = ContextVar("outbound_guard", default=None)


@contextmanager
def guarded(policy: Policy | None = None) -> Iterator[Guard]:
    """Connections opened in this block (and in threads started with a copy of its context, as Apprise's
    workers are) are judged by the policy; the Guard records a refusal."""
    _install_hooks()
    guard = Guard(policy or current_policy())
    token = _current.set(guard)
    try:
        yield guard
    finally:
        _current.reset(token)


def _guarded_getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002 - socket's own names
    results = _resolver(host, port, family, type, proto, flags)
    guard = _current.get()
    if guard is None or host is None:
        return results
    name = host.decode() if isinstance(host, bytes) else str(host)
    refusal = guard.policy.refusal(name, [info[4][0] for info in results])
    if refusal:
        guard.refusal = refusal
        raise OutboundRefused(refusal)
    return results


_send = None  # requests' own Session.send, once the hooks are installed
_installed = False
_install_lock = threading.Lock()


def _guarded_send(session, request, **kwargs):
    """requests' send, inside a guarded block: no redirects, and the body read here, bounded in size and time."""
    import requests

    guard = _current.get()
    if guard is None:
        return _send(session, request, **kwargs)
    response = _send(session, request, **(kwargs | {"allow_redirects": False, "stream": True}))
    chunks, size, deadline = [], 0, time.monotonic() + RESPONSE_SECONDS
    try:
        for chunk in response.iter_content(8192):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                guard.reply_too_large = True
                break
            if time.monotonic() > deadline:
                guard.reply_too_slow = True
                break
    except (requests.RequestException, OSError):
        pass  # a reply cut short: its status still counts, the body is what arrived
    finally:
        response.close()
    response._content = b"".join(chunks)[:MAX_RESPONSE_BYTES]  # what `.content` returns from now on
    response._content_consumed = True
    return response


def _install_hooks() -> None:
    """Put both hooks in place, once, before the first guarded block (importing this module changes nothing,
    and does not import requests: the ingest function reads the settings that name this module)."""
    global _send, _installed
    if _installed:
        return
    import requests

    with _install_lock:
        if not _installed:
            _send = requests.Session.send  # set before the hook that calls it
            requests.Session.send = _guarded_send
            socket.getaddrinfo = _guarded_getaddrinfo
            _installed = True


def target_refusal(host: str | None, port: int | None = None) -> str | None:
    """Why the policy refuses `host` as a target right now (None: allowed, or it does not resolve yet:
    it is judged again at every connection)."""
    host = (host or "").strip().strip("[]")  # an IPv6 literal as URLs and SMTP configs write it
    if not host:
        return None
    policy = current_policy()
    if policy.allows_host(host):
        return None
    try:
        infos = _resolver(host, port or 0, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        return None
    return policy.refusal(host, [info[4][0] for info in infos])


def check_target(field_name: str, host: str | None, port: int | None = None) -> None:
    """422 naming `field_name` when the policy refuses the target (when a channel or unit is saved)."""
    reason = target_refusal(host, port)
    if reason:
        raise InvalidInput(f"{field_name} is refused by the outbound policy",
                           details=[{"field": field_name, "reason": reason}])
