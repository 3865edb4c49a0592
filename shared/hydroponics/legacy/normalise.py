"""Legacy values made platform values: dates in several formats, numbers as text, trimmed text, JSON,
sensor types; each change counted by kind, each value that cannot be read refused with a reason."""

import json
import math
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from hydroponics.readings.sensor_types import canonical_sensor_type

_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


class Refused(ValueError):
    """A legacy row that cannot be imported; the message is the reason in the report."""


class Normaliser:
    """Reads legacy values and counts, per kind, every value it had to change to do so."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._row: list[str] = []  # what the current row changed, taken back if it is refused

    def count(self, kind: str) -> None:
        self.counts[kind] += 1
        self._row.append(kind)

    def next_row(self) -> None:
        self._row.clear()

    def refuse_row(self) -> None:
        """The current row was refused: what it would have changed is not counted (it is not imported)."""
        self.counts.subtract(self._row)
        self.counts += Counter()  # drops the kinds that fell to zero
        self._row.clear()

    def text(self, value: Any, column: str, *, required: bool = False, lower: bool = False) -> str | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise Refused(f"{column} is missing")
            if value is not None:
                self.count("blank_text_as_null")
            return None
        raw = value if isinstance(value, str) else str(value)
        cleaned = raw.strip()
        if cleaned != raw:
            self.count("text_trimmed")
        if lower and cleaned.lower() != cleaned:
            cleaned = cleaned.lower()
            self.count("text_lowercased")
        return cleaned

    def number(self, value: Any, column: str, *, required: bool = False) -> float | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise Refused(f"{column} is missing")
            return None
        if isinstance(value, bool):
            raise Refused(f"{column} is not a number: {value!r}")
        if isinstance(value, (int, float)):
            number = float(value)
        elif isinstance(value, str) and _NUMBER.match(value.strip()):  # "1,5" is refused: 1.5 or 15?
            number = float(value.strip())
            self.count("number_from_text")
        else:
            raise Refused(f"{column} is not a number: {value!r}")
        if not math.isfinite(number):
            raise Refused(f"{column} is not a finite number: {value!r}")
        return number

    def integer(self, value: Any, column: str, *, required: bool = False) -> int | None:
        number = self.number(value, column, required=required)
        if number is None:
            return None
        if not number.is_integer():
            raise Refused(f"{column} is not a whole number: {value!r}")
        return int(number)

    def flag(self, value: Any, column: str, default: bool) -> bool:
        if value is None:
            return default
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        lowered = str(value).strip().lower()
        if lowered in ("1", "true", "yes", "y", "t"):
            self.count("flag_from_text")
            return True
        if lowered in ("0", "false", "no", "n", "f"):
            self.count("flag_from_text")
            return False
        raise Refused(f"{column} is not a yes/no value: {value!r}")

    def moment(self, value: Any, column: str, *, required: bool = False) -> datetime | None:
        """ISO-8601 with `T` (the platform's form), ISO with a space, epoch seconds (number or text),
        DD/MM/YYYY [HH:MM[:SS]]; naive means UTC, as on the ingest path."""
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise Refused(f"{column} is missing")
            return None
        moment = self._moment(value, column)
        if moment < _EARLIEST:
            raise Refused(f"{column} is before 2000-01-01: {value!r}")
        return moment

    def _moment(self, value: Any, column: str) -> datetime:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self.count("date_from_epoch")
            return _epoch(value, column)
        raw = str(value).strip()
        if _NUMBER.match(raw):
            self.count("date_from_epoch_text")
            return _epoch(float(raw), column)
        found = _DMY.match(raw)
        if found:
            day, month, year, hour, minute, second = found.groups()
            self.count("date_from_dd_mm_yyyy")
            try:
                return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                                tzinfo=UTC)
            except ValueError:
                raise Refused(f"{column} is not a valid date: {value!r}") from None
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            raise Refused(f"{column} is not a date in a known format: {value!r}") from None
        if "T" not in raw:
            self.count("date_iso_with_space" if " " in raw else "date_without_time")
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)

    def json_object(self, value: Any, column: str) -> tuple[dict[str, Any], str | None]:
        """(the parsed object, None), or ({}, the raw text) for text that is not a JSON object: the
        caller keeps the raw text where it can be seen (counted as invalid_json_kept)."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return {}, None
        try:
            parsed = json.loads(value)
        except (TypeError, ValueError):
            parsed = None
        if not isinstance(parsed, dict):
            self.count("invalid_json_kept")
            return {}, str(value)
        return parsed, None

    def sensor_type(self, value: Any, column: str = "sensor_type") -> str:
        raw = self.text(value, column, required=True)
        known = canonical_sensor_type(raw)
        if known is None:
            raise Refused(f"{column} is not a known sensor type: {value!r}")
        if known.name != raw.lower():
            self.count("sensor_type_alias")
        elif known.name != raw:
            self.count("sensor_type_lowercased")
        return known.name

    def email(self, value: Any, column: str) -> str | None:
        email = self.text(value, column)
        if email is None:
            return None
        if email.lower() != email:
            self.count("email_lowercased")
            email = email.lower()
        return email


def _epoch(seconds: float, column: str) -> datetime:
    if seconds > 1e11:  # milliseconds, as ingest reads them
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise Refused(f"{column} is not a valid epoch time: {seconds!r}") from None
