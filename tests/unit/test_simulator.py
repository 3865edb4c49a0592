"""The simulated farm's model, options and sender, without a network."""

import itertools
import json
import threading
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from hydroponics.readings.sensor_types import SENSOR_TYPES
from hydroponics.simulator.cli import parse_args
from hydroponics.simulator.farm import Reading, farm_readings, farm_rounds, location_names
from hydroponics.simulator.probes import DROPOUT, SENSORS, SPIKE, STUCK
from hydroponics.simulator.runner import run_farm
from hydroponics.simulator.sender import AccessRefused, FarmSender, payload

START = datetime(2025, 6, 1, tzinfo=timezone.utc)
ROUNDS_PER_DAY = 24 * 60  # one round a virtual minute
ENV = {"API_URL": "http://farm.test", "CLIENT_ID": "8cf6488d-1586-4f82-b7d4-68c55ca54300", "API_KEY": "k"}


def _rounds(days: float = 3, **kwargs) -> list[list[Reading]]:
    options = {"start": START, "step": 60.0, "fault_rate": 0.0} | kwargs
    return list(itertools.islice(farm_rounds(**options), int(days * ROUNDS_PER_DAY)))


def _readings(days: float = 3, **kwargs) -> list[Reading]:
    return [reading for round_ in _rounds(days, **kwargs) for reading in round_]


@pytest.fixture(scope="module")
def healthy_farm() -> list[Reading]:
    return _readings(fault_rate=0.0)


@pytest.fixture(scope="module")
def faulty_farm() -> list[Reading]:
    return _readings(fault_rate=0.01)


def _series(readings: list[Reading], sensor: str) -> dict[str, list[Reading]]:
    by_location = defaultdict(list)
    for reading in readings:
        if reading.sensor_type == sensor:
            by_location[reading.location].append(reading)
    return by_location


# -- determinism --------------------------------------------------------------------------------------

def test_same_seed_and_clock_give_the_same_readings():
    first = list(itertools.islice(farm_readings(seed=7, start=START, fault_rate=0.05), 3000))
    again = list(itertools.islice(farm_readings(seed=7, start=START, fault_rate=0.05), 3000))
    assert first == again


def test_a_different_seed_gives_different_readings():
    one = [r.value for r in itertools.islice(farm_readings(seed=1, start=START), 500)]
    other = [r.value for r in itertools.islice(farm_readings(seed=2, start=START), 500)]
    assert one != other


def test_readings_come_in_time_order_one_per_sensor_per_round(healthy_farm):
    times = [r.time for r in healthy_farm]
    assert times == sorted(times)
    for round_ in _rounds(days=0.1):
        assert sorted((r.location, r.sensor_type) for r in round_) == sorted(
            itertools.product(location_names(3), SENSORS))


def test_faults_leave_the_healthy_readings_unchanged(faulty_farm):
    healthy = {(r.time, r.location, r.sensor_type): r for r in _readings(days=1)}
    for reading in faulty_farm:
        if reading.fault is None and reading.time < START + timedelta(days=1):
            assert healthy[reading.time, reading.location, reading.sensor_type] == reading


def test_locations_are_named_like_the_farm():
    assert location_names(5) == ["greenhouse-1/bay-a", "greenhouse-1/bay-b", "greenhouse-1/bay-c",
                                 "greenhouse-1/bay-d", "greenhouse-2/bay-a"]


# -- physics ------------------------------------------------------------------------------------------

def test_every_value_stays_within_the_platforms_physical_ranges(faulty_farm):
    assert {r.fault for r in faulty_farm} >= {None, SPIKE, STUCK}
    for reading in faulty_farm:
        kind = SENSOR_TYPES[reading.sensor_type]
        assert kind.minimum <= reading.value <= kind.maximum, reading


def _mean_between(readings: list[Reading], first_hour: int, last_hour: int) -> float:
    values = [r.value for r in readings if first_hour <= r.time.hour < last_hour]
    return sum(values) / len(values)


@pytest.mark.parametrize("sensor, margin", [("air_temperature", 3.0), ("temperature", 0.5)])
def test_afternoons_are_warmer_than_the_hours_before_dawn(healthy_farm, sensor, margin):
    for location, readings in _series(healthy_farm, sensor).items():
        assert _mean_between(readings, 13, 17) > _mean_between(readings, 3, 6) + margin, location


