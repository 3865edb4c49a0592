"""The simulated farm against a real HTTP server on 127.0.0.1 that records what devices send."""

import json
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from hydroponics.simulator.cli import main
from hydroponics.simulator.farm import farm_readings, location_names
from hydroponics.simulator.probes import SENSORS
from hydroponics.simulator.sender import FarmSender
from tests.conftest import ROOT

CLIENT_ID = "8cf6488d-1586-4f82-b7d4-68c55ca54300"
API_KEY = "hyd_test_secret"


@dataclass
class Received:
    at: float
    method: str
    path: str
    headers: dict[str, str]
    body: dict


class RecordingPlatform(ThreadingHTTPServer):
    """Answers 202 to every POST /api/data unless a scripted answer is queued; records each request."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[Received] = []
        self.script: list[tuple[int, dict[str, str]]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # answer keep-alive requests without delayed-ACK stalls
    server: RecordingPlatform

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")
        with self.server.lock:
            self.server.received.append(Received(time.monotonic(), "POST", self.path,
                                                 {k.lower(): v for k, v in self.headers.items()}, body))
            status, headers = self.server.script.pop(0) if self.server.script else (202, {})
        reply = json.dumps({"status": "accepted", "message": "Reading accepted"} if status == 202 else
                           {"error": {"code": "rate_limited", "message": "slow down", "details": []}}).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def platform() -> Iterator[RecordingPlatform]:
    server = RecordingPlatform()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _simulate(platform: RecordingPlatform, *options: str) -> int:
    return main(["--api-url", platform.url, "--client-id", CLIENT_ID, "--api-key", API_KEY, *options])


def test_once_sends_exactly_one_legacy_reading_per_sensor(platform, capsys):
    before = datetime.now(timezone.utc) - timedelta(seconds=6)  # --once reports the round just taken
    assert _simulate(platform, "--once") == 0
    received = platform.received
    assert len(received) == 3 * len(SENSORS)
    assert sorted((r.body["location"], r.body["sensor_type"]) for r in received) == sorted(
        (location, sensor) for location in location_names(3) for sensor in SENSORS)
    for request in received:
        assert (request.method, request.path) == ("POST", "/api/data")
        assert request.headers["x-api-key"] == API_KEY and request.headers["x-client-id"] == CLIENT_ID
        assert request.headers["content-type"] == "application/json"
        assert set(request.body) == {"sensor_type", "value", "timestamp", "location"}
        assert isinstance(request.body["value"], float)
        stamp = datetime.fromisoformat(request.body["timestamp"])
        assert request.body["timestamp"].endswith("Z") and stamp.utcoffset() == timedelta(0)
        assert before <= stamp <= datetime.now(timezone.utc)
    assert "done: sent 18 accepted 18 rejected 0 failed 0 retries 0" in capsys.readouterr().out


def test_a_429_is_retried_after_the_wait_it_asks_for(platform, capsys):
    platform.script = [(429, {"Retry-After": "1"})]
    assert _simulate(platform, "--once", "--locations", "1") == 0
    first, second, *rest = platform.received
    assert second.body == first.body
    assert second.at - first.at >= 0.95
    assert len(rest) == len(SENSORS) - 1
    assert "accepted 6 rejected 0 failed 0 retries 1" in capsys.readouterr().out


def test_batch_sends_each_round_as_one_request(platform):
    assert _simulate(platform, "--once", "--batch") == 0
    [request] = platform.received
    assert len(request.body["readings"]) == 3 * len(SENSORS)
    assert all(set(r) == {"sensor_type", "value", "timestamp", "location"} for r in request.body["readings"])


def test_readings_go_out_as_they_fall_due_not_in_a_burst(platform):
    assert _simulate(platform, "--interval", "0.5", "--duration", "2.2", "--locations", "1", "--no-faults") == 0
    received = platform.received
    assert 4 * len(SENSORS) <= len(received) <= 5 * len(SENSORS)
    stamps = [datetime.fromisoformat(r.body["timestamp"]) for r in received]
    assert stamps == sorted(stamps)
    assert received[-1].at - received[0].at >= 1.5


def test_connection_errors_are_retried_with_backoff_then_given_up():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = FarmSender(f"http://127.0.0.1:{port}", CLIENT_ID, API_KEY, max_attempts=3, backoff=0.05)
    started = time.monotonic()
    delivery = sender.post_reading(next(farm_readings(start=datetime.now(timezone.utc))))
    sender.close()
    assert (delivery.failed, delivery.retries) == (1, 2)
    assert time.monotonic() - started >= 0.05  # it waited between attempts


def test_scripts_simulate_reads_the_environment_and_exits_cleanly_on_sigterm(platform):
    env = os.environ | {"API_URL": platform.url, "CLIENT_ID": CLIENT_ID, "API_KEY": API_KEY}
    farm = subprocess.Popen([str(ROOT / "scripts" / "simulate"), "--interval", "0.2", "--locations", "1"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while len(platform.received) < 2 * len(SENSORS) and time.monotonic() < deadline and farm.poll() is None:
            time.sleep(0.1)
        assert len(platform.received) >= 2 * len(SENSORS)
        farm.send_signal(signal.SIGTERM)
        out, err = farm.communicate(timeout=15)
    finally:
        if farm.poll() is None:
            farm.kill()
    assert farm.returncode == 0, err
    assert "simulate: done: sent" in out
    assert platform.received[0].headers["x-api-key"] == API_KEY
