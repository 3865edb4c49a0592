"""Shared by the crops and jobs tests (no tests here): a test app, two farms, a profile, bulk seeding."""

from datetime import UTC, datetime
from typing import Any, Iterator
from uuid import UUID

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from hydroponics.api.routes import crops, spot_checks, varieties
from hydroponics.records.clients import create_client
from hydroponics.db.engine import session_scope
from hydroponics.readings.messages import QueuedReading
from hydroponics.readings.store import store_readings
from tests.routes_app import routes_app

NOW = datetime.now(UTC).replace(microsecond=0)

LETTUCE = [
    {"name": "germination", "duration_days": 7, "targets": {"ph": {"min": 5.8, "max": 6.2}}},
    {"name": "seedling", "duration_days": 14,
     "targets": {"ph": {"min": 5.5, "max": 6.5}, "ec": {"min": 0.8, "max": 1.2}}},
    {"name": "vegetative", "duration_days": 21,
     "targets": {"ph": {"min": 5.5, "max": 6.5}, "ec": {"min": 1.2, "max": 1.8}, "humidity": {"max": 70}}},
]


@pytest.fixture
def app(platform_db) -> FastAPI:
    return routes_app(varieties, crops, spot_checks)


@pytest.fixture
def http(app) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture
def farms(platform_db) -> tuple[UUID, UUID]:
    with session_scope() as session:
        return create_client(session, "Greenleaf Farms"), create_client(session, "Blue Basin Growers")


def as_farm(farm: UUID) -> dict[str, str]:
    return {"X-Test-Client": str(farm)}


def fields(reply) -> list[str]:
    """The fields a 422 names."""
    body = reply.json()
    assert reply.status_code == 422, body
    assert body["error"]["code"] == "validation_error"
    return [detail["field"] for detail in body["error"]["details"]]


def new_variety(http: TestClient, farm: UUID, name: str = "Butterhead", stages: list | None = None) -> dict[str, Any]:
    reply = http.post("/api/varieties", json={"name": name, "stages": stages or LETTUCE}, headers=as_farm(farm))
    assert reply.status_code == 201, reply.json()
    return reply.json()


def plant(http: TestClient, farm: UUID, variety_id: str, planted_at: datetime = NOW, location: str = "bay-a",
          batch_code: str = "B-1") -> dict[str, Any]:
    reply = http.post("/api/crops", headers=as_farm(farm), json={
        "variety_id": variety_id, "location": location, "batch_code": batch_code, "planted_at": planted_at.isoformat()})
    assert reply.status_code == 201, reply.json()
    return reply.json()


def write_readings(farm: UUID, sensor: str, sensor_type: str, location: str,
                   points: list[tuple[datetime, float]]) -> None:
    with session_scope() as session:
        store_readings(session, [QueuedReading(client_id=farm, sensor=sensor, sensor_type=sensor_type,
                                               location=location, value=value, recorded_at=at, received_at=at)
                                 for at, value in points])


def sensor_id(farm: UUID, external_id: str) -> UUID:
    with session_scope() as session:
        return session.execute(text("SELECT id FROM sensors WHERE client_id = :c AND external_id = :e"),
                               {"c": farm, "e": external_id}).scalar_one()


def seed_variety(session, farm: UUID, name: str, durations: tuple[int, ...] = (7, 14, 21)) -> UUID:
    variety = session.execute(text("INSERT INTO varieties (client_id, name) VALUES (:c, :n) RETURNING id"),
                              {"c": farm, "n": name}).scalar_one()
    for order, days in enumerate(durations):
        session.execute(text("INSERT INTO variety_stages (variety_id, name, stage_order, duration_days, targets)"
                             " VALUES (:v, :n, :o, :d, '{\"ph\": {\"min\": 5.5, \"max\": 6.5}}')"),
                        {"v": variety, "n": f"stage-{order}", "o": order, "d": days})
    return variety


def seed_crops(session, farm: UUID, variety: UUID, count: int, due: int, now: datetime = NOW,
               stage_order: int = 0, location: str = "bay-a") -> None:
    """`count` active crops in stage `stage_order` of `variety`, the first `due` of them due before `now`."""
    session.execute(text("""
        WITH planted AS (
            INSERT INTO crops (client_id, variety_id, location, batch_code, planted_at)
            SELECT :c, :v, :location, 'seed-' || n, CAST(:now AS timestamptz) - interval '1 day'
            FROM generate_series(1, :count) n
            RETURNING id, batch_code
        )
        INSERT INTO growth_stages (crop_id, variety_stage_id, stage_name, stage_order, started_at, due_at)
        SELECT p.id, s.id, s.name, s.stage_order, CAST(:now AS timestamptz) - interval '1 day',
               CASE WHEN substr(p.batch_code, 6)::int <= :due THEN CAST(:now AS timestamptz) - interval '1 minute'
                    ELSE CAST(:now AS timestamptz) + interval '3 days' END
        FROM planted p JOIN variety_stages s ON s.variety_id = :v AND s.stage_order = :stage_order
    """), {"c": farm, "v": variety, "count": count, "due": due, "now": now, "stage_order": stage_order,
           "location": location})