def test_humidity_falls_as_the_air_warms(healthy_farm):
    for location, readings in _series(healthy_farm, "humidity").items():
        assert _mean_between(readings, 13, 17) < _mean_between(readings, 3, 6) - 5, location


def test_dosing_keeps_ph_in_band_rising_between_doses(healthy_farm):
    for location, readings in _series(healthy_farm, "ph").items():
        values = [r.value for r in readings]
        assert 5.5 <= min(values) and max(values) <= 6.8, location
        doses = sum(1 for a, b in itertools.pairwise(values) if a - b > 0.4)
        assert doses >= 3, f"{location}: {doses} dosing steps in 3 days"
        assert values[-1] != values[0]


def test_ec_falls_as_plants_feed_and_is_topped_up(healthy_farm):
    for location, readings in _series(healthy_farm, "ec").items():
        values = [r.value for r in readings]
        assert 1.2 <= min(values) and max(values) <= 2.5, location
        top_ups = [i + 1 for i, (a, b) in enumerate(itertools.pairwise(values)) if b - a > 0.2]
        assert top_ups, f"{location}: never topped up"
        for after, before in itertools.pairwise([0] + top_ups):  # between top-ups the plants draw EC down
            assert sum(values[before - 10:before]) < sum(values[after:after + 10]), location


def test_water_level_falls_and_is_refilled(healthy_farm):
    for location, readings in _series(healthy_farm, "water_level").items():
        values = [r.value for r in readings]
        assert 50 <= min(values) and max(values) <= 100, location
        assert any(b - a > 20 for a, b in itertools.pairwise(values)), f"{location}: never refilled"


# -- faults -------------------------------------------------------------------------------------------

def test_faults_appear_with_faults_on(faulty_farm):
    kinds = {r.fault for r in faulty_farm}
    assert {STUCK, SPIKE} <= kinds
    # a stuck probe repeats one value for its whole fault
    for location, readings in _series(faulty_farm, "ph").items():
        for fault, run in itertools.groupby(readings, key=lambda r: r.fault):
            if fault == STUCK:
                assert len({r.value for r in run}) == 1, location
    # a silent probe is missing from rounds: fewer readings than probes x rounds
    assert len(faulty_farm) < 3 * ROUNDS_PER_DAY * len(location_names(3)) * len(SENSORS)


def test_no_faults_means_none_ever(healthy_farm):
    assert {r.fault for r in healthy_farm} == {None}
    assert len(healthy_farm) == 3 * ROUNDS_PER_DAY * len(location_names(3)) * len(SENSORS)


def test_the_fault_rate_sets_how_often_faults_start():
    def spikes(rate: float) -> int:  # each spike is one fault starting
        return sum(1 for r in _readings(days=1, fault_rate=rate) if r.fault == SPIKE)
    assert 0 < spikes(0.001) < spikes(0.02)


def test_every_probe_reports_in_the_first_round_even_when_faulty():
    first = next(farm_rounds(start=START, fault_rate=1.0, locations=4))
    assert len(first) == 4 * len(SENSORS) and {r.fault for r in first} == {None}


def test_dropouts_silence_a_probe_for_whole_rounds():
    rounds = _rounds(days=0.5, fault_rate=0.05)
    present = [{(r.location, r.sensor_type) for r in round_} for round_ in rounds]
    assert any(len(p) < 3 * len(SENSORS) for p in present)
    assert DROPOUT not in {r.fault for round_ in rounds for r in round_}  # silent probes send nothing


# -- options ------------------------------------------------------------------------------------------

def test_options_default_to_the_environment_and_a_small_fault_rate():
    args = parse_args([], env=ENV, now=START)
    assert (args.api_url, args.client_id, args.api_key) == (ENV["API_URL"], ENV["CLIENT_ID"], "k")
    assert (args.locations, args.interval, args.seed, args.speed, args.duration) == (3, 5.0, 42, 1.0, None)
    assert 0 < args.fault_rate <= 0.01 and args.start == START and not args.batch and not args.once


def test_no_faults_sets_the_fault_rate_to_zero():
    assert parse_args(["--no-faults", "--fault-rate", "0.5"], env=ENV).fault_rate == 0.0


