"""Birth dates: accepted forms, placeholders, errors only of the library's type, SQL = Python."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appariement.errors import DateParseError
from appariement.identity import parse_birth_date


@pytest.mark.parametrize("raw, ymd, placeholder, date", [
    ("14/07/1989", (1989, 7, 14), False, dt.date(1989, 7, 14)),
    ("4/7/1989", (1989, 7, 4), False, dt.date(1989, 7, 4)),
    ("14-07-1989", (1989, 7, 14), False, dt.date(1989, 7, 14)),
    ("1989-07-14", (1989, 7, 14), False, dt.date(1989, 7, 14)),
    ("1989-07-14T00:00:00", (1989, 7, 14), False, dt.date(1989, 7, 14)),
    ("1989-07-14 00:00", (1989, 7, 14), False, dt.date(1989, 7, 14)),
    ("19890714", (1989, 7, 14), False, dt.date(1989, 7, 14)),
    ("1989-07", (1989, 7, None), True, None),
    ("07/1989", (1989, 7, None), True, None),
    ("1989", (1989, None, None), True, None),
    ("00/00/1975", (1975, None, None), True, None),
    ("1975-00-00", (1975, None, None), True, None),
    ("00/05/1975", (1975, 5, None), True, None),
    ("01/01/1980", (1980, 1, 1), True, dt.date(1980, 1, 1)),
    ("31/12/1980", (1980, 12, 31), True, dt.date(1980, 12, 31)),
    ("31/02/2000", (2000, 2, 31), False, None),
    ("29/02/2000", (2000, 2, 29), False, dt.date(2000, 2, 29)),
])
def test_forms(raw, ymd, placeholder, date, sql):
    parsed = parse_birth_date(raw)
    assert (parsed.year, parsed.month, parsed.day) == ymd
    assert parsed.placeholder is placeholder
    assert parsed.date == date
    got = sql("app_parse_date(?)", raw)
    assert (got["year"], got["month"], got["day"], got["placeholder"]) == (*ymd, placeholder)


@pytest.mark.parametrize("raw", ["14/13/1989", "32/01/1989", "1989-13-01", "14/07/89",
                                 "hier", "1700-01-01", "14/07/1989/2"])
def test_rejected_without_the_value_in_the_message(raw, sql):
    with pytest.raises(DateParseError) as info:
        parse_birth_date(raw)
    assert raw not in str(info.value)
    assert sql("app_parse_date(?).year", raw) is None


def test_missing_and_date_objects():
    assert parse_birth_date(None) is None and parse_birth_date("   ") is None
    assert parse_birth_date(dt.date(1990, 3, 2)).date == dt.date(1990, 3, 2)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=25))
def test_never_raises_anything_but_the_library_error(text):
    try:
        result = parse_birth_date(text)
    except DateParseError:
        return
    assert result is None or 1800 <= result.year <= 2100


DATE_ALPHABET = "0123456789/-. T:"


@settings(max_examples=120, deadline=None)
@given(st.one_of(st.text(alphabet=DATE_ALPHABET, max_size=20),
                 st.dates(dt.date(1850, 1, 1), dt.date(2030, 12, 31)).map(
                     lambda d: d.strftime("%d/%m/%Y")),
                 st.tuples(st.integers(1900, 2020), st.integers(0, 12), st.integers(0, 31)).map(
                     lambda t: f"{t[0]}{t[1]:02d}{t[2]:02d}")))
def test_sql_agrees_with_python(sql, text):
    try:
        parsed = parse_birth_date(text)
    except DateParseError:
        parsed = None
    got = sql("app_parse_date(?)", text)
    if parsed is None:
        assert got["year"] is None
    else:
        assert (got["year"], got["month"], got["day"], got["placeholder"]) == (
            parsed.year, parsed.month, parsed.day, parsed.placeholder)
