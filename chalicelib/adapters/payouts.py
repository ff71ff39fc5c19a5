"""The payout-provider port: send a seller's money to their bank account.

``send(payout_id, amount, currency, account)`` → ``PayoutResult`` (``paid`` or ``failed`` with
the provider's reason). The payout id is the provider's idempotency key: sending the same payout
again returns the first answer and pays nothing twice. ``Unavailable`` when the answer is unknown
(the payout stays ``requested``: in flight; sending it again with the same id is safe).

Adapters (``provider()`` is the composition root, by ``settings().payout_provider``):

| name | where | behaviour |
|---|---|---|
| ``sandbox`` | local runs and tests | pays every account except ``SANDBOX_FAILING_ACCOUNT`` |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from chalicelib.config import settings
from chalicelib.errors import Unavailable

PAID, FAILED = "paid", "failed"
# The sandbox's documented failing account: a payout to it fails ("account closed"), so the
# failure path (the money returns to the seller's available balance) can be exercised.
SANDBOX_FAILING_ACCOUNT = "40702810000000000002"


@dataclass(frozen=True)
class PayoutResult:
    status: str  # paid | failed
    provider_ref: str
    reason: str | None = None


class PayoutProvider(Protocol):
    name: str

    def send(self, payout_id: str, amount: int, currency: str, account: str) -> PayoutResult: ...


class SandboxPayouts:
    """Answers at once, deterministically; remembers its answers (idempotent per payout id)."""

    name = "sandbox"

    def __init__(self) -> None:
        self._sent: dict[str, PayoutResult] = {}

    def send(self, payout_id: str, amount: int, currency: str, account: str) -> PayoutResult:
        if payout_id not in self._sent:
            failed = account == SANDBOX_FAILING_ACCOUNT
            self._sent[payout_id] = PayoutResult(FAILED if failed else PAID, f"sbx_{payout_id}",
                                                 "the beneficiary's account is closed" if failed else None)
        return self._sent[payout_id]


_SANDBOX = SandboxPayouts()


def provider() -> PayoutProvider:
    name = settings().payout_provider
    if name == "sandbox":
        return _SANDBOX
    raise Unavailable(f"no payout provider is configured ({name!r})")
