"""The seller's emailed action links: GET shows, only POST acts, once; signed, scoped, expiring;
no raw task token anywhere a person or a log could see it; strict headers on every page."""

from __future__ import annotations

import json
import time
import urllib.parse

import pytest

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.notify.links import make_link_token
from chalicelib.store import keys
from chalicelib.store import workflow as wf_store

pytestmark = [pytest.mark.timeout(120), pytest.mark.module_stack]

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def path_of(url: str) -> str:
    return urllib.parse.urlsplit(url).path


def press(flow, url: str, action: str, **fields):
    body = urllib.parse.urlencode({"action": action, **fields})
    return flow.api.http.post(path_of(url), body=body, headers=FORM)


@pytest.fixture
def paid(flow):
    seller, customer = flow.seller(), flow.customer(balance=100_000)
    order = flow.buy(customer, seller)
    flow.wait_parked(order["order_id"], "seller")
    return seller, customer, order


def assert_safe_headers(resp):
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Content-Type"].startswith("text/html")
    assert resp.headers["Cache-Control"] == "no-store"


def test_opening_a_link_shows_the_order_and_changes_nothing(flow, paid):
    seller, customer, order = paid
    url = flow.link(seller, order["order_id"], "confirm")
    for _ in range(3):  # a mail scanner, a preview, the seller
        page = flow.api.http.get(path_of(url))
        assert page.status_code == 200
        assert_safe_headers(page)
        html = page.body.decode()
        assert order["order_id"] in html and "Winter boots" in html
        assert '<form method="post"' in html and 'value="confirm"' in html
        assert "<script" not in html
    head = flow.api.http.head(path_of(url))
    assert head.status_code == 200
    assert_safe_headers(head)
    assert flow.order(order["order_id"])["status"] == "PAID"
    assert "used_at" not in wf_store.get_link(_link_id(url))
    assert flow.wallet(customer)["held"] == order["total"]["amount"]


def test_timeline_shows_the_held_money_as_a_money_object(flow, paid):
    _, customer, order = paid
    detail = flow.api.http.get(f"/orders/{order['order_id']}", headers=customer.headers).json_body
    held = next(e for e in detail["timeline"] if e["type"] == "payment_held")
    assert held["detail"]["amount"] == order["total"] == {"amount": order["total"]["amount"], "currency": "RUB"}


def _link_id(url: str) -> str:
    from chalicelib.notify.links import verify_link_token

    return verify_link_token(settings().link_secret, url.rsplit("/", 1)[1], int(time.time())).link_id


def test_pressing_confirm_confirms_once_and_moves_the_money(flow, paid):
    seller, customer, order = paid
    url = flow.link(seller, order["order_id"], "confirm")
    done = press(flow, url, "confirm")
    assert done.status_code == 200
    assert_safe_headers(done)
    assert "Order confirmed" in done.body.decode()
    assert flow.order(order["order_id"])["status"] == "CONFIRMED"
    flow.wait_event(order["order_id"], "payment_captured")
    assert flow.earnings(seller) == order["total"]["amount"]

    again = press(flow, url, "confirm")
    assert again.status_code == 200
    assert "already been used" in again.body.decode()
    assert flow.earnings(seller) == order["total"]["amount"]
    assert "already been used" in flow.api.http.get(path_of(url)).body.decode()


def test_cancel_link_still_works_after_confirmation_once_and_refunds(flow, paid):
    seller, customer, order = paid
    oid = order["order_id"]
    press(flow, flow.link(seller, oid, "confirm"), "confirm")
    flow.wait_event(oid, "payment_captured")
    flow.wait_parked(oid, "shipment")
    cancel = flow.link(seller, oid, "cancel")
    page = flow.api.http.get(path_of(cancel))
    assert page.status_code == 200
    assert "taken back from your earnings" in page.body.decode()  # the seller knows what it costs

    resp = press(flow, cancel, "cancel", reason="Out of size 42")
    assert resp.status_code == 200
    assert_safe_headers(resp)
    assert flow.order(oid)["status"] == "CANCELLED"
    flow.wait_event(oid, "refund_completed")
    assert flow.wallet(customer) == {"available": 100_000, "held": 0, "currency": "RUB"}
    assert flow.earnings(seller) == 0
    assert "Out of size 42" in flow.wait_email(customer.email, "order_cancelled_refund_started")["text"]
    again = press(flow, cancel, "cancel")
    assert "already been used" in again.body.decode()
    assert flow.wallet(customer)["available"] == 100_000


