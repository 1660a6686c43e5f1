"""``python -m tests.bench`` (``make bench``): every benchmark; figures printed and written to bench-results/.

``python -m tests.bench cold_start receiver`` runs only the named ones. No pass/fail: targets are
compared in docs/benchmarks.md.
"""

from __future__ import annotations

import importlib
import sys
import time
import warnings

from tests.bench.common import machine, say

ORDER = ["cold_start", "receiver", "poster", "poller", "cost", "shopify_poll", "shopify_bulk"]


def main(argv: list[str]) -> int:
    warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
    wanted = argv or ORDER
    unknown = [name for name in wanted if name not in ORDER]
    if unknown:
        say(f"unknown benchmark(s) {unknown}; choose from {ORDER}")
        return 2
    info = machine()
    say(f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB, Python {info['python']}, {info['os']}")
    for name in ORDER:
        if name in wanted:
            started = time.monotonic()
            importlib.import_module(f"tests.bench.{name}").run()
            say(f"  ({name}: {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
