"""Cost model: dollars per million orders on AWS list prices, from the other benchmarks' measurements.

Inputs are bench-results/{receiver,poster,poller}.json (run those first) and template.yaml's memory
settings. Every assumption is in ASSUMPTIONS and written into bench-results/cost.json.
"""

from __future__ import annotations

import math
from typing import Any

from tests.bench.common import ROOT, read_result, say, write_result

#: us-east-1 list prices (x86 Lambda), USD; free tiers ignored.
PRICES = {
    "lambda_gb_second": 0.0000166667,
    "lambda_request": 0.20 / 1e6,
    "sqs_request": 0.40 / 1e6,  # standard queue, per 64 KB chunk
    "dynamodb_wru": 0.625 / 1e6,  # on-demand, after the Nov 2024 price change
    "dynamodb_rru": 0.125 / 1e6,
    "api_gateway_rest_request": 3.50 / 1e6,  # first 333 M requests/month
    "secrets_manager_api_call": 0.05 / 10_000,
    "cloudwatch_logs_ingest_gb": 0.50,
    "xray_trace_recorded": 5.00 / 1e6,
}

ASSUMPTIONS = {
    "webhooks_per_order": 1,  # order.created; an order.updated for status changes would add one receiver call
    "poll_sightings_per_order": 1,  # the poll's overlap window re-reads each order once: one duplicate record
    "aws_call_latency_ms": 8,  # in-region SQS / DynamoDB call as seen from Lambda (moto's local figure not used)
    "erp_latency_ms": 50,  # per ERP call, as in the poster benchmark; scales the poster's GB-s linearly
    "duplicate_record_calls": {"dynamodb_write": 2, "dynamodb_read": 1},  # idempotency lock refused + audit
    "secret_refreshes_per_million_orders": 3 * 5 * 12 * 24 * 30,  # 3 secrets, 5 containers, every 5 min, 1 month
    "xray_sampled_fraction": 0.05,  # default sampling rule: 1 req/s reservoir + 5 %
    "billing_granularity_ms": 1,
}


def memory_mb() -> dict[str, int]:
    """MemorySize per function from template.yaml (Globals unless the function overrides it)."""
    from local.template import Template

    template = Template.load(ROOT / "template.yaml")
    default = int(template.function_globals.get("MemorySize", 128))
    return {
        logical_id: int(resource["Properties"].get("MemorySize", default))
        for logical_id, resource in template.of_type("AWS::Serverless::Function").items()
    }


def poster_batch_size() -> int:
    """BatchSize of the poster's SQS event in template.yaml."""
    from local.template import Template

    poster = Template.load(ROOT / "template.yaml").of_type("AWS::Serverless::Function")["PosterFunction"]
    return int(poster["Properties"]["Events"]["Ingest"]["Properties"]["BatchSize"])


def lambda_cost(ms: float, mb: int) -> float:
    billed = math.ceil(ms / ASSUMPTIONS["billing_granularity_ms"]) * ASSUMPTIONS["billing_granularity_ms"]
    return billed / 1000 * mb / 1024 * PRICES["lambda_gb_second"]


