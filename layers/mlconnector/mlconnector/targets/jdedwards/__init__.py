"""JD Edwards EnterpriseOne target: AIS orchestrations for GL batches and Address Book, data service lookups."""

from mlconnector.targets.jdedwards.client import AisClient, JdeError, JdeMessage
from mlconnector.targets.jdedwards.mapping import (
    customer_key,
    customer_payload,
    erp_id,
    gl_batch_payload,
    jde_account,
)
from mlconnector.targets.jdedwards.settings import JdeSettings
from mlconnector.targets.jdedwards.target import JdeTarget

TARGET_TYPE = "jdedwards"

__all__ = [
    "TARGET_TYPE",
    "AisClient",
    "JdeError",
    "JdeMessage",
    "JdeSettings",
    "JdeTarget",
    "customer_key",
    "customer_payload",
    "erp_id",
    "gl_batch_payload",
    "jde_account",
]
