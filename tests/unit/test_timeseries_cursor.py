"""Keyset cursors: opaque, round-trip exactly, and refuse anything this API did not issue for the window."""

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest

from hydroponics.timeseries.base import SeriesPosition, Window
from hydroponics.timeseries.cursor import InvalidCursor, decode_cursor, encode_cursor

AT = datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=timezone.utc)


def _forge(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize("window", list(Window))
def test_a_cursor_round_trips_to_the_microsecond(window):
    position = SeriesPosition(at=AT, sensor="ph@tank-1 \"north\" ü")
    cursor = encode_cursor(window, position)
    assert cursor.isascii() and "=" not in cursor and "ph" not in cursor  # opaque and URL-safe
    assert decode_cursor(cursor, window) == position


def test_a_cursor_keeps_its_offset_as_an_instant():
    position = SeriesPosition(at=AT.astimezone(timezone(timedelta(hours=2))), sensor="ec-1")
    assert decode_cursor(encode_cursor(Window.HOUR, position), Window.HOUR).at == AT


def test_a_cursor_of_another_window_is_refused():
    cursor = encode_cursor(Window.RAW, SeriesPosition(at=AT, sensor="ph-1"))
    with pytest.raises(InvalidCursor, match="window 'raw', not '1m'"):
        decode_cursor(cursor, Window.MINUTE)


@pytest.mark.parametrize("cursor", [
    "", "not-a-cursor", "!!!!", _forge([1, 2]), _forge({"v": 2, "w": "raw", "t": AT.isoformat(), "s": "x"}),
    _forge({"v": 1, "w": "raw", "t": "2026-11-29T12:00:00", "s": "x"}),  # no offset
    _forge({"v": 1, "w": "raw", "t": "yesterday", "s": "x"}), _forge({"v": 1, "w": "raw", "t": 5, "s": "x"}),
    _forge({"v": 1, "w": "raw", "t": AT.isoformat(), "s": ""}), _forge({"v": 1, "w": "raw", "t": AT.isoformat()}),
    "A" * 2000,
])
def test_malformed_cursors_are_refused(cursor):
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, Window.RAW)