def test_once_reports_the_round_just_taken_so_no_timestamp_is_ahead_of_now():
    args = parse_args(["--once"], env=ENV, now=START)
    assert args.start == START - timedelta(seconds=5)


def test_a_fast_clock_ends_at_now_so_the_platform_never_sees_the_future():
    args = parse_args(["--speed", "720", "--duration", "120"], env=ENV, now=START)
    assert args.start == START - timedelta(seconds=120 * 719)


@pytest.mark.parametrize("argv", [["--speed", "10"], ["--interval", "0"], ["--fault-rate", "2"], ["--locations", "0"]])
def test_impossible_options_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_args(argv, env=ENV)
    assert exit_.value.code == 2


def test_missing_credentials_are_named(capsys):
    with pytest.raises(SystemExit):
        parse_args([], env={"API_URL": "http://farm.test"})
    assert "CLIENT_ID" in capsys.readouterr().err


# -- sending (httpx's in-memory transport, no network) ------------------------------------------------

def _sender(handler, **kwargs) -> FarmSender:
    options = {"backoff": 0.01, "max_attempts": 3} | kwargs
    return FarmSender("http://farm.test/", ENV["CLIENT_ID"], "k", transport=httpx.MockTransport(handler), **options)


def test_payload_is_the_legacy_shape():
    reading = Reading(START + timedelta(seconds=1.5), "greenhouse-1/bay-a", "ph", 6.12, STUCK)
    assert payload(reading) == {"sensor_type": "ph", "value": 6.12, "timestamp": "2025-06-01T00:00:01.500Z",
                                "location": "greenhouse-1/bay-a"}


def test_a_batch_resends_only_what_the_platform_could_not_queue():
    bodies = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        if len(bodies) == 1:
            return httpx.Response(202, json={"results": [{"index": 0, "status": "accepted"},
                                                         {"index": 1, "status": "unavailable"},
                                                         {"index": 2, "status": "rejected"}]})
        return httpx.Response(202, json={"results": [{"index": 0, "status": "accepted"}]})

    readings = next(farm_rounds(start=START, locations=1))[:3]
    delivery = _sender(handler).post_round(readings)
    assert (delivery.accepted, delivery.rejected, delivery.failed, delivery.retries) == (2, 1, 0, 1)
    assert bodies[1] == {"readings": [payload(readings[1])]}


def test_a_refused_key_stops_the_farm():
    sender = _sender(lambda request: httpx.Response(401, json={"error": {"message": "invalid or revoked API key"}}))
    with pytest.raises(AccessRefused, match="revoked"):
        sender.post_reading(next(farm_readings(start=START)))


def test_retries_are_bounded_and_then_the_reading_counts_as_failed():
    calls = []
    sender = _sender(lambda request: calls.append(request) or httpx.Response(503), max_attempts=3)
    delivery = sender.post_reading(next(farm_readings(start=START)))
    assert len(calls) == 3 and (delivery.failed, delivery.retries) == (1, 2)


def test_an_invalid_reading_is_rejected_not_retried():
    calls = []
    sender = _sender(lambda request: calls.append(request) or httpx.Response(422, json={}))
    assert sender.post_reading(next(farm_readings(start=START))).rejected == 1 and len(calls) == 1


def test_a_stop_ends_the_wait_for_a_retry_at_once():
    stop = threading.Event()
    stop.set()
    sender = _sender(lambda request: httpx.Response(429, headers={"Retry-After": "60"}), stop=stop)
    assert sender.post_reading(next(farm_readings(start=START))).failed == 1


def test_once_sends_each_probe_once_and_batch_sends_the_round_as_one_request():
    requests = []
    sender = _sender(lambda request: requests.append(json.loads(request.content)) or httpx.Response(202, json={}))
    tally = run_farm(farm_rounds(start=START, locations=2), sender, start=START, once=True)
    assert tally.sent == tally.accepted == len(requests) == 2 * len(SENSORS)
    requests.clear()
    tally = run_farm(farm_rounds(start=START, locations=2), sender, start=START, once=True, batch=True)
    assert len(requests) == 1 and len(requests[0]["readings"]) == tally.accepted == 2 * len(SENSORS)
