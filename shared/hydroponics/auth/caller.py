"""Who is calling: the client an API key belongs to, and what its scope lets it do."""

from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

Scope = Literal["device", "operator", "admin"]
# Each scope may do what the ones before it may: a device posts readings; an operator also reads and
# manages the farm; an admin also runs the platform (and acts for any client with X-Client-Id).
SCOPES: tuple[Scope, ...] = ("device", "operator", "admin")


def scope_covers(scope: str, needed: str) -> bool:
    """Whether a key of `scope` may do what needs `needed` (an unknown scope may do nothing)."""
    return scope in SCOPES and SCOPES.index(scope) >= SCOPES.index(needed)


@dataclass(frozen=True)
class Caller:
    """An authenticated API key. Admin keys belong to the platform operators (client may be None)."""

    key_hash: str
    prefix: str
    client_id: UUID | None
    scope: Scope = "operator"
    rate_limits: dict[str, int] = field(default_factory=dict)  # per-client overrides, requests/minute
    client_alias: str | None = None  # another X-Client-Id its devices may send (a legacy client id)

    @property
    def is_admin(self) -> bool:
        return self.scope == "admin"
