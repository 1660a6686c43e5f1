"""`make run`: a full sync on the embedded local stack against the sandboxes, then the report.

For every connection in config/local.yaml (or those named with --connections) the store
simulator gets a scenario: dozens of orders from several customers and guests, one webhook
delivered twice, one webhook lost (so only the poller finds that order), and refunds. The
poller runs, the queue drains, and the report compares every paid order and refund with the
ERP simulator's documents. Exit code 0 only if everything reconciled.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from local.report import build_report, print_report
from local.stack import DEFAULT_PROFILE, LocalStack
from mlconnector.profile import Connection

ROOT = Path(__file__).resolve().parents[1]


def woocommerce_scenario(stack: LocalStack, connection: Connection, orders: int, seed: int) -> set[str]:
    woo = stack.stores[connection.name].state
    first = max(1, orders // 2)
    woo.generate_orders(first, seed, deliver=True)
    woo.drop_next_delivery = 1  # this order.created never arrives: only the poller can find it
    woo.generate_orders(1, seed + 1, deliver=True)
    woo.duplicate_next_delivery = 1  # this one arrives twice
    woo.generate_orders(1, seed + 2, deliver=True)
    woo.generate_orders(max(0, orders - first - 2), seed + 3, deliver=True)
    with woo.lock:
        paid = [o for o in woo.orders.values() if o["status"] in ("processing", "completed")]
    line_refund, amount_refund = paid[0], paid[len(paid) // 2]
    woo.add_refund(line_refund["id"], lines={line_refund["line_items"][0]["id"]: 1}, reason="damaged")
    woo.add_refund(amount_refund["id"], amount="5.00", reason="goodwill")
    return set()


def bigcommerce_scenario(stack: LocalStack, connection: Connection, orders: int, seed: int) -> set[str]:
    bc = stack.stores[connection.name].state
    first = max(1, orders // 2)
    bc.generate_orders(first, seed, deliver=True)
    bc.drop_next_delivery = 1
    bc.generate_orders(1, seed + 1, deliver=True)
    bc.duplicate_next_delivery = 1
    bc.generate_orders(1, seed + 2, deliver=True)
    bc.generate_orders(max(0, orders - first - 2), seed + 3, deliver=True)
    paid_ids = connection.store.paid_status_ids  # type: ignore[attr-defined]
    with bc.lock:
        paid = [o for o in bc.orders.values() if o["status_id"] in paid_ids and o["status_id"] not in (4, 14)]
        products = {oid: list(rows) for oid, rows in bc.products.items()}
    line_refund, amount_refund = paid[0], paid[len(paid) // 2]
    item = products[line_refund["id"]][0]
    bc.add_refund(line_refund["id"], items=[{"item_type": "PRODUCT", "item_id": item["id"], "quantity": 1}])
    bc.add_refund(amount_refund["id"], amount="5.00", reason="goodwill")
    return set()


def shopify_scenario(stack: LocalStack, connection: Connection, orders: int, seed: int) -> set[str]:
    """Orders (some refunded by generation), a lost and a doubled webhook, and one refund whose
    transactions do not match the order: it must go to review, never to the ledger."""
    shop = stack.stores[connection.name].state
    first = max(1, orders // 2)
    shop.generate_orders(first, seed, deliver=True)
    shop.drop_next_delivery = 1
    shop.generate_orders(1, seed + 1, deliver=True)
    shop.duplicate_next_delivery = 1
    shop.generate_orders(1, seed + 2, deliver=True)
    shop.generate_orders(max(0, orders - first - 2), seed + 3, deliver=True)
    with shop.lock:
        candidates = [o for o in shop.orders.values() if o["financial_status"] == "paid" and not o.get("refunds")]
    target = candidates[-1]
    refund = shop.add_refund(target["id"], lines=[(target["line_items"][0]["id"], 1)], mismatch="unknown_parent")
    return {f"{connection.reference_prefix}{target['name']}-R{refund['id']}"}


SCENARIOS: dict[str, Callable[[LocalStack, Connection, int, int], set[str]]] = {
    "woocommerce": woocommerce_scenario,
    "bigcommerce": bigcommerce_scenario,
    "shopify": shopify_scenario,
}


def run(
    profile: Path,
    connections: list[str] | None,
    orders: int,
    seed: int,
    console: Console,
    log_path: Path,
    timeout: float = 150.0,
) -> int:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log_path.open("w", encoding="utf-8") as log, contextlib.redirect_stdout(log):
        logging.basicConfig(stream=log, level=logging.WARNING, force=True)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        with LocalStack(profile_path=profile, connections=connections) as stack:
            selected = stack.selected_connections()
            console.print(
                f"local stack up: API {stack.runtime.api_url}, "
                f"{len(selected)} connection(s): {', '.join(c.name for c in selected)}"
            )
            in_review: set[str] = set()
            for connection in selected:
                in_review |= SCENARIOS[connection.store_type](stack, connection, orders, seed)
            stack.runtime.wait_until_drained(timeout=timeout / 2)
            for connection in selected:
                stack.poll(connection.name)
            drained = stack.runtime.wait_until_drained(timeout=timeout / 2)
            report = build_report(stack, time.monotonic() - started, expected_reviews=in_review)
    print_report(report, console)
    console.print(f"handler logs: {log_path}")
    if not drained:
        console.print("[red]the queue did not drain in time[/red]")
        return 1
    return 0 if report.reconciled else 1


def quiet_local_warnings() -> None:
    """Powertools' metric set is per process; with several local invocations in one process a flush
    can find it empty. Deployed, each container is its own process, so the warning means nothing here."""
    warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", type=Path, default=DEFAULT_PROFILE)
    parser.add_argument("--connections", nargs="*", help="connection names (default: every one in the profile)")
    parser.add_argument("--orders", type=int, default=60, help="orders per connection (default 60)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--log", type=Path, default=ROOT / "reports" / "local-run.log")
    args = parser.parse_args(argv)
    console = Console(file=sys.stdout, width=max(132, Console().width))  # before stdout goes to the log
    quiet_local_warnings()
    return run(args.profile, args.connections, args.orders, args.seed, console, args.log)


if __name__ == "__main__":
    sys.exit(main())
