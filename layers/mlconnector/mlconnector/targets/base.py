"""The interface every ERP adapter implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from mlconnector.http import RetryPolicy

if TYPE_CHECKING:  # the profile loads ErpSettings from here; only the ERP targets need these
    from mlconnector.documents import Posting
    from mlconnector.models import Customer


class ErpSettings(BaseModel):
    """What every ERP connection has: how long to wait and how to retry (the customer's hardware sets the pace)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    retry_attempts: int = Field(default=4, ge=1, le=10)
    retry_initial_delay: float = Field(default=0.2, ge=0)
    retry_max_delay: float = Field(default=8.0, ge=0)
    #: The largest answer the ERP may send (MiB, decompressed): a larger one is refused, read no further.
    max_response_mb: int = Field(default=10, ge=1, le=512)

    @property
    def retry_policy(self) -> RetryPolicy:
        """Each attempt gets ``timeout_seconds`` for its whole answer (after connecting), not for each wait in it."""
        connect_timeout = min(3.05, self.timeout_seconds)
        return RetryPolicy(
            attempts=self.retry_attempts,
            initial_delay=self.retry_initial_delay,
            max_delay=self.retry_max_delay,
            connect_timeout=connect_timeout,
            read_timeout=self.timeout_seconds,
            max_response_bytes=self.max_response_mb * 2**20,
            deadline_seconds=connect_timeout + self.timeout_seconds,
        )


def required_credentials(auth: str) -> tuple[str, str]:
    """The credential keys an auth scheme needs (oauth2: client id/secret, otherwise user/password)."""
    return ("client_id", "client_secret") if auth == "oauth2" else ("username", "password")


class FoundInErp(str):
    """The id ``create_posting`` returns when the ERP refused the create as a duplicate and the document
    was found: another worker (say, a newer version of the same order) created it first. The poster
    records it as already posted, so the audit trail shows one ``posted`` per document."""


class PostedWithRemark(str):
    """The id ``create_posting`` returns when the document landed in a state a finance user must know about
    (an on-account credit memo, an ERP-calculated tax that differs from the store's): the poster writes
    ``remark`` into the ``posted`` audit entry."""

    remark: str

    def __new__(cls, erp_id: str, remark: str = "") -> PostedWithRemark:
        value = super().__new__(cls, erp_id)
        value.remark = remark
        return value

    def __getnewargs__(self) -> tuple[str, str]:  # copies and pickles keep the remark
        return (str(self), self.remark)


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
        """Create the document; return its ERP id (a ``FoundInErp`` when the ERP already held it).
        Raises ReviewError for data the ERP refuses."""

    def close(self) -> None:
        """Release connections and sessions."""
