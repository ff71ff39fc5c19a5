"""The one shape money takes outside the domain: ``{"amount": <int>, "currency": "<ISO 4217>"}``.

Inside the system an amount is an integer of minor units (kopecks, cents) next to the
currency of its order, cart, shop or wallet. Every money value an HTTP response or a problem
body shows is this object, built here (``docs/api.md``, "Money"). Requests keep taking bare
integers of minor units in the currency of what they act on.
"""

from __future__ import annotations

from typing import Any


def money(amount: Any, currency: str | None) -> dict[str, Any] | None:
    """``amount`` minor units of ``currency`` as the API shows them; None stays None (a price
    that is not known, a total a multi-currency cart does not have)."""
    if amount is None:
        return None
    return {"amount": int(amount), "currency": currency or ""}
