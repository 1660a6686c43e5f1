"""GraphQL's ids, amounts and topics as the REST-shaped payloads (and Shopify's webhooks) spell them."""

from __future__ import annotations

import pytest

from mlconnector.errors import ReviewError
from mlconnector.sources.shopify.payloads import amount, gid, legacy_id
from mlconnector.sources.shopify.source import graphql_topic, webhook_topic
from mlconnector.sources.shopify.webhooks import SUPPORTED_TOPICS


def test_global_ids_become_the_numeric_ids_webhooks_carry() -> None:
    assert legacy_id("gid://shopify/Order/450789469") == 450789469
    assert legacy_id("gid://shopify/MailingAddress/12?model_name=Order") == 12
    assert legacy_id("450789469") == 450789469 and gid("Refund", "509562969") == "gid://shopify/Refund/509562969"
    for malformed in ("gid://shopify/Order/", "gid://shopify/Order/abc", "", None):
        with pytest.raises(ReviewError):
            legacy_id(malformed)


def test_graphql_decimals_are_written_as_rest_money() -> None:
    assert [amount(v) for v in ("10.0", "0.0", "199", "3.33", "3.3300", "-5.0")] == [
        "10.00",
        "0.00",
        "199.00",
        "3.33",
        "3.3300",
        "-5.00",
    ]
    with pytest.raises(ReviewError):
        amount("ten")


@pytest.mark.parametrize("topic", sorted(SUPPORTED_TOPICS))
def test_every_supported_topic_has_its_graphql_name_and_back(topic: str) -> None:
    assert webhook_topic(graphql_topic(topic)) == topic
    assert graphql_topic(topic).isupper() and "/" not in graphql_topic(topic)
