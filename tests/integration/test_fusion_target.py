"""FusionTarget against the Fusion sandbox over real HTTP: OAuth2, receivables documents, customers, faults."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
import requests

from mlconnector.accounting.engine import AccountingEngine
from mlconnector.accounting.rules import MappingRules
from mlconnector.documents import Posting, PostingKind
from mlconnector.errors import AuthError, ReviewError, TransientError
from mlconnector.models import (
    Address,
    Customer,
    Order,
    OrderLine,
    Payment,
    Refund,
    RefundLine,
    ShippingLine,
    TaxLine,
)
from mlconnector.targets.base import FoundInErp
from mlconnector.targets.fusion.settings import FusionSettings
from mlconnector.targets.fusion.target import FusionTarget
from sandbox.fusion import FusionState, create_app
from tests.support.sandboxes import started_sandboxes

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CLIENT = {"client_id": "mlc-fusion-client", "client_secret": "sandbox-fusion-client-secret"}
USER = {"username": "MLC.INTEGRATION", "password": "sandbox-fusion-password"}

RULES = MappingRules.model_validate(
    {
        "posting_style": "ar_invoice",
        "base_currency": "USD",
        "default_chartfields": {"COMPANY": "101", "COST_CENTER": "000"},
        "revenue_rules": [{"sku": "TEE-*", "account": "40100", "chartfields": {"COST_CENTER": "100"}}],
        "default_revenue": {"account": "40200", "chartfields": {"COST_CENTER": "100"}},
        "default_tax": {"account": "22100"},
        "default_payment": {"account": "11100"},
        "shipping": {"account": "42000"},
        "fees": {"account": "43000"},
        "receivable": {"account": "12100"},
        "rounding": {"account": "49900"},
    }
)
ENGINE = AccountingEngine("woo-fusion", RULES, "W")

CUSTOMER = Customer(
    source_id="42",
    email="ada@example.com",
    first_name="Ada",
    last_name="Lovelace",
    billing=Address(line1="1 Analytical Way", city="London", postcode="N1 1AA", country="gb"),
)


@pytest.fixture
def fusion():
    with started_sandboxes(FusionState, create_app) as start:
        yield start


def make_target(url: str, auth: str = "oauth2", creds: dict[str, str] | None = None, **overrides) -> FusionTarget:
    settings = FusionSettings(
        base_url=url,
        auth=auth,
        token_url=f"{url}/oauth2/v1/token" if auth == "oauth2" else None,
        business_unit="US1 Business Unit",
        transaction_source="WEB STORE",
        receipt_method="WEB CARD",
        remittance_bank_account_number="10271-000123",
        customer_account_set_id=overrides.pop("customer_account_set_id", 202),
        tax_regime_code=overrides.pop("tax_regime_code", "US SALES TAX"),
        default_tax_rate_code=overrides.pop("default_tax_rate_code", "US STANDARD"),
        timeout_seconds=overrides.pop("timeout_seconds", 5),
        retry_initial_delay=0.01,
        retry_max_delay=0.05,
        **overrides,
    )
    return FusionTarget(settings, creds if creds is not None else dict(CLIENT if auth == "oauth2" else USER))


def order(number: str = "1001", *, sku: str = "TEE-RED") -> Order:
    """Three tees (60.00 + 6.00 tax), a mug (15.50 + 1.55 tax), shipping 5.00 + 0.50 tax: 88.55 paid by card."""
    return Order(
        source_id=number,
        number=number,
        status="processing",
        paid=True,
        currency="USD",
        created_at=T0,
        updated_at=T0,
        paid_at=T0,
        customer=CUSTOMER,
        lines=(
            OrderLine(
                line_id="1", sku=sku, name="Tee", quantity=D(3), subtotal=D("60.00"), total=D("60.00"), tax=D("6.00")
            ),
            OrderLine(line_id="2", sku="MUG", name="Mug", subtotal=D("15.50"), total=D("15.50"), tax=D("1.55")),
        ),
        tax_lines=(TaxLine(code="US-CA", label="CA tax", amount=D("7.55"), shipping_amount=D("0.50")),),
        shipping_lines=(ShippingLine(method="Flat rate", total=D("5.00"), tax=D("0.50")),),
        payments=(Payment(payment_id="ch_1", method="stripe", amount=D("88.55"), currency="USD", captured_at=T0),),
        total=D("88.55"),
        total_tax=D("8.05"),
    )


def postings(o: Order) -> tuple[Posting, Posting]:
    invoice, receipt = ENGINE.order_postings(o)
    assert invoice.kind is PostingKind.AR_INVOICE and receipt.kind is PostingKind.RECEIPT
    return invoice, receipt


def post(target: FusionTarget, posting: Posting, customer_id: str | None) -> str:
    """What the pipeline does: look up first, create only when absent."""
    return target.find_posting(posting) or target.create_posting(posting, customer_id)


# -- the core path ---------------------------------------------------------------------------------


def test_order_invoice_receipt_and_partial_refund(fusion):
    state, url = fusion()
    target = make_target(url)
    o = order()
    invoice, receipt = postings(o)

    customer_id = target.upsert_customer(CUSTOMER)
    invoice_id = post(target, invoice, customer_id)
    [stored] = state.invoices
    assert str(stored["CustomerTransactionId"]) == invoice_id
    assert stored["TransactionNumber"] == "W1001"
    assert stored["BillToCustomerNumber"] == customer_id
    assert stored["EnteredAmount"] == D("88.55")
    assert stored["InvoiceBalanceAmount"] == D("88.55")
    dists: dict[tuple[str, str], D] = {}
    for d in stored["receivablesInvoiceDistributions"]:
        key = (d["AccountClass"], d["AccountCombination"])
        dists[key] = dists.get(key, D(0)) + d["Amount"]
    assert dists[("Receivable", "101-12100-000")] == D("88.55")
    assert dists[("Tax", "101-22100-000")] == D("8.05")
    assert dists[("Freight", "101-42000-000")] == D("5.00")
    assert target.find_posting(invoice) == invoice_id

    receipt_id = post(target, receipt, customer_id)
    [stored_receipt] = state.receipts
    assert str(stored_receipt["StandardReceiptId"]) == receipt_id
    assert stored_receipt["ReceiptNumber"] == "W1001-Pch_1"
    assert stored_receipt["UnappliedAmount"] == D("0")
    assert state.invoice("W1001")["InvoiceBalanceAmount"] == D("0")
    assert target.find_posting(receipt) == receipt_id

    refund = Refund(
        source_id="9",
        order_id="1001",
        amount=D("22.00"),
        currency="USD",
        created_at=T0,
        lines=(RefundLine(line_id="1", quantity=D(1), amount=D("20.00"), tax=D("2.00")),),
    )
    o = o.model_copy(update={"refunds": (refund,)})
    memo = ENGINE.refund_posting(o, refund)
    assert memo.kind is PostingKind.CREDIT_MEMO
    memo_id = post(target, memo, customer_id)
    [stored_memo] = state.credit_memos
    assert str(stored_memo["CustomerTransactionId"]) == memo_id
    assert stored_memo["TransactionNumber"] == "W1001-R9"
    assert stored_memo["EnteredAmount"] == D("-22.00")
    assert "W1001" in stored_memo["CreditMemoComments"]
    assert state.invoice("W1001")["InvoiceBalanceAmount"] == D("0")  # the memo is on account: nothing applied it
    [line] = stored_memo["receivablesCreditMemoLines"]
    assert (line["LineQuantityCredit"], line["UnitSellingPrice"]) == (D(1), D("-20.00"))
    assert target.find_posting(memo) == memo_id
    # Nothing was posted twice.
    assert (len(state.invoices), len(state.receipts), len(state.credit_memos)) == (1, 1, 1)


def test_basic_auth(fusion):
    state, url = fusion()
    target = make_target(url, auth="basic")
    customer_id = target.upsert_customer(CUSTOMER)
    invoice, _ = postings(order())
    post(target, invoice, customer_id)
    assert len(state.invoices) == 1
    assert state.requests["token"] == 0


def test_unsupported_kinds_go_to_review(fusion):
    _, url = fusion()
    target = make_target(url)
    invoice, _ = postings(order())
    journal = invoice.model_copy(update={"kind": PostingKind.JOURNAL})
    assert target.find_posting(journal) is None
    with pytest.raises(ReviewError, match="not supported by the Fusion target; use posting_style ar_invoice"):
        target.create_posting(journal, "X")


# -- exactly once ----------------------------------------------------------------------------------


def test_token_expiry_mid_run_refreshes_once_and_posts_once(fusion):
    state, url = fusion()
    target = make_target(url)
    customer_id = target.upsert_customer(CUSTOMER)
    first, _ = postings(order("1001"))
    post(target, first, customer_id)
    assert state.requests["token"] == 1

    state.expire_tokens()
    second, _ = postings(order("1002"))
    post(target, second, customer_id)
    assert state.requests["token"] == 2
    assert state.requests["unauthorised"] == 1
    assert sorted(i["TransactionNumber"] for i in state.invoices) == ["W1001", "W1002"]


def test_tokens_are_cached_until_shortly_before_expiry(fusion):
    state, url = fusion(token_lifetime_seconds=3600)
    target = make_target(url)
    customer_id = target.upsert_customer(CUSTOMER)
    for n in ("1", "2", "3"):
        post(target, postings(order(n))[0], customer_id)
    assert state.requests["token"] == 1


def test_retried_create_after_the_first_lookup_finds_one_invoice(fusion):
    state, url = fusion()
    target = make_target(url)
    customer_id = target.upsert_customer(CUSTOMER)
    invoice, _ = postings(order())
    assert target.find_posting(invoice) is None
    first = target.create_posting(invoice, customer_id)
    # A redelivered message whose lookup raced the first create: create is called again.
    again = target.create_posting(invoice, customer_id)
    assert again == first and isinstance(again, FoundInErp) and not isinstance(first, FoundInErp)
    assert len(state.invoices) == 1
    assert state.requests["refused receivablesInvoices"] == 1  # Fusion refused the duplicate number


@pytest.mark.parametrize("mode", ["504", "sleep"])
def test_timeout_after_commit_does_not_double_post(fusion, mode):
    state, url = fusion(
        timeout_after_commit_first_attempt=True, timeout_after_commit_mode=mode, timeout_after_commit_seconds=1.5
    )
    target = make_target(url, timeout_seconds=0.5)
    customer_id = target.upsert_customer(CUSTOMER)  # its own first attempt also "timed out"
    assert len(state.customers) == 1
    invoice, receipt = postings(order())
    invoice_id = post(target, invoice, customer_id)
    receipt_id = post(target, receipt, customer_id)
    assert [str(i["CustomerTransactionId"]) for i in state.invoices] == [invoice_id]
    assert [str(r["StandardReceiptId"]) for r in state.receipts] == [receipt_id]
    assert state.requests["timeout_after_commit"] == 3


def test_throttling_and_unavailability_are_retried(fusion):
    state, url = fusion()
    target = make_target(url)
    customer_id = target.upsert_customer(CUSTOMER)
    invoice, _ = postings(order())
    state.force_429_next(2)
    assert target.find_posting(invoice) is None
    state.force_503_next(1)
    state.force_429_next(1)
    post(target, invoice, customer_id)
    assert state.requests["forced_429"] == 3 and state.requests["forced_503"] == 1
    assert len(state.invoices) == 1


def test_persistent_unavailability_is_transient(fusion):
    state, url = fusion()
    target = make_target(url, retry_attempts=2)
    invoice, _ = postings(order())
    state.force_503_next(10)
    with pytest.raises(TransientError) as caught:
        target.find_posting(invoice)
    assert not isinstance(caught.value, AuthError)


# -- customers -------------------------------------------------------------------------------------


def test_customer_created_once_then_matched_by_external_id(fusion):
    state, url = fusion()
    target = make_target(url)
    created = target.upsert_customer(CUSTOMER)
    [row] = state.customers
    [account] = state.accounts
    assert created == account["AccountNumber"] and account["PartyId"] == row["PartyId"]
    assert row["OrganizationName"] == "Ada Lovelace"
    assert (row["SourceSystem"], row["SourceSystemReferenceValue"]) == ("WEBSTORE", "42")
    assert row["Address"][0]["Country"] == "GB"
    # Later runs: by the stored id, and without it by the store id.
    assert target.upsert_customer(CUSTOMER, known_erp_id=created) == created
    assert make_target(url).upsert_customer(CUSTOMER) == created
    assert len(state.customers) == 1


def test_customer_matched_by_exact_name_then_by_email(fusion):
    state, url = fusion()
    state.add_customer("Ada Lovelace", "AR-1001", email="ada@elsewhere.example")
    state.add_customer("Charles Babbage", "AR-1002", email="charles@example.com")
    target = make_target(url)
    assert target.upsert_customer(CUSTOMER) == "AR-1001"
    babbage = Customer(source_id="43", email="charles@example.com", first_name="Chuck", last_name="B")
    assert target.upsert_customer(babbage) == "AR-1002"
    assert len(state.customers) == 2


def test_stale_known_id_falls_back_to_matching(fusion):
    state, url = fusion()
    target = make_target(url)
    created = target.upsert_customer(CUSTOMER, known_erp_id="GONE-1")
    assert created == state.accounts[0]["AccountNumber"] and len(state.customers) == 1


def test_ambiguous_email_goes_to_review(fusion):
    state, url = fusion()
    state.add_customer("A. L. Trading", "AR-1", email="ada@example.com")
    state.add_customer("Lovelace Consulting", "AR-2", email="ada@example.com")
    target = make_target(url)
    with pytest.raises(ReviewError, match=r"2 Fusion customer accounts match the customer.s email"):
        target.upsert_customer(CUSTOMER)
    assert len(state.customers) == 2


def test_guest_customer_is_created_once(fusion):
    state, url = fusion()
    guest = Customer(
        source_id="guest:o'hara@example.com", email="o'hara@example.com", billing=Address(line1="1 Quay", country="IE")
    )
    first = make_target(url).upsert_customer(guest)
    again = make_target(url).upsert_customer(guest)
    assert first == again == state.accounts[0]["AccountNumber"]
    assert len(state.customers) == len(state.accounts) == 1


# -- accounts --------------------------------------------------------------------------------------


def test_unknown_account_combination_is_refused_before_anything_posts(fusion):
    state, url = fusion()
    target = make_target(url)
    customer_id = target.upsert_customer(CUSTOMER)
    invoice, _ = postings(order(sku="HAT-1"))  # default revenue 40200 with cost center 100 exists ...
    post(target, invoice, customer_id)
    state.valid_combinations.discard("101-40200-100")  # ... until Fusion disables it
    state.disabled_combinations.add("101-40200-100")
    target = make_target(url)
    bad, _ = postings(order("1002", sku="HAT-1"))
    before = dict(state.requests)
    with pytest.raises(ReviewError, match=r"account combination 101-40200-100 does not exist in Fusion"):
        target.create_posting(bad, customer_id)
    assert len(state.invoices) == 1
    assert state.requests["POST receivablesInvoices"] == before["POST receivablesInvoices"]


def test_without_local_validation_fusion_itself_refuses(fusion):
    state, url = fusion()
    state.valid_combinations.discard("101-42000-000")
    target = make_target(url, validate_accounts=False)
    customer_id = target.upsert_customer(CUSTOMER)
    invoice, _ = postings(order())
    with pytest.raises(ReviewError, match="The account combination 101-42000-000 isn't valid"):
        target.create_posting(invoice, customer_id)
    assert state.invoices == []


def test_valid_combinations_are_paged_and_cached(fusion):
    state, url = fusion()
    extra = {f"101-5{n:04d}-000" for n in range(1200)}
    state.valid_combinations |= extra
    state.disabled_combinations.add("101-99999-000")
    target = make_target(url, page_size=500)
    combos = target.valid_account_combinations()
    assert extra <= combos and "101-12100-000" in combos and "101-99999-000" not in combos
    lov_reads = state.requests["GET accountCombinationsLOV"]
    assert lov_reads == 3  # 1211 enabled rows at 500 a page
    target.valid_account_combinations()
    assert state.requests["GET accountCombinationsLOV"] == lov_reads


def test_check_rules_names_missing_combinations(fusion):
    _, url = fusion()
    target = make_target(url)
    assert target.check_rules(["101-12100-000", "101-77777-000", "101-12100-000"]) == ["101-77777-000"]
    rules = RULES.model_copy(update={"fees": RULES.fees.model_copy(update={"account": "43999"})})
    assert target.check_mapping_rules(rules) == {"fees": "101-43999-000"}


# -- authentication --------------------------------------------------------------------------------


def test_wrong_client_secret_is_an_auth_error_without_the_secret(fusion, caplog):
    _, url = fusion()
    secret = "wrong-secret-value-123"
    caplog.set_level("DEBUG")
    target = make_target(url, creds={"client_id": CLIENT["client_id"], "client_secret": secret})
    with pytest.raises(AuthError) as caught:
        target.upsert_customer(CUSTOMER)
    assert "Fusion" in str(caught.value) and "invalid_client" in str(caught.value)
    assert secret not in caplog.text
    assert secret not in str(caught.value) and secret not in repr(caught.value)
    assert secret not in repr(target.client)


def test_wrong_basic_password_is_an_auth_error(fusion):
    _, url = fusion()
    target = make_target(url, auth="basic", creds={"username": USER["username"], "password": "nope-nope"})
    with pytest.raises(AuthError, match="Fusion pod") as caught:
        target.find_posting(postings(order())[0])
    assert "nope-nope" not in str(caught.value)


def test_token_refused_after_refresh_is_an_auth_error(fusion):
    state, url = fusion()
    target = make_target(url)
    target.upsert_customer(CUSTOMER)
    state.client_secret = "rotated-in-fusion"
    state.expire_tokens()
    with pytest.raises(AuthError, match="refused the client credentials"):
        target.find_posting(postings(order())[0])


def test_missing_credentials_fail_at_construction(fusion):
    _, url = fusion()
    with pytest.raises(AuthError, match="lack"):
        make_target(url, creds={"client_id": "x"})


def test_framework_version_is_sent_and_echoed(fusion):
    _, url = fusion()
    target = make_target(url)
    response = target.client.request("GET", f"{target.settings.fscm_url}/receivablesInvoices", params={"limit": 1})
    assert response.status_code == 200
    assert response.headers["REST-Framework-Version"] == "4"
    assert response.request.headers["REST-Framework-Version"] == "4"
    body = response.json()
    assert {"items", "count", "hasMore", "limit", "offset"} <= set(body)


def test_retry_after_is_honoured(fusion):
    state, url = fusion(retry_after_seconds=1.25)
    waits: list[float] = []
    target = make_target(url)
    target.client.sleep = waits.append
    state.force_429_next(1)
    assert target.find_posting(postings(order())[0]) is None
    assert waits == [1.25]


def test_concurrent_posters_create_one_invoice(fusion):
    state, url = fusion(latency_seconds=0.05)
    customer_id = make_target(url).upsert_customer(CUSTOMER)
    invoice, _ = postings(order())
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(post(make_target(url), invoice, customer_id))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert len(state.invoices) == 1
    assert set(results) == {str(state.invoices[0]["CustomerTransactionId"])}


def test_foreign_currency_invoice(fusion):
    state, url = fusion()
    target = make_target(url)
    customer_id = target.upsert_customer(CUSTOMER)
    o = order().model_copy(update={"currency": "EUR", "exchange_rate": D("1.0825")})
    o = o.model_copy(update={"payments": (o.payments[0].model_copy(update={"currency": "EUR"}),)})
    invoice, receipt = postings(o)
    post(target, invoice, customer_id)
    post(target, receipt, customer_id)
    stored = state.invoice("W1001")
    assert (stored["InvoiceCurrencyCode"], stored["ConversionRateType"], stored["ConversionRate"]) == (
        "EUR",
        "User",
        D("1.0825"),
    )
    assert stored["InvoiceBalanceAmount"] == D("0")


# -- the sandbox itself speaks Fusion's protocol -------------------------------------------------------


def test_sandbox_protocol_rules(fusion):
    state, url = fusion()
    auth = (USER["username"], USER["password"])
    invoices = f"{url}/fscmRestApi/resources/11.13.18.05/receivablesInvoices"
    missing = requests.get(invoices, auth=auth, timeout=5)
    assert missing.status_code == 400 and "REST-Framework-Version" in missing.text
    v4 = {"REST-Framework-Version": "4"}
    bad_q = requests.get(invoices, auth=auth, headers=v4, params={"q": "Secret='x'"}, timeout=5)
    assert bad_q.status_code == 400
    assert bad_q.headers["Content-Type"].startswith("application/vnd.oracle.adf.error+json")
    assert "isn't queryable" in bad_q.json()["o:errorDetails"][0]["detail"]
    v1 = {"REST-Framework-Version": "1"}
    plain = requests.get(invoices, auth=auth, headers=v1, params={"q": "Secret=x"}, timeout=5)
    assert plain.status_code == 400 and plain.headers["Content-Type"].startswith("text/plain")
    assert requests.get(invoices, auth=("MLC.INTEGRATION", "bad"), headers=v4, timeout=5).status_code == 401
    wrong_version = requests.get(
        f"{url}/fscmRestApi/resources/11.1.1/receivablesInvoices", auth=auth, headers=v4, timeout=5
    )
    assert wrong_version.status_code == 404
    for n in range(30):
        state.add_customer(f"Customer {n:02d}", f"AR-{n:02d}")
    orgs = f"{url}/crmRestApi/resources/11.13.18.05/hubOrganizations"
    page = requests.get(orgs, auth=auth, headers=v4, params={"offset": 25, "totalResults": "true"}, timeout=5).json()
    assert (page["count"], page["hasMore"], page["limit"], page["offset"], page["totalResults"]) == (
        5,
        False,
        25,
        25,
        30,
    )
    first = requests.get(orgs, auth=auth, headers=v4, timeout=5).json()
    assert first["hasMore"] is True and "totalResults" not in first
    one = requests.get(orgs, auth=auth, headers=v1, params={"q": "OrganizationName=Customer 07"}, timeout=5)
    assert one.status_code == 400  # unquoted value with a space
    one = requests.get(orgs, auth=auth, headers=v1, params={"q": "OrganizationName='Customer 07'"}, timeout=5)
    assert [item["OrganizationName"] for item in one.json()["items"]] == ["Customer 07"]
    assert "AccountNumber" not in one.json()["items"][0]  # a party, not a customer account
