"""Cart and checkout routes (customer).

    GET    /cart                         carts grouped by seller (Cart)
    POST   /cart/items                   {product_id, quantity}: adds; quantities sum
    PUT    /cart/items/{product_id}      {quantity}: sets
    DELETE /cart/items/{product_id}      removes (an absent line is fine) → 204
    DELETE /cart                         empties every cart → 204
    POST   /checkout                     Idempotency-Key; {delivery: {seller_id: method_id},
                                         payment_method: "wallet" | "card", address, expected_total?}
                                         → 201 Checkout, Location: the first order;
                                         409 cart-changed

Quantities are JSON integers 1..999 (0, negatives, 2.5, "2" and true are 422 on ``quantity``).
Bodies cannot carry prices, totals, status or seller: unknown fields are 422 naming them.
``expected_total`` is not a price the client sets: it is the total the customer confirms, and
the checkout refuses (409) any other (``services/checkout.py``, "Prices").

Answers show money as Money objects (``api/models.py``); ``expected_total`` is a request amount:
integer minor units of the cart's currency.
"""

import dataclasses
import re
from typing import Annotated, Any, Literal

from chalice import Blueprint
from pydantic import Field, StrictInt, StringConstraints

from chalicelib.api.http import Ctx, Reply, endpoint
from chalicelib.api.models import Body, Id, Money, Out, priced
from chalicelib.api.orders import Order, order_body
from chalicelib.domain import cart as cart_rules
from chalicelib.domain.cart import MAX_LINES, MAX_QUANTITY
from chalicelib.domain.ledger import MAX_AMOUNT
from chalicelib.domain.money import money
from chalicelib.domain.promos import CODE_RE, MAX_CODES
from chalicelib.errors import ValidationFailed
from chalicelib.lazy import lazy

cart_service = lazy("chalicelib.services.cart")
checkout_service = lazy("chalicelib.services.checkout")

bp = Blueprint(__name__)
PRODUCT_ID_RE = re.compile(r"^[A-Za-z0-9._:~\-]{1,128}$")

CUSTOMER = ("customer",)
Quantity = Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY, description=f"units, 1..{MAX_QUANTITY}")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
PromoCodeText = Annotated[str, StringConstraints(pattern=CODE_RE.pattern)]
CHECKOUT_TOTAL = (
    "the grand total the customer saw and confirms, integer minor units of the cart's currency (a request amount: "
    "the `amount` of the Money objects GET /cart shows): every order's items + its chosen delivery "
    "(GET /cart: the sellers' subtotals + the chosen delivery_methods' prices). Equal to the server's total: the "
    "checkout proceeds even if prices rose. Absent: it proceeds only if no line's price and no chosen delivery price "
    "rose above what the customer saw (price_seen; price drops pass). Otherwise 409 problem type cart-changed, "
    "nothing reserved or charged, with `changes` ([{seller_id, product_id, kind: \"price\", old, new, currency}, "
    "{seller_id, kind: \"delivery\", method_id, old, new, currency}]: old = what the customer saw, null = a delivery "
    "method not shown before; new = now; old and new are Money objects), `expected_total` (if sent), `total` (Money) "
    "and `currency`: retry with expected_total = total.amount to accept. A cart in several currencies cannot be "
    "confirmed by one number: "
    "expected_total is then refused (422 on expected_total); check out without it."
)
ExpectedTotal = Annotated[StrictInt, Field(ge=0, le=MAX_LINES * MAX_AMOUNT, description=CHECKOUT_TOTAL)]


class AddLineIn(Body):
    product_id: Id
    quantity: Quantity = 1


class SetLineIn(Body):
    quantity: Quantity


class Address(Body):
    recipient: Text
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()\-]{5,32}$")]
    country: Annotated[str, StringConstraints(min_length=2, max_length=56)]
    city: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    street: Text
    postal_code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9 \-]{2,12}$")] | None = None
    comment: Annotated[str, StringConstraints(max_length=500)] | None = None


class CheckoutIn(Body):
    delivery: Annotated[dict[Id, Id], Field(min_length=1, max_length=50,
                                            description="seller_id → delivery method id, one per seller in the cart")]
    payment_method: Literal["wallet", "card"] = Field(
        description="wallet: held from the wallet; card: authorized at the payment provider — each order of the "
                    "answer then carries payment.confirmation_url, where the customer pays")
    address: Address
    expected_total: ExpectedTotal | None = None
    promo_codes: Annotated[list[PromoCodeText], Field(max_length=MAX_CODES)] = Field(
        default_factory=list,
        description=f"promo codes to redeem (at most {MAX_CODES}, each once; case-insensitive): they apply exactly as "
                    "POST /cart/quote shows them; any that does not apply refuses the checkout (409 "
                    "promo-code-rejected, `codes` with the reasons) — never a silent full price. A discount is never "
                    "set by the client.")


class SavedCartLine(Out):
    """A cart line as ``POST /cart/items`` and ``PUT /cart/items/{id}`` wrote it."""

    customer_id: str
    product_id: str
    seller_id: str
    quantity: int
    price_seen: Money = Field(description="the product's price now, recorded as seen by the customer")
    delivery_seen: dict[str, Money] = Field(
        default_factory=dict, description="the seller's delivery prices now (method id → price), recorded as seen")
    currency: str
    added_at: str
    updated_at: str


