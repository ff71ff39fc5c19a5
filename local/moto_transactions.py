"""DynamoDB TransactWriteItems for moto without copying whole tables.

moto 5.2.5 deep-copies every table a transaction touches before applying it, so each
transaction costs time proportional to the table size and checkout slows down as the catalog
and ledger grow. This version keeps its semantics — all conditions are checked before any
write (the targets are distinct items, so no write of the transaction can change another
operation's condition), and a failure while writing rolls back only the touched items.
Applied by ``local.patches.item_level_transactions``; guarded by
``tests/functional/test_local_patches.py``.
"""
import copy
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen: set[tuple[str, str]] = set()
    ops, errors = [], []
    for item in transact_items:
        if len(item) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(item.items()))
        original_item = None
        try:
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            if op_type == "Put":
                table = self.get_table(table_name)
                key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = op["Item"][table.range_key_attr]
            else:
                key = op["Key"]
            marker = (str(table_name), str(dict(sorted(key.items()))))
            if marker in seen:
                raise MultipleTransactionsException()
            seen.add(marker)
            ops.append((op_type, op, table_name, key))
            # targets are distinct items, so no write of this transaction can change another
            # operation's condition: check them all before writing anything
            current = self.get_item(table_name, key)
            if op.get("ConditionExpression") is not None:
                cond = get_filter_expression(op["ConditionExpression"], op.get("ExpressionAttributeNames"),
                                             op.get("ExpressionAttributeValues"))
                if not cond.expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))
        except Exception as e:  # noqa: BLE001
            errors.append((type(e).__name__, str(e), original_item))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)

    snapshots = [(t, k, copy.deepcopy(self.get_item(t, k))) for _, _, t, k in ops]
    try:
        for op_type, op, table_name, key in ops:
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(table_name, op["Item"], condition_expression=op.get("ConditionExpression"),
                              expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Delete":
                self.delete_item(table_name, key, condition_expression=op.get("ConditionExpression"),
                                 expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Update":
                self.update_item(table_name, key, update_expression=op["UpdateExpression"],
                                 condition_expression=op.get("ConditionExpression"),
                                 expression_attribute_names=names, expression_attribute_values=values)
    except Exception:
        for table_name, key, old in snapshots:
            table = self.get_table(table_name)
            h = DynamoType(key[table.hash_key_attr])
            r = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            if old is None:
                table.delete_item(h, r)
            elif r is not None:
                table.items[h][r] = old
            else:
                table.items[h] = old
        raise


def apply() -> None:
    DynamoDBBackend.transact_write_items = transact_write_items
