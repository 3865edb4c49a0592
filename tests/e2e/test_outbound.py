"""The deployed stack's outbound policy (OUTBOUND_ALLOW from the template, 127.0.0.1 as scripts/deploy sets it):
internal targets are refused when saved, the local receiver is reached, and /test is rate-limited per client."""

from pytest_httpserver import HTTPServer

from tests.mail_server import free_port


def test_the_deployed_api_refuses_internal_targets_and_reaches_the_allowed_receiver(api, make_client):
    farm = make_client("Outbound Farm", rate_limits={"channel_test": 3})
    headers = {"X-API-Key": farm["key"]}
    metadata = api.post("/api/channels", headers=headers, json={
        "name": "metadata", "kind": "webhook", "config": {"url": "http://169.254.169.254/latest/meta-data/"}})
    assert metadata.status_code == 422, metadata.text
    assert metadata.json()["error"]["details"] == [{
        "field": "config.url", "reason": "refused by the outbound policy: the target resolves to a link-local address"}]
    unit = api.post("/api/ac/register", headers=headers, json={
        "name": "AC internal", "location": "bay-a", "driver": "mqtt", "endpoint": "mqtt://10.0.0.5:1883",
        "secret": "unit-secret-0123456789", "capabilities": {"modes": ["cool"], "setpoint_min": 16,
                                                             "setpoint_max": 30, "fan_speeds": ["auto"]}})
    assert unit.status_code == 422 and unit.json()["error"]["details"][0]["field"] == "endpoint", unit.text

    receiver = HTTPServer(host="127.0.0.1", port=free_port())
    receiver.expect_request("/hooks/farm", method="POST").respond_with_json({"ok": True})
    receiver.start()
    try:
        channel = api.post("/api/channels", headers=headers, json={
            "name": "ops-hook", "kind": "webhook", "config": {"url": f"http://127.0.0.1:{receiver.port}/hooks/farm"}})
        assert channel.status_code == 201, channel.text
        replies = [api.post(f"/api/channels/{channel.json()['id']}/test", headers=headers) for _ in range(4)]
    finally:
        receiver.stop()
    assert [r.status_code for r in replies] == [200, 200, 200, 429], [r.text for r in replies]
    assert int(replies[-1].headers["Retry-After"]) >= 1
    assert len(receiver.log) == 3
