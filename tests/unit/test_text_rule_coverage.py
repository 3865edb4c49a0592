"""Every string a request can carry into the platform goes through the one text rule (hydroponics.text).

Walks every route of the api app and the ingest app (path, query, header and cookie parameters,
and bodies, into nested models, lists, unions and dict keys) plus the readings the ingest function
parses by hand, and fails naming each string that is not one of the shared types. A new route or
field with a plain `str` fails here, before it can let a NUL reach PostgreSQL.
"""

import inspect
import types
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, SecretStr

from hydroponics.api.app import create_app
from hydroponics.ingest.app import create_ingest_app
from hydroponics.readings.incoming import IncomingReading
from hydroponics.readings.messages import QueuedReading
from hydroponics.text import TextRule

# Read from the raw body by the handler, not declared as a parameter (see ingest/app.py).
PARSED_BY_HAND = {"POST /api/data": [IncomingReading, QueuedReading]}
_CONTAINERS = (list, set, frozenset, tuple)


def _rules(metadata: Any) -> list[TextRule]:
    return [item for item in metadata if isinstance(item, TextRule)]


def unchecked_strings(annotation: Any, path: str, *, inside_json: bool = False, checked: bool = False,
                      seen: frozenset = frozenset()) -> list[str]:
    """Paths below `annotation` where a string could arrive without the text rule. `checked`: a text
    rule sits on this value (on a union, it checks whichever member a string would be)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *metadata = get_args(annotation)
        rules = _rules(metadata)
        inside_json = inside_json or any(rule.kind == "json" for rule in rules)
        checked = checked or any(rule.kind != "json" for rule in rules)
        return unchecked_strings(base, path, inside_json=inside_json, checked=checked, seen=seen)
    if inside_json:
        return []  # the json rule checks every key and string below it
    if annotation is str and checked:
        return []
    if annotation is Any or annotation is object:
        return [f"{path} (Any: may hold strings)"]
    if origin in (Union, types.UnionType):
        return [p for arg in get_args(annotation) for p in unchecked_strings(arg, path, checked=checked, seen=seen)]
    if origin is Literal or (inspect.isclass(annotation) and issubclass(annotation, Enum)):
        return []
    if origin in _CONTAINERS:
        return [p for arg in get_args(annotation) if arg is not Ellipsis
                for p in unchecked_strings(arg, f"{path}[]", seen=seen)]
    if origin is dict:
        key, value = get_args(annotation) or (Any, Any)
        return unchecked_strings(key, f"{path}{{key}}", seen=seen) + unchecked_strings(value, f"{path}{{}}", seen=seen)
    if annotation is str or annotation is bytes or annotation is SecretStr or annotation in (list, dict):
        return [path]
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return []
        return [p for name, field in annotation.model_fields.items()
                for p in unchecked_strings(Annotated[field.annotation, *field.metadata] if field.metadata
                                           else field.annotation, f"{path}.{name}", seen=seen | {annotation})]
    return []


def _dependants(dependant: Dependant):
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def route_strings(dependant: Dependant) -> list[str]:
    """Every unchecked string a route's declared parameters and body (its dependant's, and its
    dependencies') can carry."""
    found = []
    for dependant in _dependants(dependant):
        for where in ("path_params", "query_params", "header_params", "cookie_params", "body_params"):
            for field in getattr(dependant, where):
                info = field.field_info
                annotation = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
                found += unchecked_strings(annotation, f"{where.removesuffix('_params')}.{field.name}")
    return found


def _routes():
    for app in (create_app(), create_ingest_app()):
        for route in iter_route_contexts(app.routes):  # routers included with their prefixes
            if isinstance(route.original_route, APIRoute):
                for method in sorted(route.methods):
                    yield f"{method} {route.path}", route.dependant


ROUTES = dict(_routes())


def test_the_walk_sees_every_kind_of_string():
    """The walker itself: a plain str anywhere is found, the shared types are not."""
    from hydroponics.text import FreeText, Identifier, JsonObject

    class Inner(BaseModel):
        tag: str

    class Body(BaseModel):
        ok: Identifier
        note: FreeText | None = None
        config: JsonObject
        plain: str | None = None
        tags: list[str] = []
        labels: dict[str, int] = {}
        inner: Inner | None = None
        anything: dict[Identifier, Any] = {}

    assert unchecked_strings(Body, "body") == [
        "body.plain", "body.tags[]", "body.labels{key}", "body.inner.tag", "body.anything{} (Any: may hold strings)"]


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_every_string_of_every_route_goes_through_the_text_rule(route):
    unchecked = route_strings(ROUTES[route])
    for model in PARSED_BY_HAND.get(route, []):
        unchecked += unchecked_strings(model, f"body:{model.__name__}")
    assert unchecked == [], f"{route}: use hydroponics.text types for {unchecked}"
