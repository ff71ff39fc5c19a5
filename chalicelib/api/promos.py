"""Promo code routes: sellers' codes, marketplace codes, and the quote.

    POST  /seller/promo-codes            {code, kind, value, min_subtotal?, starts_at?, ends_at?, max_uses?,
                                          max_uses_per_customer?} → 201 PromoCode, Location: the code
    GET   /seller/promo-codes            my codes with their use counts → {items, next_cursor}
    GET   /seller/promo-codes/{code}     one of my codes
    PATCH /seller/promo-codes/{code}     change limits, window, minimum (null removes one); {ended: true} ends it
    POST, GET /admin/promo-codes, GET, PATCH /admin/promo-codes/{code}
                                         the same for marketplace-wide codes (funded by the marketplace)
    POST  /cart/quote                    {promo_codes?, delivery?} → per seller: subtotal, discount, delivery,
                                         total; the grand total; every code that does not apply, with why

``value`` is a whole percent (1..100) for ``kind: percent`` and integer minor units of the
issuer's currency (1..``MAX_FIXED``) for ``kind: fixed``; answers show a fixed value as Money
(``amount_off``) and a percent as ``percent``. Codes are case-insensitive (answers show them
upper-case). Rules: ``domain/promos.py``.
"""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from chalice import Blueprint
from pydantic import AfterValidator, Field, StrictInt, StringConstraints

from chalicelib.api.http import Ctx, endpoint
from chalicelib.api.models import Body, Id, Limit, Money, Out, Page
from chalicelib.domain import promos as rules
from chalicelib.domain.money import money
from chalicelib.errors import ValidationFailed
from chalicelib.lazy import lazy
from chalicelib.store.pagination import decode_cursor, encode_cursor

service = lazy("chalicelib.services.promos")

bp = Blueprint(__name__)

CodeText = Annotated[str, StringConstraints(pattern=rules.CODE_RE.pattern),
                     Field(description="3..32 letters, digits, _ or -, starting with a letter or digit; "
                                       "case-insensitive")]


