"""Shared pydantic building blocks for request and response bodies."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# Bodies reject unknown fields, so a client can never set a server-owned one
# (price, status, seller, totals, role...): it gets a 422 naming the field.
STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Body(BaseModel):
    model_config = STRICT


class Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


class BlockIn(Body):
    """An admin's block switch (a seller, a product)."""

    blocked: bool


Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
MinorUnits = Annotated[int, Field(ge=0, le=10**12, description="integer minor units (kopecks, cents)")]
Id = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:~\-]+$")]
Limit = Annotated[int, Field(ge=1, le=100)]


class Money(Out):
    amount: int
    currency: str


class Page(Out):
    next_cursor: str | None = None


class Problem(Out):
    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None
