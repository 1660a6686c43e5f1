"""JdeTarget against the AIS sandbox over real HTTP: tokens, orchestrations, data service, faults."""

from __future__ import annotations

import logging
import time
from datetime import date
from decimal import Decimal

import pytest

from mlconnector.documents import LineClass, Posting, PostingKind, PostingLine
from mlconnector.errors import AuthError, ReviewError, TransientError
from mlconnector.models import Address, Customer
from mlconnector.targets.base import FoundInErp
from mlconnector.targets.jdedwards.client import JdeError
from mlconnector.targets.jdedwards.settings import JdeSettings
from mlconnector.targets.jdedwards.target import JdeTarget
from sandbox.jdedwards import JdeState, create_app
from tests.support.sandboxes import started_sandboxes

USER = {"username": "MLC_USER", "password": "sandbox-password"}


@pytest.fixture
def sandbox():
    with started_sandboxes(JdeState, create_app) as start:
        yield start


def make_target(url: str, creds: dict[str, str] | None = None, **overrides) -> JdeTarget:
    settings = JdeSettings(
        base_url=url,
        timeout_seconds=overrides.pop("timeout_seconds", 5),
        retry_initial_delay=0.01,
        retry_max_delay=0.05,
        **overrides,
    )
    return JdeTarget(settings, creds if creds is not None else dict(USER))


def journal(reference: str = "W1001", *, total: str = "110.00", lines=None, reverses=None, **changes) -> Posting:
    total_d = Decimal(total)
    tax = (total_d / 11).quantize(Decimal("0.01"))
    lines = lines or (
        PostingLine(line_class=LineClass.CLEARING, account="1210", amount=total_d, base_amount=total_d),
        PostingLine(
            line_class=LineClass.REVENUE,
            account="4110",
            chartfields={"SUB": "WEB"},
            amount=-(total_d - tax),
            base_amount=-(total_d - tax),
            description="Revenue: T-shirts and everything else sold online",
        ),
        PostingLine(line_class=LineClass.TAX, account="2150", amount=-tax, base_amount=-tax),
    )
    posting = Posting(
        kind=PostingKind.JOURNAL,
        reference=reference,
        connection="woo-jde",
        source_kind="refund" if reverses else "order",
        source_id=reference,
        order_reference=reference.split("-", 1)[0].removeprefix("W"),
        accounting_date=date(2024, 5, 1),
        currency="USD",
        base_currency="USD",
        description=f"Web order {reference}",
        source_total=total_d,
        lines=tuple(lines),
        reverses=reverses,
    )
    return posting.model_copy(update=changes) if changes else posting


def customer(source_id: str = "42", **changes) -> Customer:
    base = Customer(
        source_id=source_id,
        email="ann@example.com",
        first_name="Ann",
        last_name="Lee",
        phone="+1 555 0100",
        billing=Address(line1="1 Main St", city="Springfield", state="IL", postcode="62701", country="US"),
    )
    return base.model_copy(update=changes)


def post_like_pipeline(target: JdeTarget, posting: Posting, attempts: int = 5) -> str:
    """What the poster does: look up first, then create; a transient failure means try again."""
    for _ in range(attempts):
        try:
            return target.find_posting(posting) or target.create_posting(posting, None)
        except TransientError:
            continue
    raise AssertionError("never posted")


# -- customers -----------------------------------------------------------------------------------


