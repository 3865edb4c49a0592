"""MiniStack restarted: what survives, and the operator's way back (README, "After a MiniStack restart").

MiniStack keeps its state in memory (PERSIST_STATE is off in scripts/ministack-up): a restart loses
the deployed stack (functions, API, queues and the messages in them, DynamoDB tables: key index, rate
limits, monitoring; secrets). PostgreSQL is not MiniStack's: clients, keys (their hashes), sensors
and every stored reading survive. The way back is `scripts/deploy`, which deploys the stack again,
points its secret at PostgreSQL, migrates and rebuilds the key index from PostgreSQL, so the
devices' keys work again. This test restarts this checkout's MiniStack only (by its pid) and deploys.
"""

import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import ROOT, local_env
from tests.e2e.conftest import wait_for
from tests.e2e.figures import report
from tests.e2e.lambdas import ministack_pid


def _stored(stack_db, client_id: str) -> int:
    with stack_db.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM readings r JOIN sensors s ON s.id = r.sensor_id"
                                 " WHERE s.client_id = :c"), {"c": client_id}).scalar_one()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.mark.load
def test_after_a_ministack_restart_postgresql_data_survives_and_scripts_deploy_brings_the_devices_back(
        stack, make_client, stack_db, aws):
    farm = make_client("Restart Farm", rate_limits={"ingest": 10_000})
    start = datetime.now(UTC) - timedelta(minutes=30)
    readings = [{"sensor_id": "tank-1", "sensor_type": "ph", "value": 6.1, "location": "restart",
                 "timestamp": (start + timedelta(seconds=i)).isoformat()} for i in range(10)]
    with httpx.Client(base_url=stack["API_URL"], timeout=60) as client:
        assert client.post("/api/data", headers=farm["headers"], json=readings).status_code == 202
    assert wait_for(lambda: _stored(stack_db, farm["client_id"]) == 10, timeout=60)

    pid = ministack_pid()
    os.kill(pid, signal.SIGTERM)
    assert wait_for(lambda: not _alive(pid), timeout=30)
    restarted = time.monotonic()
    up = subprocess.run([str(ROOT / "scripts" / "ministack-up")], capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    functions_after_restart = len(aws("lambda").list_functions()["Functions"])
    queues_after_restart = len(aws("sqs").list_queues().get("QueueUrls", []))
    with httpx.Client(base_url=stack["API_URL"], timeout=30) as client:
        old_url_status = client.post("/api/data", headers=farm["headers"], json=readings[0]).status_code

    deploy = subprocess.run([str(ROOT / "scripts" / "deploy")], capture_output=True, text=True, timeout=1200,
                            env=os.environ | {"NOTIFY_BACKOFF_SECONDS": stack.get("NOTIFY_BACKOFF_SECONDS", "[2,2,2]")})
    assert deploy.returncode == 0, deploy.stdout[-3000:] + deploy.stderr[-3000:]
    back = local_env()
    later = [dict(r, timestamp=(datetime.now(UTC) - timedelta(seconds=i)).isoformat()) for i, r in enumerate(readings)]
    with httpx.Client(base_url=back["API_URL"], timeout=120) as client:
        status = client.post("/api/data", headers=farm["headers"], json=later).status_code
    recovered = time.monotonic() - restarted
    stored = wait_for(lambda: _stored(stack_db, farm["client_id"]) == 20, timeout=120)
    report("MiniStack restart", functions_after_restart=functions_after_restart, queues_after_restart=queues_after_restart,
           old_api_url_status=old_url_status, api_url_changed=back["API_URL"] != stack["API_URL"],
           readings_before_restart_kept=10, device_key_after_deploy=status, back_in_s=round(recovered))
    assert functions_after_restart == 0 and queues_after_restart == 0  # the stack is gone with MiniStack's memory
    assert status == 202 and stored  # the same device key works again, the old readings are still there
