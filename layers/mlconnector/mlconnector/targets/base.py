"""The interface every ERP adapter implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

from mlconnector.documents import Posting
from mlconnector.models import Customer


class ErpTarget(ABC):
    """An ERP: keeps customers current and creates accounting documents exactly once."""

    @abstractmethod
    def upsert_customer(self, customer: Customer, known_erp_id: str | None = None) -> str:
        """Find the customer (by ``known_erp_id`` or natural key), create or update it; return the ERP id."""

    @abstractmethod
    def find_posting(self, posting: Posting) -> str | None:
        """The ERP document id if a document with this posting's reference already exists."""

    @abstractmethod
    def create_posting(self, posting: Posting, customer_erp_id: str | None) -> str:
        """Create the document; return its ERP id. Raises ReviewError for data the ERP refuses."""

    def close(self) -> None:
        """Release connections and sessions."""
