"""The outbound policy's judgement: every refused range (IPv4, IPv6, their spellings), public addresses, the allowlist."""

import contextvars
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import ValidationError

from hydroponics import outbound
from hydroponics.outbound import Policy
from hydroponics.settings import Settings
from tests.resolver import numeric_only

REFUSED = [
    ("0.0.0.0", "unspecified"), ("0.1.2.3", "unspecified"),
    ("10.0.0.1", "private"), ("10.255.255.255", "private"), ("172.16.0.1", "private"), ("172.31.255.254", "private"),
    ("192.168.0.1", "private"), ("100.64.0.1", "shared (carrier-grade NAT)"), ("100.127.255.254", "shared"),
    ("127.0.0.1", "loopback"), ("127.255.255.254", "loopback"),
    ("169.254.169.254", "link-local"), ("169.254.0.1", "link-local"),
    ("192.0.0.8", "reserved"), ("192.0.2.10", "documentation"), ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"), ("198.18.0.1", "benchmarking"), ("192.88.99.1", "reserved"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("::", "unspecified"), ("::1", "loopback"), ("::7f00:1", "reserved"),
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"), ("::ffff:169.254.169.254", "link-local"),
    ("64:ff9b::a00:1", "private"), ("64:ff9b::7f00:1", "loopback"), ("64:ff9b:1::1", "private"),
    ("fc00::1", "unique-local"), ("fd12:3456:789a::1", "unique-local"), ("fe80::1", "link-local"),
    ("fe80::1%1", "link-local"), ("fec0::1", "site-local"), ("ff02::1", "multicast"), ("ff05::2", "multicast"),
    ("100::1", "reserved"), ("2001::1", "reserved"), ("2001:db8::1", "documentation"), ("2002:7f00:1::1", "reserved"),
    ("3fff::1", "documentation"), ("5f00::1", "reserved"),
]
PUBLIC = ["8.8.8.8", "93.184.216.34", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700::1111",
          "2a00:1450:4001::200e", "::ffff:8.8.8.8", "64:ff9b::808:808"]
# What a URL's host may say; the system resolver reads each as 127.0.0.1 (or ::ffff:127.0.0.1).
LOOPBACK_SPELLINGS = ["127.0.0.1", "2130706433", "0x7f000001", "0x7F.0.0.1", "0177.0.0.1", "127.1", "127.0.1",
                      "[::ffff:127.0.0.1]", "::ffff:7f00:1", "[::1]", "0:0:0:0:0:0:0:1"]


@pytest.fixture
def policy(monkeypatch) -> Policy:
    """Nothing allowed; names resolve only when they are literal addresses (no DNS in unit tests)."""
    monkeypatch.setattr(outbound, "_resolver", numeric_only)
    monkeypatch.setattr(outbound, "current_policy", lambda: Policy())
    return Policy()


@pytest.mark.parametrize("address,kind", REFUSED)
def test_every_non_public_range_is_refused_and_named(policy, address, kind):
    reason = policy.refusal(address, [address])
    assert reason is not None and reason.startswith("refused by the outbound policy: the target resolves to ")
    assert kind in reason


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(policy, address):
    assert policy.refusal(address, [address]) is None
    assert outbound.target_refusal(address) is None


@pytest.mark.parametrize("spelling", LOOPBACK_SPELLINGS)
def test_decimal_hex_octal_short_and_ipv6_spellings_are_judged_as_what_they_resolve_to(policy, spelling):
    assert outbound.target_refusal(spelling) == "refused by the outbound policy: the target resolves to a loopback address"


def test_a_name_is_refused_when_any_of_its_addresses_is():
    assert Policy().refusal("mixed.example", ["93.184.216.34", "10.0.0.7"]).endswith("a private address")
    assert Policy().refusal("public.example", ["93.184.216.34", "2606:4700::1111"]) is None


def test_a_name_that_does_not_resolve_is_judged_when_it_is_used(policy):
    assert outbound.target_refusal("hooks.farm.example") is None  # no DNS here: checked again at every connection
    with pytest.raises(socket.gaierror), outbound.guarded(policy):
        socket.getaddrinfo("hooks.farm.example", 443)


def test_the_allowlist_takes_networks_addresses_and_host_names():
    allowed = Policy.from_entries(["127.0.0.1", "10.8.0.0/16", "fd00::/8", "Mail.Farm.Internal."])
    for address in ("127.0.0.1", "::ffff:127.0.0.1", "10.8.3.4", "fd00::5", "64:ff9b::a08:1"):
        assert allowed.refusal(address, [address]) is None, address
    for address in ("127.0.0.2", "::1", "10.9.0.1", "169.254.169.254", "fe80::1"):
        assert allowed.refusal(address, [address]) is not None, address
    assert allowed.refusal("mail.farm.internal", ["10.99.0.1", "127.0.0.1"]) is None
    assert allowed.refusal("MAIL.farm.internal.", ["10.99.0.1"]) is None
    assert allowed.refusal("other.farm.internal", ["10.99.0.1"]) is not None


def test_outbound_allow_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://unused@127.0.0.1:1/unused")
    monkeypatch.setenv("OUTBOUND_ALLOW", "127.0.0.1, 10.8.0.0/16 mail.farm.internal")
    assert Settings().outbound_allow == ["127.0.0.1", "10.8.0.0/16", "mail.farm.internal"]
    monkeypatch.setenv("OUTBOUND_ALLOW", "")
    assert Settings().outbound_allow == []
    monkeypatch.setenv("OUTBOUND_ALLOW", "10.8.0.0/16,not a host!")
    with pytest.raises(ValidationError, match="neither a network nor a host name"):
        Settings()
    monkeypatch.delenv("OUTBOUND_ALLOW")
    assert Settings().outbound_allow == []  # the default (AWS): nothing private


def test_the_hook_judges_only_inside_a_guarded_block(policy):
    assert socket.getaddrinfo("127.0.0.1", 80)  # the platform's own connections are never judged
    with outbound.guarded(policy) as guard:
        with pytest.raises(outbound.OutboundRefused, match="loopback"):
            socket.getaddrinfo("2130706433", 80)
        with pytest.raises(outbound.OutboundRefused):
            socket.create_connection(("169.254.169.254", 80), timeout=1)
        assert guard.refusal.endswith("a link-local address")
        assert socket.getaddrinfo("8.8.8.8", 53)
    assert socket.getaddrinfo("127.0.0.1", 80)


def test_workers_started_with_a_copy_of_the_context_are_guarded_too(policy):
    """Apprise sends from its thread pool with contextvars.copy_context(): the guard goes along."""
    def lookup() -> str:
        try:
            socket.getaddrinfo("10.0.0.1", 80)
        except outbound.OutboundRefused as exc:
            return str(exc)
        return "connected"

    with outbound.guarded(policy) as guard, ThreadPoolExecutor(1) as pool:
        answer = pool.submit(contextvars.copy_context().run, lookup).result()
    assert answer.endswith("a private address") and guard.refusal == answer
