"""The PeopleSoft target over real HTTP/SOAP (zeep) against the simulator in both generated-WSDL styles.

A gateway generates CI WSDLs with KEYPROP_/PROP_/COLL_ element names or with the plain field and record
names (tests/contracts/peoplesoft/): the same target, reading the names from the loaded WSDL, posts to
either. DESCR is PeopleSoft's 30-character field: the reference marker must survive it, and a longer value
is refused by the gateway.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from lxml import etree

from mlconnector.documents import LineClass, Posting, PostingKind, PostingLine
from mlconnector.errors import ConnectorError, ReviewError
from mlconnector.models import Address, Customer
from mlconnector.targets.base import FoundInErp
from mlconnector.targets.peoplesoft.client import download_wsdls
from mlconnector.targets.peoplesoft.mapping import journal_id_for
from mlconnector.targets.peoplesoft.settings import PeopleSoftSettings
from mlconnector.targets.peoplesoft.target import PeopleSoftTarget
from sandbox.peoplesoft import PeopleSoftState, create_app
from tests.support.sandboxes import started_sandboxes

WSDLS = Path(__file__).resolve().parents[2] / "layers/mlconnector/mlconnector/targets/peoplesoft/wsdl"
#: The shipped WSDL sets: generated element names with KEYPROP_/PROP_/COLL_ prefixes, and without them.
STYLES = {"prefixed": WSDLS, "unprefixed": WSDLS / "unprefixed"}
USER = {"username": "MLC_USER", "password": "sandbox-password"}


@pytest.fixture
def sandbox():
    with started_sandboxes(PeopleSoftState, create_app) as start:
        yield start


def target_for(url: str, style: str) -> PeopleSoftTarget:
    """The target reading the customer's WSDLs (as `mlc peoplesoft-wsdl` writes them) in ``style``."""
    settings = PeopleSoftSettings(
        base_url=url,
        auth="wss",
        wsdl_dir=str(STYLES[style]),
        timeout_seconds=5,
        retry_initial_delay=0.01,
        retry_max_delay=0.05,
    )
    return PeopleSoftTarget(settings, USER)


def journal(reference: str, total: str = "121.00") -> Posting:
    amount = Decimal(total)
    tax = Decimal("21.00")
    return Posting(
        kind=PostingKind.JOURNAL,
        reference=reference,
        connection="woo-psft",
        source_kind="order",
        source_id="1001",
        order_reference="1001",
        accounting_date=date(2024, 5, 1),
        currency="USD",
        base_currency="USD",
        description="Web order 1001 for a customer with a long name",
        source_total=amount,
        lines=(
            PostingLine(line_class=LineClass.CLEARING, account="120000", amount=amount, base_amount=amount),
            PostingLine(
                line_class=LineClass.REVENUE,
                account="400000",
                chartfields={"DEPTID": "100"},
                amount=-(amount - tax),
                base_amount=-(amount - tax),
                description="Revenue from the web store, every product line",
            ),
            PostingLine(line_class=LineClass.TAX, account="220000", amount=-tax, base_amount=-tax),
        ),
    )


HOME = Address(line1="1 Main St", city="Springfield", state="Illinois", postcode="62701", country="US")
DEPOT = Address(line1="9 Dock Rd", city="Shelbyville", state="IL", postcode="62565", country="US")


@pytest.mark.parametrize("style", STYLES)
def test_customer_upsert_with_effective_dated_addresses(sandbox, style):
    state, url = sandbox(wsdl_dir=STYLES[style])
    target = target_for(url, style)
    ann = Customer(source_id="42", email="ann@example.com", first_name="Ann", last_name="Lee", billing=HOME)
    assert target.upsert_customer(ann.model_copy(update={"shipping": DEPOT})) == "W42"

    stored = state.customers["W42"]
    billing, shipping = sorted(stored["COLL_CUST_ADDR_SEQ"], key=lambda row: row["KEYPROP_ADDRESS_SEQ_NUM"])
    assert (billing["PROP_BILL_TO_ADDR"], billing["PROP_SHIP_TO_ADDR"], shipping["PROP_SHIP_TO_ADDR"]) == (
        "Y",
        "N",
        "Y",
    )
    [home] = billing["COLL_CUST_ADDRESS"]
    assert (home["PROP_ADDRESS1"], home["PROP_STATE"], home["PROP_COUNTRY"]) == ("1 Main St", "IL", "USA")
    assert home["KEYPROP_EFFDT"] == date(1900, 1, 1)

    assert target.upsert_customer(ann.model_copy(update={"shipping": DEPOT}), known_erp_id="W42") == "W42"
    assert state.requests["CI_CUSTOMER_CI_UP"] == 0  # nothing changed, nothing sent

    moved = DEPOT.model_copy(update={"line1": "12 Harbour Way"})
    target.upsert_customer(ann.model_copy(update={"shipping": moved}), known_erp_id="W42")
    shipping = next(row for row in state.customers["W42"]["COLL_CUST_ADDR_SEQ"] if row["KEYPROP_ADDRESS_SEQ_NUM"] == 2)
    rows = sorted(shipping["COLL_CUST_ADDRESS"], key=lambda row: row["KEYPROP_EFFDT"])
    assert [r["PROP_ADDRESS1"] for r in rows] == ["9 Dock Rd", "12 Harbour Way"]  # history kept
    assert rows[1]["KEYPROP_EFFDT"] == datetime.now(UTC).date()
    assert len(state.customers["W42"]["COLL_CUST_ADDR_SEQ"][0]["COLL_CUST_ADDRESS"]) == 1  # billing untouched
    target.close()


