"""What DynamoDB hands back, read the same way by every store: values as JSON-ready Python
(the codes of its errors are read by ``adapters/aws.error_code``).

boto3's resource layer returns numbers as ``Decimal`` and sets as ``set``; the system stores
money and counts as integers, so integral Decimals become ints (fractional ones floats) and
sets become sorted lists.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(plain(v) for v in value)
    return value

