"""What a function loads before it does its work: the receiver, poller and keeper never call an ERP
or map money, so validating the profile must not load an ERP client (zeep, lxml) or the accounting
engine; the receiver, whose cold start a store waits on, does not even load pydantic, PyYAML,
requests or the canonical models. Each check runs in a fresh interpreter, as a Lambda container would."""

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


_RECEIVER_CHILD = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import app
from mlconnector import registry
from mlconnector.published_profile import webhook_connections
for path in sys.argv[3:]:
    for connection in webhook_connections(open(path).read(), source=path).values():
        registry.store_webhooks_class(connection.store_type)
print(json.dumps(sorted(sys.modules)))
"""


def published_examples(directory: Path) -> list[str]:
    """The example profiles as ``mlc profile push`` publishes them (what a deployed function reads)."""
    from mlconnector.profile import load_profile, publish

    paths = []
    for example in EXAMPLES:
        path = directory / (Path(example).stem + ".json")
        path.write_text(publish(load_profile(str(ROOT / example))), encoding="utf-8")
        paths.append(str(path))
    return paths


def modules_loaded(child: str, function: str, profiles: list[str]) -> set[str]:
    """Every module a fresh interpreter holds after running ``child`` with the function's code and profiles."""
    code = [str(ROOT / "layers" / "mlconnector"), str(ROOT / "functions" / function)]
    result = subprocess.run(
        [sys.executable, "-c", child, *code, *profiles],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_the_receiver_loads_no_pydantic_yaml_http_client_or_models_on_import_or_first_request(tmp_path):
    loaded = modules_loaded(_RECEIVER_CHILD, "webhook_receiver", published_examples(tmp_path))
    stores = {f"mlconnector.sources.{store}.webhooks" for store in ("woocommerce", "bigcommerce", "shopify")}
    assert stores <= loaded  # the examples' stores' webhook modules were loaded, and nothing heavier:
    heavy = ["pydantic", "yaml", "requests", "oauthlib", "mlconnector.models", "mlconnector.profile", *HEAVY]
    assert [name for name in heavy if name in loaded] == []


@pytest.mark.parametrize("function", ["poller", "webhook_keeper"])
def test_functions_that_never_call_an_erp_do_not_load_one(function):
    loaded = modules_loaded(_CHILD, function, EXAMPLES)
    assert len(EXAMPLES) == 5
    assert [name for name in HEAVY if name in loaded] == []