@pytest.mark.parametrize("style", STYLES)
def test_journal_is_posted_found_and_not_posted_twice(sandbox, style):
    state, url = sandbox(wsdl_dir=STYLES[style])
    target = target_for(url, style)
    posting = journal("W1001")
    assert target.find_posting(posting) is None
    erp_id = target.create_posting(posting, "W42")
    assert erp_id == f"US001/{journal_id_for('W1001', 'W')}"

    [stored] = state.journals
    assert stored["PROP_DESCR"] == "ref:W1001 | order 1001 | Web o"  # PeopleSoft's 30 characters
    assert [ln["PROP_LINE_DESCR"] for ln in stored["COLL_JRNL_LN"]][1] == "Revenue from the web store, ev"
    assert sum(ln["PROP_MONETARY_AMOUNT"] for ln in stored["COLL_JRNL_LN"]) == 0

    assert target.find_posting(posting) == erp_id
    again = target.create_posting(posting, "W42")
    assert isinstance(again, FoundInErp) and again == erp_id
    assert len(state.journals) == 1
    assert target.inquire("journals", date(2024, 5, 1), date(2024, 5, 1))[0]["reference"] == "W1001"
    target.close()


@pytest.mark.parametrize("style", STYLES)
def test_a_reference_longer_than_descr_still_finds_its_journal(sandbox, style):
    state, url = sandbox(wsdl_dir=STYLES[style])
    target = target_for(url, style)
    long_ref = "Sshopify-order-5551234567890-R9998887776665"
    sibling = long_ref[:-1] + "4"
    erp_id = target.create_posting(journal(long_ref), None)
    [stored] = state.journals
    assert len(stored["PROP_DESCR"]) == 30 and stored["PROP_DESCR"].startswith("rfh:")
    assert target.find_posting(journal(long_ref)) == erp_id
    assert target.find_posting(journal(sibling)) is None
    target.close()


@pytest.mark.parametrize("style", STYLES)
def test_a_key_too_long_is_refused_before_anything_is_sent(sandbox, style):
    state, url = sandbox(wsdl_dir=STYLES[style])
    target = target_for(url, style)
    with pytest.raises(ReviewError, match="JOURNAL_ID takes 10 characters"):
        target.client.service("JOURNAL_ENTRY_CI").call("F", BUSINESS_UNIT="US001", JOURNAL_ID="W0123456789")
    assert state.requests["CI_JOURNAL_ENTRY_CI_F"] == 0
    target.close()


def _raw(url: str, ci: str, verb: str, root: str, fields: str) -> requests.Response:
    """A request written by hand (past any client-side check) to the simulator's listening connector."""
    wsdl = requests.get(f"{url}/PSIGW/PeopleSoftServiceListeningConnector/PSFT_EP/CI_{ci}.1.wsdl", timeout=5)
    schemas = etree.fromstring(wsdl.content).iter("{http://www.w3.org/2001/XMLSchema}schema")
    namespace = next(
        s.get("targetNamespace")
        for s in schemas
        if s.find(f"{{http://www.w3.org/2001/XMLSchema}}element[@name='{root}']") is not None
    )
    body = (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
        f'<{root} xmlns="{namespace}">{fields}</{root}></soapenv:Body></soapenv:Envelope>'
    )
    return requests.post(
        f"{url}/PSIGW/PeopleSoftServiceListeningConnector/PSFT_EP",
        data=body.encode(),
        headers={"SOAPAction": f"CI_{ci}_{verb}.V1", "Content-Type": "text/xml"},
        auth=("MLC_USER", "sandbox-password"),
        timeout=5,
    )


def _journal_xml(style: str, descr: str) -> str:
    k, p, c = ("KEYPROP_", "PROP_", "COLL_") if style == "prefixed" else ("", "", "")
    lines = "".join(
        f"<{c}JRNL_LN><{k}JOURNAL_LINE>{n}</{k}JOURNAL_LINE><{p}ACCOUNT>{account}</{p}ACCOUNT>"
        f"<{p}MONETARY_AMOUNT>{amount}</{p}MONETARY_AMOUNT><{p}FOREIGN_AMOUNT>{amount}</{p}FOREIGN_AMOUNT>"
        f"<{p}FOREIGN_CURRENCY>USD</{p}FOREIGN_CURRENCY></{c}JRNL_LN>"
        for n, account, amount in ((1, "120000", "1.00"), (2, "400000", "-1.00"))
    )
    return (
        f"<{k}BUSINESS_UNIT>US001</{k}BUSINESS_UNIT><{k}JOURNAL_ID>WTEST00001</{k}JOURNAL_ID>"
        f"<{k}JOURNAL_DATE>2024-05-01</{k}JOURNAL_DATE><{p}DESCR>{descr}</{p}DESCR>{lines}"
    )


