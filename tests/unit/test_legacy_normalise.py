"""Legacy values made platform values: each format read, each change counted, each unreadable value refused."""

from datetime import UTC, datetime

import pytest

from hydroponics.legacy.normalise import Normaliser, Refused
from hydroponics.legacy.source import COLUMNS, LegacyDatabase
from hydroponics.legacy.tables import canon, checksum, legacy_id


@pytest.mark.parametrize("raw, moment, kind", [
    ("2026-09-01T08:00:00", datetime(2026, 9, 1, 8, tzinfo=UTC), None),
    ("2026-09-01T08:00:00+02:00", datetime(2026, 9, 1, 6, tzinfo=UTC), None),
    ("2026-09-01 08:00:00", datetime(2026, 9, 1, 8, tzinfo=UTC), "date_iso_with_space"),
    ("2026-09-01", datetime(2026, 9, 1, tzinfo=UTC), "date_without_time"),
    (1788249600, datetime(2026, 9, 1, 8, tzinfo=UTC), "date_from_epoch"),
    (1788249600000, datetime(2026, 9, 1, 8, tzinfo=UTC), "date_from_epoch"),
    ("1788249600", datetime(2026, 9, 1, 8, tzinfo=UTC), "date_from_epoch_text"),
    ("01/09/2026", datetime(2026, 9, 1, tzinfo=UTC), "date_from_dd_mm_yyyy"),
    ("1/9/2026 08:00", datetime(2026, 9, 1, 8, tzinfo=UTC), "date_from_dd_mm_yyyy"),
])
def test_dates_in_every_legacy_format_are_read_and_the_change_counted(raw, moment, kind):
    n = Normaliser()
    assert n.moment(raw, "planted_at") == moment
    assert dict(n.counts) == ({kind: 1} if kind else {})


@pytest.mark.parametrize("raw, reason", [
    ("31/02/2026", "planted_at is not a valid date: '31/02/2026'"),
    ("yesterday", "planted_at is not a date in a known format: 'yesterday'"),
    ("1999-12-31T23:59:59", "planted_at is before 2000-01-01: '1999-12-31T23:59:59'"),
    (None, "planted_at is missing"),
    ("  ", "planted_at is missing"),
])
def test_unreadable_or_missing_required_dates_are_refused_with_the_reason(raw, reason):
    with pytest.raises(Refused, match="^" + reason.replace("(", r"\(").replace(")", r"\)") + "$"):
        Normaliser().moment(raw, "planted_at", required=True)


def test_numbers_as_text_types_and_text_are_normalised_and_counted():
    n = Normaliser()
    assert n.number(" 6.5 ", "value") == 6.5 and n.number("1e3", "value") == 1000.0 and n.number(7, "value") == 7.0
    assert n.sensor_type(" PH ") == "ph" and n.sensor_type("water_temperature") == "temperature"
    assert n.email(" Ops@Farm.Example ", "email") == "ops@farm.example"
    assert dict(n.counts) == {"number_from_text": 2, "text_trimmed": 2, "sensor_type_lowercased": 1,
                              "sensor_type_alias": 1, "email_lowercased": 1}
    for bad in ("six", "NaN", "inf", "1,5", True):
        with pytest.raises(Refused):
            n.number(bad, "value")
    with pytest.raises(Refused, match="not a known sensor type"):
        n.sensor_type("radiation")


def test_invalid_json_is_kept_as_text_and_counted():
    n = Normaliser()
    assert n.json_object('{"a": 1}', "config") == ({"a": 1}, None)
    assert n.json_object("{oops", "config") == ({}, "{oops")
    assert n.json_object("[1, 2]", "config") == ({}, "[1, 2]")  # JSON, but not an object
    assert n.counts == {"invalid_json_kept": 2}


def test_a_refused_row_takes_back_what_it_would_have_changed():
    n = Normaliser()
    n.next_row()
    n.number("1", "a")
    n.next_row()
    n.number("2", "a")
    n.sensor_type(" PH")
    n.refuse_row()
    assert dict(n.counts) == {"number_from_text": 1}


def test_checksums_spell_values_one_way_whichever_side_read_them():
    from decimal import Decimal
    assert canon(Decimal("12.500")) == canon(12.5) and canon(True) == 1
    assert canon(datetime(2026, 1, 1, 1, tzinfo=UTC)) == "2026-01-01T01:00:00.000000+00:00"
    assert canon({"b": 1, "a": [2]}) == '{"a":[2],"b":1}'
    assert legacy_id(12.0) == "12" and legacy_id(" 7 ") == "7"
    assert checksum([("2", (1,)), ("10", (2,))]) == checksum([("10", (2,)), ("2", (1,))])
    assert checksum([("2", (1,))]) != checksum([("2", (2,))])


def test_columns_are_found_by_name_whatever_their_order(tmp_path):
    import sqlite3
    path = tmp_path / "legacy.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE Clients (created TEXT, farm_name TEXT, id INTEGER, extra TEXT)")
        db.execute("INSERT INTO Clients VALUES ('2024-01-01', 'Farm', 4, 'x')")
    source = LegacyDatabase(path)
    try:
        table = source.tables["clients"]
        assert table.fields == {"id": "id", "name": "farm_name", "created_at": "created"}
        assert table.unknown_columns == ("extra",)
        assert list(source.rows("clients")) == [{"id": 4, "name": "Farm", "created_at": "2024-01-01"}]
        assert set(source.tables) == {"clients"} and set(COLUMNS) >= set(source.tables)
    finally:
        source.close()
