"""Accepting a device's request: parse the body, validate each reading, queue the valid ones."""

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from hydroponics.errors import InvalidInput, PayloadTooLarge, ServiceUnavailable, UnsupportedMediaType
from hydroponics.http_hygiene import INGEST_BODY_LIMIT
from hydroponics.observability import logger
from hydroponics.readings.incoming import MAX_BATCH, validate_reading
from hydroponics.readings.publisher import publish_readings
from hydroponics.text import escaped

MAX_BODY_BYTES = INGEST_BODY_LIMIT  # also held by the app's middleware, before the body is read
RETRY_AFTER_SECONDS = "5"


@dataclass
class IngestOutcome:
    batch: bool
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(1 for r in self.results if r["status"] == "accepted")

    def body(self) -> dict[str, Any]:
        if not self.batch:
            return {"status": "accepted", "message": "Reading accepted"}
        rejected = len(self.results) - self.accepted
        return {"status": "accepted" if rejected == 0 else "partial",
                "message": f"{self.accepted} of {len(self.results)} readings accepted",
                "accepted": self.accepted, "rejected": rejected, "results": self.results}


def check_content_type(content_type: str | None) -> None:
    """JSON only; a missing content type is taken as JSON (some legacy firmware sends none)."""
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType(f"send readings as application/json, not {media}")


def _readings_in(document: Any) -> tuple[list[Any], bool]:
    """(the readings, whether the request was a batch) for the three accepted shapes."""
    if isinstance(document, list):
        return document, True
    if isinstance(document, dict) and "readings" in document:
        if not isinstance(document["readings"], list):
            raise InvalidInput("request is invalid", details=[{"field": "readings", "reason": "must be a list"}])
        return document["readings"], True
    if isinstance(document, dict):
        return [document], False
    raise InvalidInput("request is invalid",
                          details=[{"field": "body", "reason": "expected a reading object, a list, or {\"readings\": [...]}"}])


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two values for one key are ambiguous (parsers disagree on which wins): refused, not guessed.
    document = {}
    for key, value in pairs:
        if key in document:
            raise _DuplicateKey(f"the key {escaped(key)!r} appears twice in one object")
        document[key] = value
    return document


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_body(body: bytes) -> Any:
    """The request's JSON document; 422 naming the body for anything that is not plain JSON: bad UTF-8,
    NaN or Infinity, a key twice in one object, an integer past Python's 4,300 digits, nesting past
    the parser's recursion limit (each of them once a 500)."""
    try:
        return json.loads(body or b"null", object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except _DuplicateKey as exc:
        reason = str(exc)
    except RecursionError:
        reason = "is nested too deeply"
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, the integer digit limit
        reason = escaped(str(exc).split(": value has")[0])
    raise InvalidInput("request body is not valid JSON", details=[{"field": "body", "reason": reason}])


def ingest(body: bytes, client_id: UUID, correlation_id: str | None = None) -> IngestOutcome:
    """Validate and queue a request's readings. Nothing is queued unless the request as a whole is valid."""
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body is larger than {MAX_BODY_BYTES} bytes")
    document = parse_body(body)
    raw_readings, batch = _readings_in(document)
    if len(raw_readings) > MAX_BATCH:
        raise PayloadTooLarge(f"a batch holds at most {MAX_BATCH} readings, this one has {len(raw_readings)}")
    if batch and not raw_readings:
        raise InvalidInput("request is invalid", details=[{"field": "readings", "reason": "the batch is empty"}])

    received_at = datetime.now(timezone.utc)
    outcome = IngestOutcome(batch=batch)
    valid = []
    for index, raw in enumerate(raw_readings):
        reading, errors = validate_reading(raw, client_id, received_at, prefix=f"readings[{index}]." if batch else "")
        outcome.results.append({"index": index, "status": "accepted"} if reading else
                               {"index": index, "status": "rejected", "errors": errors})
        if reading:
            valid.append((index, reading))
    if not valid:
        details = [e for r in outcome.results for e in r["errors"]]
        raise InvalidInput("no reading was accepted" if batch else "reading is invalid", details=details)

    published = publish_readings([reading for _, reading in valid], correlation_id)
    if not published.queued:
        raise ServiceUnavailable("readings could not be queued; try again", headers={"Retry-After": RETRY_AFTER_SECONDS})
    for position in published.failed:  # their message SQS kept refusing: the device should resend them
        outcome.results[valid[position][0]] = {"index": valid[position][0], "status": "unavailable",
                                               "errors": [{"field": "reading", "reason": "queue unavailable; resend"}]}
    # the first line of a reading's trail (correlation_id): rules, notify and ac_control log under it next
    logger.info("readings queued", extra={"client_id": str(client_id), "accepted": len(published.queued),
                                          "rejected": len(outcome.results) - outcome.accepted})
    return outcome
