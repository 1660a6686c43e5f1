"""WooCommerceSource against the WooCommerce simulator over real HTTP (loopback)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, SIGNATURE_TYPE_QUERY, Client
from pydantic import ValidationError
from werkzeug.wrappers import Request, Response

from mlconnector.envelope import RecordKind
from mlconnector.errors import AuthError, TransientError
from mlconnector.http import RetryPolicy
from mlconnector.sources.base import WebhookOutcome, WebhookRejected
from mlconnector.sources.woocommerce.client import WooCommerceError
from mlconnector.sources.woocommerce.settings import WooCommerceSettings
from mlconnector.sources.woocommerce.source import WooCommerceSource
from sandbox.runner import RunningServer, serve
from sandbox.woocommerce import ApiKey, WooState, create_app

FAST = RetryPolicy(attempts=4, initial_delay=0.01, max_delay=0.05, read_timeout=10)
WEBHOOK_SECRET = "s3cr&amp;t-<ключ>-&#039;q&quot;"  # entities are decoded by WooCommerce before signing
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture
def state() -> WooState:
    return WooState()


@pytest.fixture
def store(state: WooState) -> Iterator[RunningServer]:
    server = serve(create_app(state))
    state.home_url = server.url
    yield server
    server.stop()


@pytest.fixture
def key(state: WooState) -> ApiKey:
    return state.add_key("read_write")


def make_source(
    store: RunningServer, key: ApiKey, auth: str = "basic", *, secret: str | None = None, **settings: Any
) -> WooCommerceSource:
    config = WooCommerceSettings(base_url=store.url, auth=auth, allow_insecure_basic=True, **settings)
    credentials = {
        "consumer_key": key.consumer_key,
        "consumer_secret": secret if secret is not None else key.consumer_secret,
        "webhook_secret": WEBHOOK_SECRET,
    }
    return WooCommerceSource("woo-it", config, credentials, retry_policy=FAST)


class Receiver:
    """A small webhook endpoint: verifies with parse_webhook and answers like the real receiver would."""

    def __init__(self, source: WooCommerceSource) -> None:
        self.source = source
        self.outcomes: list[WebhookOutcome] = []
        self.rejections: list[WebhookRejected] = []
        self.force_status: int | None = None
        self.lock = threading.Lock()
        self.server = serve(self.app)
        self.url = f"{self.server.url}/hooks/woo"

    def app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data()
        if self.force_status is not None:
            return Response("down", status=self.force_status)(environ, start_response)
        try:
            outcome = self.source.parse_webhook(dict(request.headers), body)
        except WebhookRejected as rejected:
            with self.lock:
                self.rejections.append(rejected)
            return Response(rejected.reason, status=rejected.status)(environ, start_response)
        with self.lock:
            self.outcomes.append(outcome)
        return Response("", status=200)(environ, start_response)

    @property
    def envelopes(self) -> list[Any]:
        return [e for o in self.outcomes for e in o.envelopes]


@pytest.fixture
def receiver(store: RunningServer, key: ApiKey) -> Iterator[Receiver]:
    rx = Receiver(make_source(store, key))
    yield rx
    rx.server.stop()


# ----------------------------------------------------------------------------- auth


@pytest.mark.parametrize(("auth", "ssl"), [("basic", True), ("query", True), ("oauth1", False)])
def test_each_auth_mode_reads_orders(state: WooState, store: RunningServer, key: ApiKey, auth: str, ssl: bool) -> None:
    state.assume_ssl = ssl
    created = state.generate_orders(5, seed=7)
    woo = make_source(store, key, auth)
    seen = [r.object_id for r in woo.changed_since("orders", LONG_AGO)]
    assert seen == [str(o["id"]) for o in created]
    fetched = woo.fetch(RecordKind.ORDER, str(created[0]["id"]))
    assert fetched == created[0]
    assert woo.to_order(fetched).total == Decimal(created[0]["total"]) + sum(
        (Decimal(str(g["amount"])) for g in created[0].get("gift_cards", [])), Decimal(0)
    )


def test_oauth1_nonces_are_single_use_and_json_bodies_unsigned(
    state: WooState, store: RunningServer, key: ApiKey
) -> None:
    state.assume_ssl = False
    state.generate_orders(3, seed=1)
    woo = make_source(store, key, "oauth1", per_page=2)
    for _ in range(3):  # many requests in the same second, each with its own nonce
        assert len(list(woo.changed_since("orders", LONG_AGO))) == 3
    statuses = woo.ensure_webhooks("http://127.0.0.1:9/never")  # POSTs with JSON bodies, OAuth-signed
    assert {s.action for s in statuses} == {"created"}

    client = Client(
        key.consumer_key,
        client_secret=key.consumer_secret,
        signature_method=SIGNATURE_HMAC_SHA256,
        signature_type=SIGNATURE_TYPE_QUERY,
    )
    signed, _, _ = client.sign(f"{store.url}/wp-json/wc/v3/orders?per_page=1", http_method="GET")
    assert requests.get(signed, timeout=10).status_code == 200
    replay = requests.get(signed, timeout=10)
    assert replay.status_code == 401
    assert replay.json()["message"] == "Invalid nonce - nonce has already been used."


def test_oauth1_behind_tls_terminating_proxy_needs_the_scheme_wordpress_sees(
    state: WooState, store: RunningServer, key: ApiKey
) -> None:
    state.assume_ssl = True  # WordPress believes it is served over https; we reach it over http
    state.generate_orders(2, seed=1)
    with pytest.raises(AuthError, match="Invalid signature"):
        list(make_source(store, key, "oauth1").changed_since("orders", LONG_AGO))
    signed_https = make_source(store, key, "oauth1", oauth_signing_scheme="https")
    assert len(list(signed_https.changed_since("orders", LONG_AGO))) == 2


@pytest.mark.parametrize(("auth", "ssl"), [("basic", True), ("query", True)])
def test_wrong_secret_is_auth_error_with_woocommerce_message_and_no_secret(
    state: WooState, store: RunningServer, key: ApiKey, auth: str, ssl: bool
) -> None:
    state.assume_ssl = ssl
    wrong = "cs_" + "f" * 40
    with pytest.raises(AuthError) as caught:
        make_source(store, key, auth, secret=wrong).fetch(RecordKind.ORDER, "1")
    text = f"{caught.value} {caught.value!r}"
    assert "woocommerce_rest_authentication_error" in text and "Consumer secret is invalid." in text
    assert caught.value.status == 401
    for secret in (wrong, key.consumer_secret):
        assert secret not in text


def test_wrong_oauth_secret(state: WooState, store: RunningServer, key: ApiKey) -> None:
    state.assume_ssl = False
    wrong = "cs_" + "e" * 40
    with pytest.raises(AuthError) as caught:
        make_source(store, key, "oauth1", secret=wrong).fetch(RecordKind.ORDER, "1")
    assert "Invalid signature - provided signature does not match." in str(caught.value)
    assert wrong not in str(caught.value) and key.consumer_secret not in str(caught.value)


def test_unknown_key_and_basic_over_plain_http_are_refused_as_guest(
    state: WooState, store: RunningServer, key: ApiKey
) -> None:
    unknown = ApiKey(99, "ck_" + "0" * 40, key.consumer_secret)
    with pytest.raises(AuthError, match="woocommerce_rest_cannot_view"):
        make_source(store, unknown).fetch(RecordKind.ORDER, "1")
    state.assume_ssl = False  # WordPress does not see HTTPS: Basic is never tried
    with pytest.raises(AuthError, match="does not see HTTPS"):
        list(make_source(store, key).changed_since("orders", LONG_AGO))


def test_read_only_key_cannot_write(state: WooState, store: RunningServer) -> None:
    read_only = state.add_key("read")
    with pytest.raises(AuthError, match="does not have write permissions"):
        make_source(store, read_only).ensure_webhooks("http://127.0.0.1:9/x")


def test_oauth_timestamp_outside_window(state: WooState, store: RunningServer, key: ApiKey) -> None:
    state.assume_ssl = False
    state.clock = lambda: datetime.now(UTC) + timedelta(minutes=20)
    with pytest.raises(AuthError, match="Invalid timestamp"):
        make_source(store, key, "oauth1").fetch(RecordKind.ORDER, "1")


def test_basic_auth_requires_https_unless_allowed() -> None:
    with pytest.raises(ValidationError, match="only over HTTPS"):
        WooCommerceSettings(base_url="http://shop.example.com", auth="basic")
    WooCommerceSettings(base_url="http://shop.example.com", auth="oauth1")
    WooCommerceSettings(base_url="https://shop.example.com", auth="query")


def test_other_client_errors_carry_woocommerce_code(store: RunningServer, key: ApiKey) -> None:
    with pytest.raises(WooCommerceError) as caught:
        make_source(store, key).fetch(RecordKind.ORDER, "424242")
    assert caught.value.code == "woocommerce_rest_shop_order_invalid_id" and caught.value.status == 404
    assert "Invalid ID." in str(caught.value)


# ----------------------------------------------------------------------------- retries


def test_throttling_and_server_errors_are_retried(state: WooState, store: RunningServer, key: ApiKey) -> None:
    (order,) = state.generate_orders(1, seed=3)
    state.fail_next(429, retry_after="0")
    state.fail_next(500)
    before = len(state.requests)
    assert make_source(store, key).fetch(RecordKind.ORDER, str(order["id"]))["id"] == order["id"]
    assert len(state.requests) - before == 3


def test_persistent_server_errors_end_as_transient(state: WooState, store: RunningServer, key: ApiKey) -> None:
    state.fail_next(503, times=FAST.attempts)
    with pytest.raises(TransientError) as caught:
        make_source(store, key, "query").fetch(RecordKind.ORDER, "1")
    assert key.consumer_secret not in str(caught.value)


# ----------------------------------------------------------------------------- polling


def test_polling_many_pages_while_orders_change_loses_nothing(
    state: WooState, store: RunningServer, key: ApiKey
) -> None:
    orders = state.generate_orders(350, seed=11)
    ids = [o["id"] for o in orders]
    since = datetime.now(UTC) - timedelta(days=31)
    woo = make_source(store, key, per_page=100)
    seen: list[int] = []
    deleted: set[int] = set()
    for record in woo.changed_since("orders", since):
        seen.append(int(record.object_id))
        if len(seen) == 150:
            # Mid-poll: modify seen and unseen orders, delete/trash ones we already passed, add new ones.
            for oid in ids[10:20] + ids[200:210]:
                state.update_order(oid, customer_note="changed mid-poll", deliver=False)
            for oid in ids[0:7]:
                state.delete_order(oid, force=True, deliver=False)
                deleted.add(oid)
            for oid in ids[20:25]:
                state.update_order(oid, status="trash", deliver=False)
                deleted.add(oid)
            late = state.create_order(
                lines=[{"product_id": 101, "name": "Late", "sku": "LATE", "price": "1.00"}], deliver=False
            )
        if len(seen) == 300:
            for oid in ids[100:110]:
                state.delete_order(oid, force=True, deliver=False)
                deleted.add(oid)
    missing = set(ids) - set(seen)
    assert not missing, f"lost {sorted(missing)}"  # every order in the window at the start was seen at least once
    assert late["id"] in seen  # and the one created mid-poll (highest id) too
    assert deleted <= set(seen)
    # Records may repeat across runs (overlap window); the pipeline's business key makes that harmless.
    # The records also carry the data the pipeline needs.
    records = list(woo.changed_since("orders", since))
    assert all(r.modified_at.tzinfo is UTC for r in records)


def test_naive_page_walk_by_modified_date_would_lose_orders(state: WooState, store: RunningServer, key: ApiKey) -> None:
    """Why the adapter does not page by modification date: the same mutation loses records that way."""
    orders = state.generate_orders(250, seed=5)
    auth = (key.consumer_key, key.consumer_secret)
    url = f"{store.url}/wp-json/wc/v3/orders"
    params = {
        "modified_after": "2000-01-01T00:00:00",
        "dates_are_gmt": "true",
        "orderby": "modified",
        "order": "asc",
        "per_page": 100,
    }
    first = requests.get(url, params={**params, "page": 1}, auth=auth, timeout=10).json()
    for order in first[:5]:
        state.update_order(order["id"], customer_note="touched", deliver=False)
    rest = []
    for page in (2, 3):
        rest += requests.get(url, params={**params, "page": page}, auth=auth, timeout=10).json()
    naive = {o["id"] for o in first + rest}
    assert len({o["id"] for o in orders} - naive) == 5


def test_modified_after_is_inclusive_of_since(state: WooState, store: RunningServer, key: ApiKey) -> None:
    orders = state.generate_orders(20, seed=2)
    pivot = sorted(orders, key=lambda o: o["date_modified_gmt"])[10]
    since = datetime.fromisoformat(pivot["date_modified_gmt"]).replace(tzinfo=UTC)
    got = {r.object_id for r in make_source(store, key).changed_since("orders", since)}
    expected = {str(o["id"]) for o in orders if o["date_modified_gmt"] >= pivot["date_modified_gmt"]}
    assert got == expected


def test_refunds_come_from_changed_orders(state: WooState, store: RunningServer, key: ApiKey) -> None:
    orders = [o for o in state.generate_orders(30, seed=9) if o["status"] in ("processing", "completed")]
    target = orders[0]
    line = target["line_items"][0]
    first = state.add_refund(target["id"], lines={line["id"]: 1}, reason="damaged", deliver=False)
    second = state.add_refund(orders[1]["id"], "1.00", reason="goodwill", deliver=False)
    woo = make_source(store, key, per_page=7)
    records = {r.object_id: r for r in woo.changed_since("refunds", LONG_AGO)}
    assert set(records) == {f"{target['id']}:{first['id']}", f"{orders[1]['id']}:{second['id']}"}
    record = records[f"{target['id']}:{first['id']}"]
    assert record.kind is RecordKind.REFUND
    refund = woo.to_refund(record.payload)
    assert refund.order_id == str(target["id"]) and refund.amount == Decimal(first["amount"])
    assert refund.lines[0].line_id == str(line["id"])
    fetched = woo.fetch(RecordKind.REFUND, f"{target['id']}:{first['id']}")
    assert woo.to_refund(fetched) == refund
    order = woo.to_order(woo.fetch(RecordKind.ORDER, str(target["id"])))
    assert [r.source_id for r in order.refunds] == [str(first["id"])]


def test_customers_changed_since(state: WooState, store: RunningServer, key: ApiKey) -> None:
    old = state.add_customer(
        first_name="Old",
        last_name="Timer",
        email="old@example.com",
        created=datetime(2020, 1, 1, tzinfo=UTC),
        deliver=False,
    )
    fresh = state.add_customer(first_name="New", last_name="Comer", email="new@example.com", deliver=False)
    woo = make_source(store, key, per_page=2)
    ids = [r.object_id for r in woo.changed_since("customers", datetime.now(UTC) - timedelta(hours=1))]
    assert ids == [str(fresh["id"])]
    assert str(old["id"]) in {r.object_id for r in woo.changed_since("customers", LONG_AGO)}
    assert woo.to_customer(woo.fetch(RecordKind.CUSTOMER, str(fresh["id"]))).email == "new@example.com"


# ----------------------------------------------------------------------------- webhooks


def test_ping_on_hook_creation_is_recognised(
    state: WooState, store: RunningServer, key: ApiKey, receiver: Receiver
) -> None:
    statuses = make_source(store, key).ensure_webhooks(receiver.url)
    assert [(s.topic, s.action, s.status) for s in statuses] == [
        (t, "created", "active") for t in WooCommerceSettings.model_fields["webhook_topics"].default
    ]
    pings = [d for d in state.deliveries if d.ping]
    assert len(pings) == 5 and all(d.status_code == 200 for d in pings)
    assert len(receiver.outcomes) == 5 and all(o.ping and not o.envelopes for o in receiver.outcomes)
    assert all(not h.pending_delivery for h in state.webhooks.values())


def test_deliveries_verify_end_to_end(state: WooState, store: RunningServer, key: ApiKey, receiver: Receiver) -> None:
    woo = make_source(store, key)
    woo.ensure_webhooks(receiver.url)
    receiver.outcomes.clear()
    order = state.create_order(
        lines=[{"product_id": 110, "name": "Café Crème Syrup", "sku": "SYR-CREME", "price": "7.25", "quantity": 2}],
        billing={"email": "Zoë@Example.com", "first_name": "Zoë"},
        shipping="4.95",
        coupon={"code": "welcome10", "percent": "10"},
    )
    (created,) = receiver.envelopes
    assert (created.kind, created.object_id, created.topic) == (RecordKind.ORDER, str(order["id"]), "order.created")
    assert created.payload == order and created.delivery_id
    assert woo.to_order(created.payload).customer.source_id == "guest:zoë@example.com"

    refund = state.add_refund(order["id"], "5.00", reason="late")
    update = receiver.envelopes[1:]
    assert [(e.kind, e.object_id) for e in update] == [
        (RecordKind.ORDER, str(order["id"])),
        (RecordKind.REFUND, f"{order['id']}:{refund['id']}"),
    ]
    assert update[0].version >= created.version
    assert woo.to_refund(woo.fetch(RecordKind.REFUND, update[1].object_id)).amount == Decimal("5.00")
    assert not receiver.rejections


def test_tampered_and_wrong_secret_deliveries_are_401(
    state: WooState, store: RunningServer, key: ApiKey, receiver: Receiver
) -> None:
    state.create_webhook(topic="order.created", delivery_url=receiver.url, secret="not-our-secret")
    (order,) = state.generate_orders(1, seed=4)
    (delivery,) = state.deliver("order.created", order)
    assert delivery.status_code == 401 and not delivery.ok
    assert receiver.rejections[-1].status == 401
    assert state.webhooks[1].failure_count == 1


def test_dropped_delivery_is_found_by_the_poller_and_duplicates_share_a_key(
    state: WooState, store: RunningServer, key: ApiKey, receiver: Receiver
) -> None:
    woo = make_source(store, key)
    woo.ensure_webhooks(receiver.url)
    receiver.outcomes.clear()
    state.drop_next_delivery = 1
    lost = state.create_order(lines=[{"product_id": 104, "name": "Filters", "sku": "FLT-100", "price": "6.49"}])
    assert receiver.envelopes == []
    polled = {r.object_id for r in woo.changed_since("orders", datetime.now(UTC) - timedelta(minutes=5))}
    assert str(lost["id"]) in polled
    state.duplicate_next_delivery = 1
    state.update_order(lost["id"], status="completed")
    first, second = receiver.envelopes
    assert first.business_key == second.business_key


def test_keeper_reactivates_disabled_hook_and_recreates_missing_one(
    state: WooState, store: RunningServer, key: ApiKey, receiver: Receiver
) -> None:
    woo = make_source(store, key)
    woo.ensure_webhooks(receiver.url)
    hooks = {h.topic: h for h in state.webhooks.values()}
    receiver.force_status = 500
    (order,) = state.generate_orders(1, seed=8)
    for attempt in range(1, 8):
        state.deliver("order.updated", order)
        expected = "disabled" if attempt == 7 else "active"
        assert hooks["order.updated"].status == expected, attempt
    assert hooks["order.updated"].failure_count == 6
    state.deliver("order.updated", order)  # a disabled hook delivers nothing
    assert sum(1 for d in state.deliveries if d.topic == "order.updated" and not d.ping) == 7
    requests.delete(
        f"{store.url}/wp-json/wc/v3/webhooks/{hooks['customer.created'].id}",
        params={"force": "true"},
        auth=(key.consumer_key, key.consumer_secret),
        timeout=10,
    ).raise_for_status()
    receiver.force_status = None

    statuses = {s.topic: s for s in woo.ensure_webhooks(receiver.url)}
    assert statuses["order.updated"].action == "reactivated" and statuses["order.updated"].status == "active"
    assert statuses["customer.created"].action == "created"
    assert {t: s.action for t, s in statuses.items() if t not in ("order.updated", "customer.created")} == {
        "order.created": "ok",
        "order.deleted": "ok",
        "customer.updated": "ok",
    }
    assert hooks["order.updated"].status == "active"
    state.update_order(order["id"], status="completed")
    assert receiver.envelopes[-1].object_id == str(order["id"])
    assert hooks["order.updated"].failure_count == 0  # a success resets WooCommerce's counter
    assert {s.action for s in woo.ensure_webhooks(receiver.url)} == {"ok"}


def test_delete_without_force_is_501(store: RunningServer, key: ApiKey, state: WooState) -> None:
    hook = state.create_webhook(topic="order.created", delivery_url="http://127.0.0.1:9/x", ping=False)
    answer = requests.delete(
        f"{store.url}/wp-json/wc/v3/webhooks/{hook.id}", auth=(key.consumer_key, key.consumer_secret), timeout=10
    )
    assert answer.status_code == 501 and answer.json()["code"] == "woocommerce_rest_trash_not_supported"


def test_async_delivery(state: WooState, store: RunningServer, key: ApiKey, receiver: Receiver) -> None:
    make_source(store, key).ensure_webhooks(receiver.url)
    receiver.outcomes.clear()
    state.async_delivery = True
    order = state.create_order(
        lines=[{"product_id": 105, "name": "Burr Grinder", "sku": "GRD-BURR", "price": "129.00"}]
    )
    state.wait_for_deliveries()
    assert [e.object_id for e in receiver.envelopes] == [str(order["id"])]


def test_list_headers_and_parameter_validation(state: WooState, store: RunningServer, key: ApiKey) -> None:
    state.generate_orders(25, seed=6)
    auth = (key.consumer_key, key.consumer_secret)
    url = f"{store.url}/wp-json/wc/v3/orders"
    page = requests.get(url, params={"per_page": 10, "page": 2}, auth=auth, timeout=10)
    assert (page.headers["X-WP-Total"], page.headers["X-WP-TotalPages"]) == ("25", "3")
    assert 'rel="next"' in page.headers["Link"] and 'rel="prev"' in page.headers["Link"]
    assert len(page.json()) == 10
    created = [o["date_created_gmt"] for o in requests.get(url, auth=auth, timeout=10).json()]
    assert created == sorted(created, reverse=True)  # WooCommerce's default: newest first, 10 per page
    too_many = requests.get(url, params={"per_page": 101}, auth=auth, timeout=10)
    assert too_many.status_code == 400 and too_many.json()["code"] == "rest_invalid_param"
    assert b"\\/" in requests.get(url, params={"per_page": 1}, auth=auth, timeout=10).content  # wp_json_encode
