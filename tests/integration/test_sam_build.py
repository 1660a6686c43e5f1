"""`sam build` succeeds without Docker and packages the layer with its WSDLs and pinned dependencies."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _python312_dir() -> str | None:
    found = shutil.which("python3.12")
    if found:
        return str(Path(found).parent)
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = sorted(pyenv.glob("3.12*/bin/python3.12"))
    return str(candidates[-1].parent) if candidates else None


@pytest.mark.slow
def test_sam_build_without_docker(tmp_path):
    python_dir = _python312_dir()
    assert python_dir, "python3.12 is needed on PATH for sam build (the Makefile's PYTHON)"
    env = {
        **os.environ,
        "PATH": f"{python_dir}:{os.environ['PATH']}",
        "SAM_CLI_TELEMETRY": "0",
        "DOCKER_HOST": "unix:///nonexistent.sock",  # prove no container is needed
    }
    build = tmp_path / "build"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "sam"), "build", "--template", str(ROOT / "template.yaml"),
         "--build-dir", str(build), "--cache-dir", str(tmp_path / "cache")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    layer = build / "ConnectorLayer" / "python"
    assert (layer / "mlconnector" / "targets" / "peoplesoft" / "wsdl" / "CI_JOURNAL_ENTRY_CI.1.wsdl").is_file()
    assert (layer / "zeep").is_dir() and (layer / "aws_lambda_powertools").is_dir()
    for function in ("WebhookReceiverFunction", "PollerFunction", "PosterFunction", "WebhookKeeperFunction"):
        assert (build / function / "app.py").is_file()
