"""The payment-provider port, and the sandbox provider that local runs and tests use.

The port (``PaymentProvider``) is one call: ``charge(amount, currency, card, idempotency_key)
-> Charge(id, last4)``, raising ``errors.PaymentDeclined`` (402, with a ``reason``) or
``errors.Unavailable`` (503: the provider is down, the client may retry). The idempotency key
is passed through to the provider, so a retried top-up never charges a card twice — a real
provider must honour it (Stripe's ``Idempotency-Key``, YooKassa's ``Idempotence-Key``...).

Card data: the full number and CVC live only in memory for the duration of the charge. They
are never stored, logged or returned (``Card``'s repr masks them); only the last four digits
reach the ledger.

Sandbox test cards (any future expiry date, any 3-digit CVC; see ``docs/payments.md``):

| number | outcome |
|---|---|
| 4242 4242 4242 4242 | succeeds (Visa) |
| 5555 5555 5555 4444 | succeeds (Mastercard) |
| 2200 0000 0000 0004 | succeeds (Mir) |
| 4000 0000 0000 0002 | declined → 402 ``payment-declined``, ``reason: card-declined`` |
| 4000 0000 0000 9995 | declined → 402 ``payment-declined``, ``reason: insufficient-funds`` |
| 4000 0000 0000 0119 | provider error → 503 ``unavailable`` (nothing charged; retry) |
| any other valid number | declined → 402, ``reason: not-a-test-card`` |

The sandbox creates money out of card numbers, so it is only ever selected in local runs
(``settings().local``); other stages refuse card data outright (``api/wallet.py``). Top-ups
without card data go through the hosted-page port instead (``adapters/payments.py``: the
sandbox page locally, YooKassa when configured; ``services/wallet.start_topup``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from chalicelib.config import settings
from chalicelib.errors import PaymentDeclined, Unavailable


@dataclass(frozen=True, repr=False)
class Card:
    number: str  # digits only
    exp_month: int
    exp_year: int
    cvc: str
    holder: str | None = None

    @property
    def last4(self) -> str:
        return self.number[-4:]

    def __repr__(self) -> str:  # never let a card number or CVC reach a log line
        return f"Card(****{self.last4}, {self.exp_month:02d}/{self.exp_year})"


@dataclass(frozen=True)
class Charge:
    id: str
    last4: str
    provider: str


class PaymentProvider(Protocol):
    name: str

    def charge(self, amount: int, currency: str, card: Card, idempotency_key: str) -> Charge:
        """Charge ``amount`` minor units once per ``idempotency_key``; raise PaymentDeclined or
        Unavailable."""
        ...


def luhn_ok(number: str) -> bool:
    """The card-number checksum (ISO/IEC 7812-1)."""
    if not (number.isascii() and number.isdigit()):
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


SUCCEEDS = ("4242424242424242", "5555555555554444", "2200000000000004")
DECLINED = "4000000000000002"
INSUFFICIENT_FUNDS = "4000000000009995"
PROVIDER_ERROR = "4000000000000119"


class SandboxProvider:
    """Deterministic and stateless: the outcome depends on the card number only, and the charge
    id on the idempotency key only, so a retry returns the same charge."""

    name = "sandbox"

    def charge(self, amount: int, currency: str, card: Card, idempotency_key: str) -> Charge:
        if card.number == DECLINED:
            raise PaymentDeclined("the card was declined", reason="card-declined")
        if card.number == INSUFFICIENT_FUNDS:
            raise PaymentDeclined("the card has insufficient funds", reason="insufficient-funds")
        if card.number == PROVIDER_ERROR:
            raise Unavailable("the payment provider did not answer; nothing was charged, retry later")
        if card.number not in SUCCEEDS:
            raise PaymentDeclined("the sandbox accepts only its test cards (see docs/payments.md)",
                                  reason="not-a-test-card")
        digest = hashlib.sha256(f"{self.name}/{idempotency_key}".encode()).hexdigest()[:24]
        return Charge(id=f"ch_sandbox_{digest}", last4=card.last4, provider=self.name)


_override: PaymentProvider | None = None


def provider() -> PaymentProvider:
    """The configured provider: an override (tests, fakes), else the sandbox in local runs."""
    if _override is not None:
        return _override
    if settings().local:
        return SandboxProvider()
    raise Unavailable("no payment provider is configured for this deployment")


def set_provider(replacement: PaymentProvider | None) -> None:
    """Swap the provider (tests and local experiments); None restores the default choice."""
    global _override
    _override = replacement
