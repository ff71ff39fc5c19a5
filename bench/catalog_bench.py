"""Feed import benchmark: 100k-offer YML and CSV feeds through the real queue path.

Run: ``.venv/bin/python -m bench.catalog_bench`` (``BENCH_CATALOG_OFFERS=20000`` for a quick run).

Set-up: a moto server in a **child process** (the AWS side: tables, bucket, import queue, the
bucket's notification to the queue, all from ``local/bootstrap.py``), and the import Lambda in
this process, so the memory figures are the Lambda's own and not moto's storage.

For each feed: the file is put in the feeds bucket → S3 notifies the import queue → this
process receives the message (as the local poller / Lambda's SQS mapping does) and runs the
Chalice SQS handler ``import_feed`` on it → ``services.feed_import`` reads the object back from
S3 and writes the catalog. The clock runs from the PutObject to the final import record.

Figures:
1. offers/s of the import, and its ratio to writing *the same items* (product item + listing
   items, built by the same functions) with plain BatchWriteItem calls into the same moto in
   the same run (only the BatchWriteItem calls are timed for the baseline). Goal ≥ 0.7.
2. peak memory (ru_maxrss of this process, which never holds moto's data) after a 10k-offer
   and after a 100k-offer import, and their ratio. Goal ≤ 1.3.

The search index is switched off for the measurement (``feed_import._index``): its cost has
its own bench (``bench/search_bench.py``); this one measures the catalog import.
"""

from __future__ import annotations

import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.support import use_emulator_env

if TYPE_CHECKING:
    from chalicelib.domain.imports import ImportRecord

