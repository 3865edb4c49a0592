"""Name servers the tests play for the outbound policy: numeric hosts only (no DNS), or names with chosen answers."""

import socket

from hydroponics import outbound

SYSTEM = outbound._resolver  # the real resolver, as the policy's hook calls it


def numeric_only(host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002 - getaddrinfo's own names
    """Literal addresses (in any spelling the system accepts) resolve; names do not (unit tests use no DNS)."""
    return SYSTEM(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)


class NameServer:
    """Answers chosen names with chosen addresses, each answer used once in turn (the last one repeats):
    a name can answer a public address when a channel is saved and a private one when it is used."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}
        self.asked: list[str] = []

    def answer(self, name: str, *addresses: str) -> None:
        self.answers[name.lower()] = list(addresses)

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002
        name = host.decode() if isinstance(host, bytes) else host
        if name is None or name.lower() not in self.answers:
            return SYSTEM(host, port, family, type, proto, flags)
        self.asked.append(name.lower())
        queue = self.answers[name.lower()]
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        return SYSTEM(address, port, family, type, proto, flags | socket.AI_NUMERICHOST)
