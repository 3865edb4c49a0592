"""Every error answers in one JSON shape, with the field and reason for validation errors."""

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from hydroponics.api.errors import install_error_handlers
from hydroponics.errors import Conflict, NotFound


class _Body(BaseModel):
    value: float = Field(ge=0, le=14)


def _app() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/things")
    def create(body: _Body) -> dict:
        return {"value": body.value}

    @app.get("/things/{thing_id}")
    def get(thing_id: int) -> dict:
        if thing_id == 409:
            raise Conflict("already there")
        raise NotFound(f"thing {thing_id} not found")

    return TestClient(app)


def test_validation_error_names_the_field_and_reason():
    reply = _app().post("/things", json={"value": 15})
    assert reply.status_code == 422
    error = reply.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["field"] == "value"
    assert "less than or equal to 14" in error["details"][0]["reason"]


def test_domain_errors_map_to_their_status():
    client = _app()
    assert client.get("/things/7").json() == {
        "error": {"code": "not_found", "message": "thing 7 not found", "details": []}}
    assert client.get("/things/409").status_code == 409


def test_unknown_route_uses_the_same_shape():
    reply = _app().get("/nowhere")
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "not_found"
