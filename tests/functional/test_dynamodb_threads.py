"""Queries with key conditions and filters, from many threads through the one cached table.

boto3 builds the expression placeholders (``#n0``, ``:v0``...) with a counter per resource that
every request resets: two threads building at once used to give a request's key condition and
its filter the same placeholder, so a price filter was compared with a key string (the products
silently missing on DynamoDB, a TypeError in moto). The listing and the search read their
partitions this way (``chalicelib/services/catalog.py``, ``chalicelib/search/query.py``).
"""

import threading
import time

from boto3.dynamodb.conditions import Attr, ConditionExpressionBuilder, Key

from chalicelib import clients
from chalicelib.config import settings


def test_threads_querying_one_table_get_each_their_own_placeholders(aws, monkeypatch):
    table = clients.table(settings().catalog_table)
    with table.batch_writer() as batch:
        for i in range(20):
            batch.put_item(Item={"PK": "TEST#threads", "SK": f"item#{i:02d}", "price": i * 100})

    build = ConditionExpressionBuilder.build_expression

    def slow_build(self, condition, is_key_condition=False):  # widens the window a race needs
        time.sleep(0.002)
        return build(self, condition, is_key_condition=is_key_condition)

    monkeypatch.setattr(ConditionExpressionBuilder, "build_expression", slow_build)
    start = threading.Barrier(8)
    got: dict[int, object] = {}

    def query(n: int) -> None:
        start.wait()
        try:
            for _ in range(5):
                items = table.query(KeyConditionExpression=Key("PK").eq("TEST#threads") & Key("SK").gt("item#"),
                                    FilterExpression=Attr("price").between(n * 100, n * 100 + 500))["Items"]
                got.setdefault(n, set()).update(int(i["price"]) for i in items)
        except Exception as exc:  # noqa: BLE001 - the race's symptom in moto
            got[n] = exc

    threads = [threading.Thread(target=query, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == {n: {p * 100 for p in range(n, n + 6)} for n in range(8)}
