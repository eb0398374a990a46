"""NIR: stdnum-shaped API, classification, parts, and the SQL macros agreeing with Python."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appariement.errors import (InvalidNIRComponent, InvalidNIRError, InvalidNIRFormat,
                                InvalidNIRKey, InvalidNIRLength)
from appariement.identity import nir

# Hand-checked numbers: key = 97 - (first 13 digits mod 97), 2A -> 19, 2B -> 18.
FOREIGN = "295109912611193"   # stdnum's doc example, born abroad (country 126)
CORSICA_B = "253072B07300470"  # stdnum's doc example, 2B
CORSICA_A = "253072A07300443"


def _with_key(n13: str) -> str:
    number = n13.replace("2A", "19").replace("2B", "18") if n13[5:7] in ("2A", "2B") else n13
    return n13 + f"{97 - int(number) % 97:02d}"


@st.composite
def valid_nirs(draw):
    sex = draw(st.sampled_from("1278"))
    year = f"{draw(st.integers(0, 99)):02d}"
    month = f"{draw(st.sampled_from(list(range(1, 13)) + [20, 30, 42, 50, 99])):02d}"
    dept = draw(st.sampled_from(["01", "13", "2A", "2B", "20", "75", "95", "97", "98", "99"]))
    if dept in ("97", "98"):
        place = dept + f"{draw(st.integers(1, 8))}{draw(st.integers(1, 99)):02d}"
    else:
        place = dept + f"{draw(st.integers(1, 999)):03d}"
    order = f"{draw(st.integers(1, 999)):03d}"
    return _with_key(sex + year + month + place + order), (sex, year, month, dept, place, order)


def test_known_numbers():
    assert nir.validate("2 95 10 99 126 111 93") == FOREIGN
    assert nir.classify(FOREIGN) == "foreign_born"
    assert nir.classify(CORSICA_B) == "nir"
    assert nir.parts(CORSICA_A).department == "2A"
    assert nir.parts(FOREIGN).place == "99126"
    assert nir.format(FOREIGN) == "2 95 10 99 126 111 93"


@pytest.mark.parametrize("bad, error", [
    ("29510991261119", InvalidNIRLength),
    ("2951099126111930", InvalidNIRLength),
    ("253072C07300443", InvalidNIRFormat),
    ("2951O9912611193", InvalidNIRFormat),
    ("295109912611199", InvalidNIRKey),
    (_with_key("3951099126111"), InvalidNIRComponent),   # sex digit 3
    (_with_key("2951399126111"), InvalidNIRComponent),   # month 13
    (_with_key("2952599126111"), InvalidNIRComponent),   # month 25
    (_with_key("2951000126111"), InvalidNIRComponent),   # department 00
    (_with_key("2951075000111"), InvalidNIRComponent),   # commune 000
    (_with_key("2951075001000"), InvalidNIRComponent),   # order 000
])
def test_precise_errors_without_the_value(bad, error):
    with pytest.raises(error) as info:
        nir.validate(bad)
    assert bad not in str(info.value) and bad[:7] not in str(info.value)
    assert nir.classify(bad) == "invalid" and not nir.is_valid(bad)


def test_temporary_and_missing():
    temporary = _with_key("7851075001123")
    assert nir.classify(temporary) == "temporary"
    assert nir.parts(temporary).sex == "1"
    assert nir.classify(None) is None and nir.classify("  ") is None
    assert nir.parts(_with_key("2850999350123")).place == "99350"


def test_overseas_department_has_three_characters():
    number = _with_key("1850597411123")
    assert nir.parts(number).department == "974"
    assert nir.parts(number).place == "97411"


@settings(max_examples=200, deadline=None)
@given(valid_nirs(), st.sampled_from(["", " ", ".", "-"]))
def test_valid_nirs_from_parts_round_trip(built, sep):
    number, (sex, year, month, dept, place, order) = built
    formatted = nir.format(number, sep) if sep else number
    assert nir.compact(formatted) == number
    assert nir.validate(formatted) == number
    expected = ("temporary" if sex in "78" else "foreign_born" if dept == "99" else "nir")
    assert nir.classify(number) == expected
    parts = nir.parts(number)
    assert parts.sex == {"1": "1", "7": "1", "2": "2", "8": "2"}[sex]
    assert (parts.year, parts.month, parts.place, parts.order) == (year, month, place, order)
    assert parts.department == (place[:3] if dept in ("97", "98") else dept)
    assert parts.month_known == (1 <= int(month) <= 12)


@settings(max_examples=200, deadline=None)
@given(valid_nirs(), st.integers(0, 14), st.sampled_from("0123456789ABZ"))
def test_every_single_character_change_is_detected(built, position, char):
    number, _ = built
    if number[position] == char:
        return
    changed = number[:position] + char + number[position + 1:]
    assert not nir.is_valid(changed)
    with pytest.raises(InvalidNIRError):
        nir.validate(changed)


@settings(max_examples=150, deadline=None)
@given(st.one_of(valid_nirs().map(lambda b: b[0]),
                 st.text(alphabet="0123456789AB .-", max_size=18)))
def test_sql_macros_agree_with_python(sql, value):
    compact = sql("app_nir_compact(?)", value)
    assert compact == (nir.compact(value) or None)
    assert sql("app_nir_class(app_nir_compact(?))", value) == nir.classify(value)
    if nir.is_valid(value):
        parts = nir.parts(value)
        got = sql("[app_nir_sex(n), app_nir_year(n), app_nir_month(n), app_nir_dept(n), "
                  "app_nir_place(n)] FROM (SELECT app_nir_compact(?) AS n)", value)
        assert got == [parts.sex, parts.year, parts.month, parts.department, parts.place]
