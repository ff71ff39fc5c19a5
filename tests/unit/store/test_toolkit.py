"""The store toolkit's promises, against an in-memory DynamoDB that throttles and cancels on cue:
batches are retried until written and then given up on as ``Unavailable``; a failed condition
becomes the caller's answer; a transaction's cancellation is told by label and a conflict is
sent again."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.errors import Conflict, Unavailable
from chalicelib.store import toolkit
from chalicelib.store.toolkit import Op, TransactionCancelled, all_of, any_of, conditional, transact


class FakeDynamo:
    """Takes the first ``take`` requests of each batch call (the rest come back unprocessed) and
    answers transactions with the queued cancellation reasons, then with success."""

    def __init__(self, take: int | None = None, cancellations: list[list[str]] | None = None):
        self.take = take
        self.cancellations = list(cancellations or [])
        self.items: dict[tuple, dict[str, Any]] = {}
        self.calls: list[str] = []

    def batch_write_item(self, RequestItems):  # noqa: N803 - boto3's name
        self.calls.append("BatchWriteItem")
        ((table, requests),) = RequestItems.items()
        done, rest = requests[: self.take], requests[self.take:] if self.take is not None else []
        for r in done:
            if "PutRequest" in r:
                item = r["PutRequest"]["Item"]
                self.items[(table, item["PK"])] = item
            else:
                self.items.pop((table, r["DeleteRequest"]["Key"]["PK"]), None)
        return {"UnprocessedItems": {table: rest} if rest else {}}

    def batch_get_item(self, RequestItems):  # noqa: N803
        self.calls.append("BatchGetItem")
        responses: dict[str, list] = {}
        unprocessed: dict[str, Any] = {}
        for table, req in RequestItems.items():
            keys = req["Keys"]
            served, rest = (keys[: self.take], keys[self.take:]) if self.take is not None else (keys, [])
            responses[table] = [self.items[(table, k["PK"])] for k in served if (table, k["PK"]) in self.items]
            if rest:
                unprocessed[table] = {**req, "Keys": rest}
        return {"Responses": responses, "UnprocessedKeys": unprocessed}

    def transact_write_items(self, TransactItems):  # noqa: N803
        self.calls.append("TransactWriteItems")
        if self.cancellations:
            codes = self.cancellations.pop(0)
            reasons = [{"Code": c, **({"Item": {"PK": {"S": "x"}, "n": {"N": "3"}}} if c != "None" else {})}
                       for c in codes]
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                               "CancellationReasons": reasons}, "TransactWriteItems")
        return {}


@pytest.fixture
def dynamo(monkeypatch):
    fake = FakeDynamo()
    monkeypatch.setattr(toolkit, "_client", lambda: fake)
    monkeypatch.setattr(toolkit.time, "sleep", lambda seconds: None)
    return fake


def _put(n: int) -> dict[str, Any]:
    return {"PK": f"P#{n}", "n": n}


def test_can_write_a_batch_that_comes_back_half_unprocessed(dynamo):
    dynamo.take = 10
    calls = toolkit.batch_write("T", puts=[_put(n) for n in range(30)])
    assert len(dynamo.items) == 30
    assert calls == len(dynamo.calls) == 4  # 25 -> 10 + 10 + 5, then the last 5


def test_error_on_a_batch_that_stays_unprocessed(dynamo):
    dynamo.take = 0
    with pytest.raises(Unavailable):
        toolkit.batch_write("T", puts=[_put(1)])
    assert len(dynamo.calls) == toolkit.BATCH_RETRIES + 1


def test_can_read_a_batch_across_tables_with_unprocessed_keys(dynamo):
    toolkit.batch_write("A", puts=[_put(n) for n in range(3)])
    toolkit.batch_write("B", puts=[_put(7)])
    dynamo.take = 1
    got = sorted((t, i["n"]) for t, i in toolkit.batch_get_across(
        [("A", {"PK": "P#0"}), ("A", {"PK": "P#2"}), ("A", {"PK": "P#2"}), ("B", {"PK": "P#7"}),
         ("B", {"PK": "P#9"})]))
    assert got == [("A", 0), ("A", 2), ("B", 7)]  # the repeated key asked once, the absent one left out


def test_refused_condition_becomes_the_callers_answer():
    def refuse(**params):
        raise ClientError({"Error": {"Code": "ConditionalCheckFailedException"},
                           "Item": {"status": {"S": "COMPLETED"}}}, "UpdateItem")

    assert conditional(refuse, Key={}) is None
    with pytest.raises(Conflict):
        conditional(refuse, refused=Conflict("changed"), Key={})
    with pytest.raises(Conflict, match="COMPLETED"):
        conditional(refuse, refused=lambda old: Conflict(old["status"]), Key={})
    assert conditional(lambda **params: {"Attributes": params}, Key={"PK": "a"}) == {"Attributes": {"Key": {"PK": "a"}}}


def test_other_errors_pass_through_a_conditional_write():
    def throttle(**params):
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "PutItem")

    with pytest.raises(ClientError):
        conditional(throttle, refused=Conflict("no"))


def test_sub_conditions_join_with_the_parentheses_they_need():
    assert all_of("attribute_exists(PK)", any_of("#s = :q", "#s = :p AND u < :now")) == (
        "attribute_exists(PK) AND (#s = :q OR (#s = :p AND u < :now))")


def test_transaction_conflict_is_sent_again(dynamo):
    dynamo.cancellations = [["None", "TransactionConflict"], ["TransactionConflict", "None"]]
    transact([Op("a", {"Put": {}}), Op("b", {"Put": {}})])
    assert dynamo.calls == ["TransactWriteItems"] * 3


def test_cancellation_names_the_failed_label_and_the_item_as_it_was(dynamo):
    dynamo.cancellations = [["None", "ConditionalCheckFailed"]]
    with pytest.raises(TransactionCancelled) as cancelled:
        transact([Op("a", {"Put": {}}), Op("b", {"Put": {}})])
    assert cancelled.value.failed("b") and not cancelled.value.failed("a")
    assert cancelled.value.item("b") == {"PK": "x", "n": 3}
    assert not cancelled.value.transient
    assert dynamo.calls == ["TransactWriteItems"]  # a failed condition is final


def test_error_on_conflicts_that_outlast_the_retries(dynamo):
    dynamo.cancellations = [["TransactionConflict"]] * 3
    with pytest.raises(TransactionCancelled) as cancelled:
        transact([Op("a", {"Put": {}})], retries=2)
    assert cancelled.value.transient


def test_error_on_two_operations_with_one_label(dynamo):
    with pytest.raises(ValueError):
        transact([Op("a", {"Put": {}}), Op("a", {"Delete": {}})])
    assert dynamo.calls == []
