"""The one text rule (hydroponics.text), on JSON as a client sends it (escapes included)."""

import json

import pytest
from pydantic import BaseModel, ValidationError

from hydroponics.text import (
    DisplayName,
    FreeText,
    Identifier,
    JsonObject,
    escaped,
    identifier,
    storable_problem,
    token,
)


class Form(BaseModel):
    sensor: Identifier | None = None
    label: DisplayName | None = None
    note: FreeText | None = None
    secret: token(40, min_length=4) | None = None
    short: identifier(5) | None = None
    config: JsonObject | None = None


def refusal(raw_json: str) -> list[tuple[tuple, str]]:
    """(loc, reason) of each refused field of a JSON document as received (json.loads keeps lone surrogates)."""
    try:
        Form.model_validate(json.loads(raw_json))
    except ValidationError as exc:
        return [(err["loc"], err["msg"]) for err in exc.errors()]
    return []


@pytest.mark.parametrize("field", ["sensor", "label", "note", "secret"])
@pytest.mark.parametrize(("escape", "reason"), [
    ("\\u0000", "must not contain a NUL character (U+0000)"),
    ("\\ud800", "must not contain an unpaired surrogate (U+D800): it is not valid Unicode"),
    ("\\udfff", "must not contain an unpaired surrogate (U+DFFF): it is not valid Unicode"),
])
def test_nul_and_unpaired_surrogates_are_refused_everywhere(field, escape, reason):
    assert refusal(f'{{"{field}": "bay{escape}a"}}') == [((field,), reason)]


def test_a_surrogate_pair_is_one_character_and_welcome():
    assert Form.model_validate(json.loads('{"sensor": "bay-\\ud83c\\udf31"}')).sensor == "bay-\U0001f331"


def test_control_characters_except_tab_and_line_breaks_in_free_text():
    assert refusal('{"note": "line one\\n\\tline two\\r\\n"}') == []
    assert refusal('{"note": "bell\\u0007"}') == [
        (("note",), "must not contain the control character U+0007 (only tab and line breaks are allowed)")]
    assert refusal('{"note": "c1\\u0085x"}')[0][1].startswith("must not contain the control character U+0085")
    for field in ("sensor", "label"):
        assert refusal(f'{{"{field}": "two\\nlines"}}') == [((field,), "must be a single line (no tab or line break, "
                                                                       "U+000A)")]
        assert refusal(f'{{"{field}": "a\\u2028b"}}')[0][1] == "must be a single line (no line separator, U+2028)"
        assert refusal(f'{{"{field}": "esc\\u001b[31m"}}')[0][1] == "must not contain the control character U+001B"


def test_identifiers_refuse_invisible_characters_labels_do_not():
    for invisible in ("\\u200b", "\\u202e", "\\ufeff", "\\u2066"):
        assert refusal(f'{{"sensor": "ph{invisible}1"}}')[0][1].startswith("must not contain the invisible character")
    assert refusal('{"label": "Greenleaf \\ud83d\\udc68\\u200d\\ud83c\\udf3e"}') == []  # a ZWJ emoji in a name


def test_identifiers_names_and_notes_are_trimmed_tokens_are_kept_as_sent():
    form = Form.model_validate({"sensor": "  ph-1\r\n", "label": "\tGreenleaf ", "note": "\n note \n",
                                "secret": " s3cr3t "})
    assert (form.sensor, form.label, form.note, form.secret) == ("ph-1", "Greenleaf", "note", " s3cr3t ")
    assert refusal('{"sensor": "   "}') == [(("sensor",), "String should have at least 1 character")]


def test_every_type_has_a_maximum_length():
    assert refusal('{"short": "123456"}') == [(("short",), "String should have at most 5 characters")]
    assert refusal(json.dumps({"sensor": "x" * 201}))[0][1] == "String should have at most 200 characters"
    assert refusal(json.dumps({"note": "x" * 2001}))[0][1] == "String should have at most 2000 characters"
    assert refusal(json.dumps({"config": {"k": "x" * 2001}})) == [(("config",), "k: must have at most 2000 characters")]


def test_json_objects_are_checked_at_any_depth_keys_included():
    assert refusal('{"config": {"to": ["a@b.c", {"deep": "x\\u0000"}], "ok": 1}}') == [
        (("config",), "to[1].deep: must not contain a NUL character (U+0000)")]
    assert refusal('{"config": {"head\\ud800er": "v"}}') == [
        (("config",), "head\\ud800er (a key): must not contain an unpaired surrogate (U+D800): it is not valid Unicode")]
    nested: dict = {}
    current = nested
    for _ in range(12):
        current["n"] = {}
        current = current["n"]
    assert refusal(json.dumps({"config": nested}))[0][1].endswith("nested deeper than 10 levels")
    assert Form.model_validate({"config": {"url": "https://x", "n": [1, 2.5, None, True]}}).config["n"][1] == 2.5


def test_what_can_be_echoed_and_what_postgresql_can_store():
    assert escaped("a\x00b\ud800c\u200bé") == "a\\u0000b\\ud800c\\u200bé"
    assert storable_problem("tab\tand é are fine") is None
    assert storable_problem("x\x00") == "must not contain a NUL character (U+0000)"
    assert storable_problem("x\udc00").startswith("must not contain an unpaired surrogate")