use_emulator_env(in_process=False)

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OFFERS = int(os.environ.get("BENCH_CATALOG_OFFERS", "100000"))
SMALL = max(OFFERS // 10, 1)
REGION = "us-east-1"
CATEGORIES = 40
NOUNS = ["Наушники", "Чайник", "Кроссовки", "Куртка", "Лампа", "Смартфон", "Рюкзак", "Кружка", "Headphones", "Kettle"]
ADJ = ["беспроводные", "стальной", "беговые", "зимняя", "настольная", "чёрный", "синий", "compact", "pro", "mini"]


# --- feeds -------------------------------------------------------------------------------------


def _offer_fields(i: int, rnd: random.Random) -> tuple[str, str, str, int]:
    name = f"{rnd.choice(NOUNS)} {rnd.choice(ADJ)} {rnd.choice(ADJ)} M{i}"
    price = f"{rnd.randint(100, 200000)}.{rnd.randint(0, 99):02d}"
    return f"o{i}", name, price, rnd.randint(1, CATEGORIES)


def write_yml(path: Path, n: int) -> None:
    rnd = random.Random(n)
    with path.open("w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<yml_catalog date="2025-06-01T10:00"><shop>'
                "<name>Bench</name><company>Bench</company><url>https://bench.example</url>"
                '<currencies><currency id="RUR" rate="1"/></currencies><categories>\n')
        for c in range(1, CATEGORIES + 1):
            parent = f' parentId="{(c - 1) // 8 + 1}"' if c > 8 else ""
            f.write(f'<category id="{c}"{parent}>Категория {c}</category>\n')
        f.write("</categories><offers>\n")
        for i in range(n):
            oid, name, price, cat = _offer_fields(i, rnd)
            f.write(f'<offer id="{oid}" available="true"><name>{name}</name><price>{price}</price>'
                    f"<currencyId>RUR</currencyId><categoryId>{cat}</categoryId><vendor>Brand{i % 97}</vendor>"
                    f"<picture>https://bench.example/img/{oid}.jpg</picture>"
                    f'<param name="Цвет">цвет {i % 13}</param><param name="Вес" unit="г">{i % 900}</param>'
                    f"<description><![CDATA[<p>Описание товара {i}: <b>надёжный</b> и удобный.</p>]]>"
                    f"</description><count>{i % 50}</count></offer>\n")
        f.write("</offers></shop></yml_catalog>\n")


def write_csv(path: Path, n: int) -> None:
    rnd = random.Random(n + 1)
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("id;name;price;category;vendor;picture;description;stock\n")
        for i in range(n):
            oid, name, price, cat = _offer_fields(i, rnd)
            f.write(f'{oid};{name};{price.replace(".", ",")};Раздел {cat % 5} > Категория {cat};Brand{i % 97};'
                    f'https://bench.example/img/{oid}.jpg;"<p>Описание товара {i}, удобный</p>";{i % 50}\n')


# --- the AWS side in a child process -------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(serialized: bool = False) -> tuple[subprocess.Popen, str]:
    """A moto server on a free port; ``serialized``: the local stack's moto — its DynamoDB lock
    (``local/patches.serialize_dynamodb``, for several clients writing at once) and its
    speed-ups (``moto_speedups``, ``server_knows_its_services``: the same answers)."""
    port = _free_port()
    if serialized:
        code = ("from local import patches; patches.serialize_dynamodb(); patches.moto_speedups(); "
                "patches.server_knows_its_services(); import sys; from moto.server import main; "
                f"sys.exit(main(['-H', '127.0.0.1', '-p', '{port}']))")
        command = [sys.executable, "-c", code]
    else:
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(command, cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    import requests

    for _ in range(300):
        try:
            requests.get(f"{url}/moto-api/", timeout=1)
            return proc, url
        except requests.RequestException:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto server did not start")


def configure(url: str) -> dict[str, str]:
    from local import bootstrap

    env = bootstrap.create_all(url, REGION, "bench")
    env.update(bootstrap.create_import_queue(url, REGION, "bench"))
    bootstrap.create_feed_notification(url, REGION, env["FEEDS_BUCKET"], env["IMPORT_QUEUE_ARN"])
    env["AWS_ENDPOINT_URL"] = url
    os.environ.update(env)
    from chalicelib import clients
    from chalicelib.config import settings

    settings.cache_clear()
    clients.reset()
    from chalicelib.services import feed_import

    feed_import._index = lambda changes: None  # see the module docstring
    return env


# --- measurements --------------------------------------------------------------------------------


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def import_through_queue(env: dict[str, str], path: Path, seller_id: str,
                         again: bool = False) -> tuple[float, ImportRecord]:
    """Put the file, receive the bucket's notification from SQS, run the import Lambda on it."""
    import boto3
    from chalice.test import Client

    from app import app
    from chalicelib.services import feed_import
    from chalicelib.store import imports

    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=REGION)
    sqs = boto3.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=REGION)
    key = f"feeds/{seller_id}/{'again-' if again else ''}{path.name}"
    started = time.perf_counter()
    s3.upload_file(str(path), env["FEEDS_BUCKET"], key)
    with Client(app) as client:
        while True:
            msgs = sqs.receive_message(QueueUrl=env["IMPORT_QUEUE_URL"], WaitTimeSeconds=1).get("Messages", [])
            if not msgs:
                continue
            for m in msgs:
                event = client.events.generate_sqs_event(message_bodies=[m["Body"]], queue_name="imports")
                client.lambda_.invoke("import_feed", event)
                sqs.delete_message(QueueUrl=env["IMPORT_QUEUE_URL"], ReceiptHandle=m["ReceiptHandle"])
            # by id (a GetItem): moto answers every Query by sorting the whole table
            head = feed_import._head(env["FEEDS_BUCKET"], key)
            record = imports.get(feed_import._derived_id(head)) if head else None
            if record and record.status not in (imports.QUEUED, imports.PROCESSING):
                return time.perf_counter() - started, record


