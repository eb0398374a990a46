"""Dates and addresses as they are typed: a date with an impossible part is still compared by its
digits, an address is the same with or without its spaces, and the same street with another
number is a level of its own (FEBRL4's errors, which French files share)."""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appariement.blocking.rules import DEFAULT_PREDICTION_RULES, adapt_rules
from appariement.identity import standardise_identities
from appariement.linkage.comparisons import (address_comparison, birth_date_comparison,
                                             comparisons_for, residence_comparison)

from .conftest import one_edit


_CON = duckdb.connect()  # one connection: the identity macros are registered once


def _features(rows: list[dict], side: str = "platform"):
    con = _CON
    id_col = "candidat_id" if side == "platform" else "person_id"
    base = {id_col: None, "nom_naissance": "MARTIN", "prenoms": "PAUL", "date_naissance": None,
            "adresse": None}
    table = pa.Table.from_pylist([{**base, id_col: str(i), **r} for i, r in enumerate(rows)])
    return con, standardise_identities(con, table, side)


def _level(comparison, left: dict, right: dict) -> str:
    """The label of the level a pair of feature rows falls in (the comparison's own SQL)."""
    levels = comparison.get_comparison("duckdb").as_dict()["comparison_levels"]
    label = lambda lv: lv["label_for_charts"].replace("'", "''")  # noqa: E731
    case = " ".join(f"WHEN {lv['sql_condition']} THEN '{label(lv)}'"
                    for lv in levels if lv["sql_condition"] != "ELSE")
    con = duckdb.connect()
    con.register("l", pa.Table.from_pylist([{f"{k}_l": v for k, v in left.items()}]))
    con.register("r", pa.Table.from_pylist([{f"{k}_r": v for k, v in right.items()}]))
    return con.execute(f"SELECT CASE {case} ELSE 'all other' END FROM l, r").fetchall()[0][0]


_DATE_COLS = ("birth_year", "birth_month", "birth_day", "birth_date_placeholder", "nir", "nir_year",
              "nir_month", "birth_date_digits")


def _date_row(text: str) -> dict:
    con, rel = _features([{"date_naissance": text}])
    return dict(zip(_DATE_COLS, rel.project(", ".join(_DATE_COLS)).fetchall()[0]))


def test_an_impossible_month_keeps_its_digits_and_is_compared_by_them():
    row = _date_row("19175009")  # 1917-05-09 with the month's digits swapped
    assert row["birth_year"] is None and row["birth_date_digits"] == "19175009"
    assert _date_row("09/05/1917")["birth_date_digits"] == "19170509"
    assert _date_row("11/26/1963")["birth_date_digits"] == "19631126"  # US order read first
    assert _date_row("1917")["birth_date_digits"] is None  # a year alone has no digits to swap
    comp = birth_date_comparison(with_digits=True)
    assert (_level(comp, _date_row("09/05/1917"), _date_row("19175009"))
            == "dates as written one digit or one swap apart")
    # without the digits feature the unparsed date is missing: neutral, not evidence
    assert _level(birth_date_comparison(), _date_row("09/05/1917"),
                  _date_row("19175009")) == "missing"
    assert _level(comp, _date_row("09/05/1917"), _date_row("19630412")) == "all other"
    assert _level(comp, _date_row("09/05/1917"), _date_row("")) == "missing"


def _date_rows(texts: list[str]) -> list[dict]:
    con, rel = _features([{"date_naissance": t} for t in texts])
    rows = rel.project("CAST(record_id AS INTEGER) AS i, " + ", ".join(_DATE_COLS)).fetchall()
    return [dict(zip(_DATE_COLS, r[1:])) for r in sorted(rows)]


@settings(max_examples=8, deadline=None)
@given(st.lists(st.tuples(st.dates(min_value=dt.date(1900, 1, 1),
                                   max_value=dt.date(2010, 12, 31)), st.integers(0, 6)),
                min_size=1, max_size=25))
def test_two_swapped_digits_of_a_date_fall_in_the_digits_level_or_a_better_one(cases):
    written = [d.strftime("%Y%m%d") for d, _ in cases]
    swapped = [w[:i] + w[i + 1] + w[i] + w[i + 2:] for w, (_, i) in zip(written, cases)]
    comp = birth_date_comparison(with_digits=True)
    for left, right in zip(_date_rows(written), _date_rows(swapped)):
        assert _level(comp, left, right) not in ("all other", "missing", "same year only")


