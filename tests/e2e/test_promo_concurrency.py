"""A promo code's use limit under concurrency, over real HTTP on the local stack.

40 customers check out at once with a seller's code limited to 5 uses: exactly 5 orders are
discounted, the 35 others are refused (409 ``promo-code-rejected``, reason ``exhausted``) with
nothing reserved, and the code shows 5 uses. One discounted order is cancelled by its customer:
the code shows 4 uses and the next checkout gets the discount. Runs on the patient stack (long
workflow timeouts), so no order is cancelled by a timeout meanwhile.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.test_checkout_concurrency import _customer_with, _put_product, _seller, _send
from tests.e2e.workflow_support import wait_until
from tests.support import factories as f

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

CUSTOMERS, LIMIT = 40, 5


def _checkout(stack, customer: dict, seller_id: str) -> object:
    body = {**f.checkout_body({seller_id: "courier"}), "promo_codes": ["spring5"]}
    return _send("POST", stack.url + "/checkout", json=body,
                 headers={**customer["headers"], "Idempotency-Key": uuid.uuid4().hex})


def _uses(stack, seller: dict) -> int:
    resp = _send("GET", stack.url + "/seller/promo-codes/SPRING5", headers=seller["headers"])
    assert resp.status_code == 200, resp.text
    return resp.json()["uses"]


def test_a_code_limited_to_5_uses_discounts_exactly_5_of_40_concurrent_checkouts(patient_stack):
    stack = patient_stack
    seller = _seller(stack)
    created = _send("POST", stack.url + "/seller/promo-codes", headers=seller["headers"],
                    json={"code": "Spring5", "kind": "fixed", "value": 1000, "max_uses": LIMIT})
    assert created.status_code == 201, created.text
    product = _put_product(stack, f.product(seller["id"], price=5000, stock=None))
    with ThreadPoolExecutor(max_workers=8) as pool:
        customers = list(pool.map(lambda _: _customer_with(stack, product["product_id"]), range(CUSTOMERS + 1)))
    late = customers.pop()
    barrier = threading.Barrier(CUSTOMERS)

    def go(customer):
        barrier.wait()
        return customer, _checkout(stack, customer, seller["id"])

    with ThreadPoolExecutor(max_workers=CUSTOMERS) as pool:
        results = list(pool.map(go, customers))

    placed = [(c, r.json()) for c, r in results if r.status_code == 201]
    refused = [r.json() for _, r in results if r.status_code != 201]
    assert len(placed) == LIMIT, [r.status_code for _, r in results]
    for _, body in placed:
        (order,) = body["orders"]
        assert order["discount"] == {"amount": 1000, "currency": "RUB"}
        assert order["total"]["amount"] == 5000 - 1000 + 30000
    assert len(refused) == CUSTOMERS - LIMIT
    for problem in refused:
        assert problem["type"].endswith("/problems/promo-code-rejected"), problem
        assert [c["reason"] for c in problem["codes"]] == ["exhausted"]
    assert _uses(stack, seller) == LIMIT

    # a cancelled order gives its use back (the workflow's cancel branch), and the next checkout gets it
    customer, body = placed[0]
    oid = body["orders"][0]["order_id"]
    cancel = _send("POST", stack.url + f"/orders/{oid}/cancel", headers=customer["headers"])
    assert cancel.status_code == 200, cancel.text
    wait_until(lambda: _uses(stack, seller) == LIMIT - 1, 30, "the cancelled order's use to come back")
    again = _checkout(stack, late, seller["id"])
    assert again.status_code == 201, again.text
    assert again.json()["orders"][0]["discount"]["amount"] == 1000
    assert _uses(stack, seller) == LIMIT
