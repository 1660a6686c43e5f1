"""The accounting engine and its mapping rules."""

from mlconnector.accounting.engine import AccountingEngine
from mlconnector.accounting.rules import MappingRules

__all__ = ["AccountingEngine", "MappingRules"]
