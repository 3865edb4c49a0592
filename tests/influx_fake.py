"""A small local stand-in for an InfluxDB 2.x server's write endpoint, over real HTTP on 127.0.0.1.

It speaks what influxdb-client's synchronous write API sends: `POST /api/v2/write?org=&bucket=&precision=`
with a token and a line-protocol body (204, or InfluxDB's JSON error), plus `/ping` and `/health`.
A point is keyed as InfluxDB keys it (bucket, measurement, tag set, timestamp), so writing it again
overwrites it. `refuse` (a text that marks lines to refuse with 400) and `unavailable` (answer every
write with 503) let tests drive the store step's two failure paths. The Flux query endpoint is not
implemented (501): the contract suite's query half needs a real server (INFLUXDB_URL).
"""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator
from urllib.parse import parse_qs, urlparse

TOKEN = "fake-influx-token"


def _split(text: str, separator: str) -> list[str]:
    """Split on `separator` where it is not backslash-escaped (and, for fields, not inside quotes)."""
    parts, current, quoted, escaped = [], [], False, False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == '"':
            quoted = not quoted
            current.append(char)
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _field_value(raw: str) -> float | int | str | bool:
    if raw.startswith('"'):
        return _unescape(raw[1:-1])
    if raw in ("t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"):
        return raw[0] in "tT"
    if raw.endswith("i"):
        return int(raw[:-1])
    return float(raw)


def parse_line(line: str) -> tuple[str, dict[str, str], dict[str, object], int]:
    """(measurement, tags, fields, timestamp) of one line of line protocol."""
    head, fields, timestamp = _split(line, " ")
    measurement, *tags = _split(head, ",")
    tag_set = {_unescape(k): _unescape(v) for k, v in (_split(t, "=") for t in tags)}
    field_set = {_unescape(k): _field_value(v) for k, v in (_split(f, "=") for f in _split(fields, ","))}
    return _unescape(measurement), tag_set, field_set, int(timestamp)


class FakeInflux:
    """The server and what it holds: `points[(bucket, measurement, tags, time)] = fields`."""

    def __init__(self, port: int = 0) -> None:
        self.points: dict[tuple, dict[str, object]] = {}
        self.writes = 0
        self.refuse: str | None = None
        self.unavailable = False
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _answer(self, status: int, body: dict | None = None) -> None:
                payload = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                if payload:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                path = urlparse(self.path).path
                if path == "/ping":
                    self._answer(204)
                elif path == "/health":
                    self._answer(200, {"name": "influxdb", "status": "pass"})
                else:
                    self._answer(404, {"code": "not found", "message": path})

            def do_POST(self) -> None:
                url = urlparse(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                if url.path == "/api/v2/query":
                    self._answer(501, {"code": "not implemented", "message": "the fake answers no Flux"})
                    return
                if url.path != "/api/v2/write":
                    self._answer(404, {"code": "not found", "message": url.path})
                    return
                if self.headers.get("Authorization") != f"Token {TOKEN}":
                    self._answer(401, {"code": "unauthorized", "message": "unauthorized access"})
                    return
                if fake.unavailable:
                    self._answer(503, {"code": "unavailable", "message": "service unavailable"})
                    return
                query = parse_qs(url.query)
                bucket = query.get("bucket", [""])[0]
                lines = [line for line in body.splitlines() if line.strip()]
                if fake.refuse and any(fake.refuse in line for line in lines):
                    self._answer(400, {"code": "invalid", "message": f"refused: {fake.refuse}"})
                    return
                try:
                    parsed = [parse_line(line) for line in lines]
                except ValueError as exc:
                    self._answer(400, {"code": "invalid", "message": f"unable to parse: {exc}"})
                    return
                with fake._lock:
                    fake.writes += 1
                    for measurement, tags, fields, at in parsed:
                        key = (bucket, measurement, tuple(sorted(tags.items())), at)
                        fake.points[key] = fake.points.get(key, {}) | fields  # same key: overwritten
                self._answer(204)

        return Handler

    def __enter__(self) -> "FakeInflux":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def series(self) -> Iterator[tuple[dict[str, str], int, dict[str, object]]]:
        """(tags, time, fields) of every point held."""
        for (_, _, tags, at), fields in sorted(self.points.items()):
            yield dict(tags), at, fields
