"""What a function loads before it does its work: the receiver, poller and keeper never call an ERP
or map money, so validating the profile must not load an ERP client (zeep, lxml) or the accounting
engine. Each check runs in a fresh interpreter, as a Lambda container would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "config" / "examples").glob("*.yaml"))
HEAVY = ["zeep", "lxml", "mlconnector.accounting.engine", "mlconnector.documents"] + [
    f"mlconnector.targets.{erp}.{module}"
    for erp in ("peoplesoft", "jdedwards", "fusion")
    for module in ("client", "target", "mapping")
]

_CHILD = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import app
from mlconnector import registry
from mlconnector.profile import parse_profile
for path in sys.argv[3:]:
    profile = parse_profile(open(path).read(), source=path)
    for connection in profile.connections:
        registry.store_class(connection.store_type)
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.parametrize("function", ["webhook_receiver", "poller", "webhook_keeper"])
def test_functions_that_never_call_an_erp_do_not_load_one(function):
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            str(ROOT / "layers" / "mlconnector"),
            str(ROOT / "functions" / function),
            *EXAMPLES,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    assert len(EXAMPLES) == 5
    assert [name for name in HEAVY if name in loaded] == []
