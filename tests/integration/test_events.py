"""Every JSON file in events/ is invoked against its function on the local runtime (as `sam local invoke -e`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from local.stack import LocalStack
from local.template import Template
from tests.support.eventbridge import eventbridge_profile

ROOT = Path(__file__).resolve().parents[2]
EVENTS = sorted((ROOT / "events").glob("*/*.json"))
SAMPLE_WEBHOOK_SECRET = "sample-webhook-secret&amp;1"


def _api_body(result: dict[str, Any]) -> dict[str, Any]:
    return json.loads(result["body"])


EXPECTED: dict[str, Callable[[Any], None]] = {
    "webhook_receiver/woocommerce-order-created.json": lambda r: (
        r["statusCode"] == 200 and _api_body(r) == {"enqueued": 1}
    ),
    "webhook_receiver/woocommerce-bad-signature.json": lambda r: r["statusCode"] == 401,
    "webhook_receiver/woocommerce-ping.json": lambda r: r["statusCode"] == 200 and _api_body(r)["message"] == "pong",
    "poller/poll-woo-psft.json": lambda r: r["connection"] == "woo-psft" and set(r["polled"]) == {"orders", "refunds"},
    "poster/sqs-woocommerce-order.json": lambda r: r == {"batchItemFailures": []},
    "reconciler/reconcile-day.json": lambda r: (
        r["day"] == "2026-11-22" and r["connections"]["woo-psft"]["differences"] == 0
    ),
    "webhook_keeper/keep-webhooks.json": lambda r: all(a == "ok" for a in r["woo-psft"].values()),
    "eventbridge_receiver/sqs-shopify-order-updated.json": lambda r: r == {"batchItemFailures": []},
    "eventbridge_receiver/sqs-unknown-event-source.json": lambda r: (
        r == {"batchItemFailures": [{"itemIdentifier": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"}]}
    ),
}


def _function_for(folder: str) -> str:
    template = Template.load(ROOT / "template.yaml")
    for logical_id, resource in template.of_type("AWS::Serverless::Function").items():
        if resource["Properties"]["CodeUri"].rstrip("/") == f"functions/{folder}":
            return logical_id
    raise AssertionError(f"events/{folder} matches no function's CodeUri")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    # shop-psft takes its webhooks through EventBridge, so the stack has the EventBridge receiver too
    profile = eventbridge_profile(tmp_path_factory.mktemp("events"))
    with LocalStack(profile_path=profile, connections=["woo-psft", "shop-psft"]) as stack:
        stack.runtime.put_secret("ml-connector/local/woo-psft/webhook", {"webhook_secret": SAMPLE_WEBHOOK_SECRET})
        yield stack


def test_every_event_file_has_an_expectation():
    names = {str(p.relative_to(ROOT / "events")) for p in EVENTS}
    assert names == set(EXPECTED), "add an expectation for each new event file"


@pytest.mark.parametrize("path", EVENTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_event_invokes_its_function(stack, path):
    event = json.loads(path.read_text())
    result = stack.runtime.invoke(_function_for(path.parent.name), event)
    check = EXPECTED[str(path.relative_to(ROOT / "events"))]
    assert check(result), result


def test_posted_sample_order_reached_peoplesoft(stack):
    sample = json.loads((ROOT / "events/poster/sqs-woocommerce-order.json").read_text())
    number = json.loads(sample["Records"][0]["body"])["payload"]["number"]
    stack.runtime.invoke("PosterFunction", sample)  # again: idempotent
    journals = [j for j in stack.erps["peoplesoft"].state.journals if j["PROP_DESCR"].startswith(f"ref:W{number} |")]
    assert len(journals) == 1
