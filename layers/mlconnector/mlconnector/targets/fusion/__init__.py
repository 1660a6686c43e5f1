"""Oracle Fusion Cloud ERP target: Receivables invoices, standard receipts and credit memos over REST."""

from mlconnector.targets.fusion.client import FusionClient
from mlconnector.targets.fusion.mapping import (
    account_combination,
    account_number_for,
    credit_memo_payload,
    customer_payload,
    invoice_payload,
    receipt_payload,
    rule_combinations,
)
from mlconnector.targets.fusion.settings import FusionSettings
from mlconnector.targets.fusion.target import FusionTarget

TARGET_TYPE = "fusion"

__all__ = [
    "TARGET_TYPE",
    "FusionClient",
    "FusionSettings",
    "FusionTarget",
    "account_combination",
    "account_number_for",
    "credit_memo_payload",
    "customer_payload",
    "invoice_payload",
    "receipt_payload",
    "rule_combinations",
]
