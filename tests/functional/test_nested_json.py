"""A JSON body nested deeper than the edge allows is a clean 400 naming the body — on every
route that takes one — never the 500 of Python's json running out of recursion."""

from __future__ import annotations

import json
import re

import pytest

import app  # noqa: F401 - importing the app registers every route in ROUTES
from chalicelib.api.http import MAX_JSON_DEPTH, ROUTES

pytestmark = pytest.mark.module_stack  # one moto stack per module (tests/functional/ledger_stack.py)

PROBLEM = "application/problem+json"
JSON = {"Content-Type": "application/json"}


def arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def assert_too_deep(resp) -> None:
    assert resp.status_code == 400, resp.body
    assert resp.headers["Content-Type"] == PROBLEM
    problem = resp.json_body
    assert problem["status"] == 400 and "nested too deeply" in problem["detail"]
    assert problem["errors"] == [{"field": "body", "reason": f"nested more than {MAX_JSON_DEPTH} levels deep"}]


@pytest.mark.parametrize("body", [arrays(5000), objects(5000), arrays(100_000)], ids=["arrays", "objects", "128k"])
def test_deeply_nested_login_body_is_a_400(api, body):
    assert_too_deep(api.http.post("/auth/login", body=body, headers=JSON))


def test_deep_nesting_inside_a_valid_object_is_a_400(api):
    body = '{"email": "a@example.com", "password": ' + arrays(5000) + "}"
    assert_too_deep(api.http.post("/auth/login", body=body, headers=JSON))


def test_deeply_nested_cart_body_is_a_400(api, register):
    customer = register("customer")
    body = '{"product_id": "p", "quantity": 1, "extra": ' + objects(5000) + "}"
    assert_too_deep(api.http.post("/cart/items", body=body, headers=customer.headers))
    assert api.http.get("/cart", headers=customer.headers).json_body["line_count"] == 0


def test_nesting_up_to_the_limit_is_parsed_and_validated_as_usual(api):
    # MAX_JSON_DEPTH levels in all: the object itself plus MAX_JSON_DEPTH - 1 inside "password"
    at_limit = '{"email": "a@example.com", "password": ' + arrays(MAX_JSON_DEPTH - 1) + "}"
    resp = api.http.post("/auth/login", body=at_limit, headers=JSON)
    assert resp.status_code == 422, resp.body  # the password is not a string: a field error
    assert resp.json_body["errors"][0]["field"] == "password"
    one_more = '{"email": "a@example.com", "password": ' + arrays(MAX_JSON_DEPTH) + "}"
    assert_too_deep(api.http.post("/auth/login", body=one_more, headers=JSON))


JSON_BODY_ROUTES = [r for r in ROUTES if r.body is not None and "application/json" in r.accepts]


@pytest.mark.parametrize("route", JSON_BODY_ROUTES, ids=[f"{r.method} {r.path}" for r in JSON_BODY_ROUTES])
def test_every_route_with_a_json_body_refuses_deep_nesting(api, admin, route):
    # an admin passes every role check, so the body is what each route answers about
    path = re.sub(r"\{[^}]+\}", "x", route.path)
    headers = {**admin.headers, "Idempotency-Key": "nested-json-0001"}
    resp = api.http.request(route.method, path, body=json.dumps({"a": 1})[:-1] + ', "b": ' + arrays(5000) + "}",
                            headers=headers)
    assert_too_deep(resp)
