"""JdeTarget and the AIS sandbox over HTTP for users whose date format is not month-first.

The sandbox names each simulated user's format in the token response as Oracle documents it and
reads every date it receives in that format only, as EnterpriseOne's forms do.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from mlconnector.errors import ReviewError
from sandbox.jdedwards import JdeState, UserDates, create_app
from tests.integration.test_jde_target import journal, make_target
from tests.support.sandboxes import started_sandboxes

DAY_FIRST = {"MLC_USER": UserDates("DME", ".")}


@pytest.fixture
def sandbox():
    with started_sandboxes(JdeState, create_app) as start:
        yield start


def test_day_first_user_gets_day_first_dates_posted_and_read_back(sandbox):
    state, url = sandbox(user_date_formats=DAY_FIRST)
    target = make_target(url)
    for n, day in enumerate((date(2024, 5, 1), date(2024, 5, 13), date(2024, 5, 31))):
        target.create_posting(journal(f"W96{n:02d}", accounting_date=day), None)
    assert [batch["gl_date"] for batch in state.batches.values()] == [
        date(2024, 5, 1),
        date(2024, 5, 13),
        date(2024, 5, 31),
    ]
    rows = target.read_back(date(2024, 5, 2), date(2024, 5, 31))
    assert sorted({(r["reference"], r["date"]) for r in rows}) == [
        ("W9601", date(2024, 5, 13)),
        ("W9602", date(2024, 5, 31)),
    ]
    assert sum(r["amount"] for r in rows) == Decimal("0")


def test_dates_in_another_format_than_the_users_are_refused_like_the_form_does(sandbox):
    state, url = sandbox(user_date_formats=DAY_FIRST)
    target = make_target(url, date_format="MM/dd/yyyy")  # a profile override that does not match the user
    with pytest.raises(ReviewError, match="Invalid Date"):
        target.create_posting(journal("W9700", accounting_date=date(2024, 5, 31)), None)
    assert state.batches == {}
    assert state.requests["form_error:0004"] == 1


def test_year_first_user_with_dashes_posts_and_reads_back(sandbox):
    state, url = sandbox(user_date_formats={"MLC_USER": UserDates("EMD", "-")})
    target = make_target(url)
    target.create_posting(journal("W9800", accounting_date=date(2024, 5, 31)), None)
    assert state.batches["W9800"]["gl_date"] == date(2024, 5, 31)
    assert [r["date"] for r in target.read_back(date(2024, 5, 31), date(2024, 5, 31))] == [date(2024, 5, 31)] * 3