_ADDRESS_COLS = ("address", "address_key", "address_street", "address_number")


def _address_row(text: str | None) -> dict:
    con, rel = _features([{"adresse": text}])
    return dict(zip(_ADDRESS_COLS, rel.project(", ".join(_ADDRESS_COLS)).fetchall()[0]))


def test_address_features_ignore_spaces_numbers_and_kinds_of_street():
    assert _address_row("12 bis, rue de la Paix")["address_street"] == "PAIX"
    assert _address_row("MACKIE CRESCENT")["address_key"] == "MACKIECRESCENT"
    assert _address_row("  ") == dict.fromkeys(_ADDRESS_COLS)
    assert _address_row("12 RUE")["address_street"] is None  # a kind of street is no street
    comp = address_comparison(with_key=True, with_street=True)
    assert _level(comp, _address_row("MACKIECRESCENT"),
                  _address_row("MACKIE CRESCENT")) == "same address"
    assert _level(comp, _address_row("137 FITCHETT STREET"),
                  _address_row("FITCHETT STREET")) == "same street"
    assert _level(comp, _address_row("3 rue Victor Hugo"),
                  _address_row("3 rue Jean Jaures")) == "all other"


def test_the_house_number_is_read_and_compared_when_the_street_differs():
    assert _address_row("12 bis, rue de la Paix")["address_number"] == "12"
    assert _address_row("12B RUE DE LA PAIX")["address_number"] == "12"
    assert _address_row("95")["address_number"] == "95"  # the street lost: the number stays
    assert _address_row("MCLACHLAN STREET")["address_number"] is None
    assert _address_row("RUE DU 8 MAI 1945")["address_number"] == "8"  # the first number
    comp = address_comparison(with_key=True, with_street=True, with_number=True)
    assert _level(comp, _address_row("95 GRYLLS CRESCENT"),
                  _address_row("95")) == "same house number"
    assert _level(comp, _address_row("2 ENDEAVOUR STREET"),
                  _address_row("2 BURRENODNG EST")) == "same house number"
    assert _level(comp, _address_row("137 FITCHETT STREET"),
                  _address_row("FITCHETT STREET")) == "same street"  # the better level first
    assert _level(comp, _address_row("3 rue Victor Hugo"),
                  _address_row("4 rue Jean Jaures")) == "all other"
    # without the feature the level does not exist
    assert _level(address_comparison(with_key=True, with_street=True),
                  _address_row("95 GRYLLS CRESCENT"), _address_row("95")) == "all other"


def _postcode_row(text: str | None) -> dict:
    con, rel = _features([{"code_postal": text}])
    return dict(zip(("postcode", "residence_dept"),
                    rel.project("postcode, residence_dept").fetchall()[0]))


@pytest.mark.parametrize("left, right, level", [
    ("75011", "75011", "same postcode"),
    ("75011", "75012", "postcode one digit or one swap apart"),
    ("69003", "96003", "postcode one digit or one swap apart"),  # a swap across departments
    ("75011", "75021", "postcode one digit or one swap apart"),
    ("75011", "75120", "same department of residence"),  # two digits
    ("13001", "31001", "postcode one digit or one swap apart"),
    ("13001", "33100", "all other"),
])
def test_a_typed_postcode_has_its_own_level(left, right, level):
    comp = residence_comparison(with_typo=True)
    assert _level(comp, _postcode_row(left), _postcode_row(right)) == level
    # without it (keyed tokens in PPRL), one digit off is only the same department, or nothing
    plain = _level(residence_comparison(), _postcode_row(left), _postcode_row(right))
    assert plain != "postcode one digit or one swap apart"


def test_house_number_rules_block_what_the_street_and_postcode_rules_miss():
    present = {"birth_name", "first_name_canon", "postcode", "address_key", "address_street",
               "address_number"}
    rules, _ = adapt_rules(DEFAULT_PREDICTION_RULES, present)
    keys = {r.name: [k for k, _ in r.keys] for r in rules}
    assert keys["number_postcode"] == ["address_number", "postcode"]
    assert keys["street_postcode"] == ["address_street", "postcode"]
    assert keys["name_number"] == ["birth_name", "address_number"]
    # without an address, what is left of them is a rule already there (the same pairs)
    no_address = {"birth_name", "first_name_canon", "postcode", "birth_year"}
    new = ("number_postcode", "street_postcode", "name_number", "first_number")
    with_new = {frozenset(r.keys) for r in adapt_rules(DEFAULT_PREDICTION_RULES, no_address)[0]}
    without = {frozenset(r.keys) for r in adapt_rules(
        [n for n in DEFAULT_PREDICTION_RULES if n not in new], no_address)[0]}
    assert with_new == without
    # with an address but no house number (features of an older version) they are dropped,
    # not reduced to the postcode or the name alone (which a large file would tighten into
    # new, broad rules)
    old = {"birth_name", "first_name_canon", "postcode", "address_key", "address_street"}
    rules, changes = adapt_rules(DEFAULT_PREDICTION_RULES, old)
    assert not {r.name.split("-")[0] for r in rules} & {"number_postcode", "name_number",
                                                        "first_number"}
    assert {"rule": "number_postcode", "action": "dropped",
            "absent": ["address_number"]} in changes


