"""The marketplace's own money, for admins: the fee schedule.

    GET /admin/commission     the marketplace fee: default and per-category percents
    PUT /admin/commission     {"default_percent": 5, "categories": {"Books": 7.5}} → the new schedule
    GET /admin/ledger/reconciliation
                              the books: wallets + holds + seller balances + payouts in flight + fee revenue
                              − promotion expense = top-ups − payouts paid, and every order's money
                              against its state (``services/books.py``; also a command)

Percents are JSON numbers 0..100 with at most two decimals (basis points); a category is a
product's leaf category name, compared ignoring case and spaces. A PUT replaces the whole
schedule and applies to captures after it: an order keeps the fee it was captured with. The fee
is rounded down to the minor unit, the remainder staying with the seller (``domain/fees.py``).
"""

from typing import Annotated, Any

from chalice import Blueprint
from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from chalicelib.api.http import endpoint
from chalicelib.api.models import Body, Money, Out, priced
from chalicelib.lazy import lazy

books = lazy("chalicelib.services.books")
fees = lazy("chalicelib.services.fees")

bp = Blueprint(__name__)

ADMIN = ("admin",)


def _json_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("percent", "must be a JSON number of percent, e.g. 7.5")
    return value


# the range and the two decimals are checked by the service (domain/fees.percent_to_bps)
Percent = Annotated[float, BeforeValidator(_json_number), Field(description="percent, 0..100, at most two decimals")]


class CommissionIn(Body):
    default_percent: Percent
    categories: dict[str, Percent] = Field(default_factory=dict,
                                           description="leaf category name → percent (overrides the default)")


class Commission(Out):
    default_percent: float
    categories: dict[str, float]
    updated_at: str | None = None
    updated_by: str | None = None


@endpoint(bp, "/admin/commission", summary="The marketplace fee schedule", auth=ADMIN, response=Commission,
          errors=(401, 403), tags=("admin",))
def get_commission(ctx) -> Commission:
    return Commission(**fees.schedule())


@endpoint(bp, "/admin/commission", method="PUT", summary="Set the marketplace fee (default and per category)",
          auth=ADMIN, body=CommissionIn, response=Commission, errors=(401, 403, 422), tags=("admin",))
def put_commission(ctx) -> Commission:
    body: CommissionIn = ctx.body
    return Commission(**fees.set_schedule(body.default_percent, body.categories, admin_id=ctx.user.user_id))


class Books(Out):
    balanced: bool = Field(description="the equation holds, the journal matches every balance, every order's "
                                       "money matches its state")
    wallets: Money
    holds: Money
    seller_balances: Money
    payouts_in_flight: Money
    marketplace_revenue: Money
    marketplace_expenses: Money
    topups: Money
    card_payments: Money = Field(description="what card orders took from the payment providers, net of voids and "
                                             "refunds")
    payouts_paid: Money
    holds_checked: int
    problems: list[str] = Field(description="what does not match (empty when balanced; at most 100)")


MONEY_TERMS = ("wallets", "holds", "seller_balances", "payouts_in_flight", "marketplace_revenue",
               "marketplace_expenses", "topups", "card_payments", "payouts_paid")


@endpoint(bp, "/admin/ledger/reconciliation", summary="Prove the books balance", auth=ADMIN, response=Books,
          errors=(401, 403), tags=("admin",))
def get_reconciliation(ctx) -> Books:
    report = books.reconcile()
    return Books(**priced(report, report["currency"], *MONEY_TERMS))
