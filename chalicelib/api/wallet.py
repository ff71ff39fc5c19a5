"""Wallet routes (customer) and balance routes (seller).

    GET  /wallet                                balance: available and held (Money)
    POST /wallet/topups                         {amount} → 201 pending, pay at confirmation_url
                                                (local stage, with a card: → 201 succeeded at once)
    GET  /wallet/topups/{topup_id}              a top-up paid on the provider's page: its status
    GET  /wallet/transactions[/{transaction_id}] my wallet's movements, newest first / one of them
    GET  /seller/balance[/transactions]         the seller's earnings and their movements

Money is integer minor units with an ISO currency, never a float; answers show it as Money
objects (``api/models.py``). A top-up is ``{"amount"[, "currency"]}``: the customer pays on the
provider's page (``confirmation_url``) and its webhook credits the wallet (``api/payments.py``).
On the local stage only, a body may also carry a sandbox card, charged at once::

    POST /wallet/topups      Idempotency-Key: <8-128 chars>
    {"amount": 150000, "currency": "RUB",
     "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123",
              "holder": "IVAN PETROV"}}

``currency`` may be omitted (the deployment's wallet currency); any other currency is a 422 on
``currency``. ``amount`` is 1..1,000,000,000 (10,000,000.00) as a JSON integer: 10.5, "100",
0, negatives and larger numbers are 422 on ``amount``. Card numbers are checked (Luhn), never
stored; responses show the last four digits only. Test cards: ``services/payments.py``.
"""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from chalice import Blueprint
from pydantic import Field, StringConstraints, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from chalicelib.api.http import endpoint
from chalicelib.api.models import Body, Currency, Limit, Money, Out, Page, priced
from chalicelib.config import settings
from chalicelib.domain.ledger import MAX_TOPUP
from chalicelib.errors import ValidationFailed
from chalicelib.lazy import lazy
from chalicelib.store.pagination import decode_cursor, encode_cursor

idempotency = lazy("chalicelib.services.idempotency")
ledger = lazy("chalicelib.services.ledger")
payments = lazy("chalicelib.services.payments")
wallet = lazy("chalicelib.services.wallet")

bp = Blueprint(__name__)

MAX_CARD_YEARS_AHEAD = 20


def _strict_int(value: Any) -> Any:
    # JSON 10.5, 10.0, "100" and true are not amounts: pydantic would coerce some of them
    if type(value) is not int:
        raise PydanticCustomError("integer_minor_units", "must be a JSON integer (minor units, e.g. 150000 = 1500.00)")
    return value


class CardIn(Body):
    number: Annotated[str, StringConstraints(min_length=12, max_length=23),
                      Field(description="card number; spaces and dashes are ignored")]
    exp_month: Annotated[int, Field(ge=1, le=12)]
    exp_year: Annotated[int, Field(ge=2000, le=2100, description="four digits")]
    cvc: str = Field(description="3 or 4 digits, as a string")
    holder: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None

    @field_validator("exp_month", "exp_year", mode="before")
    @classmethod
    def _ints(cls, value: Any) -> Any:
        return _strict_int(value)

    @field_validator("number")
    @classmethod
    def _number(cls, value: str) -> str:
        digits = value.replace(" ", "").replace("-", "")
        if not (digits.isascii() and digits.isdigit()) or not 12 <= len(digits) <= 19:
            raise PydanticCustomError("card_number", "must be 12-19 digits")
        if not payments.luhn_ok(digits):
            raise PydanticCustomError("card_number", "is not a valid card number (checksum)")
        return digits

    @field_validator("cvc")
    @classmethod
    def _cvc(cls, value: str) -> str:
        if not (value.isascii() and value.isdigit() and len(value) in (3, 4)):
            raise PydanticCustomError("card_cvc", "must be 3 or 4 digits")
        return value

    @field_validator("exp_year")
    @classmethod
    def _not_expired(cls, year: int, info: ValidationInfo) -> int:
        now = datetime.now(UTC)
        month = info.data.get("exp_month")
        if year < now.year or (year == now.year and month is not None and month < now.month):
            raise PydanticCustomError("card_expired", "the card has expired")
        if year > now.year + MAX_CARD_YEARS_AHEAD:
            raise PydanticCustomError("card_expiry", "is too far in the future")
        return year

    def card(self) -> "payments.Card":
        return payments.Card(self.number, self.exp_month, self.exp_year, self.cvc, self.holder)


