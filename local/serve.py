"""`make serve`: keep the local stack up, print the webhook URLs, run the schedules at their rate.

With the default profile every connection talks to its sandbox simulators. For a trial run
against a customer's real store and ERP ("ping your real systems"), pass their profile and a
JSON file of the secrets it names (``{"<secret name>": {...}}``), and the public URL of a tunnel
to the local API if the store must deliver webhooks to it:

    python -m local.serve --profile config/acme.yaml --secrets ~/acme-secrets.json --public-url https://….example
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from pathlib import Path

from rich.console import Console

from local.run import quiet_local_warnings
from local.stack import DEFAULT_PROFILE, LocalStack
from mlconnector.ops.stack import write_outputs_file

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", type=Path, default=DEFAULT_PROFILE)
    parser.add_argument("--connections", nargs="*")
    parser.add_argument("--secrets", type=Path, help="JSON file of secrets for real systems (no sandboxes)")
    parser.add_argument("--public-url", help="public URL that reaches the local API (for real stores' webhooks)")
    parser.add_argument("--port", type=int, default=3000, help="local API port (default 3000)")
    parser.add_argument("--log", type=Path, default=ROOT / "reports" / "local-serve.log")
    parser.add_argument("--outputs", type=Path, default=ROOT / "reports" / "local-outputs.json")
    args = parser.parse_args(argv)
    console = Console(file=sys.stdout, width=max(132, Console().width))  # before stdout goes to the log
    quiet_local_warnings()
    args.log.parent.mkdir(parents=True, exist_ok=True)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    with args.log.open("w", encoding="utf-8") as log, contextlib.redirect_stdout(log):
        logging.basicConfig(stream=log, level=logging.INFO, force=True)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        stack = LocalStack(
            profile_path=args.profile,
            connections=args.connections,
            run_schedules=True,
            api_port=args.port,
            secrets_file=args.secrets,
            public_url=args.public_url,
        )
        with stack:
            runtime = stack.runtime
            assert runtime
            write_outputs_file(runtime.outputs, args.outputs, runtime.endpoint)  # where `mlc --endpoint-url` looks
            base = args.public_url.rstrip("/") + "/webhooks" if args.public_url else f"{runtime.api_url}/webhooks"
            console.print(f"[bold]ml-connector local stack[/bold] (embedded AWS at {runtime.endpoint})")
            for c in stack.selected_connections():
                console.print(f"  {c.name:12} {c.store_type:>11} → {c.erp_type:<10} webhooks: {base}/{c.name}")
            for name, store in stack.stores.items():
                console.print(f"  sandbox store of {name}: {store.server.url}")
            console.print(f"outputs: {args.outputs}   handler logs: {args.log}")
            console.print("Ctrl-C stops the stack.")
            with contextlib.suppress(KeyboardInterrupt):
                while not stopping.wait(1):
                    pass
    console.print("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
