"""Settings, read from the environment once and validated.

Nothing reads ``os.environ`` elsewhere. ``settings()`` is cached; tests that change the
environment call ``settings.cache_clear()`` (the fixtures in ``tests/conftest.py`` do).
Defaults are the safe, local ones; the deploy template sets every value for AWS.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = int(raw)
    if value < 0:
        raise ValueError(f"{name} must not be negative")
    return value


def _bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    local: bool
    accounts_table: str
    catalog_table: str
    search_table: str
    commerce_table: str
    ledger_table: str
    idempotency_table: str
    feeds_bucket: str
    order_state_machine_arn: str
    user_pool_id: str
    user_pool_client_id: str
    jwks_url: str
    ses_sender: str
    default_lang: str
    link_secret: bytes
    public_base_url: str
    payment_timeout_seconds: int
    seller_timeout_seconds: int
    shipment_timeout_seconds: int
    delivery_auto_seconds: int
    link_ttl_seconds: int
    reconcile_grace_seconds: int
    feed_max_bytes: int
    default_currency: str

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"


@lru_cache(maxsize=1)
def settings() -> Settings:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    pool = os.environ.get("USER_POOL_ID", "")
    secret = os.environ.get("LINK_SECRET", "")
    local = _bool("MARKETPLACE_LOCAL")
    if not secret:
        if not local:
            raise RuntimeError("LINK_SECRET must be set outside local runs")
        secret = "local-only-link-secret"
    return Settings(
        stage=os.environ.get("STAGE", "local"),
        region=region,
        local=local,
        accounts_table=os.environ.get("ACCOUNTS_TABLE", "accounts"),
        catalog_table=os.environ.get("CATALOG_TABLE", "catalog"),
        search_table=os.environ.get("SEARCH_TABLE", "search"),
        commerce_table=os.environ.get("COMMERCE_TABLE", "commerce"),
        ledger_table=os.environ.get("LEDGER_TABLE", "ledger"),
        idempotency_table=os.environ.get("IDEMPOTENCY_TABLE", "idempotency"),
        feeds_bucket=os.environ.get("FEEDS_BUCKET", "marketplace-feeds"),
        order_state_machine_arn=os.environ.get("ORDER_STATE_MACHINE_ARN", ""),
        user_pool_id=pool,
        user_pool_client_id=os.environ.get("USER_POOL_CLIENT_ID", ""),
        # On AWS the JWKS lives at the issuer; locally moto serves it on its own endpoint,
        # so the local stack sets JWKS_URL explicitly (docs/architecture.md, decision 2).
        jwks_url=os.environ.get("JWKS_URL")
        or f"https://cognito-idp.{region}.amazonaws.com/{pool}/.well-known/jwks.json",
        ses_sender=os.environ.get("SES_SENDER", "no-reply@marketplace.local"),
        default_lang=os.environ.get("DEFAULT_LANG", "ru"),
        link_secret=secret.encode(),
        public_base_url=os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
        payment_timeout_seconds=_int("PAYMENT_TIMEOUT_SECONDS", 30 * 60),
        seller_timeout_seconds=_int("SELLER_TIMEOUT_SECONDS", 48 * 3600),
        # a confirmed order not shipped by then is cancelled and refunded (SPEC: any state before SHIPPED)
        shipment_timeout_seconds=_int("SHIPMENT_TIMEOUT_SECONDS", 7 * 24 * 3600),
        delivery_auto_seconds=_int("DELIVERY_AUTO_SECONDS", 14 * 24 * 3600),
        link_ttl_seconds=_int("LINK_TTL_SECONDS", 72 * 3600),
        # an order whose workflow has not started this long after checkout is started by the
        # reconciler (services/reconcile.py); a checkout starts it within a second normally
        reconcile_grace_seconds=_int("RECONCILE_GRACE_SECONDS", 120),
        feed_max_bytes=_int("FEED_MAX_BYTES", 512 * 1024 * 1024),
        default_currency=os.environ.get("DEFAULT_CURRENCY", "RUB"),
    )
