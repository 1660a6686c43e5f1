"""JD Edwards date formats: JDE's patterns and user profile codes, read and written; the profile override."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from mlconnector.targets.jdedwards.dates import JdeDateFormat
from mlconnector.targets.jdedwards.settings import JdeSettings
from sandbox.contracts import contract_json

DAY = date(2024, 5, 31)


@pytest.mark.parametrize(
    ("pattern", "shown"),
    [
        ("MM/dd/yyyy", "05/31/2024"),
        ("dd/MM/yyyy", "31/05/2024"),
        ("dd.MM.yyyy", "31.05.2024"),
        ("yyyy-MM-dd", "2024-05-31"),
        ("yyyyMMdd", "20240531"),
        ("dd/MM/yy", "31/05/24"),
        ("d/M/yyyy", "31/5/2024"),
        ("dd' de 'MM' de 'yyyy", "31 de 05 de 2024"),
    ],
)
def test_patterns_write_and_read_dates(pattern, shown):
    dates = JdeDateFormat.from_pattern(pattern)
    assert dates.format(DAY) == shown
    assert dates.parse(shown) == DAY


def test_every_date_format_an_orchestration_input_may_declare_is_understood():
    documented = contract_json("jdedwards", "orchestration-input-formats.json")["inputDateFormats"]
    for pattern in documented:
        dates = JdeDateFormat.from_pattern(pattern)
        assert dates.parse(dates.format(DAY)) == DAY


@pytest.mark.parametrize(
    ("code", "separator", "pattern"),
    [("MDE", "/", "MM/dd/yyyy"), ("DME", "/", "dd/MM/yyyy"), ("DME", ".", "dd.MM.yyyy"), ("EMD", "-", "yyyy-MM-dd")],
)
def test_user_profile_codes_translate_to_patterns(code, separator, pattern):
    assert JdeDateFormat.from_code(code, separator).pattern == pattern


@pytest.mark.parametrize(("code", "separator"), [("MD", "/"), ("MDX", "/"), ("MDE", "x")])
def test_unknown_codes_and_separators_are_refused(code, separator):
    with pytest.raises(ValueError):
        JdeDateFormat.from_code(code, separator)


@pytest.mark.parametrize("pattern", ["dd/MM", "MMM dd yyyy", "dd/MM/yyyy HH:mm", "dd/dd/yyyy", "dd'/MM/yyyy"])
def test_patterns_without_exactly_a_day_month_and_year_are_refused(pattern):
    with pytest.raises(ValueError):
        JdeDateFormat.from_pattern(pattern)


def test_user_info_pattern_first_then_code_then_nothing():
    documented = contract_json("jdedwards", "token-response-dme.json")["userInfo"]
    assert JdeDateFormat.from_user_info(documented).pattern == "dd/MM/yyyy"
    code_only = {k: v for k, v in documented.items() if k != "simpleDateFormat"} | {"dateSeperator": "."}
    assert JdeDateFormat.from_user_info(code_only).pattern == "dd.MM.yyyy"
    unreadable_pattern = documented | {"simpleDateFormat": "EEE, d MMM yyyy"}
    assert JdeDateFormat.from_user_info(unreadable_pattern).pattern == "dd/MM/yyyy"
    assert JdeDateFormat.from_user_info({"token": "t"}) is None


def test_dates_in_another_format_are_not_read():
    with pytest.raises(ValueError):
        JdeDateFormat.from_pattern("dd.MM.yyyy").parse("05/31/2024")
    with pytest.raises(ValueError):
        JdeDateFormat.from_pattern("MM/dd/yyyy").parse("31/05/2024")


def test_two_digit_years_fall_within_eighty_years_back_and_twenty_ahead():
    dates = JdeDateFormat.from_pattern("yy/MM/dd")
    this_year = date.today().year
    ahead = (this_year + 20) % 100
    assert dates.parse(f"{ahead:02d}/01/01").year == this_year + 20
    assert dates.parse(f"{(ahead + 1) % 100:02d}/01/01").year == this_year - 79


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2999, 12, 31)))
def test_four_digit_formats_round_trip(value):
    for pattern in ("dd.MM.yyyy", "MM/dd/yyyy", "yyyy-MM-dd", "d/M/yyyy"):
        dates = JdeDateFormat.from_pattern(pattern)
        assert dates.parse(dates.format(value)) == value


def test_profile_override_is_a_jde_pattern_and_none_by_default():
    settings = JdeSettings(base_url="https://ais.example.com")
    assert settings.date_format is None and settings.date_override is None
    overridden = JdeSettings(base_url="https://ais.example.com", date_format="yyyy/MM/dd")
    assert overridden.date_override.format(DAY) == "2024/05/31"
    with pytest.raises(ValidationError, match="date_format"):
        JdeSettings(base_url="https://ais.example.com", date_format="%m/%d/%Y")