def test_customer_created_then_found_instead_of_created_again(sandbox):
    state, url = sandbox()
    target = make_target(url)
    an8 = target.upsert_customer(customer())
    assert an8 == "7000"
    [row] = state.f0101
    assert (row["AN8"], row["ALKY"], row["ALPH"], row["AT1"]) == (7000, "W42", "Ann Lee", "C")
    assert (row["ADD1"], row["CTY1"], row["ADDS"], row["ADDZ"], row["CTR"]) == (
        "1 Main St",
        "Springfield",
        "IL",
        "62701",
        "US",
    )
    assert row["EMAL"] == "ann@example.com" and row["PH1"] == "+1 555 0100"

    assert target.upsert_customer(customer()) == "7000"  # found by ALKY
    assert target.upsert_customer(customer(), known_erp_id="7000") == "7000"  # found by AN8
    assert target.upsert_customer(customer(), known_erp_id="999999") == "7000"  # stale binding: by ALKY
    assert len(state.f0101) == 1
    assert state.requests["orchestration:ORCH_MLC_AddCustomer"] == 1
    target.close()


def test_customer_update_orchestration_when_configured(sandbox):
    state, url = sandbox()
    target = make_target(url, customer_update_orchestration="ORCH_MLC_UpdateCustomer")
    an8 = target.upsert_customer(customer())
    moved = customer(billing=Address(line1="9 Elm St", city="Shelbyville", country="US"))
    assert target.upsert_customer(moved, known_erp_id=an8) == an8
    [row] = state.f0101
    assert (row["ADD1"], row["CTY1"], row["ADDS"]) == ("9 Elm St", "Shelbyville", "")


def test_customer_timeout_after_commit_creates_one_entry(sandbox):
    state, url = sandbox(timeout_after_commit_first_attempt=True, timeout_after_commit_mode="500")
    target = make_target(url)
    assert target.upsert_customer(customer("55")) == "7000"
    assert len(state.f0101) == 1
    assert state.requests["timeout_after_commit"] == 1


def test_guest_customer_key_is_hashed_to_fit_alky(sandbox):
    state, url = sandbox()
    target = make_target(url)
    an8 = target.upsert_customer(customer("guest:someone.with.a.long.address@example.com"))
    [row] = state.f0101
    assert len(row["ALKY"]) == 20 and row["ALKY"].startswith("WH")
    assert target.upsert_customer(customer("guest:someone.with.a.long.address@example.com")) == an8


# -- journals ------------------------------------------------------------------------------------


def test_post_journal_and_find_it(sandbox):
    state, url = sandbox()
    target = make_target(url)
    posting = journal()
    assert target.find_posting(posting) is None
    erp_id = target.create_posting(posting, "7000")
    assert erp_id == "1000/5000"
    assert target.find_posting(posting) == erp_id

    batch = state.batches["W1001"]
    assert (batch["batch"], batch["document"], batch["gl_date"]) == (1000, 5000, date(2024, 5, 1))
    rows = state.f0911
    assert [r["ANI"] for r in rows] == ["100.1210", "100.4110.WEB", "100.2150"]
    assert sum(r["AA"] for r in rows) == Decimal("0")
    assert all(isinstance(r["AA"], Decimal) for r in rows)
    assert {(r["KCO"], r["DCT"], r["LT"], r["ICUT"], r["VR01"], r["AN8"]) for r in rows} == {
        ("00001", "JE", "AA", "G", "W1001", 7000)
    }
    assert rows[0]["EXA"] == "Web order W1001"
    assert rows[1]["EXR"] == "Revenue: T-shirts and everythi"
    target.close()
    assert state.requests["logout"] == 1
    assert state.active_tokens == 0


def test_find_posting_through_lookup_orchestration(sandbox):
    state, url = sandbox()
    target = make_target(url, gl_lookup="ORCH_MLC_GetGLBatch")
    posting = journal("W2001")
    assert target.find_posting(posting) is None
    erp_id = target.create_posting(posting, None)
    assert target.find_posting(posting) == erp_id
    assert state.requests["dataservice:F0911"] == 0


