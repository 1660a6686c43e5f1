"""Reading a store's money fields: one rule for every store."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from mlconnector.errors import ReviewError
from mlconnector.models import ZERO


def parse_amount(value: Any, field: str, store: str) -> Decimal:
    """A store amount (a string, or a JSON number the store sends for a few fields) as Decimal.

    '' and None are 0; booleans, text and NaN/Infinity put the record in review, naming the field.
    """
    if value is None or value == "":
        return ZERO
    if not isinstance(value, bool):
        try:
            result = Decimal(value) if isinstance(value, str) else Decimal(str(value))
        except InvalidOperation:
            result = None
        if result is not None and result.is_finite():
            return result
    raise ReviewError(f"{store} field {field} is not an amount: {value!r}")
