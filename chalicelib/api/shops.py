"""Seller shop routes, the public seller page, and the admin's block switch."""

from typing import Annotated

from chalice import Blueprint
from pydantic import AliasChoices, Field, StringConstraints, computed_field, field_validator

from chalicelib.api.auth import Email, Language, _email
from chalicelib.api.http import CATALOG_CACHE, endpoint
from chalicelib.api.models import BlockIn, Body, DeliveryMethod, Out, priced
from chalicelib.config import settings
from chalicelib.lazy import lazy

shops = lazy("chalicelib.services.shops")

bp = Blueprint(__name__)

ShortText = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class DeliveryMethodIn(Body):
    id: Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_\-]+$")]
    name: ShortText
    price: Annotated[int, Field(ge=0, le=10_000_000, description="integer minor units of the shop's currency (a "
                                                                 "request amount; answers show Money objects)")]
    days: Annotated[int, Field(ge=0, le=365, description="delivery time in days")]


class ShopIn(Body):
    name: ShortText
    # the contract's table says "email": either name is taken
    contact_email: Annotated[Email, Field(validation_alias=AliasChoices("contact_email", "email"))]
    language: Language = "ru"
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "RUB"
    delivery_methods: Annotated[list[DeliveryMethodIn], Field(min_length=1, max_length=20)]

    _check_email = field_validator("contact_email")(_email)

    @field_validator("currency")
    @classmethod
    def _supported(cls, value: str) -> str:
        if value != settings().default_currency:
            raise ValueError(f"only {settings().default_currency} is supported")
        return value

    @field_validator("delivery_methods")
    @classmethod
    def _unique(cls, methods: list[DeliveryMethodIn]) -> list[DeliveryMethodIn]:
        ids = [m.id for m in methods]
        if len(set(ids)) != len(ids):
            raise ValueError("delivery method ids must be unique")
        return methods


class Shop(Out):
    seller_id: str
    name: str
    contact_email: str
    language: str
    currency: str
    delivery_methods: list[DeliveryMethod]
    blocked: bool = False
    created_at: str
    updated_at: str

    @computed_field(description="the same as contact_email (the contract's name for it)")
    def email(self) -> str:
        return self.contact_email


class PublicShop(Out):
    seller_id: str
    name: str
    language: str
    currency: str
    delivery_methods: list[DeliveryMethod]


def _shop(shop: dict) -> dict:
    """A shop with its delivery prices as money objects in the shop's currency."""
    currency = shop.get("currency") or settings().default_currency
    return {**shop, "currency": currency,
            "delivery_methods": [priced(m, currency, "price") for m in shop.get("delivery_methods") or []]}


@endpoint(bp, "/seller/shop", method="PUT", summary="Create or replace my shop", auth=("seller",), body=ShopIn,
          response=Shop, errors=(401, 403, 422), tags=("sellers",), verified=True)
def put_shop(ctx) -> Shop:
    return Shop(**_shop(shops.put_shop(ctx.user.user_id, ctx.body.model_dump())))


@endpoint(bp, "/seller/shop", summary="My shop", auth=("seller",), response=Shop, errors=(401, 403, 404),
          tags=("sellers",))
def get_shop(ctx) -> Shop:
    return Shop(**_shop(shops.get_own_shop(ctx.user.user_id)))


@endpoint(bp, "/sellers/{seller_id}", summary="A seller's public page with delivery methods",
          response=PublicShop, errors=(404,), cache=CATALOG_CACHE, tags=("sellers",))
def get_seller(ctx, seller_id: str) -> PublicShop:
    return PublicShop(**_shop(shops.get_public_shop(seller_id)))


@endpoint(bp, "/admin/sellers/{seller_id}/blocked", method="PUT", summary="Block or unblock a seller (admin)",
          auth=("admin",), body=BlockIn, response=Shop, errors=(401, 403, 404, 422), tags=("admin",))
def block_seller(ctx, seller_id: str) -> Shop:
    from chalicelib.services import admin  # staff actions are audited there

    return Shop(**_shop(admin.block_seller(ctx.user, seller_id, ctx.body.blocked)))


