"""Seller shops: create, read, public page, validation, admin block."""

import json

import pytest

SHOP = {
    "name": "Обувь у дома",
    "contact_email": "shop@example.com",
    "language": "ru",
    "currency": "RUB",
    "delivery_methods": [
        {"id": "courier", "name": "Курьер", "price": 35000, "days": 2},
        {"id": "pickup", "name": "Самовывоз", "price": 0, "days": 1},
    ],
}


def test_can_create_shop_and_show_it_publicly(api, register):
    seller = register("seller")
    resp = api.http.put("/seller/shop", body=json.dumps(SHOP), headers=seller.headers)
    assert resp.status_code == 200, resp.body
    assert resp.json_body["seller_id"] == seller.id
    own = api.http.get("/seller/shop", headers=seller.headers).json_body
    # the request's integer price (minor units of the shop's currency) comes back as a money object
    courier = {"id": "courier", "name": "Курьер", "price": {"amount": 35000, "currency": "RUB"}, "days": 2}
    assert own["delivery_methods"][0] == courier
    assert resp.json_body["delivery_methods"][0] == courier
    public = api.http.get(f"/sellers/{seller.id}")
    assert public.status_code == 200
    assert public.json_body["name"] == "Обувь у дома"
    assert "contact_email" not in public.json_body
    assert public.json_body["delivery_methods"] == [courier, {"id": "pickup", "name": "Самовывоз",
                                                              "price": {"amount": 0, "currency": "RUB"}, "days": 1}]


def test_can_replace_shop(api, register):
    seller = register("seller")
    api.http.put("/seller/shop", body=json.dumps(SHOP), headers=seller.headers)
    changed = {**SHOP, "name": "New name", "delivery_methods": SHOP["delivery_methods"][:1]}
    api.http.put("/seller/shop", body=json.dumps(changed), headers=seller.headers)
    public = api.http.get(f"/sellers/{seller.id}").json_body
    assert public["name"] == "New name"
    assert [m["id"] for m in public["delivery_methods"]] == ["courier"]


def test_can_create_shop_with_the_contracts_field_name_email(api, register):
    seller = register("seller")
    body = {k: v for k, v in SHOP.items() if k != "contact_email"} | {"email": "orders@example.com"}
    resp = api.http.put("/seller/shop", body=json.dumps(body), headers=seller.headers)
    assert resp.status_code == 200, resp.body
    own = api.http.get("/seller/shop", headers=seller.headers).json_body
    assert own["contact_email"] == own["email"] == "orders@example.com"
    assert "email" not in api.http.get(f"/sellers/{seller.id}").json_body


def test_error_on_unknown_seller(api):
    assert api.http.get("/sellers/nobody").status_code == 404


def test_error_on_missing_own_shop(api, register):
    assert api.http.get("/seller/shop", headers=register("seller").headers).status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"currency": "USD"}, "currency"),
        ({"delivery_methods": []}, "delivery_methods"),
        ({"delivery_methods": [{"id": "a", "name": "A", "price": -1, "days": 1}]}, "delivery_methods.0.price"),
        ({"delivery_methods": [{"id": "a", "name": "A", "price": 1.5, "days": 1}]}, "delivery_methods.0.price"),
        ({"delivery_methods": [{"id": "a", "name": "A", "price": 1, "days": 1}] * 2}, "delivery_methods"),
        ({"contact_email": "nope"}, "contact_email"),
        ({"seller_id": "someone-else"}, "seller_id"),
        ({"blocked": False}, "blocked"),
        ({"name": "n" * 101}, "name"),
    ],
)
def test_error_on_bad_shop_names_the_field(api, register, change, field):
    seller = register("seller")
    resp = api.http.put("/seller/shop", body=json.dumps({**SHOP, **change}), headers=seller.headers)
    assert resp.status_code == 422, resp.body
    assert field in [e["field"] for e in resp.json_body["errors"]]
    assert api.http.get("/seller/shop", headers=seller.headers).status_code == 404


def test_error_on_customer_creating_shop(api, register):
    resp = api.http.put("/seller/shop", body=json.dumps(SHOP), headers=register("customer").headers)
    assert resp.status_code == 403


def test_admin_can_block_a_seller_and_the_block_survives_edits(api, register, admin):
    seller = register("seller")
    api.http.put("/seller/shop", body=json.dumps(SHOP), headers=seller.headers)
    resp = api.http.put(f"/admin/sellers/{seller.id}/blocked", body=json.dumps({"blocked": True}),
                        headers=admin.headers)
    assert resp.status_code == 200
    assert api.http.get(f"/sellers/{seller.id}").status_code == 404
    api.http.put("/seller/shop", body=json.dumps(SHOP), headers=seller.headers)
    assert api.http.get("/seller/shop", headers=seller.headers).json_body["blocked"] is True


def test_error_on_seller_blocking_anyone(api, register):
    seller = register("seller")
    resp = api.http.put(f"/admin/sellers/{seller.id}/blocked", body=json.dumps({"blocked": True}),
                        headers=seller.headers)
    assert resp.status_code == 403
