"""Cold start: import time of each handler module, each in a fresh interpreter, against ``import boto3``.

The child process looks like a Lambda container (``AWS_LAMBDA_FUNCTION_NAME``, ``AWS_EXECUTION_ENV``,
the template's environment variables) so Powertools' Tracer behaves as deployed (it patches boto3
and loads the X-Ray SDK). Interpreter start-up is not counted: only the import statement is timed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.bench.common import ROOT, median, say, write_result

REPEATS = int(os.environ.get("BENCH_COLD_REPEATS", "9"))
LAYER = ROOT / "layers" / "mlconnector"
HANDLERS = {
    "WebhookReceiverFunction": ROOT / "functions" / "webhook_receiver",
    "PosterFunction": ROOT / "functions" / "poster",
    "PollerFunction": ROOT / "functions" / "poller",
    "WebhookKeeperFunction": ROOT / "functions" / "webhook_keeper",
}

_CHILD = r"""
import importlib.util, sys, time
target = sys.argv[1]
if target == "boto3":
    t = time.perf_counter()
    import boto3  # noqa: F401
    elapsed = time.perf_counter() - t
else:
    sys.path[:0] = [sys.argv[2], target]
    spec = importlib.util.spec_from_file_location("app", target + "/app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    t = time.perf_counter()
    spec.loader.exec_module(module)
    elapsed = time.perf_counter() - t
    if len(sys.argv) > 3:  # then what the first request loads: the published profile and the store's webhooks
        from mlconnector import registry
        from mlconnector.published_profile import webhook_connections
        text = open(sys.argv[3]).read()
        t = time.perf_counter()
        for connection in webhook_connections(text).values():
            registry.store_webhooks_class(connection.store_type)
        elapsed = time.perf_counter() - t
        heavy = [m for m in ("pydantic", "yaml", "requests", "mlconnector.models") if m in sys.modules]
        assert not heavy, f"the receiver loaded {heavy}"
print(elapsed)
"""
FIRST_REQUEST_PROFILE = ROOT / "config" / "examples" / "woo-psft.yaml"


def published_profile() -> Path:
    """The example profile as ``mlc profile push`` publishes it (what a deployed receiver reads)."""
    from mlconnector.profile import load_profile, publish

    path = Path(tempfile.gettempdir()) / "ml-connector-bench-profile.json"
    path.write_text(publish(load_profile(str(FIRST_REQUEST_PROFILE))), encoding="utf-8")
    return path


def lambda_environment(function: str) -> dict[str, str]:
    """What a deployed container's environment holds (values are placeholders; nothing is called at import)."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": f"ml-connector-bench-{function}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "POWERTOOLS_SERVICE_NAME": "ml-connector",
        "POWERTOOLS_METRICS_NAMESPACE": "MlConnector",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "CONNECTOR_PROFILE": "ssm:/ml-connector/bench/profile",
        "INGEST_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/bench-ingest",
        "AUDIT_TABLE": "bench-audit",
        "STATE_TABLE": "bench-state",
        "IDEMPOTENCY_TABLE": "bench-idempotency",
        "MAX_RECEIVE_COUNT": "5",
        "RETRY_BASE_SECONDS": "30",
        "WEBHOOK_BASE_URL": "https://example.execute-api.eu-west-1.amazonaws.com/live/webhooks/",
    }


def measure(target: str, function: str = "baseline", *, first_request: bool = False) -> float:
    """Seconds spent in the import (or, with ``first_request``, in reading the published profile and
    loading the store's webhooks module after the import), in a new interpreter."""
    extra = [str(published_profile())] if first_request else []
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, target, str(LAYER), *extra],
        capture_output=True,
        text=True,
        env=lambda_environment(function),
        cwd="/tmp",
        timeout=120,
        check=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def heaviest_imports(directory: Path, top: int = 10) -> list[dict[str, Any]]:
    """``python -X importtime``: what the handler imports (two levels deep), by cumulative import time."""
    code = f"import sys; sys.path[:0] = [{str(LAYER)!r}, {str(directory)!r}]; import app"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        env=lambda_environment("importtime"),
        cwd="/tmp",
        timeout=120,
        check=True,
    )
    rows: dict[str, int] = {}
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( +)(\S+)$", line)
        if match and 1 <= (len(match.group(2)) - 1) // 2 <= 2:  # what app imports, and what those import
            name = match.group(3)
            rows[name] = max(rows.get(name, 0), int(match.group(1)))
    ordered = sorted(rows.items(), key=lambda kv: -kv[1])[:top]
    return [{"module": name, "cumulative_ms": round(us / 1000, 1)} for name, us in ordered]


def run() -> dict[str, Any]:
    say(f"== cold start: handler import time, fresh interpreter, median of {REPEATS}")
    samples: dict[str, list[float]] = {"boto3": []}
    for name in HANDLERS:
        samples[name] = []
    for _ in range(REPEATS):  # interleaved, so drift affects all equally
        samples["boto3"].append(measure("boto3"))
        for name, directory in HANDLERS.items():
            samples[name].append(measure(str(directory), name))
    baseline = median(samples["boto3"])
    figures: dict[str, Any] = {"repeats": REPEATS, "import_boto3_ms": round(baseline * 1000, 1), "handlers": {}}
    say(f"  import boto3                 {baseline * 1000:7.1f} ms  (baseline)")
    for name in HANDLERS:
        value = median(samples[name])
        figures["handlers"][name] = {
            "median_ms": round(value * 1000, 1),
            "min_ms": round(min(samples[name]) * 1000, 1),
            "max_ms": round(max(samples[name]) * 1000, 1),
            "ratio_to_boto3": round(value / baseline, 2),
        }
        say(f"  {name:<28} {value * 1000:7.1f} ms  ({value / baseline:.2f}x boto3)")
    receiver = str(HANDLERS["WebhookReceiverFunction"])
    first = median([measure(receiver, "WebhookReceiverFunction", first_request=True) for _ in range(REPEATS)])
    figures["receiver_first_request_loading_ms"] = round(first * 1000, 1)
    say(f"  receiver's first request reads the published profile and the store's webhooks in {first * 1000:.1f} ms")
    figures["receiver_heaviest_imports"] = heaviest_imports(HANDLERS["WebhookReceiverFunction"])
    say("  receiver's heaviest imports: " + json.dumps(figures["receiver_heaviest_imports"][:6]))
    write_result("cold_start", figures)
    return figures


if __name__ == "__main__":
    run()