def test_cancel_link_after_shipping_is_refused(flow, paid):
    seller, _, order = paid
    oid = order["order_id"]
    press(flow, flow.link(seller, oid, "confirm"), "confirm")
    flow.wait_parked(oid, "shipment")
    assert press(flow, flow.link(seller, oid, "ship"), "ship").status_code == 200
    resp = press(flow, flow.link(seller, oid, "cancel"), "cancel", reason="changed my mind")
    assert resp.status_code == 409
    assert_safe_headers(resp)
    assert flow.order(oid)["status"] == "SHIPPED"
    assert flow.earnings(seller) == order["total"]["amount"]


def test_seller_cancels_by_link_with_a_reason_the_customer_reads(flow, paid):
    seller, customer, order = paid
    resp = press(flow, flow.link(seller, order["order_id"], "cancel"), "cancel", reason="Out of size 42")
    assert resp.status_code == 200
    flow.wait_event(order["order_id"], "refund_completed")
    mail = flow.wait_email(customer.email, "order_cancelled_refund_started")
    assert "Out of size 42" in mail["text"]
    assert flow.wallet(customer)["available"] == 100_000


def test_ship_link_waits_for_the_confirmation_then_works(flow, paid):
    seller, customer, order = paid
    ship = flow.link(seller, order["order_id"], "ship")
    early = press(flow, ship, "ship")
    assert early.status_code == 409
    assert flow.order(order["order_id"])["status"] == "PAID"
    press(flow, flow.link(seller, order["order_id"], "confirm"), "confirm")
    flow.wait_parked(order["order_id"], "shipment")
    shipped = press(flow, ship, "ship", tracking_number="RA123456789RU")
    assert shipped.status_code == 200, shipped.body
    assert flow.order(order["order_id"])["status"] == "SHIPPED"
    assert "RA123456789RU" in flow.wait_email(customer.email, "order_shipped")["text"]


def test_the_api_decisions_take_what_the_link_takes_and_refuse_other_fields(flow, paid):
    """``POST /seller/orders/{id}/ship`` is "the same as the email link": it takes the tracking
    number (and cancel a reason); a field a decision does not take is refused, never ignored."""
    seller, customer, order = paid
    oid = order["order_id"]
    for path, who, body in ((f"/seller/orders/{oid}/confirm", seller, {"status": "SHIPPED"}),
                            (f"/seller/orders/{oid}/ship", seller, {"tracking": "RA1"}),
                            (f"/orders/{oid}/cancel", customer, {"reason": "changed my mind"}),
                            (f"/orders/{oid}/received", customer, {"status": "DELIVERED"})):
        refused = flow.post(path, who, body)
        assert refused.status_code == 422, (path, refused.body)
        assert refused.json_body["errors"][0]["field"] == next(iter(body))
    assert flow.order(oid)["status"] == "PAID"  # nothing was decided
    assert flow.post(f"/seller/orders/{oid}/confirm", seller, {}).status_code == 200
    flow.wait_parked(oid, "shipment")
    shipped = flow.post(f"/seller/orders/{oid}/ship", seller, {"tracking_number": "RA123456789RU"})
    assert shipped.status_code == 200, shipped.body
    assert "RA123456789RU" in flow.wait_email(customer.email, "order_shipped")["text"]


def test_seller_cancels_by_the_api_with_a_reason_the_customer_reads(flow, paid):
    seller, customer, order = paid
    resp = flow.post(f"/seller/orders/{order['order_id']}/cancel", seller, {"reason": "Out of size 42"})
    assert resp.status_code == 200, resp.body
    assert "Out of size 42" in flow.wait_email(customer.email, "order_cancelled_refund_started")["text"]


