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


def _shards(name: str, default: int) -> int:
    value = _int(name, default)
    if not 1 <= value <= 99:  # the key suffix is two digits
        raise ValueError(f"{name} must be between 1 and 99")
    return value


def _bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Limit:
    """At most ``count`` requests per ``seconds`` (a fixed window) for one key."""

    count: int
    seconds: int


@dataclass(frozen=True)
class RouteLimit:
    """A rate-limited route group: per client address and per account (either may be None).
    The account is the caller's user id, or the ``email`` of a public route's body."""

    per_ip: Limit | None
    per_account: Limit | None


def _limit(name: str, count: int, seconds: int) -> Limit | None:
    """``RATE_LIMIT_<NAME>`` = ``"<count>/<seconds>"``; ``"off"`` disables it."""
    raw = (os.environ.get(f"RATE_LIMIT_{name}") or "").strip().lower()
    if raw == "off":
        return None
    if raw:
        count_text, _, seconds_text = raw.partition("/")
        count, seconds = int(count_text), int(seconds_text or seconds)
        if count < 1 or seconds < 1:
            raise ValueError(f"RATE_LIMIT_{name} must be <count>/<seconds> with both positive")
    return Limit(count, seconds)


# Defaults (docs/api.md, "Rate limits"): generous for a person, tight for a script. Login's
# per-account budget counts attempts whatever their outcome; failed logins have their own
# backoff and lock (``login_backoff_after`` / ``login_lock_after``), which is what stops a
# password guesser — so one account's lock never spends another account's budget.
_LIMIT_DEFAULTS: dict[str, tuple[tuple[int, int] | None, tuple[int, int] | None]] = {
    "register": ((20, 3600), None),  # per address only: a new account has no id yet
    "login": ((100, 60), (60, 60)),
    "password": ((20, 3600), (5, 3600)),  # forgot, reset, change
    "verification": ((20, 3600), (5, 3600)),  # verification email resend, verify
    "checkout": ((60, 60), (20, 60)),
    "topup": ((60, 60), (20, 60)),
    "feed_upload": ((60, 60), (30, 60)),
    "return": ((60, 60), (20, 60)),
    "link": ((120, 60), None),  # emailed action links: the token is the only identity
}


