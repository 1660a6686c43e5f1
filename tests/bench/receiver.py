"""Webhook receiver: in-process handler latency (p50/p99) and requests per second over the local HTTP API.

The local stack runs woo-psft with the poster's queue workers stopped, so only the receiver uses the
CPU. AWS (SQS, DynamoDB, SSM, Secrets Manager) is moto in server mode on loopback: every call the
handler makes is a real HTTP request, but one without AWS's network latency. The queue is purged
every ``PURGE_EVERY`` invocations (outside the timings), as the poster would drain it, so the
queue's depth stays what it is in operation.
"""

from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from tests.bench.common import ApiCalls, percentile, purge, say, stdout_to_file, write_result

INVOCATIONS = int(os.environ.get("BENCH_RECEIVER_INVOCATIONS", "2000"))
HTTP_SECONDS = float(os.environ.get("BENCH_RECEIVER_HTTP_SECONDS", "10"))
HTTP_CLIENTS = int(os.environ.get("BENCH_RECEIVER_HTTP_CLIENTS", "4"))
PURGE_EVERY = 200
CONNECTION = "woo-psft"


def signed_delivery(stack: Any) -> tuple[bytes, dict[str, str]]:
    """A WooCommerce ``order.created`` delivery exactly as the store signs it."""
    from sandbox.woocommerce import php_json, webhook_signature

    woo = stack.stores[CONNECTION]
    order = woo.state.generate_orders(1, seed=11)[0]
    body = php_json(order)
    secret = woo.webhook_credentials["webhook_secret"]
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/9.0.0 Hookshot (WordPress/6.5)",
        "X-WC-Webhook-Source": f"{woo.server.url}/",
        "X-WC-Webhook-Topic": "order.created",
        "X-WC-Webhook-Resource": "order",
        "X-WC-Webhook-Event": "created",
        "X-WC-Webhook-Signature": webhook_signature(body, secret),
        "X-WC-Webhook-ID": "1",
        "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
    }
    return body, headers


def webhook_event(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """The HTTP API's event (payload format 2.0) for POST /webhooks/{connection}, as the local runtime builds it."""
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    from local.runtime import api_event

    environ = EnvironBuilder(path=f"/webhooks/{CONNECTION}", method="POST", headers=headers, data=body).get_environ()
    return api_event(Request(environ), "POST /webhooks/{connection}", {"connection": CONNECTION})


def in_process(stack: Any, body: bytes, headers: dict[str, str], calls: ApiCalls) -> dict[str, Any]:
    runtime = stack.runtime
    event = webhook_event(body, headers)
    for _ in range(50):  # warm: secrets and profile cached, clients built, as in a warm container
        assert runtime.invoke("WebhookReceiverFunction", event)["statusCode"] == 200
    purge(stack)
    calls.reset()
    durations: list[float] = []
    own: list[float] = []
    for n in range(INVOCATIONS):
        if n and n % PURGE_EVERY == 0:
            purge(stack)
        aws_before = calls.thread_seconds()
        started = time.perf_counter()
        result = runtime.invoke("WebhookReceiverFunction", event)
        elapsed = (time.perf_counter() - started) * 1000
        durations.append(elapsed)
        own.append(elapsed - (calls.thread_seconds() - aws_before) * 1000)
        assert result["statusCode"] == 200, result
    api = calls.snapshot()
    return {
        "invocations": INVOCATIONS,
        "p50_ms": round(percentile(durations, 50), 2),
        "p90_ms": round(percentile(durations, 90), 2),
        "p99_ms": round(percentile(durations, 99), 2),
        "max_ms": round(max(durations), 2),
        "mean_ms": round(sum(durations) / len(durations), 2),
        "excluding_aws_calls": {
            "p50_ms": round(percentile(own, 50), 2),
            "p99_ms": round(percentile(own, 99), 2),
            "mean_ms": round(sum(own) / len(own), 2),
        },
        "aws_calls_per_webhook": {k: round(v / INVOCATIONS, 3) for k, v in api.items()},
    }


def over_http(stack: Any, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    url = stack.runtime.webhook_url(CONNECTION)
    deadline = time.monotonic() + HTTP_SECONDS
    latencies: list[float] = []
    failures = 0

    def client() -> tuple[list[float], int]:
        session = requests.Session()
        mine: list[float] = []
        bad = 0
        while time.monotonic() < deadline:
            started = time.perf_counter()
            response = session.post(url, data=body, headers=headers, timeout=10)
            mine.append((time.perf_counter() - started) * 1000)
            bad += response.status_code != 200
        return mine, bad

    started = time.perf_counter()
    with ThreadPoolExecutor(HTTP_CLIENTS) as pool:
        for mine, bad in pool.map(lambda _: client(), range(HTTP_CLIENTS)):
            latencies.extend(mine)
            failures += bad
    elapsed = time.perf_counter() - started
    return {
        "clients": HTTP_CLIENTS,
        "seconds": round(elapsed, 1),
        "requests": len(latencies),
        "non_200": failures,
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "http_p50_ms": round(percentile(latencies, 50), 2),
        "http_p99_ms": round(percentile(latencies, 99), 2),
    }


def run() -> dict[str, Any]:
    import logging

    from local.stack import LocalStack

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    say(
        f"== receiver: {INVOCATIONS} in-process invocations, "
        f"then {HTTP_SECONDS:.0f}s of HTTP with {HTTP_CLIENTS} clients"
    )
    with ApiCalls() as calls, stdout_to_file() as log, LocalStack(connections=[CONNECTION]) as stack:
        stack.runtime.stop_event_sources()
        body, headers = signed_delivery(stack)
        log_start = log.stat().st_size
        figures = in_process(stack, body, headers, calls)
        figures["log_bytes_per_webhook"] = round((log.stat().st_size - log_start) / (INVOCATIONS + 50), 1)
        purge(stack)
        figures["http"] = over_http(stack, body, headers)
        purge(stack)
    log.unlink(missing_ok=True)
    figures["body_bytes"] = len(body)
    say(
        f"  in-process: p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms (max {figures['max_ms']} ms); "
        f"AWS calls per webhook {figures['aws_calls_per_webhook']}"
    )
    own = figures["excluding_aws_calls"]
    say(f"  in-process without the time spent in moto's AWS calls: p50 {own['p50_ms']} ms, p99 {own['p99_ms']} ms")
    http = figures["http"]
    say(
        f"  HTTP: {http['requests_per_second']} req/s with {http['clients']} clients "
        f"(p50 {http['http_p50_ms']} ms, p99 {http['http_p99_ms']} ms, {http['non_200']} non-200)"
    )
    write_result("receiver", figures)
    return figures


if __name__ == "__main__":
    run()