def test_forged_tampered_and_expired_links_do_nothing(flow, paid):
    seller, _, order = paid
    url = flow.link(seller, order["order_id"], "confirm")
    token = url.rsplit("/", 1)[1]
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    other_secret = make_link_token(b"another-secret-of-32-bytes-long!", link_id=_link_id(url),
                                   order_id=order["order_id"], seller_id=seller.id, action="confirm",
                                   expires_at=int(time.time()) + 3600)
    expired = make_link_token(settings().link_secret, link_id=_link_id(url), order_id=order["order_id"],
                              seller_id=seller.id, action="confirm", expires_at=int(time.time()) - 1)
    # a genuine signature over a link id that was never issued
    unknown = make_link_token(settings().link_secret, link_id="lnotissued", order_id=order["order_id"],
                              seller_id=seller.id, action="confirm", expires_at=int(time.time()) + 3600)
    for bad, status in ((tampered, 404), (other_secret, 404), ("garbage", 404), (unknown, 404), (expired, 410)):
        for resp in (flow.api.http.get(f"/actions/{bad}"), press(flow, f"/actions/{bad}", "confirm")):
            assert resp.status_code == status, (bad, resp.status_code)
            assert_safe_headers(resp)
    # a genuine link pressed with another action's button
    assert press(flow, url, "cancel").status_code == 404
    assert flow.order(order["order_id"])["status"] == "PAID"


def test_a_link_is_scoped_to_its_order(flow, paid):
    seller, customer, order = paid
    other = flow.buy(customer, seller)
    flow.wait_parked(other["order_id"], "seller")
    url = flow.link(seller, order["order_id"], "confirm")
    # the same link id claimed for another order: the signature is genuine, the record disagrees
    swapped = make_link_token(settings().link_secret, link_id=_link_id(url), order_id=other["order_id"],
                              seller_id=seller.id, action="confirm", expires_at=int(time.time()) + 3600)
    assert press(flow, f"/actions/{swapped}", "confirm").status_code == 404
    assert flow.order(other["order_id"])["status"] == "PAID"


def test_the_raw_task_token_is_in_no_email_link_or_log(flow, paid, capsys):
    seller, customer, order = paid
    item = clients.table(settings().commerce_table).get_item(
        Key=keys.workflow_wait(order["order_id"], "seller"), ConsistentRead=True)["Item"]
    task_token = item["task_token"]
    url = flow.link(seller, order["order_id"], "confirm")
    press(flow, url, "confirm")
    flow.wait_parked(order["order_id"], "shipment")
    everything = json.dumps(flow.emails(), ensure_ascii=False)
    assert task_token not in everything
    assert task_token not in url
    out = capsys.readouterr()
    assert task_token not in out.out + out.err
    view = flow.api.http.get(f"/orders/{order['order_id']}", headers=customer.headers).body.decode()
    assert task_token not in view


def test_link_posts_need_a_form_and_ignore_json(flow, paid):
    seller, _, order = paid
    url = flow.link(seller, order["order_id"], "confirm")
    resp = flow.api.http.post(path_of(url), body=json.dumps({"action": "confirm"}),
                              headers={"Content-Type": "application/json"})
    assert resp.status_code == 415
    assert flow.order(order["order_id"])["status"] == "PAID"


def test_openapi_documents_the_action_routes(flow):
    doc = flow.api.http.get("/openapi.json").json_body
    for path, method in (("/actions/{token}", "get"), ("/actions/{token}", "post"),
                         ("/seller/orders/{order_id}/confirm", "post"), ("/seller/orders/{order_id}/cancel", "post"),
                         ("/seller/orders/{order_id}/ship", "post"), ("/orders/{order_id}/pay", "post"),
                         ("/orders/{order_id}/cancel", "post"), ("/orders/{order_id}/received", "post")):
        op = doc["paths"][path][method]
        assert op["summary"]
        assert "200" in op["responses"]
    assert "409" in doc["paths"]["/orders/{order_id}/pay"]["post"]["responses"]
