"""Reading a store's address block: every store has the same six parts under its own field names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlconnector.models import Address


@dataclass(frozen=True)
class AddressFields:
    """The store's field names for each part; where several are given, the first non-empty one wins."""

    line1: tuple[str, ...]
    line2: tuple[str, ...]
    city: tuple[str, ...]
    state: tuple[str, ...]
    postcode: tuple[str, ...]
    country: tuple[str, ...]

    def read(self, block: Mapping[str, Any] | None) -> Address:
        block = block or {}

        def first(names: tuple[str, ...]) -> str:
            return next((str(block[name]) for name in names if block.get(name)), "")

        return Address(
            line1=first(self.line1),
            line2=first(self.line2),
            city=first(self.city),
            state=first(self.state),
            postcode=first(self.postcode),
            country=first(self.country),
        )