def _route_limits() -> dict[str, RouteLimit]:
    out = {}
    for name, (ip, account) in _LIMIT_DEFAULTS.items():
        upper = name.upper()
        out[name] = RouteLimit(
            per_ip=_limit(f"{upper}_PER_IP", *ip) if ip else None,
            per_account=_limit(f"{upper}_PER_ACCOUNT", *account) if account else None,
        )
    return out


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
    return_state_machine_arn: str  # statemachines/return.asl.json
    user_pool_id: str
    user_pool_client_id: str
    jwks_url: str
    ses_sender: str
    # the SES configuration set every email is sent with (its events feed the reputation
    # alarms); "" sends without one (local runs, tests)
    ses_configuration_set: str
    default_lang: str
    link_secret_value: bytes  # LINK_SECRET: local runs and tests
    link_secret_id: str  # LINK_SECRET_ID: the Secrets Manager secret, on AWS
    public_base_url: str
    payment_timeout_seconds: int
    seller_timeout_seconds: int
    shipment_timeout_seconds: int
    delivery_auto_seconds: int
    link_ttl_seconds: int
    reconcile_grace_seconds: int
    topup_expiry_seconds: int
    feed_max_bytes: int
    default_currency: str
    rate_limits: dict[str, RouteLimit]
    # failed logins of one email (known or not): from ``login_backoff_after`` failures each
    # further attempt waits 2^(n - backoff_after) seconds; at ``login_lock_after`` the email
    # is locked until the window ends
    login_backoff_after: int
    login_lock_after: int
    login_failure_window_seconds: int
    verify_link_ttl_seconds: int
    reset_link_ttl_seconds: int
    unverified_max_age_seconds: int
    # money after delivery (docs/api.md, "Seller balance and payouts"): earnings stay pending for
    # the return window after delivery; a payout is at least ``payout_minimum`` minor units
    return_window_seconds: int = 14 * 24 * 3600
    return_answer_seconds: int = 3 * 24 * 3600  # a seller silent this long after a return request accepts it
    payout_minimum: int = 10_000
    payout_provider: str = ""  # the payout-provider adapter (adapters/payouts.py); "sandbox" locally
    # payments through a provider (docs/payments.md): "sandbox" (local stage only), "yookassa"
    # or "" (none: top-ups answer 503)
    payment_provider: str = ""
    payment_webhook_secret: bytes = b""  # the sandbox's webhook HMAC key
    payment_return_url: str = ""  # where the provider's page sends the customer back
    yookassa_shop_id: str = ""
    yookassa_secret_key: str = ""
    yookassa_api_url: str = "https://api.yookassa.ru/v3"
    yookassa_webhook_ips: tuple[str, ...] = ()  # networks notifications may come from; () = any
    # listing write shards (store/keys.py, "Write sharding", has the arithmetic): of the
    # marketplace-wide scope, of a seller's or a category's; legacy reads also merge the
    # unsharded partitions of items written before the sharding, until the one-off reshard has
    # moved them (docs/runbook.md, "Listing write shards")
    listing_shards_all: int = 16
    listing_shards_scope: int = 4
    listing_legacy_reads: bool = True
    # Query calls one listing page sends at the same time (one per write shard); 1: in turn
    listing_read_threads: int = 32
    # search write shards (chalicelib/search/__init__.py, "Hot terms", has the arithmetic): of a
    # term's postings and of a vocabulary partition; legacy reads also merge the unsharded
    # partitions written before, until ``python -m chalicelib.search.indexer rebuild`` has moved
    # every product (docs/runbook.md, "Search write shards")
    search_term_shards: int = 16
    search_vocab_shards: int = 4
    search_legacy_reads: bool = True
    # multi-word queries intersect the terms' match lists (chalicelib/search/matches.py); off:
    # they read postings in rank order (a deployment indexed before match lists existed, until
    # ``python -m chalicelib.search.indexer rebuild`` has written them: docs/runbook.md)
    search_match_lists: bool = True
    # feeds beyond one function run (services/feed_chunks.py): a feed with more valid offers
    # than this is split into chunks of this many products, each imported by its own message
    # on the import queue (IMPORT_QUEUE_URL); 0, or no queue, imports every feed in one run
    import_chunk_offers: int = 50_000
    import_queue_url: str = ""
    # a chunked import none of whose chunks (nor its commit) moved for this long, and whose
    # worker's lease ran out, is failed and undone by the reconciler (feed_chunks.sweep_stalled):
    # longer than every delivery of one message (the queue's visibility timeout × maxReceiveCount)
    import_stall_seconds: int = 3600

    @property
    def sandbox_stage(self) -> bool:
        """The local stage: the sandbox provider and card data in request bodies are allowed."""
        return self.local and self.stage == "local"

    @property
    def link_secret(self) -> bytes:
        """The value new links (and cursors, idempotency fingerprints) are signed with."""
        return self.link_secrets[0]

    @property
    def link_secrets(self) -> tuple[bytes, ...]:
        """Every value a link may be signed with: the current one first, then, during a
        rotation window, the previous one (``adapters/secrets.py``)."""
        if not self.link_secret_id:
            return (self.link_secret_value,)
        from chalicelib.adapters.secrets import link_secrets

        return link_secrets(self.link_secret_id, window_seconds=self.link_ttl_seconds).accepted

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"