class TopupIn(Body):
    amount: Annotated[int, Field(gt=0, le=MAX_TOPUP, description="integer minor units (kopecks)")]
    currency: Currency | None = Field(None, description="the wallet currency; omitted means the deployment's")
    card: CardIn | None = Field(None, description="local stage only: a sandbox test card, charged at once; "
                                                  "refused (422) on every other stage")

    @field_validator("card", mode="before")
    @classmethod
    def _card_only_locally(cls, value: Any) -> Any:
        if value is not None and not settings().sandbox_stage:
            raise PydanticCustomError("card_refused", "card data is not accepted: pay on the confirmation_url page")
        return value

    @field_validator("amount", mode="before")
    @classmethod
    def _int(cls, value: Any) -> Any:
        return _strict_int(value)

    @field_validator("currency")
    @classmethod
    def _wallet_currency(cls, value: str | None) -> str | None:
        wanted = ledger.currency()
        if value is not None and value != wanted:
            raise PydanticCustomError("currency", "the wallet holds {wanted} only", {"wanted": wanted})
        return value


class ListQuery(Body):
    limit: Limit = 20
    cursor: Annotated[str, StringConstraints(max_length=2048)] | None = None


class Wallet(Out):
    available: Money = Field(description="spendable")
    held: Money = Field(description="reserved for paid orders awaiting the seller")
    currency: str = Field(description="the wallet's currency: top-up amounts are minor units of it")


class Topup(Out):
    """A provider top-up (``topup_id``, ``confirmation_url``) or, locally, a card top-up (``id``,
    ``card_last4``, ``charge_id``)."""

    topup_id: str | None = Field(None, description="the top-up (GET /wallet/topups/{topup_id})")
    id: str | None = Field(None, description="local card top-up: its wallet transaction")
    status: Literal["pending", "succeeded", "canceled", "expired"]
    amount: Money
    confirmation_url: str | None = Field(None, description="where the customer pays (the provider's page)")
    transaction_id: str | None = Field(None, description="once succeeded: the wallet transaction")
    card_last4: str | None = None
    charge_id: str | None = None
    created_at: str


class WalletLine(Out):
    id: str
    kind: Literal["topup", "hold", "capture", "release", "refund"]
    amount: Money
    available_change: Money = Field(description="the change of available (negative: money left it)")
    held_change: Money = Field(description="the change of held")
    order_id: str | None = None
    card_last4: str | None = None
    created_at: str


class WalletLinePage(Page):
    items: list[WalletLine]


class SellerBalance(Out):
    earnings: Money = Field(description="captured order money, less refunds and payouts: available + pending")
    available: Money = Field(description="past the return window: what a payout may take")
    pending: Money = Field(description="orders not delivered yet or inside their return window")
    in_flight: Money = Field(description="payouts requested, not paid or failed yet")
    paid_out: Money = Field(description="payouts paid to the seller's bank account")
    currency: str


class SellerLine(Out):
    id: str
    kind: Literal["capture", "refund", "return", "payout", "payout_paid", "payout_failed"] = Field(
        description="return: an accepted return; payout_*: a payout's steps (GET /seller/statement explains each)")
    amount: Money
    earnings_change: Money = Field(description="the change of earnings (negative: a refund)")
    seller_discount: Money | None = Field(None, description="what the seller's own promo code took off the order "
                                                            "(the seller funds it: earnings are lower by it)")
    marketplace_discount: Money | None = Field(None, description="what a marketplace promo code took off the "
                                                                 "order (the marketplace pays it: included in "
                                                                 "earnings_change)")
    order_id: str | None = None
    created_at: str


class SellerLinePage(Page):
    items: list[SellerLine]


def _wallet_line(line: dict[str, Any]) -> WalletLine:
    return WalletLine(**priced(line, line["amount"]["currency"], "available_change", "held_change"))


def _seller_line(line: dict[str, Any]) -> SellerLine:
    return SellerLine(**priced(line, line["amount"]["currency"], "earnings_change", "seller_discount",
                               "marketplace_discount"))


