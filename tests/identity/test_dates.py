"""Birth dates: accepted forms, placeholders, statuses, errors only of the library's type,
SQL = Python on any string and any pivot, round trips of every written form, the summary."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appariement.errors import ConfigError, DateParseError, SchemaError
from appariement.identity import (FEATURE_COLUMNS, birth_date_summary, parse_birth_date,
                                  standardise_identities)
from appariement.identity.dates import (BIRTH_DATE_STATUSES, DEFAULT_YEAR_PIVOT,
                                        birth_date_status)


@pytest.mark.parametrize("raw, ymd, placeholder, date, status", [
    ("14/07/1989", (1989, 7, 14), False, dt.date(1989, 7, 14), "ok"),
    ("4/7/1989", (1989, 7, 4), False, dt.date(1989, 7, 4), "ok"),
    ("14-07-1989", (1989, 7, 14), False, dt.date(1989, 7, 14), "ok"),
    ("14.07/1989", (1989, 7, 14), False, dt.date(1989, 7, 14), "ok"),
    ("1989-07-14", (1989, 7, 14), False, dt.date(1989, 7, 14), "ok"),
    ("1989-07-14T00:00:00", (1989, 7, 14), False, dt.date(1989, 7, 14), "ok"),
    ("1989-07-14 00:00", (1989, 7, 14), False, dt.date(1989, 7, 14), "ok"),
    ("1963-11-26 00:00:00", (1963, 11, 26), False, dt.date(1963, 11, 26), "ok"),
    ("1963-11-26T00:00:00.000", (1963, 11, 26), False, dt.date(1963, 11, 26), "ok"),
    ("26/11/1963 00:00:00", (1963, 11, 26), False, dt.date(1963, 11, 26), "ok"),
    ("19890714", (1989, 7, 14), False, dt.date(1989, 7, 14), "ok"),
    ("1989-07", (1989, 7, None), True, None, "partial"),
    ("07/1989", (1989, 7, None), True, None, "partial"),
    ("1989", (1989, None, None), True, None, "partial"),
    ("00/00/1975", (1975, None, None), True, None, "partial"),
    ("1975-00-00", (1975, None, None), True, None, "partial"),
    ("00/05/1975", (1975, 5, None), True, None, "partial"),
    ("05/00/1975", (1975, None, None), True, None, "partial"),
    ("01/01/1980", (1980, 1, 1), True, dt.date(1980, 1, 1), "ok"),
    ("31/12/1980", (1980, 12, 31), True, dt.date(1980, 12, 31), "ok"),
    ("31/02/2000", (2000, 2, 31), False, None, "ok"),
    ("29/02/2000", (2000, 2, 29), False, dt.date(2000, 2, 29), "ok"),
    # US order only when the middle number cannot be a month and the first can
    ("11/26/1963", (1963, 11, 26), False, dt.date(1963, 11, 26), "us_order"),
    ("2/29/2000", (2000, 2, 29), False, dt.date(2000, 2, 29), "us_order"),
    ("12/31/1980", (1980, 12, 31), True, dt.date(1980, 12, 31), "us_order"),
    ("03/04/1990", (1990, 4, 3), False, dt.date(1990, 4, 3), "ok"),
    ("12/12/1990", (1990, 12, 12), False, dt.date(1990, 12, 12), "ok"),
    # two-digit years, default pivot 10: 00-10 -> 20yy, 11-99 -> 19yy
    ("14/07/89", (1989, 7, 14), False, dt.date(1989, 7, 14), "two_digit_year"),
    ("3/1/02", (2002, 1, 3), False, dt.date(2002, 1, 3), "two_digit_year"),
    ("03.01.10", (2010, 1, 3), False, dt.date(2010, 1, 3), "two_digit_year"),
    ("03/01/11", (1911, 1, 3), False, dt.date(1911, 1, 3), "two_digit_year"),
    ("00/00/75", (1975, None, None), True, None, "two_digit_year"),
])
def test_forms(raw, ymd, placeholder, date, status, sql):
    parsed = parse_birth_date(raw)
    assert (parsed.year, parsed.month, parsed.day) == ymd
    assert parsed.placeholder is placeholder
    assert parsed.date == date
    assert parsed.status == status == birth_date_status(raw)
    got = sql("app_parse_date(?)", raw)
    assert (got["year"], got["month"], got["day"], got["placeholder"], got["status"]) == (
        *ymd, placeholder, status)


@pytest.mark.parametrize("raw", ["14/13/1989", "32/01/1989", "1989-13-01", "13/13/1990",
                                 "00/26/1963", "11/26/63", "14/07/8", "hier", "1700-01-01",
                                 "14/07/1989/2", "07/89", "23341", "1963-26-11"])
def test_rejected_without_the_value_in_the_message(raw, sql):
    with pytest.raises(DateParseError) as info:
        parse_birth_date(raw)
    assert raw not in str(info.value)
    assert birth_date_status(raw) == "unparsed"
    got = sql("app_parse_date(?)", raw)
    assert (got["year"], got["month"], got["day"], got["status"]) == (None, None, None,
                                                                       "unparsed")


def test_us_order_when_unambiguous(sql):
    us = parse_birth_date("11/26/1963")
    assert (us.date, us.status) == (dt.date(1963, 11, 26), "us_order")
    french = parse_birth_date("11/06/1963")  # both numbers <= 12: day first
    assert (french.date, french.status) == (dt.date(1963, 6, 11), "ok")
    assert sql("app_parse_date('11/26/1963').day") == 26


@pytest.mark.parametrize("pivot, year", [(0, 1902), (1, 1902), (2, 2002), (10, 2002),
                                         (30, 2002), (99, 2002)])
def test_two_digit_year_pivot(pivot, year, sql):
    parsed = parse_birth_date("03/01/02", year_pivot=pivot)
    assert (parsed.year, parsed.month, parsed.day, parsed.status) == (year, 1, 3,
                                                                      "two_digit_year")
    assert sql("app_parse_date(?, ?).year", "03/01/02", pivot) == year
    # a four-digit year never depends on the pivot
    assert parse_birth_date("03/01/1902", year_pivot=pivot).year == 1902


def test_default_pivot_never_gives_a_future_birth():
    assert DEFAULT_YEAR_PIVOT == 10
    assert parse_birth_date("01/06/30").year == 1930
    assert parse_birth_date("01/06/26").year == 1926
    assert parse_birth_date("01/06/08").year == 2008


def test_unknown_parts_and_impossible_dates():
    unknown = parse_birth_date("00/00/1975")
    assert (unknown.year, unknown.month, unknown.day, unknown.placeholder, unknown.status) == (
        1975, None, None, True, "partial")
    with pytest.raises(DateParseError):
        parse_birth_date("13/13/1990")


@pytest.mark.parametrize("pivot", [-1, 100, 10.0, "10", True, None])
def test_bad_pivot_is_a_config_error(pivot, con):
    with pytest.raises(ConfigError):
        parse_birth_date("03/01/02", year_pivot=pivot)
    with pytest.raises(ConfigError):
        standardise_identities(con, pd.DataFrame({"candidat_id": ["c1"], "nom": ["X"],
                                                  "prenoms": ["Y"]}), year_pivot=pivot)


def test_missing_and_date_objects(sql):
    assert parse_birth_date(None) is None and parse_birth_date("   ") is None
    for missing in (None, "", " \t\r\n"):
        assert birth_date_status(missing) is None
        assert sql("app_parse_date(?)", missing) == {"year": None, "month": None, "day": None,
                                                     "placeholder": None, "status": None}
    assert sql("app_parse_date(DATE '1963-11-26').status") == "ok"
    assert sql("app_parse_date(TIMESTAMP '1963-11-26 00:00:00').day") == 26
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
SEPARATORS = st.sampled_from("/-.")


def _number(width_choices):
    return st.tuples(st.integers(0, 99), st.sampled_from(width_choices)).map(
        lambda t: f"{t[0]:0{t[1]}d}")


@st.composite
def date_like(draw):
    """Strings shaped like every accepted form (and near misses), numbers in any range."""
    sep = [draw(SEPARATORS), draw(SEPARATORS)]
    a, b = draw(_number([1, 2])), draw(_number([1, 2]))
    year4 = f"{draw(st.integers(0, 9999)):04d}"
    year2 = f"{draw(st.integers(0, 99)):02d}"
    text = draw(st.sampled_from([
        f"{a}{sep[0]}{b}{sep[1]}{year4}", f"{year4}{sep[0]}{a}{sep[1]}{b}",
        f"{year4}{a:0>2}{b:0>2}", f"{a}{sep[0]}{b}{sep[1]}{year2}", f"{year4}{sep[0]}{a}",
        f"{a}{sep[0]}{year4}", year4, f"{a}{sep[0]}{b}", f"{a}{sep[0]}{b}{sep[1]}{year2[0]}"]))
    suffix = draw(st.sampled_from(["", " 00:00:00", "T00:00:00", "T12:30", "  1:05:00.000",
                                   " x", ":00"]))
    pad = draw(st.sampled_from(["", " ", "\t", "\r\n"]))
    return pad + text + suffix + pad


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(alphabet=DATE_ALPHABET, max_size=20), st.text(max_size=12),
                 date_like(),
                 st.dates(dt.date(1850, 1, 1), dt.date(2030, 12, 31)).map(
                     lambda d: d.strftime("%d/%m/%Y")),
                 st.tuples(st.integers(1900, 2020), st.integers(0, 12), st.integers(0, 31)).map(
                     lambda t: f"{t[0]}{t[1]:02d}{t[2]:02d}")),
       st.integers(0, 99))
def test_sql_agrees_with_python(sql, text, pivot):
    try:
        parsed = parse_birth_date(text, year_pivot=pivot)
    except DateParseError:
        parsed = None
    got = sql("app_parse_date(?, ?)", text, pivot)
    assert got["status"] == birth_date_status(text, year_pivot=pivot)
    if parsed is None:
        assert (got["year"], got["month"], got["day"], got["placeholder"]) == (None,) * 4
    else:
        assert (got["year"], got["month"], got["day"], got["placeholder"]) == (
            parsed.year, parsed.month, parsed.day, parsed.placeholder)


def _written(date: dt.date, form: str, sep: str, pivot: int) -> tuple[str, str]:
    """``date`` written in ``form``, and the status reading it back must give."""
    d, m, y = date.day, date.month, date.year
    if form == "dd/mm/yyyy":
        return f"{d:02d}{sep}{m:02d}{sep}{y}", "ok"
    if form == "d/m/yyyy":
        return f"{d}{sep}{m}{sep}{y}", "ok"
    if form == "yyyy-mm-dd":
        return f"{y}{sep}{m:02d}{sep}{d:02d}", "ok"
    if form == "yyyymmdd":
        return f"{y}{m:02d}{d:02d}", "ok"
    if form == "mm/dd/yyyy":  # only read back as such when the day cannot be a month
        return f"{m:02d}{sep}{d:02d}{sep}{y}", "us_order" if d > 12 else "ok"
    if form == "dd/mm/yy":
        return f"{d:02d}{sep}{m:02d}{sep}{y % 100:02d}", "two_digit_year"
    if form == "d/m/yy":
        return f"{d}{sep}{m}{sep}{y % 100:02d}", "two_digit_year"
    raise AssertionError(form)


FORMS = ["dd/mm/yyyy", "d/m/yyyy", "yyyy-mm-dd", "yyyymmdd", "mm/dd/yyyy", "dd/mm/yy",
         "d/m/yy"]


@settings(max_examples=300, deadline=None)
@given(st.dates(dt.date(1800, 1, 1), dt.date(2100, 12, 31)), st.sampled_from(FORMS),
       SEPARATORS, st.integers(0, 99), st.sampled_from(["", " 00:00:00", "T00:00:00"]))
def test_round_trip(sql, date, form, sep, pivot, time):
    if form.endswith("/yy"):  # a two-digit year can only be read back in the pivot's century
        date = date.replace(year=(2000 if date.year % 100 <= pivot else 1900)
                            + date.year % 100)
    if form == "mm/dd/yyyy" and date.day <= 12:
        expected_date = dt.date(date.year, date.day, date.month)  # read day first
    else:
        expected_date = date
    text, status = _written(date, form, sep, pivot)
    parsed = parse_birth_date(text + time, year_pivot=pivot)
    assert (parsed.date, parsed.status) == (expected_date, status)
    got = sql("app_parse_date(?, ?)", text + time, pivot)
    assert (got["year"], got["month"], got["day"], got["status"]) == (
        expected_date.year, expected_date.month, expected_date.day, status)


def test_standardise_status_column_and_summary(con):
    values = ["14/07/1989", "1989-07-14 00:00:00", "11/26/1963", "03/01/02", "00/00/1975",
              "1990", "13/13/1990", "hier", None, "  ", "26/11/63"]
    df = pd.DataFrame({"candidat_id": [f"c{i}" for i in range(len(values))],
                       "nom": ["X"] * len(values), "prenoms": ["Y"] * len(values),
                       "date_naissance": values})
    rel = standardise_identities(con, df)
    assert "birth_date_status" in FEATURE_COLUMNS and "birth_date_status" in rel.columns
    rows = {r[0]: r[1:] for r in rel.select(
        "record_id, birth_year, birth_month, birth_day, birth_date_status").fetchall()}
    assert [rows[f"c{i}"] for i in range(len(values))] == [
        (1989, 7, 14, "ok"), (1989, 7, 14, "ok"), (1963, 11, 26, "us_order"),
        (2002, 1, 3, "two_digit_year"), (1975, None, None, "partial"),
        (1990, None, None, "partial"), (None, None, None, "unparsed"),
        (None, None, None, "unparsed"), (None, None, None, None), (None, None, None, None),
        (1963, 11, 26, "two_digit_year")]
    summary = birth_date_summary(rel)
    assert summary == {"total": 11, "missing": 2, "ok": 2, "partial": 2, "us_order": 1,
                       "two_digit_year": 2, "unparsed": 2, "from_nir": 0}
    assert set(summary) == {"total", "missing", *BIRTH_DATE_STATUSES}
    older = standardise_identities(con, df, year_pivot=1)
    assert older.filter("record_id = 'c3'").select("birth_year").fetchall() == [(1902,)]
    # the status agrees with Python's on every value
    for i, value in enumerate(values):
        assert rows[f"c{i}"][3] == birth_date_status(value)


def test_a_missing_date_is_read_from_a_valid_nir(con):
    """No declared date: the NIR's year and month stand in (status 'from_nir', counted), the
    century from the pivot; the NIR checks still see no declared date (unverifiable); an
    unknown NIR month (20-42), a temporary NIR or a wrong check key give nothing."""
    def nir(body):
        return body + f"{97 - int(body) % 97:02d}"
    nirs = [nir("1850575123456"), nir("2050375123456"), nir("1853075123456"),
            nir("7850575123456"), nir("1850575123456")[:13] + "00", nir("1850575123456")]
    dates = [None, None, None, None, None, "14/07/1989"]
    df = pd.DataFrame({"candidat_id": [f"c{i}" for i in range(6)], "nom": "X", "prenoms": "Y",
                       "date_naissance": dates, "nir": nirs})
    rel = standardise_identities(con, df)
    rows = {r[0]: r[1:] for r in rel.select(
        "record_id, birth_year, birth_month, birth_day, birth_date_status, "
        "nir_consistency").fetchall()}
    assert rows["c0"] == (1985, 5, None, "from_nir", "unverifiable")
    assert rows["c1"] == (2005, 3, None, "from_nir", "unverifiable")
    assert rows["c2"] == (1985, None, None, "from_nir", "unverifiable")
    assert rows["c3"][:4] == (None, None, None, None)  # temporary number
    assert rows["c4"][:4] == (None, None, None, None)  # wrong check key
    assert rows["c5"] == (1989, 7, 14, "ok", "inconsistent")  # a declared date is kept
    summary = birth_date_summary(rel)
    assert summary["from_nir"] == 3 and summary["missing"] == 2
    older = standardise_identities(con, df, year_pivot=4)
    assert older.filter("record_id = 'c1'").select("birth_year").fetchall() == [(1905,)]


def test_summary_needs_the_status_column(con):
    with pytest.raises(SchemaError, match="birth_date_status"):
        birth_date_summary(con.sql("SELECT 1 AS x"))
