"""Shared pydantic building blocks for request and response bodies.

Money (``docs/api.md``, "Money"): every money value a response shows is a ``Money`` object,
``{"amount": <integer minor units>, "currency": "<ISO 4217>"}``; a request that takes an
amount (a top-up, ``expected_total``, a delivery price, a price filter) takes a bare integer
of minor units in the currency of what it acts on (``MinorUnits``). Services work in integers;
``priced`` turns the amounts of a record into money objects where a route shapes its answer.

Schema names: ``/openapi.json`` names every schema by its class, so class names are unique
across ``api/`` and read as what they describe (``Order``, ``CartLine``; request bodies end in
``In``); ``tests/functional/test_openapi.py`` keeps it so.
"""

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo
from pydantic_core import PydanticCustomError

from chalicelib.domain.money import money

# Bodies reject unknown fields, so a client can never set a server-owned one
# (price, status, seller, totals, role...): it gets a 422 naming the field.
# ``defer_build``: a model builds its validator the first time it is used, not at import, so
# a cold Lambda pays only for the models its first request touches (docs/architecture.md).
STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class Body(BaseModel):
    model_config = STRICT


class Out(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class BlockIn(Body):
    """An admin's block switch (a seller, a product)."""

    blocked: bool


Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
MinorUnits = Annotated[int, Field(ge=0, le=10**12, description="integer minor units (kopecks, cents)")]
Id = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:~\-]+$")]
Limit = Annotated[int, Field(ge=1, le=100)]


def price_range(max_price: int | None, info: ValidationInfo) -> int | None:
    """A listing's ``max_price`` validator: the error names ``max_price``, not the whole query."""
    min_price = info.data.get("min_price")
    if max_price is not None and min_price is not None and min_price > max_price:
        raise PydanticCustomError("price_range", "must not be below min_price ({min_price})", {"min_price": min_price})
    return max_price


MONEY_RULE = ("Money in responses is an object {amount, currency}: amount in integer minor units (kopecks, "
              "cents), currency an ISO 4217 code. Requests take bare integers of minor units in the currency of "
              "what they act on (the wallet's, the shop's, the cart's).")


class Money(Out):
    """An amount of money: integer minor units and the ISO 4217 currency."""

    model_config = ConfigDict(extra="ignore", defer_build=True,
                              json_schema_extra={"examples": [{"amount": 102800, "currency": "RUB"}]})

    amount: int = Field(description="integer minor units (102800 RUB = 1 028,00 ₽); negative for a debit "
                                    "in a statement line")
    currency: str = Field(description="ISO 4217 code, e.g. RUB")


class DeliveryMethod(Out):
    """A shop's delivery method as the catalog, the seller page and the shop show it."""

    id: str
    name: str
    price: Money
    days: int


def priced(record: Mapping[str, Any], currency: str | None, *fields: str) -> dict[str, Any]:
    """``record`` with each of ``fields`` (integer minor units of ``currency``, or None) as a
    money object; the other fields as they are."""
    return {**record, **{f: money(record[f], currency) for f in fields if f in record}}


class Page(Out):
    next_cursor: str | None = None


class FacetValue(Out):
    id: str
    name: str | None = None
    count: int


class PriceRange(Out):
    """Prices from ``min`` to ``max`` inclusive (no ``max``: and above): send them as
    ``min_price`` / ``max_price`` to filter."""

    min: Money
    max: Money | None = None
    count: int


class Facets(Out):
    """Counts over the products the query matches (``facets=true``): at most 1000 of them are
    counted (``counted``); ``complete: false`` means there were more (counts are a lower bound)."""

    category: list[FacetValue]
    seller: list[FacetValue]
    price_ranges: list[PriceRange]
    on_sale: int = Field(description="old price above the price")
    in_stock: int = Field(description="available to order now")
    counted: int
    complete: bool


def facet_counts(raw: dict[str, Any]) -> Facets:
    """``search/facets.count``'s dict as the answer shows it (prices as money objects)."""
    price = [{"min": money(r["min"], r["currency"]),
              "max": None if r["max"] is None else money(r["max"], r["currency"]), "count": r["count"]}
             for r in raw["price_ranges"]]
    return Facets(**{**raw, "price_ranges": price})


class Problem(Out):
    """RFC 9457 problem details. Some problems carry more members (cart-changed: ``changes``,
    ``total``...); their money members are Money objects like everywhere else."""

    type: str = Field(description="URL of a page describing this kind of problem (GET it)")
    title: str
    status: int
    detail: str
    instance: str | None = Field(None, description="the request id (quote it when reporting a problem)")
    errors: list[dict[str, str]] | None = Field(None, description="field-level problems: [{field, reason}]")