@pytest.mark.parametrize("style", STYLES)
def test_a_31_character_descr_is_refused_by_the_gateway(sandbox, style):
    state, url = sandbox(auth="basic", wsdl_dir=STYLES[style])
    root = "Create__CompIntfc__JOURNAL_ENTRY_CI"
    refused = _raw(url, "JOURNAL_ENTRY_CI", "C", root, _journal_xml(style, "D" * 31))
    assert refused.status_code == 500
    fault = etree.fromstring(refused.content)
    assert fault.xpath("//*[local-name()='CIFault']")
    assert "maxLength" in fault.xpath("string(//*[local-name()='DefaultMessage'])")
    assert state.journals == []
    accepted = _raw(url, "JOURNAL_ENTRY_CI", "C", root, _journal_xml(style, "D" * 30))
    assert accepted.status_code == 200
    assert [j["PROP_DESCR"] for j in state.journals] == ["D" * 30]


@pytest.mark.parametrize(
    ("style", "fields", "accepted"),
    [
        ("prefixed", "<KEYPROP_SETID>SHARE</KEYPROP_SETID><KEYPROP_CUST_ID>RAW1</KEYPROP_CUST_ID>", True),
        ("unprefixed", "<SETID>SHARE</SETID><CUST_ID>RAW1</CUST_ID>", True),
        ("unprefixed", "<KEYPROP_SETID>SHARE</KEYPROP_SETID><KEYPROP_CUST_ID>RAW1</KEYPROP_CUST_ID>", False),
        ("prefixed", "<SETID>SHARE</SETID><CUST_ID>RAW1</CUST_ID>", False),
        ("unprefixed", "<CUST_ID>RAW1</CUST_ID><SETID>SHARE</SETID>", False),  # out of order
        ("unprefixed", "<SETID>SHARE</SETID><CUST_ID>RAW1</CUST_ID><NAME1>" + "N" * 41 + "</NAME1>", False),
    ],
)
def test_the_simulator_validates_each_request_against_the_wsdl_it_serves(sandbox, style, fields, accepted):
    state, url = sandbox(auth="basic", wsdl_dir=STYLES[style])
    response = _raw(url, "CUSTOMER_CI", "C", "Create__CompIntfc__CUSTOMER_CI", fields)
    if accepted:
        assert response.status_code == 200 and set(state.customers) == {"RAW1"}
    else:
        assert response.status_code == 500
        assert etree.fromstring(response.content).xpath("//*[local-name()='CIFault']")
        assert state.customers == {}


@pytest.mark.parametrize("style", STYLES)
def test_the_customers_own_wsdls_in_either_style_are_downloaded_checked_and_used(sandbox, style, tmp_path):
    state, url = sandbox(wsdl_dir=STYLES[style], wsdl_external_schemas=True)
    settings = PeopleSoftSettings(base_url=url, auth="wss")
    written = download_wsdls(settings, USER, tmp_path, ["CUSTOMER_CI", "JOURNAL_ENTRY_CI"])
    assert [p.name for p in written] == ["CI_CUSTOMER_CI.1.wsdl", "CI_JOURNAL_ENTRY_CI.1.wsdl"]
    target = PeopleSoftTarget(settings.model_copy(update={"wsdl_dir": str(tmp_path)}), USER)
    assert target.upsert_customer(Customer(source_id="7", email="kim@example.com", billing=HOME)) == "W7"
    assert target.create_posting(journal("W7001"), "W7").startswith("US001/")
    assert target.find_posting(journal("W7001")) is not None
    assert len(state.journals) == 1 and "W7" in state.customers
    target.close()


def test_a_downloaded_wsdl_without_a_field_the_connector_sends_is_not_written(sandbox, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    for wsdl in STYLES["unprefixed"].glob("*.wsdl"):
        text = wsdl.read_text()
        if wsdl.name == "CI_CUSTOMER_CI.1.wsdl":  # a CI built without the e-mail property
            text = text.replace('<xsd:element name="EMAILID" type="EMAILIDTypeShape" minOccurs="0"/>', "")
        (served / wsdl.name).write_text(text)
    _, url = sandbox(wsdl_dir=served)
    with pytest.raises(ConnectorError, match=r"CI_CUSTOMER_CI\.1 does not fit .* no field EMAILID"):
        download_wsdls(PeopleSoftSettings(base_url=url, auth="wss"), USER, tmp_path / "out", ["CUSTOMER_CI"])
    assert not (tmp_path / "out").exists()