def test_foreign_currency_posting_carries_both_amounts(sandbox):
    state, url = sandbox()
    target = make_target(url)
    lines = (
        PostingLine(line_class=LineClass.CLEARING, account="1210", amount=Decimal("100"), base_amount=Decimal("108")),
        PostingLine(line_class=LineClass.REVENUE, account="4110", amount=Decimal("-100"), base_amount=Decimal("-108")),
    )
    posting = journal("W3001", lines=lines, total="100", currency="EUR", exchange_rate=Decimal("1.08"))
    target.create_posting(posting, None)
    rows = state.f0911
    assert [(r["AA"], r["ACR"], r["CRCD"], r["CRRM"]) for r in rows] == [
        (Decimal("108"), Decimal("100"), "EUR", "F"),
        (Decimal("-108"), Decimal("-100"), "EUR", "F"),
    ]
    assert rows[0]["CRR"] == Decimal("1.08")


def test_refund_batch_records_the_reversed_reference(sandbox):
    state, url = sandbox()
    target = make_target(url)
    order = journal("W5000")
    refund_lines = tuple(
        line.model_copy(update={"amount": -line.amount, "base_amount": -line.base_amount}) for line in order.lines
    )
    refund = journal("W5000-R7", lines=refund_lines, reverses="W5000")
    first, second = target.create_posting(order, None), target.create_posting(refund, None)
    assert first != second
    assert state.batches["W5000-R7"]["reverses"] == "W5000"
    assert target.find_posting(refund) == second


def test_duplicate_post_leaves_one_batch(sandbox):
    state, url = sandbox()
    target = make_target(url)
    posting = journal("W6001")
    first = post_like_pipeline(target, posting)
    second = post_like_pipeline(target, posting)
    assert first == second
    # Even a create without the lookup (a race with another worker) resolves to the one batch.
    raced = target.create_posting(posting, None)
    assert raced == first and isinstance(raced, FoundInErp)  # the poster audits it as already posted
    assert not isinstance(first, FoundInErp)
    assert len(state.batches) == 1 and len(state.f0911) == 3
    assert state.requests["form_error:custom"] == 1


@pytest.mark.parametrize("mode", ["sleep", "500"])
def test_timeout_after_commit_on_first_attempts_posts_each_batch_once(sandbox, mode):
    state, url = sandbox(
        timeout_after_commit_first_attempt=True, timeout_after_commit_mode=mode, timeout_after_commit_seconds=1.0
    )
    target = make_target(url, timeout_seconds=0.4)
    postings = [journal(f"W70{n:02d}") for n in range(5)]
    ids = [post_like_pipeline(target, p) for p in postings]
    assert len(set(ids)) == 5
    assert sorted(state.batches) == [p.reference for p in postings]
    assert len(state.f0911) == 15
    assert state.requests["timeout_after_commit"] == 5
    assert state.requests["orchestration:ORCH_MLC_AddGLBatch"] == 5  # never sent twice


def test_lost_answer_is_resolved_by_lookup_inside_create(sandbox):
    state, url = sandbox(timeout_after_commit_first_attempt=True, timeout_after_commit_mode="500")
    target = make_target(url, retry_attempts=1)
    postings = [journal(f"W71{n:02d}") for n in range(3)]
    # No pipeline lookup first: create_posting itself looks after the lost answer instead of resending.
    ids = [target.create_posting(p, None) for p in postings]
    assert ids == [f"{state.batches[p.reference]['batch']}/{state.batches[p.reference]['document']}" for p in postings]
    assert len(state.batches) == 3
    assert state.requests["orchestration:ORCH_MLC_AddGLBatch"] == 3
    assert state.requests["dataservice:F0911"] == 3


def test_invalid_account_is_review_with_jde_message(sandbox):
    state, url = sandbox()
    target = make_target(url)
    lines = (
        PostingLine(line_class=LineClass.CLEARING, account="1210", amount=Decimal("5"), base_amount=Decimal("5")),
        PostingLine(line_class=LineClass.REVENUE, account="4999", amount=Decimal("-5"), base_amount=Decimal("-5")),
    )
    with pytest.raises(ReviewError) as caught:
        target.create_posting(journal("W8001", lines=lines, total="5"), None)
    assert "Account Number Invalid" in caught.value.reason
    assert caught.value.detail["errors"][0]["code"] == "0030"
    assert state.batches == {} and state.f0911 == []
    assert state.requests["orchestration:ORCH_MLC_AddGLBatch"] == 1  # a refusal is not retried


