"""Hypothesis fuzz of the ingest body parser (hydroponics.ingest.service): JSON text written by hand,
so it can hold what json.dumps never writes (a key twice in one object, NaN and Infinity, integers
of thousands of digits, escaped lone surrogates, nesting far past the parser's recursion limit),
and readings with every field of the wrong type.

The contract property test (tests/integration/test_ingest_contract.py) drives valid and invalid
readings through MiniStack and PostgreSQL; this one stays in the parser, where the edge cases
are, and runs thousands of documents in seconds. Properties: the parser answers every body with
an outcome or a 4xx domain error (never another exception: that would be a 500), and whatever it
accepts is storable (a known type, a finite value, text PostgreSQL can hold, a moment in range).
"""

import json
import math
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hydroponics.errors import DomainError, InvalidInput, PayloadTooLarge
from hydroponics.ingest import service
from hydroponics.readings.publisher import PublishResult
from hydroponics.readings.sensor_types import SENSOR_TYPES
from hydroponics.text import storable_problem

CLIENT = uuid.uuid4()
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(autouse=True)
def queued(monkeypatch) -> list:
    """The readings the parser would queue (the queue itself is the integration tests' business)."""
    sent: list = []

    def publish(readings, correlation_id=None):
        sent.extend(readings)
        return PublishResult(queued=frozenset(range(len(readings))), failed=frozenset())

    monkeypatch.setattr(service, "publish_readings", publish)
    return sent


# ---- JSON text, written by hand -------------------------------------------------------------

def _string(text: str) -> str:
    # json.dumps escapes lone surrogates as \udxxx, which is what a device would have to send
    return json.dumps(text)


numbers = st.one_of(
    st.integers(min_value=-10**6, max_value=10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e-999", "-0", "0.0e0"]),
    st.integers(min_value=300, max_value=6000).map(lambda digits: "9" * digits),  # past int's 4,300 digits
)
texts = st.one_of(st.text(max_size=30), st.sampled_from(["\x00", "\ud800", "\udfff", "ph\u200b", " pH ", "\u202eph",
                                                          "a\nb", "ÉC", "温度"]))
scalars = st.one_of(numbers, texts.map(_string), st.sampled_from(["true", "false", "null"]))


def _object(pairs: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f"{_string(key)}:{value}" for key, value in pairs) + "}"


documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4).map(lambda items: "[" + ",".join(items) + "]"),
                            st.lists(st.tuples(texts, inner), max_size=4).map(_object)),
    max_leaves=20)

FIELD_VALUES = {
    "sensor_type": st.one_of(st.sampled_from(tuple(SENSOR_TYPES) + ("PH", " ec ", "pH-probe", "")).map(_string), documents),
    "value": st.one_of(numbers, documents),
    "timestamp": st.one_of(st.sampled_from(['"2026-11-29T12:00:00Z"', '"2026-11-29 12:00"', '"yesterday"', "1764417600",
                                            "1764417600000", "0", "-1", "99999999999999999999", "9e300", "NaN"]),
                           documents),
    "location": st.one_of(texts.map(_string), documents),
    "sensor_id": st.one_of(texts.map(_string), documents),
}


@st.composite
def readings(draw) -> str:
    """A reading object: each known field present or not, of the right type or not, some twice."""
    pairs = [(name, draw(strategy)) for name, strategy in FIELD_VALUES.items() if draw(st.booleans())]
    if pairs and draw(st.integers(0, 9)) == 0:
        pairs.append((pairs[0][0], draw(FIELD_VALUES[pairs[0][0]])))  # the same key twice
    pairs += draw(st.lists(st.tuples(texts, scalars), max_size=2))  # unknown fields (old firmware)
    return _object(pairs)


bodies = st.one_of(
    readings(),
    st.lists(readings(), max_size=6).map(lambda items: "[" + ",".join(items) + "]"),
    st.lists(readings(), max_size=6).map(lambda items: '{"readings":[' + ",".join(items) + "]}"),
    documents,
)


# ---- properties -----------------------------------------------------------------------------

def _answer(body: bytes):
    """The outcome, or the 4xx domain error; any other exception fails the test (it would be a 500)."""
    try:
        return service.ingest(body, CLIENT)
    except DomainError as refused:
        assert 400 <= refused.status_code < 500, refused
        assert refused.details or isinstance(refused, PayloadTooLarge)
        json.dumps(refused.details)  # the error can be sent back as JSON
        return refused


def _storable(readings: list) -> None:
    now = datetime.now(timezone.utc)
    for reading in readings:
        assert reading.sensor_type in SENSOR_TYPES
        assert isinstance(reading.value, float) and math.isfinite(reading.value)
        for text in (reading.sensor, reading.location or ""):
            assert storable_problem(text) is None, text
        assert datetime(2000, 1, 1, tzinfo=timezone.utc) <= reading.recorded_at <= now + timedelta(minutes=6)
        assert reading.client_id == CLIENT


@FUZZ
@given(body=bodies)
@example(body='{"sensor_type": "ph", "value": 6.1}')
@example(body='{"sensor_type": "ph", "value": 6.1, "value": 7.2}')
@example(body='{"sensor_type": "ph", "value": ' + "9" * 5000 + "}")
@example(body="[" * 50_000 + "]" * 50_000)
@example(body='{"sensor_type": "ph", "value": NaN}')
@example(body='{"sensor_type": "\\ud800", "value": 1}')
def test_every_body_gets_an_outcome_or_a_4xx_and_accepted_readings_are_storable(body, queued):
    queued.clear()  # the fixture is shared by the examples
    answer = _answer(body.encode("utf-8", "surrogatepass"))
    if isinstance(answer, DomainError):
        assert queued == []  # nothing is queued unless the request as a whole is valid
    else:
        assert answer.accepted == len(queued) > 0
        _storable(queued)


@FUZZ
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_get_an_outcome_or_a_4xx(raw, queued):
    queued.clear()  # the fixture is shared by the examples
    _answer(raw)
    _storable(queued)


@settings(max_examples=60, deadline=None)
@given(depth=st.integers(min_value=1, max_value=200_000), kind=st.sampled_from(["[]", '{"a":}']))
def test_nesting_of_any_depth_is_answered(depth, kind):
    opening, closing = (kind[0] * depth, kind[-1] * depth) if kind == "[]" else ('{"a":' * depth, "1" + "}" * depth)
    answer = _answer((opening + closing).encode())
    assert isinstance(answer, (InvalidInput, PayloadTooLarge))


@FUZZ
@given(key=st.sampled_from(list(FIELD_VALUES) + ["readings", "x"]), where=st.sampled_from(["top", "batch", "nested"]))
def test_a_key_twice_in_one_object_is_refused_wherever_it_is(key, where):
    twice = f'{{"sensor_type": "ph", "value": 6.0, "{key}": 1, "{key}": 2}}'
    body = {"top": twice, "batch": f"[{twice}]", "nested": f'{{"readings": [{{"sensor_type": "ph", "value": 1, '
                                                            f'"extra": {twice}}}]}}'}[where]
    answer = _answer(body.encode())
    assert isinstance(answer, InvalidInput)
    assert answer.details == [{"field": "body", "reason": f"the key {key!r} appears twice in one object"}]


def test_the_parser_errors_name_the_body():
    for body, reason in ((b"[" * 100_000, "is nested too deeply"), (b'{"value": NaN}', "NaN is not a JSON number"),
                         (b"9" * 5000, "Exceeds the limit (4300 digits) for integer string conversion")):
        with pytest.raises(InvalidInput) as refused:
            service.parse_body(body)
        assert refused.value.details == [{"field": "body", "reason": reason}]
