"""Suite-wide hooks: the counts that proof tests record are printed at the end of every run; hypothesis
judges properties, not this machine's speed; the longest files start first."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings

# CI and these machines are shared 2-core VMs that run 2-3x apart: a slow draw or example under load is not a
# failed property. Each test's own @settings still sets its example counts.
settings.register_profile("shared-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("shared-machine")


#: Files that take minutes, started first so that the other worker runs the rest beside them (``make test`` runs
#: xdist with --dist loadfile --no-loadscope-reorder, which hands files out in this order): the last file to start
#: then ends with everything else instead of minutes after it.
LONGEST_FIRST = (
    "tests/e2e/test_soak.py",
    "tests/integration/test_hostile_input.py",
    "tests/integration/test_sam_build.py",
    "tests/e2e/test_woo_psft.py",
)


def pytest_collection_modifyitems(items: list[Any]) -> None:
    def rank(item: Any) -> int:
        path = item.nodeid.split("::", 1)[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: every other file keeps its place


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
