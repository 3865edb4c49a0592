"""MQTT driver: publish the signed message on farm/{client}/ac/{unit}/command, wait for the signed ack on .../ack.

On the wire both directions are an envelope {"message": "<the JSON message>", "signature": "sha256=..."}
(MQTT 3.1.1 has no headers). The endpoint is the broker: mqtt://[user:password@]host[:1883] or mqtts://.
The platform's connection to the broker runs under the outbound policy (hydroponics/outbound.py), and
never reconnects by itself (a reconnect would happen on the client's own thread, outside the check).
"""

import json
import threading
import uuid
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt

from hydroponics import outbound
from hydroponics.climate.drivers import Reply, Unreachable
from hydroponics.climate.signing import sign, verify
from hydroponics.db.models import AcUnit
from hydroponics.sealed_secrets import unit_secret


def topic(client_id: object, unit_id: object, leaf: str) -> str:
    return f"farm/{client_id}/ac/{unit_id}/{leaf}"


def envelope(secret: str, body: bytes) -> str:
    return json.dumps({"message": body.decode(), "signature": sign(secret, body)})


def opened(secret: str | None, payload: bytes) -> dict[str, Any] | None:
    """The message inside a signed envelope, or None when it is malformed or not signed with `secret`."""
    try:
        wrapped = json.loads(payload)
        raw = wrapped["message"].encode()
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return json.loads(raw) if verify(secret, raw, wrapped.get("signature")) else None


def connect(endpoint: str, name: str, timeout: float, reconnect: bool = True) -> mqtt.Client:
    """A connected client with its network loop running (Unreachable when the broker does not answer)."""
    parts = urlsplit(endpoint)
    connected = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{name}-{uuid.uuid4().hex[:12]}",
                         reconnect_on_failure=reconnect)
    client.connect_timeout = timeout
    client.on_connect = lambda c, userdata, flags, reason, props: reason.is_failure or connected.set()
    if parts.scheme == "mqtts":
        client.tls_set()
    if parts.username:
        client.username_pw_set(parts.username, parts.password)
    try:
        client.connect(parts.hostname or "", parts.port or (8883 if parts.scheme == "mqtts" else 1883), keepalive=30)
    except outbound.OutboundRefused:
        raise
    except TimeoutError:
        raise Unreachable("timed out connecting to the MQTT broker") from None
    except (OSError, ValueError):
        raise Unreachable("could not connect to the MQTT broker") from None
    client.loop_start()
    if not connected.wait(timeout):
        client.loop_stop()
        raise Unreachable("the MQTT broker did not accept the connection in time")
    return client


def send(unit: AcUnit, body: bytes, command_id: str, timeout: float) -> Reply:
    answered, subscribed = threading.Event(), threading.Event()
    secret = unit_secret(unit)
    reply: dict[str, Any] = {}

    def on_message(_client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        payload = opened(secret, msg.payload)
        if payload is not None and payload.get("command_id") == command_id:
            reply.update(payload)
            answered.set()

    with outbound.guarded():
        client = connect(unit.endpoint or "", "ac-control", timeout, reconnect=False)
    try:
        client.on_message = on_message
        client.on_subscribe = lambda *args: subscribed.set()
        client.subscribe(topic(unit.client_id, unit.id, "ack"), qos=1)
        if not subscribed.wait(timeout):
            raise Unreachable("the MQTT broker did not confirm the ack subscription")
        published = client.publish(topic(unit.client_id, unit.id, "command"), envelope(secret or "", body), qos=1)
        try:
            published.wait_for_publish(timeout)
        except (RuntimeError, ValueError):
            raise Unreachable("the command could not be published to the MQTT broker") from None
        if not answered.wait(timeout):
            raise Unreachable(f"no acknowledgement from the unit within {timeout:g} s")
    finally:
        client.disconnect()
        client.loop_stop()
    return Reply.parse(reply)
