"""PeopleSoft Financials target: Component Interface web services over the Integration Broker."""

from mlconnector.targets.peoplesoft.client import (
    PACKAGE_WSDL_DIR,
    CIFaultError,
    PeopleSoftClient,
    download_wsdls,
    load_wsdl,
)
from mlconnector.targets.peoplesoft.mapping import (
    customer_id_for,
    group_id_for,
    invoice_id_for,
    item_id_for,
    journal_id_for,
    voucher_id_for,
)
from mlconnector.targets.peoplesoft.settings import PeopleSoftSettings
from mlconnector.targets.peoplesoft.target import PeopleSoftTarget

TARGET_TYPE = "peoplesoft"

__all__ = [
    "PACKAGE_WSDL_DIR",
    "TARGET_TYPE",
    "CIFaultError",
    "PeopleSoftClient",
    "PeopleSoftSettings",
    "PeopleSoftTarget",
    "customer_id_for",
    "download_wsdls",
    "group_id_for",
    "invoice_id_for",
    "item_id_for",
    "journal_id_for",
    "load_wsdl",
    "voucher_id_for",
]
