"""Request rate limits shared by every function instance: fixed one-minute windows in DynamoDB.

Per API key, the request is counted on the key's own item by the call that authenticates it
(auth/key_index.py). Per source IP (public and sign-up endpoints), each (limit, IP, minute) is one
item of the rate-limit table whose counter is incremented atomically; items expire by TTL. Limits
are requests per minute, with per-client overrides carried on the caller's key.
"""

import math
import time
from dataclasses import dataclass

from hydroponics.aws import client
from hydroponics.settings import get_settings

WINDOW_SECONDS = 60

# Requests per minute, by limit name; a client's `rate_limits` setting overrides any of them.
DEFAULT_LIMITS: dict[str, int] = {
    "ingest": 120,        # POST /api/data, per API key
    "query": 300,         # GET /api/data/query, per API key
    "ac_control": 60,     # AC control, per API key
    "api": 600,           # any other authenticated endpoint, per API key
    "channel_test": 10,   # POST /api/channels/{id}/test (connects out at once), per client
    "create_client": 10,  # POST /api/clients, per IP
    "public": 60,         # unauthenticated endpoints, per IP
}


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: int  # epoch seconds when the window ends

    def headers(self, now: float | None = None) -> dict[str, str]:
        headers = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining),
                   "X-RateLimit-Reset": str(self.reset_at)}
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.reset_at - (now or time.time()))))
        return headers


def limit_for(name: str, overrides: dict[str, int] | None = None) -> int:
    return int((overrides or {}).get(name, DEFAULT_LIMITS[name]))


def decide(hits: int, limit: int, window_start: int) -> RateDecision:
    """Whether the request that made the window's count `hits` is within `limit`."""
    return RateDecision(allowed=hits <= limit, limit=limit, remaining=max(0, limit - hits),
                        reset_at=window_start + WINDOW_SECONDS)


def hit(name: str, identity: str, limit: int, now: float | None = None) -> RateDecision:
    """Count one request against `name` for `identity` (an IP) in the rate-limit table, and decide."""
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
    reset_at = window + WINDOW_SECONDS
    reply = client("dynamodb").update_item(
        TableName=get_settings().rate_limit_table,
        Key={"pk": {"S": f"{name}#{identity}#{window}"}},
        UpdateExpression="ADD hits :one SET expires_at = if_not_exists(expires_at, :expires)",
        ExpressionAttributeValues={":one": {"N": "1"}, ":expires": {"N": str(reset_at + WINDOW_SECONDS)}},
        ReturnValues="UPDATED_NEW",
    )
    return decide(int(reply["Attributes"]["hits"]["N"]), limit, window)
