"""Store money fields: one parsing rule for every store."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mlconnector.errors import ReviewError
from mlconnector.sources.amounts import parse_amount


@pytest.mark.parametrize(
    ("value", "expected"),
    [("19.99", Decimal("19.99")), ("225.0000", Decimal("225.0000")), (12, Decimal(12)), ("", Decimal(0)), (None, 0)],
)
def test_amounts_parse_exactly(value, expected):
    assert parse_amount(value, "total", "Shop") == expected


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-inf", "abc", True, "1,00"])
def test_non_amounts_go_to_review_naming_the_field(value):
    with pytest.raises(ReviewError, match=r"Shop field total is not an amount"):
        parse_amount(value, "total", "Shop")
