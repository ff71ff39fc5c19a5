"""Builders shared by the commerce tests: catalog products and shops in their stored shapes.

The builders are pure; ``put_product`` / ``put_shop`` write through the app's own clients
(functional tests only), the way the catalog import and PUT /seller/shop would.
"""

from __future__ import annotations

import uuid
from typing import Any

from chalicelib.domain.catalog import product_id as make_product_id

SHOP_METHODS = [
    {"id": "courier", "name": "Courier", "price": 35000, "days": 2},
    {"id": "pickup", "name": "Pickup", "price": 0, "days": 1},
]


def product(seller_id: str, *, offer: str | None = None, price: int = 10000, stock: int | None = 10,
            available: bool = True, name: str | None = None, currency: str = "RUB") -> dict[str, Any]:
    offer = offer or uuid.uuid4().hex[:8]
    item: dict[str, Any] = {
        "product_id": make_product_id(seller_id, offer),
        "seller_id": seller_id,
        "offer_id": offer,
        "name": name or f"Product {offer}",
        "price": price,
        "currency": currency,
        "available": available,
        "pictures": [f"https://img.example/{offer}.jpg"],
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:00Z",
    }
    if stock is not None:
        item["stock"] = stock
    return item


def shop(seller_id: str, *, name: str = "Shop", blocked: bool = False, methods=None) -> dict[str, Any]:
    return {
        "seller_id": seller_id,
        "name": name,
        "contact_email": "shop@example.com",
        "language": "en",
        "currency": "RUB",
        "delivery_methods": list(SHOP_METHODS if methods is None else methods),
        "blocked": blocked,
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:00Z",
    }


def put_product(item: dict[str, Any]) -> dict[str, Any]:
    from chalicelib import clients
    from chalicelib.config import settings
    from chalicelib.store import keys

    clients.table(settings().catalog_table).put_item(Item={**keys.product(item["product_id"]), **item})
    return item


def put_shop(item: dict[str, Any]) -> dict[str, Any]:
    from chalicelib.store import accounts

    accounts.put_shop(item["seller_id"], item)
    return item


def stock_of(product_id: str) -> int | None:
    from chalicelib import clients
    from chalicelib.config import settings
    from chalicelib.store import keys

    item = clients.table(settings().catalog_table).get_item(Key=keys.product(product_id), ConsistentRead=True)["Item"]
    return None if "stock" not in item else int(item["stock"])


ADDRESS = {"recipient": "Anna Petrova", "phone": "+7 900 000-00-00", "country": "RU", "city": "Moscow",
           "street": "Tverskaya 1, apt 5", "postal_code": "125009"}


def checkout_body(delivery: dict[str, str], **over: Any) -> dict[str, Any]:
    return {"delivery": delivery, "payment_method": "wallet", "address": dict(ADDRESS), **over}


class Shopper:
    """A customer driving the cart and checkout routes of a ``chalice.test.Client``."""

    def __init__(self, api, user):
        self.api, self.user = api, user
        self.id = user.id

    def _call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None):
        import json

        kwargs = {"headers": {**self.user.headers, **(headers or {})}}
        if body is not None:
            kwargs["body"] = json.dumps(body)
        return getattr(self.api.http, method)(path, **kwargs)

    def add(self, product_id: str, quantity: Any = 1):
        return self._call("post", "/cart/items", {"product_id": product_id, "quantity": quantity})

    def set(self, product_id: str, quantity: Any):
        return self._call("put", f"/cart/items/{product_id}", {"quantity": quantity})

    def remove(self, product_id: str):
        return self._call("delete", f"/cart/items/{product_id}")

    def clear(self):
        return self._call("delete", "/cart")

    def cart(self):
        return self._call("get", "/cart")

    def checkout(self, body: dict[str, Any], key: str | None = None):
        return self._call("post", "/checkout", body, {"Idempotency-Key": key or uuid.uuid4().hex})

    def get(self, path: str):
        return self._call("get", path)


def rub(amount: int | None) -> dict[str, Any] | None:
    """A money object as the API shows amounts (``docs/api.md``, "Money"): ``rub(7500)`` is
    ``{"amount": 7500, "currency": "RUB"}``; None stays None."""
    return None if amount is None else {"amount": amount, "currency": "RUB"}