def test_jde_error_answered_with_500_is_still_review(sandbox):
    state, url = sandbox(data_error_status=500)
    target = make_target(url)
    lines = (
        PostingLine(line_class=LineClass.CLEARING, account="1210", amount=Decimal("5"), base_amount=Decimal("5")),
        PostingLine(line_class=LineClass.REVENUE, account="4999", amount=Decimal("-5"), base_amount=Decimal("-5")),
    )
    with pytest.raises(JdeError, match="Account Number Invalid"):
        target.create_posting(journal("W8002", lines=lines, total="5"), None)
    assert state.requests["orchestration:ORCH_MLC_AddGLBatch"] == 1


def test_unknown_company_is_review(sandbox):
    state, url = sandbox()
    target = make_target(url, company="00077")
    with pytest.raises(ReviewError, match="Company Invalid"):
        target.create_posting(journal("W8003"), None)
    assert state.batches == {}


def test_unsupported_posting_kind_is_review(sandbox):
    _, url = sandbox()
    target = make_target(url)
    invoice = journal().model_copy(update={"kind": PostingKind.AR_INVOICE})
    with pytest.raises(ReviewError, match="not supported by the JD Edwards target"):
        target.find_posting(invoice)
    with pytest.raises(ReviewError, match="not supported by the JD Edwards target"):
        target.create_posting(invoice, None)


# -- tokens and credentials ----------------------------------------------------------------------


def test_token_reused_across_calls(sandbox):
    state, url = sandbox()
    target = make_target(url)
    target.upsert_customer(customer())
    post_like_pipeline(target, journal())
    assert state.requests["tokenrequest"] == 1


def test_expired_tokens_mid_run_refresh_once_without_lost_or_doubled_batch(sandbox):
    state, url = sandbox()
    target = make_target(url)
    post_like_pipeline(target, journal("W9001"))
    state.expire_all_tokens()
    post_like_pipeline(target, journal("W9002"))
    assert state.requests["tokenrequest"] == 2
    assert state.requests["invalid_token"] == 1
    assert sorted(state.batches) == ["W9001", "W9002"]
    assert state.requests["orchestration:ORCH_MLC_AddGLBatch"] == 2


def test_token_expiring_while_creating_is_refreshed_and_posted_once(sandbox):
    state, url = sandbox()
    target = make_target(url)
    posting = journal("W9101")
    assert target.find_posting(posting) is None
    state.expire_all_tokens()  # between the lookup and the create
    target.create_posting(posting, None)
    assert len(state.batches) == 1 and state.requests["invalid_token"] == 1


def test_short_lived_token_is_renewed_before_it_ends(sandbox):
    state, url = sandbox(token_lifetime_seconds=0.6)
    target = make_target(url, token_lifetime_seconds=0.6, token_refresh_margin_seconds=0.2)
    post_like_pipeline(target, journal("W9201"))
    time.sleep(0.45)  # past lifetime - margin, before the server's expiry
    post_like_pipeline(target, journal("W9202"))
    assert state.requests["tokenrequest"] == 2
    assert state.requests["invalid_token"] == 0
    assert len(state.batches) == 2


def test_wrong_password_is_auth_error_without_the_password(sandbox, caplog):
    state, url = sandbox()
    target = make_target(url, creds={"username": "MLC_USER", "password": "not-the-secret-pw"})
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError) as caught:
        target.create_posting(journal(), None)
    message = str(caught.value)
    assert "JD Edwards" in message and "JDV920" in message
    assert "not-the-secret-pw" not in message and "not-the-secret-pw" not in caplog.text
    with pytest.raises(AuthError):
        target.upsert_customer(customer())
    assert state.batches == {} and state.f0101 == []
    assert state.requests["tokenrequest"] == 2  # refused credentials are not retried


