"""Shared inputs for the notification tests: one realistic order, as callers will pass it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

FAKE_TASK_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAfaketasktoken0123456789abcdefZZZ"

ORDER: dict[str, Any] = {
    "order_id": "01HZX3ORDER",
    "seller_name": "Tea & Co",
    "customer_name": "Ivan Petrov",
    "items": [
        {"name": "Teapot", "quantity": 2, "price": 51400, "line_total": 102800},
        {"name": "Green tea", "quantity": 1, "price": 35000, "line_total": 35000},
    ],
    "delivery": {"name": "Courier", "price": 30000, "days": 2},
    "total": 167800,
    "currency": "RUB",
    "address": "Moscow, Tverskaya 1",
    "status": "PAID",
}

LINKS = {
    "confirm": "https://shop.example/actions/v1.confirmtoken.sig",
    "cancel": "https://shop.example/actions/v1.canceltoken.sig",
    "ship": "https://shop.example/actions/v1.shiptoken.sig",
    "order": "https://shop.example/orders/01HZX3ORDER",
    "pay": "https://shop.example/wallet/topup?order=01HZX3ORDER",
}


@pytest.fixture
def order() -> dict[str, Any]:
    return copy.deepcopy(ORDER)


@pytest.fixture
def context(order: dict[str, Any]) -> dict[str, Any]:
    return {
        "order": order,
        "links": dict(LINKS),
        "cancelled_by": "seller",
        "reason": "Out of stock",
        "pay_by": 1_700_000_000,
        "wallet_available": 100000,
        "tracking_number": "RP123456789RU",
    }
