"""PeopleSoftTarget against the PeopleSoft sandbox over real HTTP and SOAP (zeep, shipped WSDLs)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from lxml import etree

from mlconnector.accounting.engine import AccountingEngine
from mlconnector.accounting.rules import MappingRules
from mlconnector.documents import LineClass, Posting, PostingKind, PostingLine
from mlconnector.errors import AuthError, ReviewError, TransientError
from mlconnector.models import Address, Customer, Order, OrderLine, Payment, Refund, ShippingLine
from mlconnector.targets.base import FoundInErp
from mlconnector.targets.peoplesoft.client import CIFaultError, download_wsdls, load_wsdl
from mlconnector.targets.peoplesoft.mapping import item_id_for, journal_id_for, voucher_fields
from mlconnector.targets.peoplesoft.settings import PeopleSoftSettings
from mlconnector.targets.peoplesoft.target import PeopleSoftTarget
from sandbox.peoplesoft import PeopleSoftState, create_app
from tests.support.sandboxes import started_sandboxes

USER = {"username": "MLC_USER", "password": "sandbox-password"}
CLIENT = {"client_id": "mlc-client", "client_secret": "sandbox-client-secret"}


def credentials(auth: str) -> dict[str, str]:
    return dict(CLIENT if auth == "oauth2" else USER)


@pytest.fixture
def sandbox():
    with started_sandboxes(PeopleSoftState, create_app) as start:
        yield start


def make_target(url: str, auth: str = "wss", creds: dict[str, str] | None = None, **overrides) -> PeopleSoftTarget:
    settings = PeopleSoftSettings(
        base_url=url,
        auth=auth,
        token_url=f"{url}/oauth2/token" if auth == "oauth2" else None,
        timeout_seconds=overrides.pop("timeout_seconds", 5),
        retry_initial_delay=0.01,
        retry_max_delay=0.05,
        **overrides,
    )
    return PeopleSoftTarget(settings, creds if creds is not None else credentials(auth))


def journal(reference: str = "woo:order:1001", *, total: str = "110.00", lines=None, reverses=None) -> Posting:
    total_d = Decimal(total)
    tax = (total_d / 11).quantize(Decimal("0.01"))
    lines = lines or (
        PostingLine(line_class=LineClass.CLEARING, account="120000", amount=total_d, base_amount=total_d),
        PostingLine(
            line_class=LineClass.REVENUE,
            account="400000",
            chartfields={"DEPTID": "100", "PRODUCT": "WEB"},
            amount=-(total_d - tax),
            base_amount=-(total_d - tax),
            description="Revenue: T-shirts and everything else sold online",
        ),
        PostingLine(line_class=LineClass.TAX, account="220000", amount=-tax, base_amount=-tax),
    )
    return Posting(
        kind=PostingKind.JOURNAL,
        reference=reference,
        connection="woo-ps",
        source_kind="refund" if reverses else "order",
        source_id=reference.rsplit(":", 1)[-1],
        order_reference=reference.rsplit(":", 1)[-1],
        accounting_date=date(2024, 5, 1),
        currency="USD",
        base_currency="USD",
        description=f"Web order {reference}",
        source_total=total_d,
        lines=tuple(lines),
        reverses=reverses,
    )


def customer(source_id: str = "42", **changes) -> Customer:
    base = Customer(
        source_id=source_id,
        email="ann@example.com",
        first_name="Ann",
        last_name="Lee",
        phone="+1 555 0100",
        billing=Address(line1="1 Main St", city="Springfield", state="IL", postcode="62701", country="US"),
    )
    return base.model_copy(update=changes)


@pytest.mark.parametrize("auth", ["basic", "wss", "oauth2"])
def test_customer_and_journal_round_trip(sandbox, auth):
    state, url = sandbox(auth=auth)
    target = make_target(url, auth)

    cust_id = target.upsert_customer(customer())
    assert cust_id == "W42"
    assert state.customers["W42"]["PROP_CUSTOMER_REF"] == "42"

    moved = customer(phone="+1 555 0199", billing=Address(line1="9 Elm St", city="Shelbyville", country="US"))
    assert target.upsert_customer(moved, known_erp_id=cust_id) == "W42"
    stored = state.customers["W42"]
    assert stored["PROP_PHONE"] == "+15550199"
    [billing] = stored["COLL_CUST_ADDR_SEQ"]
    first, moved_in = sorted(billing["COLL_CUST_ADDRESS"], key=lambda row: row["KEYPROP_EFFDT"])
    assert (first["PROP_ADDRESS1"], first["KEYPROP_EFFDT"]) == ("1 Main St", date(1900, 1, 1))  # history kept
    assert (moved_in["PROP_ADDRESS1"], moved_in["PROP_CITY"]) == ("9 Elm St", "Shelbyville")
    assert moved_in["KEYPROP_EFFDT"] == datetime.now(UTC).date()
    assert moved_in["PROP_STATE"] == ""  # cleared, not left stale
    assert moved_in["PROP_COUNTRY"] == "USA"  # COUNTRY_TBL is keyed by ISO alpha-3; the store sent "US"
    assert len(state.customers) == 1

    posting = journal()
    assert target.find_posting(posting) is None
    erp_id = target.create_posting(posting, cust_id)
    journal_id = journal_id_for(posting.reference, "W")
    assert erp_id == f"US001/{journal_id}"
    assert target.find_posting(posting) == erp_id

    [stored_journal] = state.journals
    assert stored_journal["KEYPROP_JOURNAL_DATE"] == date(2024, 5, 1)
    assert stored_journal["PROP_DESCR"] == "ref:woo:order:1001 | order 100"  # DESCR is PeopleSoft's 30
    lines = stored_journal["COLL_JRNL_LN"]
    assert [ln["PROP_ACCOUNT"] for ln in lines] == ["120000", "400000", "220000"]
    assert sum(ln["PROP_MONETARY_AMOUNT"] for ln in lines) == Decimal("0")
    assert lines[1]["PROP_DEPTID"] == "100" and lines[1]["PROP_PRODUCT"] == "WEB"
    assert len(lines[1]["PROP_LINE_DESCR"]) == 30
    assert all(isinstance(ln["PROP_MONETARY_AMOUNT"], Decimal) for ln in lines)
    target.close()


def test_no_update_call_when_customer_unchanged(sandbox):
    state, url = sandbox(auth="basic")
    target = make_target(url, "basic")
    target.upsert_customer(customer())
    target.upsert_customer(customer())
    assert state.requests["CI_CUSTOMER_CI_UP"] == 0
    assert state.requests["CI_CUSTOMER_CI_C"] == 1


def test_customer_found_by_email_keeps_its_id(sandbox):
    state, url = sandbox(auth="wss")
    target = make_target(url)
    # A customer keyed in by hand in PeopleSoft, no store reference.
    target.client.service("CUSTOMER_CI").call(
        "C", KEYPROP_SETID="SHARE", KEYPROP_CUST_ID="MANUAL01", PROP_NAME1="Ann Lee", PROP_EMAILID="ANN@example.com"
    )
    assert target.upsert_customer(customer(source_id="77")) == "MANUAL01"
    assert set(state.customers) == {"MANUAL01"}
    assert state.customers["MANUAL01"]["PROP_CUSTOMER_REF"] == "77"


def test_guest_customer_gets_hashed_id(sandbox):
    state, url = sandbox(auth="wss")
    target = make_target(url)
    cust_id = target.upsert_customer(customer(source_id="guest:someone.with.a.long.address@example.com", email=""))
    assert len(cust_id) <= 15 and cust_id.startswith("WH")
    assert cust_id in state.customers


@pytest.mark.parametrize("auth", ["basic", "wss", "oauth2"])
def test_wrong_credentials_raise_auth_error_and_post_nothing(sandbox, auth):
    state, url = sandbox(auth=auth)
    wrong = {k: "not-the-secret-" + k for k in credentials(auth)}
    target = make_target(url, auth, creds=wrong)
    with pytest.raises(AuthError) as caught:
        target.create_posting(journal(), None)
    message = str(caught.value)
    assert "PeopleSoft" in message and "PSFT_EP" in message
    assert "not-the-secret" not in message
    assert state.journals == []
    with pytest.raises(AuthError):
        target.upsert_customer(customer())
    assert state.customers == {}


def test_oauth2_token_revoked_mid_run_refreshes_once(sandbox):
    state, url = sandbox(auth="oauth2")
    target = make_target(url, "oauth2")
    target.upsert_customer(customer())
    assert state.requests["token"] == 1
    state.revoke_tokens()
    assert target.create_posting(journal(), "W42").startswith("US001/")
    assert state.requests["token"] == 2
    assert state.requests["auth_failed"] == 1
    assert len(state.journals) == 1


def test_oauth2_short_lived_token_is_renewed_before_expiry(sandbox):
    state, url = sandbox(auth="oauth2", token_lifetime_seconds=1)
    target = make_target(url, "oauth2")
    target.upsert_customer(customer())
    import time

    time.sleep(1.1)
    target.create_posting(journal(), None)
    assert state.requests["token"] == 2
    assert state.requests["auth_failed"] == 0


def _post_like_pipeline(target: PeopleSoftTarget, posting: Posting, attempts: int = 5) -> str:
    """What the poster does: look up first, then create; a transient failure means try again."""
    for _ in range(attempts):
        try:
            return target.find_posting(posting) or target.create_posting(posting, None)
        except TransientError:
            continue
    raise AssertionError("never posted")


@pytest.mark.parametrize("mode", ["sleep", "504"])
def test_timeout_after_commit_on_first_attempts_posts_each_journal_once(sandbox, mode):
    state, url = sandbox(
        auth="wss",
        timeout_after_commit=True,
        timeout_after_commit_first_attempt_only=True,
        timeout_after_commit_mode=mode,
        timeout_after_commit_seconds=1.0,
    )
    target = make_target(url, timeout_seconds=0.4)
    postings = [journal(f"woo:order:{2000 + n}") for n in range(4)]
    ids = [_post_like_pipeline(target, p) for p in postings]
    assert len(set(ids)) == 4
    assert len(state.journals) == 4
    assert state.requests["timeout_after_commit"] == 4


def test_timeout_after_every_commit_with_client_retries_disabled(sandbox):
    state, url = sandbox(auth="basic", timeout_after_commit=True, timeout_after_commit_mode="504")
    target = make_target(url, "basic", retry_attempts=1)
    postings = [journal(f"woo:order:{3000 + n}") for n in range(3)]
    for posting in postings:
        with pytest.raises(TransientError):
            target.create_posting(posting, None)
    # The redelivered messages: find_posting sees the committed journals, nothing is created twice.
    ids = [_post_like_pipeline(target, p) for p in postings]
    assert ids == [f"US001/{journal_id_for(p.reference, 'W')}" for p in postings]
    assert len(state.journals) == 3


def test_invalid_chartfield_combination_is_review_with_peoplesoft_message(sandbox):
    state, url = sandbox(auth="wss", account_deptids={"400000": {"200", "300"}})
    target = make_target(url)
    with pytest.raises(ReviewError) as caught:
        target.create_posting(journal(), None)
    assert "Invalid ChartField combination: ACCOUNT=400000, DEPTID=100" in caught.value.reason
    assert caught.value.detail["messages"][0]["message_set"] == 5830
    assert state.journals == []


def test_unknown_account_is_review(sandbox):
    state, url = sandbox(auth="wss")
    target = make_target(url)
    lines = (
        PostingLine(line_class=LineClass.CLEARING, account="120000", amount=Decimal("5"), base_amount=Decimal("5")),
        PostingLine(line_class=LineClass.REVENUE, account="777777", amount=Decimal("-5"), base_amount=Decimal("-5")),
    )
    with pytest.raises(ReviewError, match="ACCOUNT=777777"):
        target.create_posting(journal(lines=lines, total="5"), None)
    assert state.journals == []


def test_server_errors_then_success(sandbox):
    state, url = sandbox(auth="wss", fail_next_n=2)
    target = make_target(url)
    target.create_posting(journal(), None)
    assert state.requests["injected_500"] == 2
    assert len(state.journals) == 1


def test_server_errors_beyond_retries_are_transient(sandbox):
    state, url = sandbox(auth="wss", fail_next_n=10)
    target = make_target(url, retry_attempts=3)
    with pytest.raises(TransientError) as caught:
        target.create_posting(journal(), None)
    assert not isinstance(caught.value, AuthError)
    assert state.requests["injected_500"] == 3
    assert state.journals == []


def test_seeded_error_rate_still_posts_everything_once(sandbox):
    state, url = sandbox(auth="wss", error_rate=0.3, seed=7)
    target = make_target(url, retry_attempts=6)
    postings = [journal(f"woo:order:{4000 + n}") for n in range(8)]
    for posting in postings:
        _post_like_pipeline(target, posting)
    assert len(state.journals) == 8
    assert state.requests["injected_503"] > 0


def test_response_with_dtd_is_refused(sandbox):
    state, url = sandbox(auth="wss", respond_with_dtd=True)
    target = make_target(url)
    with pytest.raises(TransientError, match=r"DTDForbidden|EntitiesForbidden"):
        target.find_posting(journal())
    assert state.requests["CI_JOURNAL_ENTRY_CI_F"] == 1  # answered once, refused, not retried


def test_refund_journal_is_told_apart_from_its_order(sandbox):
    state, url = sandbox(auth="wss")
    target = make_target(url)
    order = journal("woo:order:5000")
    refund_lines = tuple(
        line.model_copy(update={"amount": -line.amount, "base_amount": -line.base_amount}) for line in order.lines
    )
    refund = journal("woo:refund:5000-1", lines=refund_lines, reverses="woo:order:5000")
    target.create_posting(order, None)
    target.create_posting(refund, None)
    descrs = [j["PROP_DESCR"] for j in state.journals]
    assert descrs[1].startswith("ref:woo:refund:5000-1 | ") and len(descrs[1]) == 30
    assert target.find_posting(refund) != target.find_posting(order)


def test_journal_id_collision_is_review_not_a_false_match(sandbox):
    state, url = sandbox(auth="wss")
    target = make_target(url)
    posting = journal()
    other = journal("woo:order:other")
    fields = {
        "KEYPROP_BUSINESS_UNIT": "US001",
        "KEYPROP_JOURNAL_ID": journal_id_for(posting.reference, "W"),
        "KEYPROP_JOURNAL_DATE": date(2024, 5, 1),
        "PROP_DESCR": "ref:woo:order:other | keyed by hand",
        "COLL_JRNL_LN": [
            {
                "KEYPROP_JOURNAL_LINE": 1,
                "PROP_ACCOUNT": "120000",
                "PROP_MONETARY_AMOUNT": Decimal("1"),
                "PROP_FOREIGN_AMOUNT": Decimal("1"),
                "PROP_FOREIGN_CURRENCY": "USD",
            },
            {
                "KEYPROP_JOURNAL_LINE": 2,
                "PROP_ACCOUNT": "400000",
                "PROP_MONETARY_AMOUNT": Decimal("-1"),
                "PROP_FOREIGN_AMOUNT": Decimal("-1"),
                "PROP_FOREIGN_CURRENCY": "USD",
            },
        ],
    }
    target.client.service("JOURNAL_ENTRY_CI").call("C", **fields)
    with pytest.raises(ReviewError, match="collision"):
        target.find_posting(posting)
    with pytest.raises(ReviewError):
        target.create_posting(posting, None)
    assert target.find_posting(other) is None  # a different JOURNAL_ID altogether
    assert len(state.journals) == 1


def test_voucher_without_vendor_is_review(sandbox):
    # Vouchers are supported now (see the AR/voucher tests below); without a vendor they go to review.
    state, url = sandbox(auth="wss")
    target = make_target(url)
    voucher = journal().model_copy(update={"kind": PostingKind.VOUCHER})
    with pytest.raises(ReviewError, match="voucher_vendor_id"):
        target.create_posting(voucher, None)
    assert state.requests["CI_VCHR_EXPRESS_C"] == 0


def test_inquiry_reads_journals_and_customers_in_windows(sandbox):
    state, url = sandbox(auth="basic")
    target = make_target(url, "basic", inquiry_window_days=3)
    target.upsert_customer(customer())
    early = journal("woo:order:6000")
    late = journal("woo:order:6001").model_copy(update={"accounting_date": date(2024, 5, 9)})
    target.create_posting(early, None)
    target.create_posting(late, None)

    found = target.inquire("journals", date(2024, 4, 30), date(2024, 5, 10))
    assert state.requests["rest:MLC_JRNL_INQUIRY.v1"] == 4  # 11 days in 3-day windows
    assert sorted(j["reference"] for j in found) == ["woo:order:6000", "woo:order:6001"]
    assert all(j["total_debits"] == Decimal("110.00") for j in found)
    assert [j["journal_id"] for j in target.inquire("journals", date(2024, 5, 2), date(2024, 5, 8))] == []

    today = date.today()
    customers = target.inquire("customers", today, today)
    assert [c["erp_id"] for c in customers] == ["W42"]


def test_oauth2_inquiry_uses_bearer_token(sandbox):
    state, url = sandbox(auth="oauth2")
    target = make_target(url, "oauth2")
    target.create_posting(journal(), None)
    assert len(target.inquire("journals", date(2024, 5, 1), date(2024, 5, 1))) == 1
    assert state.requests["token"] == 1


def test_download_wsdls_and_use_them(sandbox, tmp_path: Path):
    state, url = sandbox(auth="basic")
    settings = PeopleSoftSettings(base_url=url, auth="basic")
    written = download_wsdls(settings, USER, tmp_path, ["CUSTOMER_CI", "JOURNAL_ENTRY_CI"])
    assert sorted(p.name for p in written) == ["CI_CUSTOMER_CI.1.wsdl", "CI_JOURNAL_ENTRY_CI.1.wsdl"]
    assert state.requests["wsdl"] == 2
    assert url.encode() in written[0].read_bytes()  # soap:address rewritten by the gateway
    target = make_target(url, "basic", wsdl_dir=str(tmp_path))
    assert target.upsert_customer(customer()) == "W42"
    assert load_wsdl(tmp_path / "CI_CUSTOMER_CI.1.wsdl") is load_wsdl(tmp_path / "CI_CUSTOMER_CI.1.wsdl")


def test_download_wsdls_fetches_imported_schemas(sandbox, tmp_path: Path):
    state, url = sandbox(auth="wss", wsdl_external_schemas=True)
    settings = PeopleSoftSettings(base_url=url, auth="wss")
    download_wsdls(settings, USER, tmp_path, ["JOURNAL_ENTRY_CI"])
    xsds = sorted(p.name for p in tmp_path.glob("*.xsd"))
    assert len(xsds) == 12 and state.requests["xsd"] == 12  # 4 operations x (request, response, fault)
    wsdl = etree.parse(str(tmp_path / "CI_JOURNAL_ENTRY_CI.1.wsdl"))
    locations = wsdl.xpath("//*[local-name()='import']/@schemaLocation")
    assert len(locations) == 12 and not any("://" in loc for loc in locations)
    target = make_target(url, wsdl_dir=str(tmp_path))
    assert target.create_posting(journal(), None).startswith("US001/")
    assert len(state.journals) == 1


def test_download_wsdls_refuses_unknown_service(sandbox, tmp_path: Path):
    _, url = sandbox(auth="basic")
    settings = PeopleSoftSettings(base_url=url, auth="basic")
    with pytest.raises(Exception, match="CI_NOPE_CI"):
        download_wsdls(settings, USER, tmp_path / "out", ["NOPE_CI"])
    assert not (tmp_path / "out").exists()


# -- the sandbox itself refuses what PeopleSoft refuses ---------------------------------------------


def _raw_create(url: str, extra: str = "", prolog: str = "") -> requests.Response:
    document = load_wsdl(
        Path(__file__).resolve().parents[2]
        / "layers/mlconnector/mlconnector/targets/peoplesoft/wsdl/CI_CUSTOMER_CI.1.wsdl"
    )
    binding = next(iter(next(iter(document.services.values())).ports.values())).binding
    namespace = binding._operations["CI_CUSTOMER_CI_C"].input.body.qname.namespace
    body = (
        f'{prolog}<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
        f'<Create__CompIntfc__CUSTOMER_CI xmlns="{namespace}"><KEYPROP_SETID>SHARE</KEYPROP_SETID>'
        f"<KEYPROP_CUST_ID>RAW1</KEYPROP_CUST_ID>{extra}</Create__CompIntfc__CUSTOMER_CI></soapenv:Body></soapenv:Envelope>"
    )
    return requests.post(
        f"{url}/PSIGW/PeopleSoftServiceListeningConnector/PSFT_EP",
        data=body.encode(),
        headers={"SOAPAction": "CI_CUSTOMER_CI_C.V1", "Content-Type": "text/xml"},
        auth=("MLC_USER", "sandbox-password"),
        timeout=5,
    )


def test_sandbox_rejects_unknown_fields_with_cifault(sandbox):
    state, url = sandbox(auth="basic")
    response = _raw_create(url, extra="<PROP_SHOE_SIZE>44</PROP_SHOE_SIZE>")
    assert response.status_code == 500
    root = etree.fromstring(response.content)
    assert root.xpath("//*[local-name()='CIFault']")
    assert "PROP_SHOE_SIZE" in root.xpath("string(//*[local-name()='DefaultMessage'])")
    assert state.customers == {}
    assert _raw_create(url).status_code == 200
    assert set(state.customers) == {"RAW1"}


def test_sandbox_refuses_request_with_dtd(sandbox):
    state, url = sandbox(auth="basic")
    response = _raw_create(url, prolog='<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]>')
    assert response.status_code == 500
    assert b"DTD" in response.content
    assert state.customers == {}


def test_sandbox_unknown_node_is_a_gateway_fault(sandbox):
    _, url = sandbox(auth="wss", node="PSFT_EP")
    target = PeopleSoftTarget(PeopleSoftSettings(base_url=url, auth="wss", node="PSFT_XX", retry_attempts=1), USER)
    with pytest.raises(TransientError, match="unknown node PSFT_XX"):
        target.find_posting(journal())


# -- AR pending items and vouchers (posting_style ar_invoice / voucher) ----------------------------------------

STYLE_RULES = {
    "base_currency": "USD",
    "default_chartfields": {"DEPTID": "100"},
    "default_revenue": {"account": "400000", "chartfields": {"PRODUCT": "WEB"}},
    "default_tax": {"account": "220000"},
    "default_payment": {"account": "101000"},
    "discounts": {"account": "410000"},
    "shipping": {"account": "420000"},
    "fees": {"account": "430000"},
    "receivable": {"account": "120000"},
    "refunds": {"account": "450000"},
    "rounding": {"account": "999999"},
}
T0 = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)


def style_engine(style: str) -> AccountingEngine:
    return AccountingEngine("woo-psft", MappingRules.model_validate({**STYLE_RULES, "posting_style": style}), "W")


def web_order(number: str = "5001", *, customer_id: str = "42", refunds=()) -> Order:
    # 2 hoodies: 100.00 before a 10.00 coupon, 9.00 tax, 10.00 shipping; paid 109.00 by card.
    return Order(
        source_id=number,
        number=number,
        status="processing",
        paid=True,
        currency="USD",
        created_at=T0,
        updated_at=T0,
        paid_at=T0,
        customer=customer(customer_id),
        lines=(
            OrderLine(
                line_id="1",
                sku="HOOD",
                name="Hoodie",
                quantity=Decimal(2),
                subtotal=Decimal("100.00"),
                total=Decimal("90.00"),
                tax=Decimal("9.00"),
                tax_code="US-TX",
            ),
        ),
        shipping_lines=(ShippingLine(method="flat_rate", total=Decimal("10.00")),),
        payments=(
            Payment(payment_id="p1", method="stripe", amount=Decimal("109.00"), currency="USD", transaction_id="ch_1"),
        ),
        refunds=tuple(refunds),
        total=Decimal("109.00"),
        total_tax=Decimal("9.00"),
    )


def partial_refund(order_number: str = "5001") -> Refund:
    return Refund(
        source_id="77", order_id=order_number, amount=Decimal("50.00"), currency="USD", reason="damaged", created_at=T0
    )


def _post_ar_like_pipeline(target: PeopleSoftTarget, posting: Posting, cust_id: str | None, attempts: int = 5) -> str:
    for _ in range(attempts):
        try:
            return target.find_posting(posting) or target.create_posting(posting, cust_id)
        except TransientError:
            continue
    raise AssertionError("never posted")


def _dst_total(item: dict) -> Decimal:
    return sum((d["PROP_FOREIGN_AMOUNT"] for d in item["COLL_PENDING_DST"]), Decimal(0))


def test_ar_invoice_receipt_and_credit_memo_as_pending_items(sandbox):
    state, url = sandbox(auth="wss")
    target = make_target(url)
    cust_id = target.upsert_customer(customer("42"))
    engine = style_engine("ar_invoice")
    refund = partial_refund()
    order = web_order(refunds=[refund])
    invoice, receipt = engine.order_postings(order)
    credit_memo = engine.refund_posting(order, refund)
    assert (invoice.kind, receipt.kind, credit_memo.kind) == (
        PostingKind.AR_INVOICE,
        PostingKind.RECEIPT,
        PostingKind.CREDIT_MEMO,
    )

    ids = [_post_ar_like_pipeline(target, p, cust_id) for p in (invoice, receipt, credit_memo)]
    items = state.ar_items
    assert len(items) == 3 and len(set(ids)) == 3
    inv, pay, cm = items
    item = item_id_for(invoice.reference)
    assert item == "W5001"
    # Invoice: IN item for the receivable, revenue/discount/tax/shipping as distributions offsetting it.
    assert (inv["PROP_ENTRY_TYPE"], inv["KEYPROP_ITEM"], inv["KEYPROP_CUST_ID"]) == ("IN", item, cust_id)
    assert inv["PROP_ENTRY_AMT"] == Decimal("109.000")
    assert _dst_total(inv) == Decimal("-109.000")
    by_account = {d["PROP_ACCOUNT"]: d["PROP_FOREIGN_AMOUNT"] for d in inv["COLL_PENDING_DST"]}
    assert by_account == {
        "400000": Decimal("-100.000"),
        "410000": Decimal("10.000"),
        "220000": Decimal("-9.000"),
        "420000": Decimal("-10.000"),
    }
    assert inv["PROP_DESCR"].startswith(f"ref:{invoice.reference} | ")
    assert inv["PROP_BAL_AMT"] == 0  # paid in full by the receipt
    # Receipt: PY against the invoice's item, the clearing line as its distribution.
    assert (pay["PROP_ENTRY_TYPE"], pay["KEYPROP_ITEM"], pay["PROP_ENTRY_AMT"]) == ("PY", item, Decimal("-109.000"))
    assert [(d["PROP_ACCOUNT"], d["PROP_FOREIGN_AMOUNT"]) for d in pay["COLL_PENDING_DST"]] == [
        ("101000", Decimal("109.000"))
    ]
    assert pay["KEYPROP_GROUP_ID"] != inv["KEYPROP_GROUP_ID"]
    # Credit memo: CR item of its own, naming the original invoice item.
    assert (cm["PROP_ENTRY_TYPE"], cm["PROP_ENTRY_AMT"], cm["PROP_DOCUMENT"]) == ("CR", Decimal("-50.000"), item)
    assert cm["KEYPROP_ITEM"] == item_id_for(credit_memo.reference)
    assert _dst_total(cm) == Decimal("50.000")
    assert cm["PROP_DESCR"].startswith(f"ref:{credit_memo.reference} | ")

    # Each is found again by ITEM, and posting again changes nothing.
    assert [target.find_posting(p) for p in (invoice, receipt, credit_memo)] == ids
    assert [target.create_posting(p, cust_id) for p in (invoice, receipt, credit_memo)] == ids
    assert len(state.ar_items) == 3


@pytest.mark.parametrize("mode", ["sleep", "504"])
def test_ar_items_and_voucher_posted_once_after_timeout_after_commit(sandbox, mode):
    state, url = sandbox(
        auth="wss",
        timeout_after_commit=True,
        timeout_after_commit_first_attempt_only=True,
        timeout_after_commit_mode=mode,
        timeout_after_commit_seconds=1.0,
    )
    target = make_target(url, timeout_seconds=0.4, voucher_vendor_id="STRIPE")
    cust_id = target.upsert_customer(customer("43"))
    invoice, receipt = style_engine("ar_invoice").order_postings(web_order("5002", customer_id="43"))
    ids = [_post_ar_like_pipeline(target, p, cust_id) for p in (invoice, receipt)]
    (voucher,) = style_engine("voucher").order_postings(web_order("5003"))
    voucher_id = _post_ar_like_pipeline(target, voucher, None)
    assert len(set(ids)) == 2
    assert len(state.ar_items) == 2 and len(state.vouchers) == 1
    assert state.requests["timeout_after_commit"] == 4  # the customer, two items and the voucher
    assert [target.find_posting(p) for p in (invoice, receipt, voucher)] == [*ids, voucher_id]


def test_ar_item_without_customer_is_review_before_any_call(sandbox):
    state, url = sandbox(auth="wss")
    target = make_target(url)
    invoice, _ = style_engine("ar_invoice").order_postings(web_order())
    assert target.find_posting(invoice) is None
    with pytest.raises(ReviewError, match="CUST_ID"):
        target.create_posting(invoice, None)
    assert state.requests["CI_AR_PENDING_ITEM_CI_C"] == 0


def test_receipt_before_its_invoice_is_refused_by_peoplesoft(sandbox):
    state, url = sandbox(auth="wss")
    target = make_target(url)
    cust_id = target.upsert_customer(customer("42"))
    _, receipt = style_engine("ar_invoice").order_postings(web_order())
    with pytest.raises(CIFaultError, match="does not exist"):
        target.create_posting(receipt, cust_id)
    assert state.ar_items == []


def test_voucher_created_once_and_found_by_invoice_id(sandbox):
    state, url = sandbox(auth="basic", vendor_ids={"STRIPE"})
    target = make_target(url, "basic", voucher_vendor_id="STRIPE")
    (voucher,) = style_engine("voucher").order_postings(web_order("5004"))
    assert voucher.kind is PostingKind.VOUCHER
    assert target.find_posting(voucher) is None
    erp_id = target.create_posting(voucher, None)
    (stored,) = state.vouchers
    assert erp_id == f"US001/{stored['KEYPROP_VOUCHER_ID']}" and len(stored["KEYPROP_VOUCHER_ID"]) == 8
    assert stored["PROP_INVOICE_ID"] == voucher.reference == "W5004"
    assert (stored["PROP_VENDOR_ID"], stored["PROP_VOUCHER_STYLE"]) == ("STRIPE", "ADJ")
    assert stored["PROP_GROSS_AMT"] == -voucher.source_total == Decimal("-109.000")
    (line,) = stored["COLL_VCHR_LINE_STG"]
    dists = line["COLL_VCHR_DIST_STG"]
    assert sum((d["PROP_MERCHANDISE_AMT"] for d in dists), Decimal(0)) == stored["PROP_GROSS_AMT"]
    assert "101000" not in {d["PROP_ACCOUNT"] for d in dists}  # the clearing line is the AP side
    assert stored["PROP_DESCR"].startswith("ref:W5004 | ")
    assert target.find_posting(voucher) == erp_id
    raced = target.create_posting(voucher, None)
    assert raced == erp_id and isinstance(raced, FoundInErp)  # duplicate key -> the committed voucher
    assert len(state.vouchers) == 1


def test_voucher_without_vendor_configured_is_review(sandbox):
    state, url = sandbox(auth="wss")
    target = make_target(url)
    (voucher,) = style_engine("voucher").order_postings(web_order())
    with pytest.raises(ReviewError, match="voucher_vendor_id"):
        target.find_posting(voucher)
    with pytest.raises(ReviewError, match="voucher_vendor_id"):
        target.create_posting(voucher, None)
    assert state.requests["CI_VCHR_EXPRESS_F"] == state.requests["CI_VCHR_EXPRESS_C"] == 0


def test_voucher_for_unknown_vendor_and_bad_chartfields_are_peoplesoft_faults(sandbox):
    state, url = sandbox(auth="wss", vendor_ids={"ADYEN"}, account_deptids={"400000": {"200"}})
    target = make_target(url, voucher_vendor_id="STRIPE")
    (voucher,) = style_engine("voucher").order_postings(web_order())
    with pytest.raises(ReviewError, match="VENDOR_ID"):
        target.create_posting(voucher, None)
    target = make_target(url, voucher_vendor_id="ADYEN")
    with pytest.raises(ReviewError, match="Invalid ChartField combination: ACCOUNT=400000, DEPTID=100"):
        target.create_posting(voucher, None)
    cust_id = target.upsert_customer(customer("42"))
    invoice, _ = style_engine("ar_invoice").order_postings(web_order())
    with pytest.raises(ReviewError, match="Invalid ChartField combination"):
        target.create_posting(invoice, cust_id)
    assert state.vouchers == [] and state.ar_items == []


def test_voucher_id_collision_is_review(sandbox):
    state, url = sandbox(auth="wss")
    target = make_target(url, voucher_vendor_id="STRIPE")
    (voucher,) = style_engine("voucher").order_postings(web_order("5005"))
    # Another document already owns this posting's VOUCHER_ID (a hash collision): never overwritten or adopted.
    squatter = voucher_fields(voucher, target.settings) | {"INVOICE_ID": "OTHER-1", "DESCR": "ref:OTHER-1"}
    target.client.service("VCHR_EXPRESS").call("C", **squatter)
    assert target.find_posting(voucher) is None
    with pytest.raises(ReviewError, match="VOUCHER_ID collision"):
        target.create_posting(voucher, None)
    assert len(state.vouchers) == 1
