"""Email rendering: a kind, a language and a context dict in; subject, HTML and text out.

Pure: no AWS, no clock. Sending (SES) belongs to the caller.

Kinds and their audience:

=================================  =========  ===============================================
kind                               to         needs, beyond ``order``
=================================  =========  ===============================================
``order_placed``                   customer   —
``new_order``                      seller     ``links.confirm``, ``links.cancel``
                                              (``links.ship`` optional)
``order_confirmed``                customer   —
``order_cancelled_refund_started`` customer   ``cancelled_by`` (``timeout_stage`` optional)
``refund_completed``               customer   —
``order_shipped``                  customer   (``tracking_number`` optional)
``payment_expired``                customer   —
``payment_required``               customer   (``pay_by``, ``wallet_available`` optional)
=================================  =========  ===============================================

Context keys (unknown keys are ignored and never rendered — see ``context.py``)::

    order:              required
        order_id:       str
        seller_name:    str                         ("" if absent)
        customer_name:  str                         ("" if absent)
        items:          [{name: str, quantity: int >= 1, price: int, line_total: int}]
        delivery:       {name: str, price: int, days: int | None} | None
        total:          int                         (items + delivery, minor units)
        currency:       str                         (ISO 4217, e.g. "RUB")
        address:        str | {part: str}           (a dict is joined with ", ")
        status:         str                         ("PAID", … ; shown translated)
    links:              {confirm, cancel, ship, order, pay: absolute http(s) URL}, all optional
                        unless the kind needs them; "order" = the order page, "pay" = top-up/pay
    reason:             str | None                  (free text, e.g. the seller's comment)
    cancelled_by:       "customer" | "seller" | "timeout" | "system"
                        ("system": we could not process the order — a failure, compensated)
    timeout_stage:      "confirmation" | "shipment" | None
                        (with "timeout": what the seller did not do in time; default confirm)
    pay_by:             int | None                  (epoch seconds, UTC: the payment deadline)
    wallet_available:   int | None                  (minor units; shows how much to top up)
    tracking_number:    str | None

Every amount is integer minor units of ``order.currency``. Links must be action links from
``links.make_link_token`` (or plain pages): never put a Step Functions task token here.

``links`` are the only links an email has. Everything people wrote — names, the address,
``reason``, ``tracking_number`` — is defanged (``defang.py``: ``https://evil.example`` is shown
as ``hxxps://evil[.]example``), so no seller or customer can put a clickable link, a linkable
domain or an email address into a mail the marketplace sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.notify.context import EmailContext, InvalidContext, order_view, validate
from chalicelib.notify.defang import defang
from chalicelib.notify.money_format import format_money
from chalicelib.notify.rendering import environment, resolve_lang

# kind -> links the email cannot do without
KINDS: dict[str, frozenset[str]] = {
    "order_placed": frozenset(),
    "new_order": frozenset({"confirm", "cancel"}),
    "order_confirmed": frozenset(),
    "order_cancelled_refund_started": frozenset(),
    "refund_completed": frozenset(),
    "order_shipped": frozenset(),
    "payment_expired": frozenset(),
    "payment_required": frozenset(),
}


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


def render_email(kind: str, lang: str, context: dict[str, Any], *, default_lang: str = "ru") -> RenderedEmail:
    """Render ``kind`` in ``lang`` (``"ru"``/``"en"``; anything else falls back to ``default_lang``).

    Raises ``ValueError`` for an unknown kind and ``InvalidContext`` (a ``ValueError``) with
    field/reason errors when the context lacks what the kind needs.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown email kind {kind!r}; expected one of {sorted(KINDS)}")
    lang = resolve_lang(lang, default_lang)
    ctx: EmailContext = validate(EmailContext, context)
    _check_kind_needs(kind, ctx)

    variables = _variables(ctx, lang)
    env = environment()
    text_module = env.get_template(f"email/{kind}.{lang}.txt").make_module(variables)
    # The subject lives in the text template (one place per kind and language); it becomes a
    # mail header, so any newline a hostile name smuggled in is collapsed.
    subject = " ".join(str(text_module.subject).split())
    html = env.get_template(f"email/{kind}.{lang}.html").render(variables, subject=subject)
    return RenderedEmail(subject=subject, html=html, text=str(text_module).strip() + "\n")


def _check_kind_needs(kind: str, ctx: EmailContext) -> None:
    errors = [
        {"field": f"links.{name}", "reason": f"required for {kind}"}
        for name in sorted(KINDS[kind])
        if getattr(ctx.links, name) is None
    ]
    if kind == "order_cancelled_refund_started" and ctx.cancelled_by is None:
        errors.append({"field": "cancelled_by", "reason": f"required for {kind}"})
    if errors:
        raise InvalidContext(errors)


def _variables(ctx: EmailContext, lang: str) -> dict[str, Any]:
    order = order_view(ctx.order, lang)
    amount_due_text = ""
    if ctx.wallet_available is not None and ctx.order.total > ctx.wallet_available:
        amount_due_text = format_money(ctx.order.total - ctx.wallet_available, ctx.order.currency, lang)
    pay_by_text = ""
    if ctx.pay_by is not None:
        fmt = "%d.%m.%Y %H:%M UTC" if lang == "ru" else "%Y-%m-%d %H:%M UTC"
        pay_by_text = datetime.fromtimestamp(ctx.pay_by, UTC).strftime(fmt)
    return {
        "lang": lang,
        "order": order,
        "links": ctx.links.model_dump(),  # absent links are None, so templates can test them
        "reason": defang(ctx.reason or ""),
        "cancelled_by": ctx.cancelled_by or "",
        "timeout_stage": ctx.timeout_stage or "confirmation",
        "pay_by_text": pay_by_text,
        "wallet_available_text": (
            format_money(ctx.wallet_available, ctx.order.currency, lang) if ctx.wallet_available is not None else ""
        ),
        "amount_due_text": amount_due_text,
        "tracking_number": defang(ctx.tracking_number or ""),
    }
