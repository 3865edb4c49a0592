"""The one rule for text from outside: what a string in a request may hold, and how long it may be.

Every string field of every request model (ingest and api), and every string query or path
parameter, is one of these types, so nothing PostgreSQL cannot store (NUL, an unpaired surrogate)
or nobody meant to send (control characters) reaches the database, and a refusal is the usual
422 naming the field and the reason:

- `identifier(...)`: what records are matched by (sensor ids, locations, channel names, sensor
  types, batch codes, units): trimmed, one line, no control characters, and none of the invisible
  characters (zero-width spaces, bidirectional controls, byte-order mark) that make two
  identical-looking identifiers differ.
- `token(...)`: an opaque value (a shared secret, a page cursor): the identifier rule, kept exactly
  as sent (not trimmed).
- `display_name(...)`: a label people read (a variety's, a client's, a technician's): trimmed, one line,
  no control characters.
- `free_text(...)`: notes, reasons, messages: may hold tabs and line breaks, no other control
  characters.
- `json_object(...)`: a JSON object whose shape a domain model checks later (a rule's condition, a
  channel's config): every key is held to the identifier rule and every string in it, at any
  depth, to the free-text rule.

None of them may hold NUL or an unpaired surrogate (a lone `"\\ud800"` escape in JSON, which
Python's JSON parser lets through), and each has a maximum length (in characters). The
`TextRule` marker in a type's metadata is what tests/unit/test_text_rule_coverage.py looks for on
every route of the app.
"""

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import GetCoreSchemaHandler, StringConstraints
from pydantic_core import PydanticCustomError, core_schema

IDENTIFIER_MAX = 200
NAME_MAX = 200
FREE_TEXT_MAX = 2000
JSON_KEY_MAX = 200
JSON_DEPTH_MAX = 10

Kind = Literal["identifier", "display_name", "free_text", "json"]

# C0 and C1 control characters; free text keeps tab, line feed and carriage return.
_CONTROLS = "\x00-\x1f\x7f-\x9f"
_FREE_TEXT_CONTROLS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_LINE_SEPARATORS = "\u2028\u2029"
# Invisible in print, yet different characters: zero-width space/joiners, marks, bidi embeddings,
# overrides and isolates, word joiner and invisible operators, byte-order mark.
_INVISIBLE = "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_SURROGATES = "\ud800-\udfff"

_FORBIDDEN = {
    "identifier": re.compile(f"[{_CONTROLS}{_LINE_SEPARATORS}{_INVISIBLE}{_SURROGATES}]"),
    "display_name": re.compile(f"[{_CONTROLS}{_LINE_SEPARATORS}{_SURROGATES}]"),
    "free_text": re.compile(f"[{_FREE_TEXT_CONTROLS}{_SURROGATES}]"),
}
_UNSTORABLE = re.compile(f"[\x00{_SURROGATES}]")
# pydantic's own words for a string that is not valid Unicode (a dict key, say) are "unable to parse raw data"
UNPAIRED_SURROGATE = "must not contain an unpaired surrogate: it is not valid Unicode"


def _describe(character: str, kind: str) -> str:
    point = ord(character)
    if point == 0:
        return "must not contain a NUL character (U+0000)"
    if 0xD800 <= point <= 0xDFFF:
        return f"must not contain an unpaired surrogate (U+{point:04X}): it is not valid Unicode"
    if character in "\t\n\r":
        return f"must be a single line (no tab or line break, U+{point:04X})"
    if character in _LINE_SEPARATORS:
        return f"must be a single line (no line separator, U+{point:04X})"
    if point <= 0x9F:
        allowed = " (only tab and line breaks are allowed)" if kind == "free_text" else ""
        return f"must not contain the control character U+{point:04X}{allowed}"
    return f"must not contain the invisible character U+{point:04X}"


def text_problem(value: str, kind: Literal["identifier", "display_name", "free_text"]) -> str | None:
    """Why `value` breaks the `kind` rule's characters (None when it does not); lengths are the type's."""
    found = _FORBIDDEN[kind].search(value)
    return _describe(found.group(), kind) if found else None


def storable_problem(value: str) -> str | None:
    """Why PostgreSQL could not store `value` as text (NUL, unpaired surrogate); None when it can."""
    found = _UNSTORABLE.search(value)
    return _describe(found.group(), "free_text") if found else None


def escaped(value: str) -> str:
    """`value` safe to echo in an error: what the identifier rule refuses written as a \\uXXXX escape."""
    return _FORBIDDEN["identifier"].sub(lambda found: f"\\u{ord(found.group()):04x}", value)


def _json_problem(value: Any, path: str, depth: int) -> str | None:
    if depth > JSON_DEPTH_MAX:
        return f"{path or 'value'}: nested deeper than {JSON_DEPTH_MAX} levels"
    if isinstance(value, str):
        if len(value) > FREE_TEXT_MAX:
            return f"{path or 'value'}: must have at most {FREE_TEXT_MAX} characters"
        problem = text_problem(value, "free_text")
        return f"{path or 'value'}: {problem}" if problem else None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                problem = text_problem(key, "identifier") or (
                    f"must have at most {JSON_KEY_MAX} characters" if len(key) > JSON_KEY_MAX else None)
                if problem:
                    return f"{path + '.' if path else ''}{escaped(key)} (a key): {problem}"
            problem = _json_problem(item, f"{path}.{key}" if path else str(key), depth + 1)
            if problem:
                return problem
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            problem = _json_problem(item, f"{path}[{index}]", depth + 1)
            if problem:
                return problem
    return None


@dataclass(frozen=True)
class TextRule:
    """Annotated metadata that checks a string (or, for `json`, every key and string inside) before
    pydantic's own string checks run, so the reason is this rule's and not a decoding error."""

    kind: Kind
    trim: bool = True  # whitespace at either end (a device's trailing CR LF, say) is dropped, not refused

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(self.check, handler(source))

    def check(self, value: Any) -> Any:
        if self.kind == "json":
            problem = _json_problem(value, "", 0) if isinstance(value, (dict, list)) else None
        elif isinstance(value, str):
            value = value.strip() if self.trim else value
            problem = text_problem(value, self.kind)
        else:
            problem = None  # not a string: pydantic's own type check answers
        if problem:
            raise PydanticCustomError("text_rule", problem)
        return value


def identifier(max_length: int = IDENTIFIER_MAX, *, min_length: int = 1, pattern: str | None = None) -> Any:
    """A trimmed, single-line identifier of at most `max_length` characters."""
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length,
                                            pattern=pattern), TextRule("identifier")]


def token(max_length: int, *, min_length: int = 1) -> Any:
    """An opaque value kept exactly as sent (a secret, a cursor): the identifier rule, untrimmed."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length),
                     TextRule("identifier", trim=False)]


def display_name(max_length: int = NAME_MAX, *, min_length: int = 1) -> Any:
    """A trimmed, single-line label of at most `max_length` characters."""
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
                     TextRule("display_name")]


def free_text(max_length: int = FREE_TEXT_MAX, *, min_length: int = 0) -> Any:
    """Text that may hold tabs and line breaks, trimmed at both ends, at most `max_length` characters."""
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
                     TextRule("free_text")]


def json_object() -> Any:
    """A JSON object whose keys and strings, at any depth, follow the identifier and free-text rules."""
    return Annotated[dict[str, Any], TextRule("json")]


Identifier = identifier()
DisplayName = display_name()
FreeText = free_text()
JsonObject = json_object()
