"""Opaque keyset cursors: the window and the last point's (time, sensor), base64url-encoded JSON."""

import base64
import binascii
import json
from datetime import datetime

from hydroponics.text import storable_problem
from hydroponics.timeseries.base import SeriesPosition, Window

_VERSION = 1
MAX_CURSOR_LENGTH = 1024


class InvalidCursor(ValueError):
    """A cursor this API did not issue, or one issued for another window."""


def encode_cursor(window: Window, position: SeriesPosition) -> str:
    payload = {"v": _VERSION, "w": window.value, "t": position.at.isoformat(), "s": position.sensor}
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _payload(cursor: str) -> dict:
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor("cursor is malformed") from None
    if not isinstance(payload, dict) or payload.get("v") != _VERSION:
        raise InvalidCursor("cursor was not issued by this API")
    return payload


def decode_cursor(cursor: str, window: Window) -> SeriesPosition:
    """The position a cursor stands for; InvalidCursor when it is malformed or for another window."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursor("cursor is too long")
    payload = _payload(cursor)
    sensor, issued_for = payload.get("s"), payload.get("w")
    try:
        at = datetime.fromisoformat(payload.get("t"))
    except (TypeError, ValueError):
        raise InvalidCursor("cursor is malformed") from None
    if at.tzinfo is None or not isinstance(sensor, str) or not sensor or storable_problem(sensor):
        raise InvalidCursor("cursor is malformed")
    if issued_for != window.value:
        raise InvalidCursor(f"cursor belongs to window {issued_for!r}, not {window.value!r}")
    return SeriesPosition(at=at, sensor=sensor)
