"""The queue envelope: written with the standard library (the receiver), read back validated (the poster)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from mlconnector.envelope import Envelope, Origin, RecordKind

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@given(
    kind=st.sampled_from(RecordKind),
    origin=st.sampled_from(Origin),
    text=st.text(),
    payload=st.none() | st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    received_at=st.datetimes(timezones=st.just(UTC)),
)
def test_what_is_written_reads_back_equal(kind, origin, text, payload, received_at):
    envelope = Envelope(
        connection="woo-psft",
        kind=kind,
        object_id=text or "1",
        version=text,
        origin=origin,
        topic=text,
        delivery_id=text,
        api_version=text,
        received_at=received_at,
        payload=payload,
    )
    assert Envelope.from_json(envelope.to_json()) == envelope
    assert Envelope.from_json(envelope.to_json().encode()) == envelope


def test_without_payload_the_store_record_is_left_out():
    envelope = Envelope(connection="c", kind=RecordKind.ORDER, object_id="1", version="v", origin=Origin.POLLER)
    assert "payload" not in json.loads(envelope.replace(payload={"email": "x@example.com"}).to_json(payload=False))
    assert envelope.business_key == "c|order|1|v" and envelope.record_key == "c|order|1"


GOOD = {"connection": "c", "kind": "order", "object_id": "1", "version": "v", "origin": "webhook"}


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        json.dumps({**GOOD, "kind": "invoice"}),
        json.dumps({**GOOD, "origin": "email"}),
        json.dumps({**GOOD, "object_id": 1}),
        json.dumps({**GOOD, "unexpected": True}),
        json.dumps({k: v for k, v in GOOD.items() if k != "version"}),
        json.dumps({**GOOD, "received_at": "yesterday"}),
        json.dumps({**GOOD, "payload": [1, 2]}),
    ],
)
def test_a_body_that_is_not_an_envelope_is_refused(body):
    with pytest.raises(ValidationError):
        Envelope.from_json(body)


def test_a_message_written_before_api_version_existed_reads_with_none_recorded():
    assert Envelope.from_json(json.dumps(GOOD)).api_version == ""
    with pytest.raises(ValidationError):
        Envelope.from_json(json.dumps({**GOOD, "api_version": 2025}))


def test_fields_come_back_typed():
    envelope = Envelope.from_dict({**GOOD, "received_at": "2026-11-23T10:00:00Z"})
    assert envelope.kind is RecordKind.ORDER and envelope.origin is Origin.WEBHOOK
    assert envelope.received_at == datetime(2026, 11, 23, 10, tzinfo=UTC)