def baseline_write(path: Path, seller_id: str) -> tuple[float, int]:
    """The same items, written with plain BatchWriteItem calls; only the calls are timed."""
    from chalicelib import clients
    from chalicelib.config import settings
    from chalicelib.domain.catalog import product_from_offer
    from chalicelib.feeds import FeedCategory, FeedOffer, read_feed
    from chalicelib.services.feeds import now_iso
    from chalicelib.store import catalog as store

    ddb, table = clients.dynamodb_resource(), settings().catalog_table
    categories: dict[str, dict[str, Any]] = {}
    pending: list[dict[str, Any]] = []
    spent, offers, now = 0.0, 0, now_iso()

    def flush(batch: list[dict[str, Any]]) -> float:
        t = time.perf_counter()
        request = [{"PutRequest": {"Item": i}} for i in batch]
        while request:
            resp = ddb.batch_write_item(RequestItems={table: request})
            request = resp.get("UnprocessedItems", {}).get(table, [])
        return time.perf_counter() - t

    with path.open("rb") as f:
        for row in read_feed(f, path.name):
            if isinstance(row, FeedCategory):
                categories[row.id] = {"id": row.id, "name": row.name}
            elif isinstance(row, FeedOffer):
                offers += 1
                product = product_from_offer(seller_id, row, "baseline", categories)
                product.update(created_at=now, updated_at=now)
                pending += store.product_items(product)
                while len(pending) >= 25:
                    spent += flush(pending[:25])
                    pending = pending[25:]
    if pending:
        spent += flush(pending)
    return spent, offers


def main() -> list[tuple[str, str, str]]:
    table: list[tuple[str, str, str]] = []
    print(f"catalog import bench: {OFFERS} offers (10% run: {SMALL}), moto server in a child process")
    proc, url = start_moto()
    try:
        env = configure(url)
        from chalicelib.store import accounts

        with tempfile.TemporaryDirectory() as tmp:
            files = {}
            for kind, writer in (("yml", write_yml), ("csv", write_csv)):
                for n in (SMALL, OFFERS):
                    path = Path(tmp) / f"bench-{n}.{kind}"
                    writer(path, n)
                    files[(kind, n)] = path
            memory = {}
            for kind, n in (("yml", SMALL), ("yml", OFFERS), ("csv", OFFERS)):
                seller = f"bench-{kind}-{n}"
                accounts.put_shop(seller, {"seller_id": seller, "name": seller, "delivery_methods": []})
                seconds, record = import_through_queue(env, files[(kind, n)], seller)
                memory[(kind, n)] = rss_mb()
                assert record.status == "succeeded" and record.counts and record.counts.created == n, record
                base_s, base_n = baseline_write(files[(kind, n)], f"baseline-{kind}-{n}")
                rate, base_rate = n / seconds, base_n / base_s
                print(f"  {kind:3} {n:>7} offers: import {seconds:7.1f} s = {rate:7.0f} offers/s | plain "
                      f"BatchWriteItem of the same items {base_s:7.1f} s = {base_rate:7.0f} offers/s | "
                      f"ratio {rate / base_rate:.2f} (goal >= 0.7) | ru_maxrss after the import "
                      f"{memory[(kind, n)]:.0f} MB", flush=True)
                table.append((f"feed import, {kind} {n} offers", f"{rate:.0f} offers/s",
                              f"x{rate / base_rate:.2f} of plain BatchWriteItem (goal >= 0.7)"))
            seller = f"bench-yml-{OFFERS}"
            seconds, record = import_through_queue(env, files[("yml", OFFERS)], seller, again=True)
            assert record.counts and record.counts.unchanged == OFFERS, record
            print(f"  yml {OFFERS:>7} offers imported again (nothing changed, nothing written): {seconds:7.1f} s = "
                  f"{OFFERS / seconds:7.0f} offers/s", flush=True)
            small, large = memory[("yml", SMALL)], memory[("yml", OFFERS)]
            print(f"  peak memory (ru_maxrss) after the {SMALL}-offer YML import {small:.0f} MB, after the "
                  f"{OFFERS}-offer YML import {large:.0f} MB: ratio {large / small:.2f} (goal <= 1.3)")
            print(f"  after the {OFFERS}-offer CSV import {memory[('csv', OFFERS)]:.0f} MB")
            table.append((f"feed import peak memory, yml {SMALL} → {OFFERS} offers",
                          f"{small:.0f} MB → {large:.0f} MB", f"x{large / small:.2f} (goal <= 1.3)"))
            table.append((f"feed re-import, yml {OFFERS} offers unchanged", f"{OFFERS / seconds:.0f} offers/s",
                          "nothing written"))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return table


if __name__ == "__main__":
    main()