class CartLine(Out):
    product_id: str
    name: str | None
    picture: str | None = None
    price: Money | None = Field(description="current price; null = the product is gone")
    price_seen: Money = Field(description="the price when the line was last added or set")
    currency: str | None
    quantity: int
    line_total: Money | None
    available: bool = Field(description="false when the product cannot be ordered now (gone, unavailable or sold "
                                        "out), as everywhere in the API")
    available_quantity: int | None = Field(description="units that can be ordered now; null = not limited")
    issues: list[Literal["unavailable", "price_increased", "not_enough_stock"]]


class CartDeliveryMethod(Out):
    id: str
    name: str | None
    price: Money = Field(description="current price")
    price_seen: Money | None = Field(
        description="the price when the customer last added or set a line of this seller; null = a method added "
                    "since (not seen)")
    days: int | None
    issues: list[Literal["price_increased", "not_seen"]] = Field(
        description="price_increased: dearer than price_seen; not_seen: not shown before. Choosing such a method "
                    "needs expected_total at checkout")


class SellerCart(Out):
    seller_id: str
    seller_name: str | None
    currency: str | None = Field(description="the currency of this seller's prices (expected_total is in it)")
    lines: list[CartLine]
    subtotal: Money = Field(description="lines that can be ordered now")
    delivery_methods: list[CartDeliveryMethod]
    has_issues: bool = Field(description="some line has an issue (delivery methods carry their own)")


class Cart(Out):
    carts: list[SellerCart]
    line_count: int
    totals: list[Money] = Field(description="per currency, delivery not included")
    total: Money | None = Field(description="the grand total when every cart is in one currency")


class Checkout(Out):
    checkout_id: str
    orders: list[Order]
    totals: list[Money] = Field(description="per currency: every order's items + delivery")


def _cart(view: dict[str, Any]) -> dict[str, Any]:
    """``services/cart.view`` with its amounts as money objects."""
    carts = []
    for c in view["carts"]:
        # a cart whose shop is gone and whose lines are all unavailable has no currency of its own
        cur = c["currency"] or next((line["currency"] for line in c["lines"] if line["currency"]), None)
        carts.append({
            **priced(c, cur, "subtotal"),
            "lines": [priced(line, line["currency"] or cur, "price", "price_seen", "line_total")
                      for line in c["lines"]],
            "delivery_methods": [priced(m, cur, "price", "price_seen") for m in c["delivery_methods"]],
        })
    return {**view, "carts": carts}


def _saved(line: cart_rules.CartLine) -> SavedCartLine:
    cur = line.currency
    seen = {method: money(price, cur) for method, price in (line.delivery_seen or {}).items()}
    return SavedCartLine(**{**priced(dataclasses.asdict(line), cur, "price_seen"), "delivery_seen": seen})


def _check_product_id(product_id: str) -> None:
    if not PRODUCT_ID_RE.match(product_id):
        raise ValidationFailed.one("product_id", "not a product id")


@endpoint(bp, "/cart", summary="My carts, one per seller, at current prices", auth=CUSTOMER, response=Cart,
          tags=("cart",))
def get_cart(ctx: Ctx) -> Cart:
    return Cart(**_cart(cart_service.view(ctx.user.user_id)))


@endpoint(bp, "/cart/items", method="POST", summary="Add a product to my cart (quantities sum)", auth=CUSTOMER,
          body=AddLineIn, response=SavedCartLine, errors=(404, 409, 422), tags=("cart",))
def add_item(ctx: Ctx) -> SavedCartLine:
    return _saved(cart_service.add(ctx.user.user_id, ctx.body.product_id, ctx.body.quantity))


@endpoint(bp, "/cart/items/{product_id}", method="PUT", summary="Set the quantity of a cart line", auth=CUSTOMER,
          body=SetLineIn, response=SavedCartLine, errors=(404, 409, 422), tags=("cart",))
def set_item(ctx: Ctx, product_id: str) -> SavedCartLine:
    _check_product_id(product_id)
    return _saved(cart_service.set_quantity(ctx.user.user_id, product_id, ctx.body.quantity))


@endpoint(bp, "/cart/items/{product_id}", method="DELETE", summary="Remove a line from my cart", auth=CUSTOMER,
          status=204, tags=("cart",))
def remove_item(ctx: Ctx, product_id: str) -> Reply:
    _check_product_id(product_id)
    cart_service.remove(ctx.user.user_id, product_id)
    return Reply(status=204)


@endpoint(bp, "/cart", method="DELETE", summary="Empty all my carts", auth=CUSTOMER, status=204, tags=("cart",))
def clear_cart(ctx: Ctx) -> Reply:
    cart_service.clear(ctx.user.user_id)
    return Reply(status=204)


@endpoint(bp, "/checkout", method="POST", summary="Place one order per seller from my carts, reserving stock",
          auth=CUSTOMER, body=CheckoutIn, response=Checkout, status=201, errors=(403, 409, 422, 429),
          idempotent=True, location=lambda body: f"/orders/{body['orders'][0]['order_id']}", tags=("cart",),
          limit="checkout", verified=True)
def checkout(ctx: Ctx) -> Checkout:
    from chalicelib.services import idempotency

    result = checkout_service.checkout(
        customer_id=ctx.user.user_id,
        checkout_id="c" + idempotency.derived_id("checkout"),
        delivery=dict(ctx.body.delivery),
        address=ctx.body.address.model_dump(exclude_none=True),
        payment_method=ctx.body.payment_method,
        expected_total=ctx.body.expected_total,
        promo_codes=list(ctx.body.promo_codes),
    )
    return Checkout(checkout_id=result["checkout_id"], orders=[order_body(o) for o in result["orders"]],
                    totals=result["totals"])
