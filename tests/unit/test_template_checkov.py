"""template.yaml under checkov (CloudFormation framework, offline), as a security reviewer runs it: every check
passes or is suppressed next to its resource with the reason (``Metadata: checkov: skip: [{id, comment}]``).

checkov runs from its own venv, ``.venv/checkov`` (``make venv-test``; requirements-checkov.lock), because its
pins conflict with requirements.lock's. One run scans template.yaml and a copy broken on purpose, so the same
reading of checkov's report is shown to catch a missing fix and a suppression without a reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
CHECKOV = Path(sys.executable).parent.parent / "checkov" / "bin" / "checkov"
NO_REASON = "No comment provided"  # what checkov reports for a skip without a comment


@dataclass(frozen=True)
class Scan:
    passed: list[dict[str, Any]]
    failed: list[dict[str, Any]]
    skipped: list[dict[str, Any]]

    def problems(self) -> list[str]:
        """Failed checks, and suppressions without a reason a reviewer could read."""
        found = [f"{c['check_id']} {c['resource']}: {c['check_name']} ({c['file_path']})" for c in self.failed]
        for check in self.skipped:
            reason = check["check_result"].get("suppress_comment", "")
            if reason == NO_REASON or len(reason.split()) < 5:
                found.append(f"{check['check_id']} {check['resource']}: suppressed without a reason")
        return found

    def counts(self) -> str:
        return f"passed {len(self.passed)}, failed {len(self.failed)}, skipped {len(self.skipped)}"


def _broken_copy(directory: Path) -> Path:
    """template.yaml without the API's access logs nor the receiver's reserved concurrency, and with the receiver's
    DLQ check suppressed without its reason."""
    text = TEMPLATE.read_text(encoding="utf-8")
    start = text.index("      AccessLogSettings:\n")
    end = text.index("\n\n", start) + 1
    text = text[:start] + text[end:]
    concurrency = "      ReservedConcurrentExecutions: !Ref WebhookReceiverConcurrency\n"
    assert concurrency in text
    text = text.replace(concurrency, "")
    receiver = text.index("  WebhookReceiverFunction:\n")
    reason_start = text.index("          - id: CKV_AWS_116\n", receiver) + len("          - id: CKV_AWS_116\n")
    reason_end = text.index("          - id: ", reason_start)
    text = text[:reason_start] + text[reason_end:]
    path = directory / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Scan]:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: `make venv-test` creates checkov's venv (requirements-checkov.lock)")
    broken = _broken_copy(tmp_path_factory.mktemp("checkov"))
    files = ["-f", str(TEMPLATE), "-f", str(broken)]
    result = subprocess.run(  # --skip-download: nothing is fetched from checkov's platform
        [str(CHECKOV), *files, "--framework", "cloudformation", "--skip-download", "--compact", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode in (0, 1), result.stderr[-4000:]  # 1: some check failed (the broken copy's)
    report = json.loads(result.stdout)
    (results,) = [r["results"] for r in (report if isinstance(report, list) else [report])]
    assert not results["parsing_errors"], results["parsing_errors"]
    by_file: dict[str, Scan] = {}
    for name, path in (("template", TEMPLATE), ("broken", broken)):
        of_file = {
            kind: [c for c in results[f"{kind}_checks"] if Path(c["file_abs_path"]).resolve() == path.resolve()]
            for kind in ("passed", "failed", "skipped")
        }
        by_file[name] = Scan(**of_file)
    return by_file


def test_every_check_passes_or_is_suppressed_with_its_reason(scans):
    scan = scans["template"]
    print(f"checkov (cloudformation) on template.yaml: {scan.counts()}")
    for check in scan.skipped:
        print(f"  skipped {check['check_id']} {check['resource']}: {check['check_result']['suppress_comment']}")
    assert not scan.problems(), f"{scan.counts()}\n" + "\n".join(scan.problems())
    assert scan.passed, "checkov ran no check on template.yaml"


def test_the_scan_catches_a_missing_fix_and_a_suppression_without_reason(scans):
    problems = "\n".join(scans["broken"].problems())
    assert "CKV_AWS_95 AWS::Serverless::HttpApi.ConnectorApi" in problems  # access logging
    assert "CKV_AWS_115 AWS::Serverless::Function.WebhookReceiverFunction" in problems  # concurrency bound
    assert "CKV_AWS_116 AWS::Serverless::Function.WebhookReceiverFunction: suppressed without a reason" in problems
