"""The edge's conventions over the real app: ``Location`` on every 201, ``ETag`` /
``Cache-Control`` / 304 on the public GETs, and problem types that lead to a page about them."""

from __future__ import annotations

import json
from html import escape

import pytest

import app  # noqa: F401 - importing the app registers every route in ROUTES
from chalicelib.api.http import ROUTES
from chalicelib.config import settings
from chalicelib.errors import DomainError, ValidationFailed
from tests.functional.feed_support import SHOP

PUBLIC_GETS = {"/products", "/products/{product_id}", "/search", "/categories", "/sellers/{seller_id}",
               "/openapi.json", "/docs"}


def _path(url: str) -> str:
    base = settings().public_base_url
    assert url.startswith(base + "/"), url
    return url.removeprefix(base)


def _subclasses(cls: type) -> list[type]:
    return [cls] + [s for sub in cls.__subclasses__() for s in _subclasses(sub)]


# --- Location --------------------------------------------------------------------------------


def test_every_201_route_says_where_the_created_resource_is():
    created = [r for r in ROUTES if r.status == 201]
    assert {(r.method, r.path) for r in created} >= {("POST", "/auth/register"), ("POST", "/seller/feeds"),
                                                      ("POST", "/checkout"), ("POST", "/wallet/topups")}
    assert all(r.location is not None for r in created)


def test_registration_location_is_the_profile(api, register):
    body = {"email": "loc-user@example.com", "password": "secret-pass-1", "name": "Loc", "role": "customer"}
    resp = api.http.post("/auth/register", body=json.dumps(body), headers={"Content-Type": "application/json"})
    assert resp.status_code == 201
    assert _path(resp.headers["Location"]) == "/me"


def test_feed_upload_location_is_the_import_it_follows(api, register):
    seller = register("seller")
    assert api.http.put("/seller/shop", body=json.dumps(SHOP), headers=seller.headers).status_code == 200
    resp = api.http.post("/seller/feeds", body=json.dumps({"filename": "catalog.yml"}), headers=seller.headers)
    assert resp.status_code == 201, resp.body
    path = _path(resp.headers["Location"])
    assert path == f"/seller/feeds/{resp.json_body['feed_id']}"
    followed = api.http.get(path, headers=seller.headers)
    assert followed.status_code == 200 and followed.json_body["feed_id"] == resp.json_body["feed_id"]


# --- ETag, Cache-Control, 304 ----------------------------------------------------------------


def test_the_public_gets_are_the_cacheable_routes():
    cacheable = {r.path for r in ROUTES if r.cache}
    assert cacheable >= PUBLIC_GETS
    assert all(r.method == "GET" and r.roles is None for r in ROUTES if r.cache)


@pytest.mark.parametrize("path", ["/products?limit=2", "/categories", "/search?q=boots", "/openapi.json", "/docs",
                                  "/problems/not-found", "/docs/swagger-ui.css"])
def test_public_get_sends_validators_and_answers_304_while_they_are_current(api, path):
    first = api.http.get(path)
    assert first.status_code == 200
    etag, cache = first.headers["ETag"], first.headers["Cache-Control"]
    assert etag.startswith('W/"') and cache.startswith("public, max-age=")
    assert api.http.get(path).headers["ETag"] == etag  # the same content, the same tag

    for sent in (etag, etag.removeprefix("W/"), f'"other", {etag}', "*"):
        again = api.http.get(path, headers={"If-None-Match": sent})
        assert again.status_code == 304, sent
        assert again.body in (b"", "")
        assert (again.headers["ETag"], again.headers["Cache-Control"]) == (etag, cache)
    stale = api.http.get(path, headers={"If-None-Match": 'W/"something-else"'})
    assert stale.status_code == 200 and stale.body == first.body


def test_product_and_seller_pages_change_their_etag_when_the_data_changes(api, register):
    seller = register("seller")
    assert api.http.put("/seller/shop", body=json.dumps(SHOP), headers=seller.headers).status_code == 200
    before = api.http.get(f"/sellers/{seller.id}")
    renamed = {**SHOP, "name": "Renamed"}
    assert api.http.put("/seller/shop", body=json.dumps(renamed), headers=seller.headers).status_code == 200
    after = api.http.get(f"/sellers/{seller.id}", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and after.json_body["name"] == "Renamed"
    assert after.headers["ETag"] != before.headers["ETag"]


def test_private_and_failed_answers_carry_no_validators(api, register):
    customer = register("customer")
    cart = api.http.get("/cart", headers=customer.headers)
    assert cart.status_code == 200 and "ETag" not in cart.headers
    missing = api.http.get("/products/nope")
    assert missing.status_code == 404 and "ETag" not in missing.headers


# --- problem types ---------------------------------------------------------------------------


def test_every_domain_error_type_leads_to_a_page_describing_it(api):
    base = settings().public_base_url
    for cls in _subclasses(DomainError):
        body = _problem_of(cls, base)
        assert body["type"] == f"{base}/problems/{cls.slug}", cls
        page = api.http.get(_path(body["type"]))
        assert page.status_code == 200, (cls.__name__, page.body)
        html = page.body.decode()
        assert page.headers["Content-Type"].startswith("text/html")
        assert escape(cls.title) in html and f"HTTP status {cls.status}" in html, cls
        assert "When it happens" in html and "What to do" in html


def _problem_of(cls: type[DomainError], base: str) -> dict:
    """The problem body of an instance of ``cls`` (made without its own constructor: some take
    other arguments, e.g. the dependency errors of the adapters)."""
    err = cls.__new__(cls)
    DomainError.__init__(err, "detail")
    return err.problem(base)


def test_a_real_error_answer_points_at_its_page(api):
    resp = api.http.get("/products?limit=0")
    assert resp.status_code == 422
    problem = resp.json_body
    assert problem["type"] == f"{settings().public_base_url}/problems/{ValidationFailed.slug}"
    page = api.http.get(_path(problem["type"]))
    assert page.status_code == 200 and "Invalid request" in page.body.decode()
    index = api.http.get("/problems").body.decode()
    assert all(f'href="problems/{cls.slug}"' in index for cls in _subclasses(DomainError))
    assert 'href="problems/gateway"' in index  # API Gateway's own refusals (infra/template.py)
    assert api.http.get("/problems/no-such-problem").status_code == 404
