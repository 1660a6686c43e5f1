"""Every field of the shipped CI WSDLs (both naming styles) has the length PeopleSoft gives it.

The lengths are the published ones in tests/contracts/peoplesoft/: the record definitions transcribed
(fields-*.json) and the maxLength facets of the generated CI_CI_PERSONAL_DATA WSDL (a PeopleSoft field has
one length wherever it is used). A journal DESCR of 254 characters, say, is refused by a real gateway.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = Path(__file__).parent / "peoplesoft"
WSDLS = ROOT / "layers/mlconnector/mlconnector/targets/peoplesoft/wsdl"
XSD = "http://www.w3.org/2001/XMLSchema"


def declared_lengths(wsdl: Path) -> dict[str, int]:
    """Field name -> maxLength of each ``[KEYPROP_|PROP_]<field>TypeDef`` the WSDL declares."""
    out = {}
    for simple in etree.parse(str(wsdl)).getroot().iter(f"{{{XSD}}}simpleType"):
        facet = simple.find(f"{{{XSD}}}restriction/{{{XSD}}}maxLength")
        if facet is not None:
            name = simple.get("name").removesuffix("TypeDef")
            out[name.removeprefix("KEYPROP_").removeprefix("PROP_")] = int(facet.get("value"))
    return out


def published_lengths() -> dict[str, int]:
    lengths = declared_lengths(CONTRACTS / "CI_CI_PERSONAL_DATA.1.wsdl")
    for record in CONTRACTS.glob("fields-*.json"):
        for name, spec in json.loads(record.read_text()).get("fields", {}).items():
            if "length" in spec:
                assert lengths.setdefault(name, spec["length"]) == spec["length"], f"{record.name}: {name}"
    return lengths


def test_the_published_material_gives_descr_and_descr254_apart():
    published = published_lengths()
    assert (published["DESCR"], published["DESCR254"], published["LINE_DESCR"]) == (30, 254, 30)


@pytest.mark.parametrize("style", ["", "unprefixed"])
@pytest.mark.parametrize("ci", ["CUSTOMER_CI", "JOURNAL_ENTRY_CI", "AR_PENDING_ITEM_CI", "VCHR_EXPRESS"])
def test_shipped_wsdls_give_every_field_its_peoplesoft_length(ci, style):
    published = published_lengths()
    declared = declared_lengths(WSDLS / style / f"CI_{ci}.1.wsdl")
    wrong = {name: n for name, n in declared.items() if name in published and published[name] != n}
    assert wrong == {}, "declared (PeopleSoft's): " + ", ".join(f"{k} {v} ({published[k]})" for k, v in wrong.items())
