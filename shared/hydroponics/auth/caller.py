"""Who is calling: the client an API key belongs to, and what it may do."""

from dataclasses import dataclass, field
from uuid import UUID


@dataclass(frozen=True)
class Caller:
    """An authenticated API key. Admin keys belong to the platform operators (client may be None)."""

    key_hash: str
    prefix: str
    client_id: UUID | None
    is_admin: bool = False
    rate_limits: dict[str, int] = field(default_factory=dict)  # per-client overrides, requests/minute
    client_alias: str | None = None  # another X-Client-Id its devices may send (a legacy client id)
