"""PeopleSoftTarget against the PeopleSoft sandbox over real HTTP and SOAP (zeep, shipped WSDLs)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from lxml import etree

from mlconnector.documents import LineClass, Posting, PostingKind, PostingLine
from mlconnector.errors import AuthError, ReviewError, TransientError
from mlconnector.models import Address, Customer
from mlconnector.targets.peoplesoft import (
    PeopleSoftSettings,
    PeopleSoftTarget,
    download_wsdls,
    journal_id_for,
    load_wsdl,
)
from sandbox.peoplesoft import PeopleSoftState, create_app
from sandbox.runner import serve

USER = {"username": "MLC_USER", "password": "sandbox-password"}
CLIENT = {"client_id": "mlc-client", "client_secret": "sandbox-client-secret"}


def credentials(auth: str) -> dict[str, str]:
    return dict(CLIENT if auth == "oauth2" else USER)


@pytest.fixture
def sandbox():
    servers = []

    def start(**knobs) -> tuple[PeopleSoftState, str]:
        state = PeopleSoftState(**knobs)
        server = serve(create_app(state))
        servers.append(server)
        return state, server.url

    yield start
    for server in servers:
        server.stop()


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
    assert (stored["PROP_PHONE"], stored["PROP_ADDRESS1"], stored["PROP_CITY"]) == (
        "+1 555 0199",
        "9 Elm St",
        "Shelbyville",
    )
    assert stored["PROP_STATE"] == ""  # cleared, not left stale
    assert len(state.customers) == 1

    posting = journal()
    assert target.find_posting(posting) is None
    erp_id = target.create_posting(posting, cust_id)
    journal_id = journal_id_for(posting.reference, "W")
    assert erp_id == f"US001/{journal_id}"
    assert target.find_posting(posting) == erp_id

    [stored_journal] = state.journals
    assert stored_journal["KEYPROP_JOURNAL_DATE"] == date(2024, 5, 1)
    assert stored_journal["PROP_DESCR"].startswith("ref:woo:order:1001 | order 1001")
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


def test_refund_journal_describes_the_reversed_document(sandbox):
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
    assert "reverses woo:order:5000" in descrs[1]
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


def test_unsupported_posting_styles_are_review(sandbox):
    _, url = sandbox(auth="wss")
    target = make_target(url)
    voucher = journal().model_copy(update={"kind": PostingKind.VOUCHER})
    with pytest.raises(ReviewError, match="not supported"):
        target.create_posting(voucher, None)


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