def run() -> dict[str, Any]:
    receiver = read_result("receiver")
    poster = read_result("poster")
    poller = read_result("poller")
    if not (receiver and poster and poller):
        say("== cost: skipped (run the receiver, poster and poller benchmarks first)")
        return {}
    memory = memory_mb()
    latency = ASSUMPTIONS["aws_call_latency_ms"]
    lines: dict[str, float] = {}

    # Receiver: one API Gateway request and one invocation per webhook.
    r_calls = receiver["aws_calls_per_webhook"]
    r_ms = receiver["excluding_aws_calls"]["p50_ms"] + sum(r_calls.values()) * latency
    webhooks = ASSUMPTIONS["webhooks_per_order"]
    lines["api_gateway"] = webhooks * PRICES["api_gateway_rest_request"]
    lines["lambda_receiver"] = webhooks * (
        lambda_cost(r_ms, memory["WebhookReceiverFunction"]) + PRICES["lambda_request"]
    )

    # Poller: measured seconds per order at the largest backfill is an upper bound (moto-bound locally).
    largest = poller["runs"][-1]
    p_ms_per_order = 1000 / largest["orders_per_second"]
    sightings = ASSUMPTIONS["poll_sightings_per_order"]
    lines["lambda_poller"] = sightings * lambda_cost(p_ms_per_order, memory["PollerFunction"])

    # Poster: per record from the 50 ms ERP run; AWS waits re-priced at the in-region latency.
    slow = poster["erp_50ms"]
    calls = slow["poster_aws_calls_per_record"]
    per_record_calls = sum(calls.values())
    orders_per_record = slow["orders_posted"] / slow["records_processed"]
    erp_ms = slow["erp_calls_per_order"] * orders_per_record * ASSUMPTIONS["erp_latency_ms"]
    # A container's ERP calls follow one another and the records' AWS calls overlap them, so a record costs
    # its ERP latency plus the batch's edges (the first claim and read, the last write) shared by the batch.
    batch = poster_batch_size()
    post_ms = erp_ms + per_record_calls * latency / batch
    lines["lambda_poster"] = lambda_cost(post_ms, memory["PosterFunction"]) + PRICES["lambda_request"] / batch
    dup = ASSUMPTIONS["duplicate_record_calls"]
    lines["lambda_poster_duplicates"] = sightings * (
        lambda_cost((dup["dynamodb_write"] + dup["dynamodb_read"]) * latency, memory["PosterFunction"])
        + PRICES["lambda_request"] / batch
    )

    # SQS: sends (receiver 1 per webhook; poller 1 batch per 10), receives and deletes per batch.
    sqs = (
        webhooks
        + sightings / 10
        + (webhooks + sightings) * (calls.get("sqs:ReceiveMessage", 0) + calls.get("sqs:DeleteMessageBatch", 0))
    )
    lines["sqs"] = sqs * PRICES["sqs_request"]

    # DynamoDB: every write at the measured item size (1 KB units); audit and state writes also write their GSI.
    tables = slow["tables"]
    written = slow["dynamodb_items_written_per_record"]
    wru = 0.0
    rru = 0.0
    for key, per_record in written.items():
        operation, table = key.split(":", 1)
        if operation in ("PutItem", "UpdateItem", "BatchWriteItem", "DeleteItem"):
            units = tables.get(table, {}).get("wru_per_write", 1)
            gsi = 2 if table in ("Audit", "State") else 1
            wru += per_record * units * gsi
        elif operation in ("GetItem", "Query"):
            rru += per_record
    wru += webhooks * 2 * 2  # receiver: received + enqueued audit items, each with its GSI write
    wru += sightings * 2  # poller: one enqueued audit item + GSI
    wru += sightings * dup["dynamodb_write"] * 2
    rru += sightings * dup["dynamodb_read"]
    lines["dynamodb"] = wru * PRICES["dynamodb_wru"] + rru * PRICES["dynamodb_rru"]

    lines["secrets_manager"] = (
        ASSUMPTIONS["secret_refreshes_per_million_orders"] / 1e6 * PRICES["secrets_manager_api_call"]
    )
    log_bytes = receiver["log_bytes_per_webhook"] * webhooks + slow["log_bytes_per_record"] * (1 + sightings)
    lines["cloudwatch_logs"] = log_bytes / 2**30 * PRICES["cloudwatch_logs_ingest_gb"]
    lines["xray"] = (webhooks + 1 + sightings) * ASSUMPTIONS["xray_sampled_fraction"] * PRICES["xray_trace_recorded"]

    per_million = {k: round(v * 1e6, 2) for k, v in lines.items()}
    total = round(sum(lines.values()) * 1e6, 2)
    figures = {
        "usd_per_million_orders": total,
        "breakdown_usd_per_million_orders": per_million,
        "modelled_ms": {
            "receiver": round(r_ms, 1),
            "poster_per_record": round(post_ms, 1),
            "poller_per_order": round(p_ms_per_order, 2),
        },
        "memory_mb": memory,
        "poster_batch_size": batch,
        "prices": PRICES,
        "assumptions": ASSUMPTIONS,
        "dynamodb_units_per_order": {"wru": round(wru, 2), "rru": round(rru, 2)},
        "fixed_monthly_not_included": {
            "secrets_storage_usd_per_secret": 0.40,
            "nat_gateway_usd_per_hour_with_UseVpc": 0.045,
            "dynamodb_pitr_storage": "per GB-month of audit/state data",
        },
    }
    say(f"== cost: ${total:.2f} per million orders (AWS list prices, us-east-1)")
    for key, value in sorted(per_million.items(), key=lambda kv: -kv[1]):
        say(f"  {key:<26} ${value:8.2f}")
    write_result("cost", figures)
    return figures


if __name__ == "__main__":
    run()