def test_the_optional_features_are_read_only_when_present():
    present = {"birth_name", "first_name", "birth_year", "address"}
    _, cols = comparisons_for(present)
    assert "birth_date_digits" not in cols and "address_key" not in cols
    assert "address_number" not in cols
    _, cols = comparisons_for(present | {"birth_date_digits", "address_key", "address_street",
                                         "address_number"})
    assert {"birth_date_digits", "address_key", "address_street", "address_number"} <= set(cols)
    # features without address_key block on the address itself, not on the postcode alone
    rules, _ = adapt_rules(["address_postcode"], {"address", "postcode"})
    assert [k for k, _ in rules[0].keys] == ["address", "postcode"]
    rules, _ = adapt_rules(["address_postcode"], {"address", "address_key", "postcode"})
    assert [k for k, _ in rules[0].keys] == ["address_key", "postcode"]


@pytest.mark.parametrize("text", ["1,2,3", "A-B", "Ｐａｉｘ"])
def test_odd_addresses_give_no_error(text):
    assert set(_address_row(text)) == set(_ADDRESS_COLS)


def test_a_shared_nir_is_not_counted_again_by_the_date_level():
    """The NIR's owner agrees with their NIR by construction: when both sides hold the same NIR,
    "the declared date agrees with the other side's NIR" would count the NIR twice, and make a
    borrowed NIR look like its owner's birth date."""
    owner = {**_date_row("12/03/1985"), "nir": "185037512345678", "nir_year": "85",
             "nir_month": "03"}
    borrower = {**_date_row("02/11/1990"), "nir": "185037512345678", "nir_year": "85",
                "nir_month": "03"}
    comp = birth_date_comparison(with_digits=True)
    assert _level(comp, borrower, owner) == "all other"
    # a typo in the NIR: the borrower's NIR still reads the other side's birth date
    assert (_level(comp, {**borrower, "nir": "185037512345670"}, owner)
            == "declared date agrees with the other side's NIR (year and month)")


def test_a_nir_contradicting_its_holder_makes_a_different_nir_weaker_evidence():
    from appariement.linkage.comparisons import key_comparison
    comp = key_comparison("nir")
    a = {"nir": "185037512345678", "nir_consistency": "consistent"}
    b = {"nir": "290117512345611", "nir_consistency": "consistent"}
    assert _level(comp, a, b) == "all other"
    assert (_level(comp, a, {**b, "nir_consistency": "inconsistent"})
            == "different NIR, one contradicts its holder's traits")
    assert _level(comp, a, {**a, "nir_consistency": "inconsistent"}) == "same NIR"


@settings(max_examples=200, deadline=None)
@given(a=st.text("0123456789", min_size=8, max_size=8),
       b=st.text("0123456789", min_size=8, max_size=8),
       edit=st.sampled_from(["none", "substitute", "transpose", "other"]),
       i=st.integers(0, 6), digit=st.sampled_from("0123456789"))
def test_the_digits_level_pre_test_never_changes_the_edit_distance_decision(a, b, edit, i,
                                                                             digit):
    b = one_edit(a, b, edit, i, digit)
    levels = birth_date_comparison(with_digits=True).get_comparison("duckdb").as_dict()[
        "comparison_levels"]
    cond = next(lv["sql_condition"] for lv in levels
                if lv["label_for_charts"] == "dates as written one digit or one swap apart")
    got, plain = duckdb.execute(
        f"SELECT {cond}, damerau_levenshtein(birth_date_digits_l, birth_date_digits_r) <= 1 "
        "FROM (SELECT ? AS birth_date_digits_l, ? AS birth_date_digits_r)", [a, b]).fetchone()
    assert got == plain