@lru_cache(maxsize=1)
def settings() -> Settings:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    pool = os.environ.get("USER_POOL_ID", "")
    secret = os.environ.get("LINK_SECRET", "")
    secret_id = os.environ.get("LINK_SECRET_ID", "")
    local = _bool("MARKETPLACE_LOCAL")
    if not secret and not secret_id:
        if not local:
            raise RuntimeError("LINK_SECRET_ID (or LINK_SECRET) must be set outside local runs")
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
        return_state_machine_arn=os.environ.get("RETURN_STATE_MACHINE_ARN", ""),
        user_pool_id=pool,
        user_pool_client_id=os.environ.get("USER_POOL_CLIENT_ID", ""),
        # On AWS the JWKS lives at the issuer; locally moto serves it on its own endpoint,
        # so the local stack sets JWKS_URL explicitly (docs/architecture.md, decision 2).
        jwks_url=os.environ.get("JWKS_URL")
        or f"https://cognito-idp.{region}.amazonaws.com/{pool}/.well-known/jwks.json",
        ses_sender=os.environ.get("SES_SENDER", "no-reply@marketplace.local"),
        ses_configuration_set=os.environ.get("SES_CONFIGURATION_SET", ""),
        default_lang=os.environ.get("DEFAULT_LANG", "ru"),
        link_secret_value=secret.encode(),
        link_secret_id=secret_id,
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
        # a top-up the provider has not reported on this long after it was started expires
        # (the reconciler cancels it at the provider and marks it expired)
        topup_expiry_seconds=_int("TOPUP_EXPIRY_SECONDS", 3600),
        feed_max_bytes=_int("FEED_MAX_BYTES", 512 * 1024 * 1024),
        default_currency=os.environ.get("DEFAULT_CURRENCY", "RUB"),
        rate_limits=_route_limits(),
        login_backoff_after=_int("LOGIN_BACKOFF_AFTER", 5),
        login_lock_after=_int("LOGIN_LOCK_AFTER", 10),
        login_failure_window_seconds=_int("LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60),
        verify_link_ttl_seconds=_int("VERIFY_LINK_TTL_SECONDS", 72 * 3600),
        reset_link_ttl_seconds=_int("RESET_LINK_TTL_SECONDS", 3600),
        # an address registered but never verified is freed after a week (SPEC, release 2)
        unverified_max_age_seconds=_int("UNVERIFIED_MAX_AGE_SECONDS", 7 * 24 * 3600),
        return_window_seconds=_int("RETURN_WINDOW_SECONDS", 14 * 24 * 3600),
        return_answer_seconds=_int("RETURN_ANSWER_SECONDS", 3 * 24 * 3600),
        payout_minimum=_int("PAYOUT_MINIMUM", 10_000),
        payout_provider=os.environ.get("PAYOUT_PROVIDER", "sandbox" if local else "").strip().lower(),
        payment_provider=os.environ.get("PAYMENT_PROVIDER", "sandbox" if local else "").strip().lower(),
        payment_webhook_secret=(os.environ.get("PAYMENT_WEBHOOK_SECRET")
                                or ("local-only-payment-webhook-secret" if local else "")).encode(),
        payment_return_url=os.environ.get("PAYMENT_RETURN_URL", ""),
        yookassa_shop_id=os.environ.get("YOOKASSA_SHOP_ID", ""),
        yookassa_secret_key=os.environ.get("YOOKASSA_SECRET_KEY", ""),
        yookassa_api_url=os.environ.get("YOOKASSA_API_URL", "https://api.yookassa.ru/v3").rstrip("/"),
        yookassa_webhook_ips=tuple(n.strip() for n in os.environ.get("YOOKASSA_WEBHOOK_IPS", "").split(",")
                                   if n.strip()),
        listing_shards_all=_shards("LISTING_SHARDS_ALL", 16),
        listing_shards_scope=_shards("LISTING_SHARDS_SCOPE", 4),
        listing_legacy_reads=_bool("LISTING_LEGACY_READS", True),
        listing_read_threads=max(1, _int("LISTING_READ_THREADS", 32)),
        search_term_shards=_shards("SEARCH_TERM_SHARDS", 16),
        search_vocab_shards=_shards("SEARCH_VOCAB_SHARDS", 4),
        search_legacy_reads=_bool("SEARCH_LEGACY_READS", True),
        search_match_lists=_bool("SEARCH_MATCH_LISTS", True),
        import_chunk_offers=_int("IMPORT_CHUNK_OFFERS", 50_000),
        import_queue_url=os.environ.get("IMPORT_QUEUE_URL", ""),
        import_stall_seconds=_int("IMPORT_STALL_SECONDS", 3600),
    )
