"""Named currency rates end to end on moto: the scheduled feed fetcher stores the banks' daily
rates (the local stage reads local/rates/ instead of the banks), and an import prices offers
declared `rate="CBRF"` with them; with no rates stored, those offers are rejected with why."""

from __future__ import annotations

import pytest
from feed_support import Feeds

from chalicelib.domain.catalog import product_id


@pytest.fixture
def feeds(api, aws, register):
    return Feeds(api, aws, register)


def usd_feed(rate: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<yml_catalog date="2026-12-04 10:00"><shop><name>T</name><company>T</company><url>https://t.example</url>
<currencies><currency id="RUR" rate="1"/><currency id="USD" {rate}/></currencies>
<categories><category id="1">Все</category></categories><offers>
<offer id="usd" available="true"><name>Imported lamp</name><price>10</price><currencyId>USD</currencyId>
<categoryId>1</categoryId></offer>
<offer id="rub" available="true"><name>Local lamp</name><price>500</price><currencyId>RUR</currencyId>
<categoryId>1</categoryId></offer>
</offers></shop></yml_catalog>""".encode()


def run_scheduled_fetch():
    from chalice.test import Client

    from app import app

    with Client(app) as client:
        return client.lambda_.invoke("fetch_feeds", client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", resources=[], detail={})).payload


def test_the_scheduled_fetcher_stores_todays_rates_once_a_day(feeds):
    from chalicelib.services import rates

    assert run_scheduled_fetch()["rates_fetched"] == 3
    assert run_scheduled_fetch()["rates_fetched"] == 0  # already fetched today
    stored = rates.current()
    assert set(stored) == {"CBRF", "NBU", "NBK"} and stored["CBRF"]["currencies"] >= 5


def test_an_offer_priced_at_cbrf_plus_imports_at_todays_rate(feeds):
    run_scheduled_fetch()
    seller = feeds.shop_only()
    record = feeds.drop(seller, usd_feed('rate="CBRF" plus="2"'))
    assert record["status"] == "succeeded", record
    page = feeds.api.http.get(f"/products/{product_id(seller, 'usd')}").json_body
    assert page["price"] == {"amount": 94350, "currency": "RUB"}  # 10 × 92.50 × 1.02


def test_without_todays_rates_the_offer_is_rejected_with_the_reason_and_the_rest_imports(feeds):
    seller = feeds.shop_only()  # nothing fetched the rates in this test's fresh stack
    record = feeds.drop(seller, usd_feed('rate="CBRF"'))
    assert record["status"] == "partially_succeeded"
    assert record["counts"]["created"] == 1 and record["counts"]["rejected"] == 1
    [error] = record["errors"]
    assert error["offer_id"] == "usd" and error["field"] == "currencyId"
    assert "no CBRF rates are available today" in error["reason"]
