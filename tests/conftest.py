"""Suite-wide hooks: the counts that proof tests record are printed at the end of every run."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print every ``record_property("counts", ...)`` of the run (works across xdist workers)."""
    lines = [
        f"{report.nodeid}: {value}"
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        if getattr(report, "when", "") == "call"
        for name, value in getattr(report, "user_properties", [])
        if name == "counts"
    ]
    if lines:
        terminalreporter.section("counts from the proof tests")
        for line in lines:
            terminalreporter.write_line(line)
