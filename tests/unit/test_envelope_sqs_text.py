"""An envelope's JSON is a body SQS accepts, whatever characters the store record holds, at about the record's size."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from mlconnector.envelope import Envelope, Origin, RecordKind

#: SendMessage's allowed characters: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
SQS_REFUSES = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def order(note: str) -> Envelope:
    return Envelope(
        connection="shop-psft",
        kind=RecordKind.ORDER,
        object_id="1",
        version="v",
        origin=Origin.WEBHOOK,
        payload={"id": 1, note: note, "line_items": [{"title": note}]},
    )


@settings(deadline=None)  # the first example builds the envelope's pydantic validator
@given(note=st.text(st.characters(codec=None, categories=None)))
@example(note="\ud800")  # lone surrogates: escaped for SQS, which pydantic's JSON parser alone would refuse
@example(note="x\udfff\ud800y")
def test_any_text_becomes_a_body_sqs_accepts_and_reads_back_equal(note):
    envelope = order(note)
    text = envelope.to_json()
    assert SQS_REFUSES.search(text) is None
    assert Envelope.from_json(text.encode("utf-8")) == envelope


def test_text_sqs_accepts_is_kept_as_it_is():
    """Escaping all of it (``ensure_ascii``) would double a record in CJK script: one near the inline limit would no
    longer fit a message."""
    note = "\u6ce8\u6587\u00e9\U0001f600\u202e"
    text = order(note).to_json()
    assert text.count(note) == 3
    assert "\\u" not in text
    assert "\\ud800" in order("\ud800").to_json() and "\\uffff" in order("\uffff").to_json()
