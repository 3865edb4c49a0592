"""HTTP driver: POST the signed message to the unit's controller; the signed reply carries the ack and state."""

import json

import requests

from hydroponics.climate.drivers import Reply, Unreachable
from hydroponics.climate.signing import SIGNATURE_HEADER, sign, verify
from hydroponics.db.models import AcUnit


def send(unit: AcUnit, body: bytes, command_id: str, timeout: float) -> Reply:
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(unit.secret or "", body)}
    try:
        response = requests.post(unit.endpoint or "", data=body, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        raise Unreachable(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code >= 500 or response.status_code in (408, 429):
        raise Unreachable(f"the controller answered HTTP {response.status_code}")
    if response.status_code >= 400:
        return Reply(outcome="refused", reason=f"the controller answered HTTP {response.status_code}: "
                                                f"{response.text[:200]}")
    if not verify(unit.secret, response.content, response.headers.get(SIGNATURE_HEADER)):
        return Reply(outcome="refused", reason="the controller's reply is not signed with the unit's secret")
    try:
        payload = json.loads(response.content)
    except ValueError:
        raise Unreachable("the controller's reply is not JSON") from None
    if payload.get("command_id") != command_id:
        raise Unreachable("the controller's reply names another command")
    return Reply.parse(payload)