def _utc(value: str) -> str:
    """ISO 8601 with a zone → the canonical UTC form the store compares as text."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError("an ISO 8601 date-time, e.g. 2026-07-01T00:00:00Z") from exc
    if parsed.tzinfo is None:
        raise ValueError("give a time zone (…Z or +03:00)")
    return parsed.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


Instant = Annotated[str, StringConstraints(max_length=40), AfterValidator(_utc)]
Uses = Annotated[StrictInt, Field(ge=1, le=rules.MAX_USES)]
MinSubtotal = Annotated[StrictInt, Field(ge=0, le=rules.MAX_MIN_SUBTOTAL,
                                         description="integer minor units of the issuer's currency")]


class PromoCodeIn(Body):
    code: CodeText
    kind: Literal["percent", "fixed"]
    value: Annotated[StrictInt, Field(ge=1, description="percent: 1..100; fixed: integer minor units of the "
                                                        f"issuer's currency, 1..{rules.MAX_FIXED}")]
    min_subtotal: MinSubtotal | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    max_uses: Uses | None = Field(None, description="checkouts that may redeem it, in all")
    max_uses_per_customer: Uses | None = None


class PromoCodeChangeIn(Body):
    """Only the fields sent change; ``null`` removes a limit, a window end or the minimum."""

    min_subtotal: MinSubtotal | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    max_uses: Uses | None = None
    max_uses_per_customer: Uses | None = None
    ended: Literal[True] | None = Field(None, description="true ends the code now, for good")


class PromoCode(Out):
    code: str
    kind: Literal["percent", "fixed"]
    percent: int | None = Field(description="percent codes: the percent taken off")
    amount_off: Money | None = Field(description="fixed codes: the amount taken off")
    min_subtotal: Money | None = None
    currency: str
    starts_at: str | None = None
    ends_at: str | None = None
    max_uses: int | None = None
    max_uses_per_customer: int | None = None
    uses: int = Field(description="checkouts holding a use now (a cancelled order gives its use back)")
    ended: bool
    funded_by: Literal["seller", "marketplace"]
    created_at: str
    updated_at: str


class PromoCodePage(Page):
    items: list[PromoCode]


class PromoCodesQuery(Body):
    limit: Limit = 50
    cursor: Annotated[str, StringConstraints(max_length=2048)] | None = None


class QuoteIn(Body):
    promo_codes: Annotated[list[CodeText], Field(max_length=10)] = Field(
        default_factory=list, description=f"each at most once; up to 10 can be checked, a checkout redeems at most "
                                          f"{rules.MAX_CODES}")
    delivery: Annotated[dict[Id, Id], Field(max_length=50)] = Field(
        default_factory=dict, description="seller_id → delivery method id (optional: without it a cart's "
                                          "total has no delivery)")


class QuoteDiscount(Out):
    code: str
    funded_by: Literal["seller", "marketplace"]
    amount: Money


class QuoteCart(Out):
    seller_id: str
    seller_name: str | None
    currency: str | None
    subtotal: Money = Field(description="lines that can be ordered now, at current prices")
    discount: Money
    discounts: list[QuoteDiscount]
    delivery_method: str | None
    delivery_price: Money | None = Field(description="the chosen method's price; null = none chosen")
    total: Money = Field(description="subtotal − discount + delivery")
    has_issues: bool


class QuoteCode(Out):
    code: str
    funded_by: Literal["seller", "marketplace"]
    seller_id: str | None = None
    amount: Money = Field(description="what it takes off, in all")


class QuoteRefusal(Out):
    code: str
    reason: str = Field(description="one of " + ", ".join(rules.REASONS))
    detail: str
    seller_id: str | None = None


class Quote(Out):
    carts: list[QuoteCart]
    totals: list[Money]
    total: Money | None = Field(description="the grand total when every cart is in one currency: what "
                                            "POST /checkout's expected_total confirms (with delivery chosen)")
    delivery_included: bool
    applied: list[QuoteCode]
    rejected: list[QuoteRefusal] = Field(description="codes that do not apply, with the reason: a checkout "
                                                     "sending them is refused (409 promo-code-rejected)")


def _code(item: dict[str, Any]) -> PromoCode:
    cur = item["currency"]
    return PromoCode(**{
        **item,
        "percent": int(item["value"]) if item["kind"] == rules.PERCENT else None,
        "amount_off": money(int(item["value"]), cur) if item["kind"] == rules.FIXED else None,
        "min_subtotal": money(int(item["min_subtotal"]), cur) if item.get("min_subtotal") is not None else None,
        "uses": int(item.get("uses", 0)),
        "ended": bool(item.get("ended")),
        "funded_by": "marketplace" if item["issuer"] == rules.MARKETPLACE else "seller",
    })


def _create(issuer: str, ctx: Ctx) -> PromoCode:
    return _code(service.create(issuer, ctx.body.model_dump()))


def _list(issuer: str, ctx: Ctx) -> PromoCodePage:
    start = decode_cursor(ctx.query.cursor)
    if start is not None and not all(isinstance(v, str) for v in start.values()):
        raise ValidationFailed.one("cursor", "invalid cursor")
    items, last = service.list_codes(issuer, limit=ctx.query.limit, start=start)
    return PromoCodePage(items=[_code(i) for i in items], next_cursor=encode_cursor(last))


def _one(issuer: str, code: str) -> PromoCode:
    return _code(service.get(issuer, code))


def _change(issuer: str, code: str, ctx: Ctx) -> PromoCode:
    if not rules.CODE_RE.match(code):
        raise ValidationFailed.one("code", "not a promo code")
    return _code(service.update(issuer, code, ctx.body.model_dump(exclude_unset=True)))


SELLER, ADMIN = ("seller",), ("admin",)
ERRORS = (401, 403, 409, 422)


@endpoint(bp, "/seller/promo-codes", method="POST", summary="Create a promo code for my shop", auth=SELLER,
          body=PromoCodeIn, response=PromoCode, status=201, errors=ERRORS, tags=("promotions",),
          location=lambda body: f"/seller/promo-codes/{body['code']}")
def create_seller_code(ctx: Ctx) -> PromoCode:
    return _create(ctx.user.user_id, ctx)


@endpoint(bp, "/seller/promo-codes", summary="My shop's promo codes with their use counts", auth=SELLER,
          query=PromoCodesQuery, response=PromoCodePage, errors=(401, 403, 422), tags=("promotions",))
def list_seller_codes(ctx: Ctx) -> PromoCodePage:
    return _list(ctx.user.user_id, ctx)


@endpoint(bp, "/seller/promo-codes/{code}", summary="One of my shop's promo codes", auth=SELLER,
          response=PromoCode, errors=(401, 403, 404), tags=("promotions",))
def get_seller_code(ctx: Ctx, code: str) -> PromoCode:
    return _one(ctx.user.user_id, code)


@endpoint(bp, "/seller/promo-codes/{code}", method="PATCH", summary="Change or end one of my promo codes",
          auth=SELLER, body=PromoCodeChangeIn, response=PromoCode, errors=(401, 403, 404, 422),
          tags=("promotions",))
def change_seller_code(ctx: Ctx, code: str) -> PromoCode:
    return _change(ctx.user.user_id, code, ctx)


@endpoint(bp, "/admin/promo-codes", method="POST", summary="Create a marketplace-wide promo code (the "
          "marketplace funds it)", auth=ADMIN, body=PromoCodeIn, response=PromoCode, status=201, errors=ERRORS,
          tags=("admin",), location=lambda body: f"/admin/promo-codes/{body['code']}")
def create_marketplace_code(ctx: Ctx) -> PromoCode:
    from chalicelib.services import admin  # staff actions are audited there

    code = _create(rules.MARKETPLACE, ctx)
    admin.promo_created(ctx.user, code.code)
    return code


@endpoint(bp, "/admin/promo-codes", summary="Marketplace promo codes with their use counts", auth=ADMIN,
          query=PromoCodesQuery, response=PromoCodePage, errors=(401, 403, 422), tags=("admin",))
def list_marketplace_codes(ctx: Ctx) -> PromoCodePage:
    return _list(rules.MARKETPLACE, ctx)


@endpoint(bp, "/admin/promo-codes/{code}", summary="One marketplace promo code", auth=ADMIN, response=PromoCode,
          errors=(401, 403, 404), tags=("admin",))
def get_marketplace_code(ctx: Ctx, code: str) -> PromoCode:
    return _one(rules.MARKETPLACE, code)


@endpoint(bp, "/admin/promo-codes/{code}", method="PATCH", summary="Change or end a marketplace promo code",
          auth=ADMIN, body=PromoCodeChangeIn, response=PromoCode, errors=(401, 403, 404, 422), tags=("admin",))
def change_marketplace_code(ctx: Ctx, code: str) -> PromoCode:
    return _change(rules.MARKETPLACE, code, ctx)


@endpoint(bp, "/cart/quote", method="POST", summary="Price my carts with promo codes and delivery (calcPrice)",
          auth=("customer",), body=QuoteIn, body_required=False, response=Quote, errors=(401, 403, 422), tags=("cart",))
def quote(ctx: Ctx) -> Quote:
    result = service.quote(ctx.user.user_id, list(ctx.body.promo_codes), dict(ctx.body.delivery))
    carts = []
    for c in result["carts"]:
        cur = c["currency"]
        carts.append({**c, "subtotal": money(c["subtotal"], cur), "discount": money(c["discount"], cur),
                      "total": money(c["total"], cur),
                      "delivery_price": money(c["delivery"], cur) if c["delivery"] is not None else None,
                      "discounts": [{**d, "amount": money(d["amount"], cur)} for d in c["discounts"]]})
    cur_of = {c["seller_id"]: c["currency"] for c in result["carts"]}
    applied = []
    for a in result["applied"]:
        cur = cur_of.get(a["seller_id"]) if a["seller_id"] else next(iter(cur_of.values()), None)
        applied.append({**a, "amount": money(a["amount"], cur)})
    return Quote(**{**result, "carts": carts, "applied": applied})
