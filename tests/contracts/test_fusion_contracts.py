"""The Fusion mapping against Oracle's documented resources (tests/contracts/fusion), and the simulator against
Oracle's own examples: it accepts what Oracle publishes and refuses what Oracle does not document.

Orders are canonical (WooCommerce-shaped: line items with tax, a shipping line with tax, one card payment, a
partial refund with its tax); each posts balanced in both tax modes, or goes to review for a reason a finance user
would accept (an account with several bill-to sites and no site chosen).
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
import requests

from mlconnector.accounting.engine import AccountingEngine
from mlconnector.accounting.rules import MappingRules
from mlconnector.targets.fusion.mapping import (
    BillTo,
    credit_memo_payload,
    invoice_payload,
    organization_payload,
    receipt_payload,
)
from mlconnector.targets.fusion.settings import FusionSettings
from sandbox.contracts import contract_json
from sandbox.fusion import FusionState, create_app
from tests.integration.test_fusion_target import CUSTOMER, order
from tests.support.sandboxes import started_sandboxes

RULES = MappingRules.model_validate(
    {
        "posting_style": "ar_invoice",
        "base_currency": "USD",
        "default_chartfields": {"COMPANY": "101", "COST_CENTER": "000"},
        "default_revenue": {"account": "40100", "chartfields": {"COST_CENTER": "100"}},
        "default_tax": {"account": "22100"},
        "default_payment": {"account": "11100"},
        "shipping": {"account": "42000"},
        "fees": {"account": "43000"},
        "receivable": {"account": "12100"},
        "rounding": {"account": "49900"},
    }
)
ENGINE = AccountingEngine("woo-fusion", RULES, "W")
ENTERED = {"tax_regime_code": "US SALES TAX", "tax_rate_codes": {"22100": "US STANDARD"}}
CALCULATED = {"tax_mode": "calculated", "tax_classification_code": "US STANDARD"}
USER = ("MLC.INTEGRATION", "sandbox-fusion-password")
V4 = {"REST-Framework-Version": "4", "Content-Type": "application/vnd.oracle.adf.resourceitem+json"}


def settings(**overrides: Any) -> FusionSettings:
    return FusionSettings.model_validate(
        {
            "base_url": "https://abcd.fa.ocs.oraclecloud.com",
            "token_url": "https://idcs-1234.identity.oraclecloud.com/oauth2/v1/token",
            "business_unit": "US1 Business Unit",
            "transaction_source": "WEB STORE",
            "receipt_method": "WEB CARD",
            "remittance_bank_account_number": "10271-000123",
            "segment_defaults": {"COMPANY": "101", "COST_CENTER": "000"},
            "customer_account_set_id": 202,
            **overrides,
        }
    )


def documented(resource: str, body: dict[str, Any]) -> list[str]:
    """Every attribute of ``body`` (at any depth) that Oracle does not document for ``resource``, or whose
    type does not match, and every required one missing."""
    contract = contract_json("fusion", f"{resource}.json")
    problems: list[str] = []

    def walk(item: dict[str, Any], attributes: dict[str, Any], where: str) -> None:
        for name, value in item.items():
            spec = attributes.get(name)
            if spec is None:
                problems.append(f"{where}.{name} is not documented")
            elif spec["type"] == "array":
                for child in value:
                    walk(child, contract["children"][spec["child"]], f"{where}.{name}")
            elif spec["type"] in ("number", "integer") and not isinstance(value, int | D):
                problems.append(f"{where}.{name} is not a number")
            elif spec["type"] in ("string", "date") and not isinstance(value, str):
                problems.append(f"{where}.{name} is not a string")
        problems.extend(
            f"{where}.{n} is required" for n, s in attributes.items() if s.get("required") and n not in item
        )

    walk(body, contract["attributes"], resource)
    return problems


def refund_for(o):
    from mlconnector.models import Refund, RefundLine

    refund = Refund(
        source_id="9",
        order_id=o.source_id,
        amount=D("27.50"),
        currency="USD",
        created_at=o.created_at,
        lines=(RefundLine(line_id="1", quantity=D(1), amount=D("20.00"), tax=D("2.00")),),
        shipping=D("5.00"),
        shipping_tax=D("0.50"),
    )
    return o.model_copy(update={"refunds": (refund,)}), refund


@pytest.mark.parametrize("tax", [ENTERED, CALCULATED], ids=["entered", "calculated"])
def test_every_payload_uses_only_oracles_documented_attributes(tax):
    s = settings(**tax)
    invoice, receipt = ENGINE.order_postings(order())
    o, refund = refund_for(order())
    memo = ENGINE.refund_posting(o, refund)
    bill_to = BillTo("1008", "1042")
    assert documented("receivablesInvoices", invoice_payload(invoice, s, bill_to)) == []
    assert documented("receivablesCreditMemos", credit_memo_payload(memo, s, bill_to)) == []
    assert documented("standardReceipts", receipt_payload(receipt, s, bill_to)) == []
    assert documented("hubOrganizations", organization_payload(s, CUSTOMER)) == []


def test_entered_tax_is_the_stores_to_the_cent_and_freight_is_line_freight():
    invoice, _ = ENGINE.order_postings(order())
    body = invoice_payload(invoice, settings(**ENTERED), BillTo("1008"))
    lines = body["receivablesInvoiceLines"]
    tax = sum(t["TaxAmount"] for line in lines for t in line.get("receivablesInvoiceLineTaxLines", []))
    assert tax == order().total_tax == D("8.05")
    assert sum(line.get("AllocatedFreightAmount", D(0)) for line in lines) == D("5.00")
    freight = [d for d in body["receivablesInvoiceDistributions"] if d["AccountClass"] == "Freight"]
    assert [(d["InvoiceLineNumber"], d["Amount"]) for d in freight] == [(1, D("5.00"))]
    taxes = [d for d in body["receivablesInvoiceDistributions"] if d["AccountClass"] == "Tax"]
    assert all(d["DetailedTaxLineNumber"] >= 1 for d in taxes) and sum(d["Amount"] for d in taxes) == D("8.05")


# -- the simulator accepts Oracle's examples ---------------------------------------------------------


@pytest.fixture
def pod():
    with started_sandboxes(FusionState, create_app) as start:
        state, url = start()
        state.tax_rate_codes |= {("EXAMPLE_REGIME", "VAT20"), ("EXAMPLE_REGIME", "VAT10")}
        state.tax_classifications["VAT20"] = D("0.20")
        for number in ("1006", "1008"):
            state.add_customer(f"Customer {number}", number)
        second = state.add_bill_to_site("1006")
        yield state, url, second


def post(url: str, resource: str, body: dict[str, Any], api: str = "fscmRestApi") -> requests.Response:
    return requests.post(f"{url}/{api}/resources/11.13.18.05/{resource}", json=body, auth=USER, headers=V4, timeout=5)


@pytest.mark.parametrize(
    ("example", "resource"),
    [
        ("invoice-manual-tax-lines.json", "receivablesInvoices"),
        ("invoice-tax-freight-distributions.json", "receivablesInvoices"),
        ("credit-memo-lines.json", "receivablesCreditMemos"),
        ("credit-memo-foreign-currency.json", "receivablesCreditMemos"),
        ("credit-memo-tax-distributions.json", "receivablesCreditMemos"),
        ("standard-receipt-remittance.json", "standardReceipts"),
    ],
)
def test_the_simulator_accepts_oracles_examples(pod, example, resource):
    _state, url, second_site = pod
    body = dict(contract_json("fusion", f"examples/{example}"))
    if body.get("BillToSite"):
        body["BillToSite"] = second_site  # the example's site number, as this pod numbered it
    if resource == "standardReceipts":
        assert (
            post(
                url,
                "receivablesInvoices",
                contract_json("fusion", "examples/invoice-tax-freight-distributions.json")
                | {"BillToSite": second_site},
            ).status_code
            == 201
        )
    response = post(url, resource, body)
    assert response.status_code == 201, response.text
    created = response.json()
    if resource == "receivablesInvoices":
        lines = body["receivablesInvoiceLines"]
        expected = sum(
            D(str(ln["Quantity"])) * D(str(ln["UnitSellingPrice"]))
            + D(str(ln.get("AllocatedFreightAmount", 0)))
            + sum(D(str(t["TaxAmount"])) for t in ln.get("receivablesInvoiceLineTaxLines", []))
            for ln in lines
        )
        assert D(str(created["EnteredAmount"])) == expected
    if resource == "standardReceipts":
        assert D(str(created["UnappliedAmount"])) == 0  # applied to the invoice by its remittance reference


def test_the_site_activities_finder_answers_oracles_item_shape(pod):
    _, url, second_site = pod
    response = requests.get(
        f"{url}/fscmRestApi/resources/11.13.18.05/receivablesCustomerAccountSiteActivities",
        params={"finder": "CustomerAccountSiteActivitiesFinder;AccountNumber=1006"},
        auth=USER,
        headers=V4,
        timeout=5,
    )
    items = response.json()["items"]
    documented_item = set(contract_json("fusion", "examples/customer-account-site-activities.json")["items"][0])
    assert len(items) == 2 and all(set(item) == documented_item for item in items)
    assert second_site in {item["BillToSiteNumber"] for item in items}
    unfiltered = requests.get(
        f"{url}/fscmRestApi/resources/11.13.18.05/receivablesCustomerAccountSiteActivities",
        auth=USER,
        headers=V4,
        timeout=5,
    )
    assert unfiltered.status_code == 400  # the finder needs at least one attribute


# -- and refuses what Oracle does not document -------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "api", "field", "value"),
    [
        ("receivablesCreditMemos", "fscmRestApi", "CreditMemoCurrencyCode", "USD"),
        ("receivablesCreditMemos", "fscmRestApi", "Comments", "credits invoice W1"),
        ("receivablesInvoices", "fscmRestApi", "AccountingDate", "2026-03-02"),
        ("hubOrganizations", "crmRestApi", "AccountNumber", "WEB-42"),
    ],
)
def test_the_simulator_refuses_undocumented_attributes(pod, resource, api, field, value):
    _, url, _ = pod
    examples = {
        "receivablesCreditMemos": "examples/credit-memo-lines.json",
        "receivablesInvoices": "examples/invoice-manual-tax-lines.json",
    }
    body = dict(contract_json("fusion", examples[resource])) if resource in examples else {"OrganizationName": "Acme"}
    body[field] = value
    response = post(url, resource, body, api)
    assert response.status_code == 400
    assert f"The attribute {field} isn't valid" in response.json()["o:errorDetails"][0]["detail"]


def test_the_simulator_refuses_wrong_types_and_missing_required(pod):
    _, url, _ = pod
    body = dict(contract_json("fusion", "examples/credit-memo-lines.json"))
    del body["CreditMemoCurrency"]
    assert post(url, "receivablesCreditMemos", body).status_code == 400
    lines = [
        dict(line, LineNumber="one")
        for line in contract_json("fusion", "examples/credit-memo-lines.json")["receivablesCreditMemoLines"]
    ]
    body = dict(contract_json("fusion", "examples/credit-memo-lines.json"), receivablesCreditMemoLines=lines)
    assert post(url, "receivablesCreditMemos", body).status_code == 400
    tax = dict(contract_json("fusion", "examples/invoice-manual-tax-lines.json"))
    tax["receivablesInvoiceLines"] = [
        dict(line, receivablesInvoiceLineTaxLines=[{"TaxAmount": 1, "TaxRegimeCode": "EXAMPLE_REGIME"}])
        for line in tax["receivablesInvoiceLines"]
    ]
    assert post(url, "receivablesInvoices", tax).status_code == 400  # TaxRateCode is required
