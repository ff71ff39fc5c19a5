"""What templates may see: the validated input shape, and the per-language view built from it.

Callers pass plain dicts (documented in ``emails.py``). They are validated here with pydantic
and then turned into a *view* — a fresh dict holding only whitelisted fields plus display
strings (money, delivery days, status). Templates receive nothing else, so a stray key in a
caller's dict (a task token, an internal flag) can never reach an email or a page.

Every people-written string in the view (names, the address, the delivery method's name) is
defanged (``defang.py``): sellers and customers write them, other people read them in mail
that comes from the marketplace, and a URL or domain in them must not become a link there.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from chalicelib.notify.defang import defang
from chalicelib.notify.money_format import format_money

# "system": the order could not be processed (a step failed for good and was compensated)
CancelledBy = Literal["customer", "seller", "timeout", "system"]
# with cancelled_by "timeout": what the seller did not do in time (confirm by default)
TimeoutStage = Literal["confirmation", "shipment"]


class InvalidContext(ValueError):
    """The caller's context does not have the documented shape; ``errors`` says where."""

    def __init__(self, errors: list[dict[str, str]]):
        super().__init__("; ".join(f"{e['field']}: {e['reason']}" for e in errors))
        self.errors = errors


class _Model(BaseModel):
    # extra="ignore" is the whitelist: unknown keys are dropped, not rendered.
    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True, defer_build=True)


class Item(_Model):
    name: str = Field(min_length=1)
    quantity: StrictInt = Field(ge=1)
    price: StrictInt
    line_total: StrictInt


class Delivery(_Model):
    name: str = Field(min_length=1)
    price: StrictInt = Field(ge=0)
    days: StrictInt | None = Field(default=None, ge=0)


class Discount(_Model):
    code: str = Field(min_length=1)
    amount: StrictInt = Field(ge=0)


class Order(_Model):
    order_id: str = Field(min_length=1)
    seller_name: str = ""
    customer_name: str = ""
    items: list[Item] = Field(default_factory=list)
    delivery: Delivery | None = None
    discounts: list[Discount] = Field(default_factory=list)
    total: StrictInt
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    address: str = ""
    status: str = ""

    @field_validator("address", mode="before")
    @classmethod
    def _join_structured_address(cls, value: Any) -> Any:
        # Addresses may arrive structured ({"city": …, "street": …}); emails show one line.
        if isinstance(value, dict):
            return ", ".join(str(v) for v in value.values() if v not in (None, ""))
        return "" if value is None else value


class Links(_Model):
    confirm: str | None = None
    cancel: str | None = None
    ship: str | None = None
    order: str | None = None
    pay: str | None = None

    @field_validator("confirm", "cancel", "ship", "order", "pay")
    @classmethod
    def _only_http(cls, value: str | None) -> str | None:
        # Emails need absolute links, and "javascript:" and friends never belong in an href.
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an absolute http(s) URL")
        return value


class EmailContext(_Model):
    order: Order
    links: Links = Field(default_factory=Links)
    reason: str | None = None
    cancelled_by: CancelledBy | None = None
    timeout_stage: TimeoutStage | None = None
    pay_by: StrictInt | None = None
    wallet_available: StrictInt | None = None
    tracking_number: str | None = None


def validate(model: type[_Model], data: Any) -> Any:
    """``model.model_validate`` with field/reason errors instead of pydantic internals."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]) or "(root)", "reason": e["msg"]} for e in exc.errors()]
        raise InvalidContext(errors) from None


_STATUS = {
    "ru": {
        "AWAITING_PAYMENT": "ожидает оплаты",
        "PAID": "оплачен, ждёт подтверждения продавца",
        "CONFIRMED": "подтверждён",
        "SHIPPED": "отправлен",
        "DELIVERED": "доставлен",
        "CANCELLED": "отменён",
    },
    "en": {
        "AWAITING_PAYMENT": "awaiting payment",
        "PAID": "paid, waiting for the seller",
        "CONFIRMED": "confirmed",
        "SHIPPED": "shipped",
        "DELIVERED": "delivered",
        "CANCELLED": "cancelled",
    },
}


def days_text(days: int, lang: str) -> str:
    if lang == "ru":
        if days % 10 == 1 and days % 100 != 11:
            word = "день"
        elif days % 10 in (2, 3, 4) and days % 100 not in (12, 13, 14):
            word = "дня"
        else:
            word = "дней"
        return f"{days}\u00a0{word}"
    return f"{days}\u00a0day" if days == 1 else f"{days}\u00a0days"


def order_view(order: Order, lang: str) -> dict[str, Any]:
    """The order as templates see it: raw fields (people-written ones defanged) plus ``*_text``
    display strings."""

    def money(amount: int) -> str:
        return format_money(amount, order.currency, lang)

    delivery = None
    if order.delivery is not None:
        d = order.delivery
        delivery = {
            "name": defang(d.name),
            "price": d.price,
            "price_text": money(d.price),
            "days": d.days,
            "days_text": days_text(d.days, lang) if d.days is not None else "",
        }
    return {
        "order_id": order.order_id,
        "seller_name": defang(order.seller_name),
        "customer_name": defang(order.customer_name),
        "items": [
            {
                "name": defang(i.name),
                "quantity": i.quantity,
                "price_text": money(i.price),
                "line_total_text": money(i.line_total),
            }
            for i in order.items
        ],
        "items_total_text": money(sum(i.line_total for i in order.items)),
        "delivery": delivery,
        "discounts": [{"code": defang(d.code), "amount_text": money(d.amount)} for d in order.discounts],
        "total": order.total,
        "total_text": money(order.total),
        "currency": order.currency,
        "address": defang(order.address),
        "status": order.status,
        "status_text": _STATUS[lang].get(order.status, order.status),
    }