def test_missing_credentials_are_auth_error():
    with pytest.raises(AuthError, match="password"):
        make_target("http://127.0.0.1:9", creds={"username": "MLC_USER"})


# -- server faults -------------------------------------------------------------------------------


def test_server_errors_then_success_with_backoff(sandbox):
    state, url = sandbox(fail_next_n=2)
    target = make_target(url)
    assert post_like_pipeline(target, journal("W9301")) == "1000/5000"
    assert state.requests["injected_500"] == 2
    assert len(state.batches) == 1


def test_server_errors_on_create_are_retried_by_the_target(sandbox):
    state, url = sandbox()
    target = make_target(url)
    posting = journal("W9302")
    assert target.find_posting(posting) is None
    state.fail_next_n = 2
    assert target.create_posting(posting, None) == "1000/5000"
    assert state.requests["injected_500"] == 2 and len(state.batches) == 1


def test_server_errors_beyond_retries_are_transient(sandbox):
    state, url = sandbox(fail_next_n=50)
    target = make_target(url, retry_attempts=3)
    with pytest.raises(TransientError) as caught:
        target.find_posting(journal())
    assert not isinstance(caught.value, AuthError)
    assert state.batches == {}


def test_latency_beyond_timeout_is_transient(sandbox):
    _, url = sandbox(latency_seconds=0.5)
    target = make_target(url, timeout_seconds=0.2, retry_attempts=2)
    with pytest.raises(TransientError, match="Timeout"):
        target.find_posting(journal())


# -- read back (reconciler) ----------------------------------------------------------------------


def test_read_back_by_gl_date_range_splits_full_pages(sandbox):
    state, url = sandbox()
    target = make_target(url, max_page_size=4)
    days = [date(2024, 5, d) for d in (1, 2, 3, 9)]
    for n, day in enumerate(days):
        target.create_posting(journal(f"W95{n:02d}", accounting_date=day), None)

    before = state.requests["dataservice:F0911"]
    rows = target.read_back(date(2024, 5, 1), date(2024, 5, 10))
    assert len(rows) == 12
    assert state.requests["dataservice:F0911"] - before > 1  # 12 lines in pages of 4: the range was split
    assert sorted({r["reference"] for r in rows}) == ["W9500", "W9501", "W9502", "W9503"]
    assert all(isinstance(r["amount"], Decimal) for r in rows)
    by_reference: dict[str, Decimal] = {}
    for r in rows:
        by_reference[r["reference"]] = by_reference.get(r["reference"], Decimal("0")) + r["amount"]
    assert set(by_reference.values()) == {Decimal("0")}
    first = next(r for r in rows if r["reference"] == "W9500" and r["line"] == 1)
    assert (first["account"], first["amount"], first["date"]) == ("100.1210", Decimal("110.00"), date(2024, 5, 1))
    assert first["erp_id"] == target.find_posting(journal("W9500"))

    assert [r["reference"] for r in target.read_back(date(2024, 5, 4), date(2024, 5, 8))] == []
    assert {r["reference"] for r in target.read_back(date(2024, 5, 9), date(2024, 5, 9))} == {"W9503"}


def test_concurrent_posting_shares_one_token_and_posts_each_once(sandbox):
    from concurrent.futures import ThreadPoolExecutor

    state, url = sandbox(latency_seconds=0.01)
    target = make_target(url)
    postings = [journal(f"W96{n:02d}") for n in range(12)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        first = list(pool.map(lambda p: post_like_pipeline(target, p), postings[:6]))
        state.expire_all_tokens()
        second = list(pool.map(lambda p: post_like_pipeline(target, p), postings[6:] + postings[:6]))
    assert second[6:] == first
    assert len(state.batches) == 12 and len(state.f0911) == 36
    assert state.requests["tokenrequest"] == 2
