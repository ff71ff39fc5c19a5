"""A seller's payouts and statement.

    POST /seller/payouts               Idempotency-Key; {"amount": 150000, "account": "40702810…"} → 201
                                       the payout (state paid or failed; requested while the provider's
                                       answer is unknown); Location: /seller/payouts/{id}
    GET  /seller/payouts[/{payout_id}] my payouts, newest first / one of them
    GET  /seller/statement             ?from=2026-12-01&to=2026-12-31 (dates or ISO times, UTC; ``to``
                                       inclusive for a date) &format=json|csv, or Accept: text/csv

A payout is at least ``PAYOUT_MINIMUM`` minor units (422 on ``amount``) and at most the available
balance (409 insufficient-funds, with ``available`` and ``required``); ``GET /seller/balance``
shows available, pending (inside the return window) and paid out. The sandbox provider fails the
payouts to account ``40702810000000000002`` (``adapters/payouts.py``). CSV cells are neutralized
against spreadsheet formulas (``domain/spreadsheet.safe_cell``).
"""

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from chalice import Blueprint, Response
from pydantic import Field, StrictInt, StringConstraints

from chalicelib.api.http import endpoint
from chalicelib.api.models import Body, Limit, Money, Out, Page
from chalicelib.domain.ledger import MAX_AMOUNT
from chalicelib.errors import ValidationFailed
from chalicelib.lazy import lazy
from chalicelib.store.pagination import decode_cursor, encode_cursor

idempotency = lazy("chalicelib.services.idempotency")
payouts = lazy("chalicelib.services.payouts")
statements = lazy("chalicelib.services.statements")

bp = Blueprint(__name__)

SELLER = ("seller",)
MAX_STATEMENT_DAYS = 366


class PayoutIn(Body):
    amount: Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT, description="integer minor units")]
    account: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{10,34}$"),
                       Field(description="the bank account to pay to (10..34 letters and digits)")]


class Payout(Out):
    id: str
    state: Literal["requested", "paid", "failed"]
    amount: Money
    account_last4: str
    failure_reason: str | None = None
    created_at: str
    resolved_at: str | None = None


class PayoutPage(Page):
    items: list[Payout]


class ListQuery(Body):
    limit: Limit = 20
    cursor: Annotated[str, StringConstraints(max_length=2048)] | None = None


class StatementQuery(Body):
    from_: Annotated[str | None, Field(alias="from", max_length=40)] = None
    to: Annotated[str | None, Field(max_length=40)] = None
    format: Literal["json", "csv"] | None = None


class StatementLine(Out):
    date: str
    kind: Literal["order", "discount", "fee", "refund", "payout", "payout_returned", "payout_paid"]
    amount: Money = Field(description="the change of the seller's balance (negative: money left it)")
    order_id: str | None = None
    payout_id: str | None = None
    description: str
    transaction_id: str


class Statement(Out):
    seller_id: str
    start: str = Field(description="the period's start (inclusive), UTC")
    end: str = Field(description="the period's end (exclusive), UTC")
    lines: list[StatementLine]
    total: Money = Field(description="the sum of the lines")


@endpoint(bp, "/seller/payouts", method="POST", summary="Pay my available balance out to my bank account",
          auth=SELLER, body=PayoutIn, response=Payout, status=201, idempotent=True,
          errors=(401, 403, 409, 422, 503), location=lambda body: f"/seller/payouts/{body['id']}", tags=("sellers",))
def post_payout(ctx) -> Payout:
    body: PayoutIn = ctx.body
    return Payout(**payouts.request(ctx.user.user_id, body.amount, body.account,
                                    reference=idempotency.derived_id("payout")))


@endpoint(bp, "/seller/payouts", summary="My payouts, newest first", auth=SELLER, query=ListQuery,
          response=PayoutPage, errors=(401, 403, 422), tags=("sellers",))
def get_payouts(ctx) -> PayoutPage:
    start = decode_cursor(ctx.query.cursor)
    items, last = payouts.listing(ctx.user.user_id, limit=ctx.query.limit, start=start)
    return PayoutPage(items=[Payout(**i) for i in items], next_cursor=encode_cursor(last))


@endpoint(bp, "/seller/payouts/{payout_id}", summary="One of my payouts", auth=SELLER, response=Payout,
          errors=(401, 403, 404), owner_scoped=True, tags=("sellers",))
def get_payout(ctx, payout_id: str) -> Payout:
    return Payout(**payouts.get(ctx.user.user_id, payout_id))


@endpoint(bp, "/seller/statement", summary="My statement: every movement of my balance (JSON or CSV)",
          auth=SELLER, query=StatementQuery, response=Statement, errors=(401, 403, 422),
          alternates=("text/csv",), tags=("sellers",))
def get_statement(ctx) -> Any:
    start, end = _period(ctx.query)
    rows = statements.lines(ctx.user.user_id, start, end)
    wants_csv = ctx.query.format == "csv" or (ctx.query.format is None and "text/csv" in
                                               (ctx.request.headers.get("accept") or ""))
    if wants_csv:
        return Response(body="".join(statements.csv_text(rows)), status_code=200, headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="statement.csv"'})
    cur = rows[0]["currency"] if rows else payouts.balance(ctx.user.user_id)["currency"]
    return Statement(seller_id=ctx.user.user_id, start=start, end=end,
                     lines=[StatementLine(**{**r, "amount": {"amount": r["amount"], "currency": r["currency"]}})
                            for r in rows],
                     total={"amount": sum(r["amount"] for r in rows), "currency": cur})


def _period(query: StatementQuery) -> tuple[str, str]:
    now = datetime.now(UTC)
    end = _instant(query.to, "to", end_of_day=True) if query.to else now + timedelta(seconds=1)
    try:
        start = _instant(query.from_, "from") if query.from_ else end - timedelta(days=31)
    except OverflowError as exc:  # a 'to' at the dawn of the calendar
        raise ValidationFailed.one("to", "out of range") from exc
    if start >= end:
        raise ValidationFailed.one("from", "must be before 'to'")
    if end - start > timedelta(days=MAX_STATEMENT_DAYS):
        raise ValidationFailed.one("from", f"a statement covers at most {MAX_STATEMENT_DAYS} days")
    return _iso(start), _iso(end)


def _instant(value: str, field: str, *, end_of_day: bool = False) -> datetime:
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end_of_day else moment
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError) as exc:  # 9999-12-31 has no day after it
        raise ValidationFailed.one(field, "a date (2026-12-01) or an ISO 8601 time with a zone") from exc
    if parsed.tzinfo is None:
        raise ValidationFailed.one(field, "give a time zone (…Z or +03:00)")
    return parsed.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
