"""Where the simulators find the vendors' published material (``tests/contracts/``, see its README).

A simulator checks what it receives and sends against that material, so that it refuses what the
real system refuses; it never imports the adapter code it simulates for.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

CONTRACTS = Path(__file__).resolve().parents[1] / "tests" / "contracts"


def contract_path(vendor: str, name: str) -> Path:
    path = CONTRACTS / vendor / name
    if not path.is_file():
        raise FileNotFoundError(f"no contract material {vendor}/{name} under {CONTRACTS}")
    return path


@cache
def contract_json(vendor: str, name: str) -> Any:
    """A JSON contract file, parsed once per process (callers must not mutate it)."""
    return json.loads(contract_path(vendor, name).read_text(encoding="utf-8"))
