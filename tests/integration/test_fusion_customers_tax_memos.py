"""FusionTarget over real HTTP/SOAP against the Fusion sandbox: new customers get a party, then a customer account
with a bill-to site; an account with several bill-to sites is billed at the chosen one; tax is entered to the cent
or calculated by Fusion (a difference is reported); a credit memo is reported as on account."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from mlconnector.documents import PostingKind
from mlconnector.errors import ReviewError
from mlconnector.models import Address, Customer, Refund, RefundLine
from mlconnector.targets.base import PostedWithRemark
from sandbox.fusion import FusionState, create_app
from tests.integration.test_fusion_target import CUSTOMER, ENGINE, T0, make_target, order, post, postings
from tests.support.sandboxes import started_sandboxes


@pytest.fixture
def fusion():
    with started_sandboxes(FusionState, create_app) as start:
        yield start


def test_a_new_customer_is_a_party_then_an_account_with_a_bill_to_site(fusion):
    state, url = fusion()
    target = make_target(url)
    match = target.upsert_customer(CUSTOMER)
    [party] = state.customers
    [account] = state.accounts
    assert "AccountNumber" not in party  # hubOrganizations made the party only
    assert account["PartyId"] == party["PartyId"] and match == account["AccountNumber"]
    [site] = account["sites"]
    assert site["PartySiteId"] == party["Address"][0]["AddressId"]
    assert state.requests["POST hubOrganizations"] == 1 and state.requests["POST CustomerAccountService"] == 1
    invoice, receipt = postings(order())
    post(target, invoice, match)
    post(target, receipt, match)
    stored = state.invoice("W1001")
    assert (stored["BillToCustomerNumber"], stored["BillToSite"]) == (
        account["AccountNumber"],
        site["BillToSiteNumber"],
    )
    assert stored["InvoiceBalanceAmount"] == 0
    # The match is found again, by the stored match and by the store id, with nothing created twice.
    assert make_target(url).upsert_customer(CUSTOMER, known_erp_id=match) == match
    assert make_target(url).upsert_customer(CUSTOMER) == match
    assert (len(state.customers), len(state.accounts)) == (1, 1)


def test_a_party_left_without_an_account_gets_one(fusion):
    state, url = fusion()
    party = state.add_party("Ada Lovelace", source_system="WEBSTORE", reference="42")
    match = make_target(url).upsert_customer(CUSTOMER)
    [account] = state.accounts
    assert account["PartyId"] == party["PartyId"] and match == account["AccountNumber"]
    assert len(state.customers) == 1


def test_an_account_with_several_bill_to_sites_is_billed_at_the_stored_one(fusion):
    state, url = fusion()
    state.add_customer("Ada Lovelace", "AR-1001", email="ada@example.com")
    second = state.add_bill_to_site("AR-1001")
    target = make_target(url)
    with pytest.raises(ReviewError, match=r"AR-1001 has 2 bill-to sites .*link the store customer to one of them"):
        target.upsert_customer(CUSTOMER)
    match = target.upsert_customer(CUSTOMER, known_erp_id=f"AR-1001|{second}")
    assert match == f"AR-1001|{second}"
    invoice, receipt = postings(order())
    post(target, invoice, match)
    post(target, receipt, match)
    assert state.invoice("W1001")["BillToSite"] == second
    assert state.receipts[0]["CustomerSite"] == second
    assert len(state.accounts) == 1  # nothing created


def test_guests_can_go_to_the_web_customers_account(fusion):
    state, url = fusion()
    state.add_customer("Web Customers", "WEB-GUESTS")
    target = make_target(url, customer_accounts="guests_to_web_account", web_customers_account_number="WEB-GUESTS")
    guest = Customer(source_id="guest:grace@example.com", email="grace@example.com")
    assert target.upsert_customer(guest) == "WEB-GUESTS"
    assert len(state.customers) == 1  # no party for the guest
    assert target.upsert_customer(CUSTOMER) != "WEB-GUESTS"  # registered customers still get their own account
    assert len(state.accounts) == 2


def test_a_customer_without_an_address_goes_to_review(fusion):
    state, url = fusion()
    with pytest.raises(ReviewError, match="no address country"):
        make_target(url).upsert_customer(Customer(source_id="7", email="x@example.com", first_name="X"))
    assert state.customers == []


def test_fusion_refuses_an_unknown_reference_data_set(fusion):
    state, url = fusion()
    with pytest.raises(ReviewError, match="reference data set 999 isn't valid"):
        make_target(url, customer_account_set_id=999).upsert_customer(CUSTOMER)
    assert state.accounts == [] and len(state.customers) == 1


# -- tax -------------------------------------------------------------------------------------------


def test_entered_tax_lands_to_the_cent(fusion):
    state, url = fusion()
    target = make_target(url)
    match = target.upsert_customer(CUSTOMER)
    invoice, _ = postings(order())
    post(target, invoice, match)
    stored = state.invoice("W1001")
    assert stored["TaxAmount"] == order().total_tax == D("8.05")
    assert stored["EnteredAmount"] == order().total
    shares = [t for line in stored["receivablesInvoiceLines"] for t in line.get("receivablesInvoiceLineTaxLines", [])]
    assert sum(D(str(t["TaxAmount"])) for t in shares) == D("8.05")


def test_calculated_tax_that_differs_from_the_stores_is_reported(fusion):
    state, url = fusion()  # Fusion taxes the goods at 10% but not the freight; the store taxed shipping 0.50
    target = make_target(url, tax_mode="calculated", tax_classification_code="US STANDARD")
    match = target.upsert_customer(CUSTOMER)
    invoice, _ = postings(order())
    erp_id = target.create_posting(invoice, match)
    assert isinstance(erp_id, PostedWithRemark)
    assert "invoice total of 88.05 USD, the store charged 88.55 (difference -0.50)" in erp_id.remark
    assert state.invoice("W1001")["EnteredAmount"] == D("88.05")
    difference, note = target.reconcile_check(PostingKind.AR_INVOICE, "W1001", erp_id, D("88.55"))
    assert difference.startswith("amount differs: Fusion calculated tax") and note == ""


def test_calculated_tax_that_matches_posts_without_remark(fusion):
    state, url = fusion()
    target = make_target(url, tax_mode="calculated", tax_classification_code="US STANDARD")
    match = target.upsert_customer(CUSTOMER)
    o = order().model_copy(update={"shipping_lines": (), "total": D("83.05")})
    o = o.model_copy(update={"tax_lines": (o.tax_lines[0].model_copy(update={"shipping_amount": D(0)}),)})
    o = o.model_copy(update={"payments": (o.payments[0].model_copy(update={"amount": D("83.05")}),)})
    invoice, _ = postings(o)
    erp_id = target.create_posting(invoice, match)
    assert not isinstance(erp_id, PostedWithRemark)
    assert state.invoice("W1001")["EnteredAmount"] == D("83.05")
    assert target.reconcile_check(PostingKind.AR_INVOICE, "W1001", erp_id, D("83.05")) == ("", "")


# -- credit memos ----------------------------------------------------------------------------------


def test_a_credit_memo_is_posted_on_account_and_says_so(fusion):
    state, url = fusion()
    target = make_target(url)
    match = target.upsert_customer(CUSTOMER)
    o = order()
    invoice, _ = postings(o)
    post(target, invoice, match)
    refund = Refund(
        source_id="9",
        order_id="1001",
        amount=D("22.00"),
        currency="USD",
        created_at=T0,
        lines=(RefundLine(line_id="1", quantity=D(1), amount=D("20.00"), tax=D("2.00")),),
    )
    memo = ENGINE.refund_posting(o.model_copy(update={"refunds": (refund,)}), refund)
    erp_id = target.create_posting(memo, match)
    assert isinstance(erp_id, PostedWithRemark) and erp_id.remark.startswith("on account:")
    assert "apply it to invoice W1001" in erp_id.remark
    [stored] = state.credit_memos
    assert (stored["CreditMemoCurrency"], stored["TransactionBalanceDue"]) == ("USD", D("-22.00"))
    assert state.invoice("W1001")["InvoiceBalanceAmount"] == D("88.55")  # the memo did not reduce the invoice
    difference, note = target.reconcile_check(PostingKind.CREDIT_MEMO, "W1001-R9", erp_id, D("22.00"))
    assert difference == "" and note.startswith("on account:") and "W1001" in note


def test_a_name_the_finder_cannot_take_is_created_once_then_found_by_the_stored_match(fusion):
    state, url = fusion()
    customer = Customer(
        source_id="77", company="Acme, Inc.", email="ap@acme.example", billing=Address(line1="1 Rue", country="fr")
    )
    first = make_target(url).upsert_customer(customer)
    assert make_target(url).upsert_customer(customer, known_erp_id=first) == first
    with pytest.raises(ReviewError, match="cannot be looked up by its name"):  # never a second account
        make_target(url).upsert_customer(customer)
    assert len(state.accounts) == 1
