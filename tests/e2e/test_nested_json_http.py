"""Over real HTTP on the local stack: a body nested 5,000 levels deep is a 400 problem
document naming the body, and the server keeps answering."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.e2e

JSON = {"Content-Type": "application/json"}
DEEP_ARRAYS = "[" * 5000 + "]" * 5000
DEEP_OBJECTS = '{"a":' * 5000 + "1" + "}" * 5000


def assert_too_deep(resp) -> None:
    assert resp.status_code == 400, resp.text[:500]
    assert resp.headers["Content-Type"] == "application/problem+json"
    problem = resp.json()
    assert "nested too deeply" in problem["detail"]
    assert [e["field"] for e in problem["errors"]] == ["body"]


@pytest.mark.parametrize("body", [DEEP_ARRAYS, DEEP_OBJECTS], ids=["arrays", "objects"])
def test_a_deeply_nested_login_body_is_a_400(stack, body):
    assert_too_deep(stack.post("/auth/login", data=body, headers=dict(JSON)))


def test_a_deeply_nested_cart_body_is_a_400_and_the_cart_stays_empty(stack):
    email, password = f"deep-{uuid.uuid4().hex[:8]}@example.com", "pass-word-9"
    assert stack.post("/auth/register", json={"email": email, "password": password, "name": "Deep"}).status_code == 201
    token = stack.post("/auth/login", json={"email": email, "password": password}).json()["access_token"]
    body = '{"product_id": "p", "quantity": 1, "note": ' + DEEP_OBJECTS + "}"
    assert_too_deep(stack.post("/cart/items", token, data=body, headers=dict(JSON)))
    assert_too_deep(stack.post("/cart/items", token, data=DEEP_ARRAYS, headers=dict(JSON)))
    cart = stack.get("/cart", token)
    assert cart.status_code == 200 and cart.json()["line_count"] == 0
