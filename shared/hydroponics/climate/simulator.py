"""A simulated AC unit served over real HTTP (and optionally MQTT): signed commands in, signed acks out.

    python -m hydroponics.climate.simulator --port 8765 --secret s3cret --speed 60
    # and the room's thermometer posting to the platform as a device (the local demo's closed loop):
    ... --report-to "$API_URL" --client-id "$CLIENT_ID" --location greenhouse-1/climate-room --every 5
    (the secret and the device's API key may come from AC_UNIT_SECRET and DEVICE_API_KEY instead)

POST / takes the platform's signed message ({"command_id", "kind": "command"|"status", "command"}) and
answers {"command_id", "status": "acknowledged", "state"} signed with the same secret; a command id
seen before is answered again without being applied twice. GET /state shows the room (unsigned).
"""

import argparse
import json
import os
import threading
from datetime import UTC, datetime
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from hydroponics.climate.room import Room
from hydroponics.climate.signing import SIGNATURE_HEADER, sign, verify
from hydroponics.simulator.farm import Reading
from hydroponics.simulator.sender import FarmSender


@dataclass
class SimulatedUnit:
    """The unit's controller: verifies, applies each command id once, and keeps what it received."""

    secret: str
    room: Room = field(default_factory=Room)
    ack: Literal["reply", "callback"] = "reply"  # callback: answer `accepted`, the ack comes later
    received: list[dict[str, Any]] = field(default_factory=list)  # every valid message, duplicates included
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def commands(self) -> list[dict[str, Any]]:
        """The command messages received (not status queries), in arrival order."""
        with self._lock:
            return [m for m in self.received if m.get("kind") == "command"]

    def handle(self, body: bytes, signature: str | None) -> tuple[int, dict[str, Any]]:
        if not verify(self.secret, body, signature):
            return 401, {"error": "bad signature"}
        try:
            message = json.loads(body)
            command_id, kind = message["command_id"], message["kind"]
        except (ValueError, KeyError, TypeError):
            return 400, {"error": "malformed message"}
        with self._lock:
            self.received.append(message)
            if kind == "status":
                return 200, {"command_id": command_id, "status": "acknowledged", "state": self.room.state()}
            if command_id not in self.answers:
                state = self.room.apply(message.get("command") or {})
                outcome = "accepted" if self.ack == "callback" else "acknowledged"
                self.answers[command_id] = {"command_id": command_id, "status": outcome, "state": state}
            return 200, self.answers[command_id]


class _Handler(BaseHTTPRequestHandler):
    server: "SimulatorServer"

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header(SIGNATURE_HEADER, sign(self.server.unit.secret, body))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._answer(*self.server.unit.handle(body, self.headers.get(SIGNATURE_HEADER)))

    def do_GET(self) -> None:  # noqa: N802
        self._answer(200, self.server.unit.room.state() | {"commands_received": len(self.server.unit.commands())})

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class SimulatorServer(ThreadingHTTPServer):
    """The unit's HTTP controller; `start()` serves it on a background thread."""

    daemon_threads = True

    def __init__(self, unit: SimulatedUnit, host: str = "127.0.0.1", port: int = 0):
        super().__init__((host, port), _Handler)
        self.unit = unit
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> "SimulatorServer":
        self._thread = threading.Thread(target=self.serve_forever, name="ac-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class MqttDevice:
    """The same unit behind an MQTT broker: takes signed commands on its command topic, acks on .../ack."""

    def __init__(self, unit: SimulatedUnit, broker: str, client_id: object, unit_id: object):
        from hydroponics.climate.drivers import mqtt

        self._mqtt, self.unit = mqtt, unit
        self._topics = (mqtt.topic(client_id, unit_id, "command"), mqtt.topic(client_id, unit_id, "ack"))
        self._client = mqtt.connect(broker, "ac-simulator", 10)
        subscribed = threading.Event()
        self._client.on_subscribe = lambda *args: subscribed.set()
        self._client.on_message = self._on_command
        self._client.subscribe(self._topics[0], qos=1)
        subscribed.wait(10)

    def _on_command(self, client: Any, _userdata: object, msg: Any) -> None:
        try:
            raw = json.loads(msg.payload)["message"].encode()
            signature = json.loads(msg.payload).get("signature")
        except (ValueError, KeyError, TypeError):
            return
        status, answer = self.unit.handle(raw, signature)
        if status == 200:
            body = json.dumps(answer).encode()
            client.publish(self._topics[1], self._mqtt.envelope(self.unit.secret, body), qos=1)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def report_room(room: Room, sender: FarmSender, location: str, every: float, stop: threading.Event) -> None:
    """The room's thermometer: posts its air temperature every `every` real seconds until `stop`."""
    while not stop.is_set():
        reading = Reading(datetime.now(UTC), location, "air_temperature", room.state()["room_temperature"])
        sender.post_reading(reading)
        stop.wait(every)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--secret", default=os.environ.get("AC_UNIT_SECRET"),
                        help="the unit's secret, as registered (default: $AC_UNIT_SECRET)")
    parser.add_argument("--temperature", type=float, default=28.0, help="the room's starting temperature")
    parser.add_argument("--ambient", type=float, default=30.0, help="where the room drifts with the AC off")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    parser.add_argument("--ack", choices=("reply", "callback"), default="reply")
    parser.add_argument("--report-to", metavar="API_URL", help="post the room's temperature to this platform")
    parser.add_argument("--client-id", help="the reporting device's client id")
    parser.add_argument("--location", default="climate-room", help="where the room's thermometer is")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between two thermometer readings")
    args = parser.parse_args(argv)
    if not args.secret:
        parser.error("give --secret or set AC_UNIT_SECRET")
    room = Room(temperature=args.temperature, ambient=args.ambient, speed=args.speed)
    server = SimulatorServer(SimulatedUnit(secret=args.secret, room=room, ack=args.ack), args.host, args.port)
    print(f"simulated AC unit on {server.url} (GET / for the room's state)", flush=True)
    stop = threading.Event()
    if args.report_to:
        sender = FarmSender(args.report_to, args.client_id, os.environ["DEVICE_API_KEY"], stop=stop)
        threading.Thread(target=report_room, args=(room, sender, args.location, args.every, stop),
                         name="room-thermometer", daemon=True).start()
        print(f"room thermometer at {args.location} posting to {args.report_to} every {args.every:g} s", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()


if __name__ == "__main__":
    main()
