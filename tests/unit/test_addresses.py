"""Address blocks of the three stores read into one canonical Address."""

from __future__ import annotations

from mlconnector.models import Address
from mlconnector.sources.bigcommerce.mapping import _address_v2
from mlconnector.sources.shopify.mapping import _address as shopify_address
from mlconnector.sources.woocommerce.mapping import _address as woocommerce_address


def test_each_store_names_the_same_six_parts_differently():
    expected = Address(line1="1 Main St", line2="Apt 2", city="Springfield", state="IL", postcode="62701", country="US")
    woo = {"address_1": "1 Main St", "address_2": "Apt 2", "city": "Springfield", "state": "IL", "postcode": "62701"}
    shop = {"address1": "1 Main St", "address2": "Apt 2", "city": "Springfield", "province_code": "IL", "zip": "62701"}
    big = {"street_1": "1 Main St", "street_2": "Apt 2", "city": "Springfield", "state": "IL", "zip": "62701"}
    assert woocommerce_address({**woo, "country": "US"}) == expected
    assert shopify_address({**shop, "country_code": "US", "country": "United States"}) == expected
    assert _address_v2({**big, "country_iso2": "US", "country": "United States"}) == expected


def test_the_first_non_empty_field_wins_and_missing_parts_are_empty():
    assert shopify_address({"province_code": "", "province": "Illinois", "country": "United States"}) == Address(
        state="Illinois", country="United States"
    )
    assert woocommerce_address(None) == Address()
    assert _address_v2({"zip": 62701}).postcode == "62701"  # numbers become text