@endpoint(bp, "/wallet", summary="My wallet balance", auth=("customer",), response=Wallet, errors=(401, 403),
          tags=("wallet",))
def get_wallet(ctx) -> Wallet:
    balance = wallet.balance(ctx.user.user_id)
    return Wallet(**priced(balance, balance["currency"], "available", "held"))


def _topup_location(body: dict[str, Any]) -> str:
    if body.get("topup_id"):
        return f"/wallet/topups/{body['topup_id']}"
    return f"/wallet/transactions/{body['id']}"


@endpoint(bp, "/wallet/topups", method="POST", summary="Top up my wallet: pay the amount on the provider's page",
          auth=("customer",), body=TopupIn, response=Topup, status=201, idempotent=True,
          errors=(401, 402, 403, 409, 422, 429, 503), location=_topup_location, tags=("wallet",), limit="topup")
def post_topup(ctx) -> dict[str, Any]:
    body: TopupIn = ctx.body
    reference = idempotency.derived_id("topup")
    if body.card is not None:  # the local stage's instant sandbox path (the validator refuses it elsewhere)
        receipt = wallet.topup(ctx.user.user_id, body.amount, body.currency, body.card.card(), reference=reference)
    else:
        receipt = wallet.start_topup(ctx.user.user_id, body.amount, body.currency, reference=reference)
    return _topup(receipt)


@endpoint(bp, "/wallet/topups/{topup_id}", summary="One of my top-ups: pending until the provider reports",
          auth=("customer",), response=Topup, errors=(401, 403, 404), owner_scoped=True, tags=("wallet",))
def get_topup(ctx, topup_id: str) -> dict[str, Any]:
    scope = None if ctx.user.role == "admin" else ctx.user.user_id
    return _topup(wallet.topup_status(scope, topup_id))


def _topup(receipt: dict[str, Any]) -> dict[str, Any]:
    # the two kinds of top-up answer with their own fields only (no nulls for the other kind's)
    return Topup(**receipt).model_dump(mode="json", exclude_none=True)


@endpoint(bp, "/wallet/transactions", summary="My wallet's movements, newest first", auth=("customer",),
          query=ListQuery, response=WalletLinePage, errors=(401, 403, 422), tags=("wallet",))
def get_wallet_transactions(ctx) -> WalletLinePage:
    items, last = wallet.transactions(ctx.user.user_id, limit=ctx.query.limit, start=_start(ctx.query))
    return WalletLinePage(items=[_wallet_line(i) for i in items], next_cursor=encode_cursor(last))


@endpoint(bp, "/wallet/transactions/{transaction_id}", summary="One movement of my wallet (a top-up's Location)",
          auth=("customer",), response=WalletLine, errors=(401, 403, 404), owner_scoped=True, tags=("wallet",))
def get_wallet_transaction(ctx, transaction_id: str) -> WalletLine:
    scope = None if ctx.user.role == "admin" else ctx.user.user_id
    return _wallet_line(wallet.transaction(scope, transaction_id))


@endpoint(bp, "/seller/balance", summary="My earnings", auth=("seller",), response=SellerBalance,
          errors=(401, 403), tags=("sellers",))
def get_seller_balance(ctx) -> SellerBalance:
    balance = wallet.seller_balance(ctx.user.user_id)
    return SellerBalance(**priced(balance, balance["currency"], "earnings", "available", "pending", "in_flight",
                                  "paid_out"))


@endpoint(bp, "/seller/balance/transactions", summary="My earnings' movements, newest first", auth=("seller",),
          query=ListQuery, response=SellerLinePage, errors=(401, 403, 422), tags=("sellers",))
def get_seller_transactions(ctx) -> SellerLinePage:
    items, last = wallet.seller_transactions(ctx.user.user_id, limit=ctx.query.limit, start=_start(ctx.query))
    return SellerLinePage(items=[_seller_line(i) for i in items], next_cursor=encode_cursor(last))


def _start(query: ListQuery) -> dict[str, Any] | None:
    start = decode_cursor(query.cursor)
    if start is not None and not all(isinstance(v, str) for v in start.values()):
        raise ValidationFailed.one("cursor", "invalid cursor")
    return start
