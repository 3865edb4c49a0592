"""HTTP driver: POST the signed message to the unit's controller; the signed reply carries the ack and state.

The request runs under the outbound policy (hydroponics/outbound.py): a controller that resolves to
a refused address is never connected to (OutboundRefused), redirects are not followed, and at most
outbound.MAX_RESPONSE_BYTES of the reply is read.
"""

import json

import requests

from hydroponics import outbound
from hydroponics.climate.drivers import Reply, Unreachable
from hydroponics.climate.signing import SIGNATURE_HEADER, sign, verify
from hydroponics.db.models import AcUnit
from hydroponics.sealed_secrets import unit_secret


def send(unit: AcUnit, body: bytes, command_id: str, timeout: float) -> Reply:
    secret = unit_secret(unit)
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret or "", body)}
    with outbound.guarded() as guard:
        try:
            response = requests.post(unit.endpoint or "", data=body, headers=headers, timeout=timeout)
        except requests.RequestException as exc:
            if guard.refusal:
                raise outbound.OutboundRefused(guard.refusal) from None
            raise Unreachable("timed out" if isinstance(exc, requests.Timeout) else "could not connect") from None
    if guard.reply_too_slow:
        raise Unreachable("timed out (the controller's reply did not arrive in time)")
    if response.status_code >= 500 or response.status_code in (408, 429):
        raise Unreachable(f"the controller answered HTTP {response.status_code}")
    if 300 <= response.status_code < 400:
        return Reply(outcome="refused", reason=f"the controller answered with a redirect (HTTP "
                                                f"{response.status_code}); redirects are not followed")
    if response.status_code >= 400:
        return Reply(outcome="refused", reason=f"rejected by the controller: HTTP {response.status_code}")
    if guard.reply_too_large:
        return Reply(outcome="refused", reason=f"the controller's reply is larger than "
                                                f"{outbound.MAX_RESPONSE_BYTES} bytes")
    if not verify(secret, response.content, response.headers.get(SIGNATURE_HEADER)):
        return Reply(outcome="refused", reason="the controller's reply is not signed with the unit's secret")
    try:
        payload = json.loads(response.content)
    except ValueError:
        raise Unreachable("the controller's reply is not JSON") from None
    if payload.get("command_id") != command_id:
        raise Unreachable("the controller's reply names another command")
    return Reply.parse(payload)
