"""A record's version stamp: the first timestamp field that is set, or review naming the fields."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mlconnector.errors import ReviewError
from mlconnector.sources.bigcommerce.mapping import order_modified_at
from mlconnector.sources.shopify.webhooks import modified_at, refund_modified_at
from mlconnector.sources.woocommerce.webhooks import version_of


def test_the_modification_time_wins_and_the_creation_time_stands_in_for_it():
    assert modified_at({"updated_at": "2025-10-01T10:00:00-04:00", "created_at": "2025-09-01T00:00:00Z"}) == datetime(
        2025, 10, 1, 14, tzinfo=UTC
    )
    created_only = {"date_modified_gmt": "", "date_created_gmt": "2024-05-01T10:00:00"}
    assert version_of(created_only) == "2024-05-01T10:00:00+00:00"
    assert refund_modified_at({"processed_at": "2025-10-02T00:00:00Z"}) == datetime(2025, 10, 2, tzinfo=UTC)


def test_a_record_without_any_stamp_goes_to_review_naming_what_was_looked_for():
    with pytest.raises(ReviewError, match="BigCommerce order 7 has none of date_modified, date_created"):
        order_modified_at({"id": 7, "date_modified": ""})
