"""Posting the farm's readings to the platform as a legacy device does, with bounded, polite retries."""

import json
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from hydroponics.simulator.farm import Reading

RETRY_STATUSES = frozenset({429, 502, 503, 504})


class AccessRefused(Exception):
    """The platform refused the farm's API key or client id (401/403): retrying cannot help."""


@dataclass
class Delivery:
    """What became of the readings of one request."""

    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    retries: int = 0


def payload(reading: Reading) -> dict[str, Any]:
    """The legacy request body: sensor type, value, ISO-8601 UTC timestamp, location."""
    stamp = reading.time.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"sensor_type": reading.sensor_type, "value": reading.value, "timestamp": stamp,
            "location": reading.location}


class FarmSender:
    """POSTs to `{api_url}/api/data` with X-API-Key and X-Client-Id over one shared connection pool."""

    def __init__(self, api_url: str, client_id: str, api_key: str, *, stop: threading.Event | None = None,
                 timeout: float = 10.0, max_attempts: int = 5, backoff: float = 0.5, max_backoff: float = 30.0,
                 max_retry_after: float = 120.0, transport: httpx.BaseTransport | None = None):
        self.url = api_url.rstrip("/") + "/api/data"
        self.stop = stop or threading.Event()
        self.max_attempts, self.backoff, self.max_backoff = max_attempts, backoff, max_backoff
        self.max_retry_after = max_retry_after
        self._jitter = random.Random()  # retry timing is not part of the farm's reproducible model
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)), transport=transport,
            headers={"X-API-Key": api_key, "X-Client-Id": client_id, "Content-Type": "application/json",
                     "User-Agent": "hydroponics-farm-simulator"})

    def close(self) -> None:
        self._client.close()

    def post_reading(self, reading: Reading) -> Delivery:
        """One reading, one request (the legacy shape)."""
        response, retries = self._post(payload(reading))
        if response is None:
            return Delivery(failed=1, retries=retries)
        accepted = response.status_code == 202
        return Delivery(accepted=int(accepted), rejected=int(not accepted), retries=retries)

    def post_round(self, readings: list[Reading]) -> Delivery:
        """A round as one batch `{"readings": [...]}`; readings the platform could not queue are resent."""
        delivery, pending = Delivery(), list(readings)
        for attempt in range(1, self.max_attempts + 1):
            response, retries = self._post({"readings": [payload(r) for r in pending]})
            delivery.retries += retries
            if response is None:
                break
            if response.status_code != 202:
                delivery.rejected += len(pending)
                return delivery
            results = _batch_results(response, len(pending))
            delivery.accepted += results.count("accepted")
            delivery.rejected += results.count("rejected")
            pending = [reading for reading, status in zip(pending, results) if status == "unavailable"]
            if not pending or attempt == self.max_attempts or self.stop.wait(self._backoff(attempt)):
                break
            delivery.retries += 1
        delivery.failed += len(pending)
        return delivery

    def _post(self, body: Any) -> tuple[httpx.Response | None, int]:
        """(the final answer, retries made); None when every attempt hit 429/5xx/a connection error, or on stop."""
        content = json.dumps(body)
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self._client.post(self.url, content=content)
            except httpx.TransportError:
                wait = self._backoff(attempt)
            else:
                if response.status_code in (401, 403):
                    raise AccessRefused(f"HTTP {response.status_code} from {self.url}: {_message(response)}")
                if response.status_code not in RETRY_STATUSES:
                    return response, attempt - 1
                wait = self._retry_after(response)
                if wait is None:
                    wait = self._backoff(attempt)
            if attempt == self.max_attempts or self.stop.wait(wait):
                return None, attempt - 1
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: about 0.5 s, 1 s, 2 s, ... capped."""
        return min(self.max_backoff, self.backoff * 2 ** (attempt - 1)) * self._jitter.uniform(0.5, 1.0)

    def _retry_after(self, response: httpx.Response) -> float | None:
        """Seconds the platform asked us to wait (Retry-After as seconds or an HTTP date), capped."""
        raw = response.headers.get("retry-after", "").strip()
        if not raw:
            return None
        try:
            seconds = float(raw)
        except ValueError:
            try:
                seconds = (parsedate_to_datetime(raw) - datetime.now(timezone.utc)).total_seconds()
            except (TypeError, ValueError):
                return None
        return min(self.max_retry_after, max(0.0, seconds))


def _batch_results(response: httpx.Response, count: int) -> list[str]:
    """Each reading's status from a batch answer; all accepted when the answer does not say."""
    statuses = ["accepted"] * count
    try:
        for result in response.json().get("results", []):
            if 0 <= int(result["index"]) < count:
                statuses[int(result["index"])] = str(result["status"])
    except (ValueError, TypeError, KeyError, AttributeError):
        pass
    return statuses


def _message(response: httpx.Response) -> str:
    """The platform's error message (`{"error": {"message"}}`), or the start of the body."""
    try:
        error = response.json().get("error", {})
        return str(error.get("message") or error)
    except (ValueError, AttributeError):
        return response.text[:200]
