"""PeopleSoft-generated CI WSDLs in both naming styles, read by field name; field lengths as PeopleSoft has them.

Built from tests/contracts/peoplesoft/: a transcription of a WSDL PeopleTools generated (CI_CI_PERSONAL_DATA,
KEYPROP_/PROP_/COLL_ names), the unprefixed style as Oracle documents the CI XML (SUPPORT_DOC_TBL), and record
definitions giving the fields' lengths.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from lxml import etree
from zeep.xsd import Schema

from mlconnector.errors import ReviewError
from mlconnector.targets.peoplesoft.client import (
    PACKAGE_WSDL_DIR,
    CiField,
    ci_fields,
    load_wsdl,
    service_binding,
    to_elements,
    to_names,
    wsdl_max_lengths,
)

CONTRACTS = Path(__file__).parent / "peoplesoft"
XSD = "http://www.w3.org/2001/XMLSchema"


def shapes(path: Path, operation: str) -> tuple[CiField, CiField]:
    binding = service_binding(load_wsdl(path))
    lengths = wsdl_max_lengths(path)
    op = binding._operations[operation]
    return ci_fields(op.input.body, lengths), ci_fields(op.output.body, lengths)


def tree(field: CiField) -> tuple:
    """A shape by PeopleSoft names only (what either naming style must agree on)."""
    return (field.name, field.max_length, field.repeats, tuple(tree(child) for child in field.children))


def test_generated_prefixed_wsdl_is_read_by_field_name():
    request, _ = shapes(CONTRACTS / "CI_CI_PERSONAL_DATA.1.wsdl", "CI_CI_PERSONAL_DATA_C")
    assert [c.name for c in request.children][:7] == [
        "EMPLID",
        "BIRTHDATE",
        "BIRTHPLACE",
        "BIRTHCOUNTRY",
        "BIRTHSTATE",
        "CAN_VISBL_MINORITY",
        "EXP_RETIRE_DT",  # generated without a prefix, in a prefixed WSDL
    ]
    addresses = request.child("ADDRESS_TYPE_VW").child("ADDRESSES")
    assert addresses.element == "COLL_ADDRESSES" and addresses.repeats
    assert {c.name: c.max_length for c in addresses.children} == {
        "ADDRESS_TYPE": 4,
        "EFFDT": None,
        "EFF_STATUS": 1,
        "COUNTRY": 3,
        "ADDRESS1": 55,
        "ADDRESS2": 55,
        "CITY": 30,
        "STATE": 6,
        "POSTAL": 12,
    }

    payload = to_elements(
        request,
        {
            "EMPLID": "KU0042",
            "EXP_RETIRE_DT": date(2040, 1, 1),
            "ADDRESS_TYPE_VW": [
                {
                    "ADDRESS_TYPE": "HOME",
                    "ADDRESSES": [{"ADDRESS_TYPE": "HOME", "EFFDT": date(2020, 1, 1), "ADDRESS1": "A" * 60}],
                }
            ],
        },
        "CI_CI_PERSONAL_DATA_C",
    )
    assert payload["KEYPROP_EMPLID"] == "KU0042" and payload["EXP_RETIRE_DT"] == date(2040, 1, 1)
    [home] = payload["COLL_ADDRESS_TYPE_VW"]
    assert home["KEYPROP_ADDRESS_TYPE"] == "HOME"
    assert home["COLL_ADDRESSES"][0]["PROP_ADDRESS1"] == "A" * 55  # free text, cut to the field's 55
    with pytest.raises(ReviewError, match="EMPLID takes 11 characters"):
        to_elements(request, {"EMPLID": "K" * 12}, "CI_CI_PERSONAL_DATA_C")
    with pytest.raises(ReviewError, match="no field SHOE_SIZE"):
        to_elements(request, {"EMPLID": "KU0042", "SHOE_SIZE": "44"}, "CI_CI_PERSONAL_DATA_C")


def test_get_answer_keys_read_by_field_name_too():
    path = CONTRACTS / "CI_CI_PERSONAL_DATA.1.wsdl"
    _, response = shapes(path, "CI_CI_PERSONAL_DATA_G")
    element = service_binding(load_wsdl(path))._operations["CI_CI_PERSONAL_DATA_G"].output.body
    answer = element(
        PROP_EMPLID="KU0042", PROP_BIRTHPLACE="Springfield", COLL_PERSONAL_PHONE=[{"KEYPROP_PHONE_TYPE": "HOME"}]
    )
    data = to_names(response, answer)
    assert data["EMPLID"] == "KU0042"  # the Get response names the key PROP_EMPLID
    assert data["BIRTHPLACE"] == "Springfield" and data["PERSONAL_PHONE"][0]["PHONE_TYPE"] == "HOME"


def test_unprefixed_wsdl_is_read_the_same_way():
    request, response = shapes(CONTRACTS / "CI_SUPPORT_DOC_TBL.1.wsdl", "CI_SUPPORT_DOC_TBL_C")
    payload = to_elements(
        request,
        {"KEYPROP_SUPPORT_DOC_ID": "POLICE", "SUPPORT_DOC": [{"DESCR": "D" * 31, "DESCRSHORT": "Police"}]},
        "CI_SUPPORT_DOC_TBL_C",
    )
    assert payload == {"SUPPORT_DOC_ID": "POLICE", "SUPPORT_DOC": [{"DESCR": "D" * 30, "DESCRSHORT": "Police"}]}
    with pytest.raises(ReviewError, match="DESCRSHORT takes 10 characters"):
        to_elements(request, {"SUPPORT_DOC": [{"DESCRSHORT": "Police report"}]}, "CI_SUPPORT_DOC_TBL_C")
    assert [c.name for c in response.children] == ["notification", "detail"]


@pytest.mark.parametrize("ci", ["CUSTOMER_CI", "JOURNAL_ENTRY_CI", "AR_PENDING_ITEM_CI", "VCHR_EXPRESS"])
def test_both_shipped_styles_declare_the_same_fields(ci):
    prefixed = PACKAGE_WSDL_DIR / f"CI_{ci}.1.wsdl"
    unprefixed = PACKAGE_WSDL_DIR / "unprefixed" / f"CI_{ci}.1.wsdl"
    for verb in ("C", "F", "G", "UP"):
        operation = f"CI_{ci}_{verb}"
        assert [tree(s) for s in shapes(prefixed, operation)] == [tree(s) for s in shapes(unprefixed, operation)]
        request, _ = shapes(unprefixed, operation)
        assert not any(c.element.startswith(("KEYPROP_", "PROP_", "COLL_")) for c in request.children)


def test_a_field_numbered_on_a_second_level_answers_to_its_plain_name():
    """Seen in requests public code sends to real gateways (C_CI_POSITION_DATA: POSITION_DATA rows with EFFDT_0):
    where a field name is met on two levels the generator numbers one; plain names still find it."""
    namespace = "http://xmlns.oracle.com/Enterprise/Tools/schemas/M572928.V1"
    schema = etree.fromstring(
        f'<xsd:schema xmlns:xsd="{XSD}" xmlns="{namespace}" targetNamespace="{namespace}" '
        'elementFormDefault="qualified">'
        '<xsd:element name="Create__CompIntfc__C_CI_POSITION_DATA"><xsd:complexType><xsd:sequence>'
        '<xsd:element name="POSITION_NBR" type="xsd:string"/><xsd:element name="EFFDT" type="xsd:date" minOccurs="0"/>'
        '<xsd:element name="POSITION_DATA" minOccurs="0" maxOccurs="unbounded"><xsd:complexType><xsd:sequence>'
        '<xsd:element name="EFFDT_0" type="xsd:date"/><xsd:element name="DESCR" type="DESCRTypeDef" minOccurs="0"/>'
        "</xsd:sequence></xsd:complexType></xsd:element></xsd:sequence></xsd:complexType></xsd:element>"
        '<xsd:simpleType name="DESCRTypeDef"><xsd:restriction base="xsd:string"><xsd:maxLength value="30"/>'
        "</xsd:restriction></xsd:simpleType></xsd:schema>"
    )
    element = Schema(schema).get_element(f"{{{namespace}}}Create__CompIntfc__C_CI_POSITION_DATA")
    shape = ci_fields(element, {etree.QName(namespace, "DESCRTypeDef"): 30})
    rows = shape.child("POSITION_DATA")
    assert rows.child("EFFDT").element == "EFFDT_0" and shape.child("EFFDT").element == "EFFDT"
    payload = to_elements(
        shape, {"POSITION_NBR": "P1", "POSITION_DATA": [{"EFFDT": date(2024, 1, 1), "DESCR": "x" * 40}]}, "t"
    )
    assert payload["POSITION_DATA"] == [{"EFFDT_0": date(2024, 1, 1), "DESCR": "x" * 30}]
