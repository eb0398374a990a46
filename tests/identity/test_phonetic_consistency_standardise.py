"""Phonetic codes, NIR/traits consistency and the standardise_identities entry point."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appariement.errors import SchemaError
from appariement.identity import (FEATURE_COLUMNS, check_nir_consistency, phonetic_code,
                                  soundex2, standardise_identities)


def _with_key(n13: str) -> str:
    number = n13.replace("2A", "19").replace("2B", "18") if n13[5:7] in ("2A", "2B") else n13
    return n13 + f"{97 - int(number) % 97:02d}"


# Expected Soundex2 codes published with an independent implementation (talisman's tests).
@pytest.mark.parametrize("word, code", [
    ("Asamian", "AZMN"), ("Knight", "NG"), ("MacKenzie", "MKNZ"), ("Pfeifer", "FR"),
    ("Philippe", "FLP"), ("Schindler", "SNDL"), ("Chateau", "CHT"), ("Habitat", "HBT"),
    ("Téhéran", "TRN"), ("Essayer", "ESYR"), ("Crayon", "CRYN"), ("Plyne", "PLN"),
    ("Barad", "BR"), ("Martin", "MRTN"), ("Bernard", "BRNR"), ("Faure", "FR"),
    ("Perez", "PRZ"), ("Gros", "GR"),
])
def test_soundex2_reference_codes(word, code):
    assert soundex2(word) == code


def test_phonetic_code_in_sql_matches_python(sql):
    for name in ["Dupond", "GAUTHIER", "Jean-Pierre", None, "", "HNA", "Hwang", "Ashcraft",
                 "Pfister", "Tymczak", "Ñuñez", "O'Neil", "Straße", "Ødegaard", "Œuvre"]:
        assert sql("app_phonetic(?)", name) == phonetic_code(name), name


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ aehiouwyçéèàÿñøœß'-.0123456789",
               max_size=30))
def test_sql_soundex_equals_jellyfish_on_any_text(con, text):
    """The SQL macro reproduces jellyfish's Soundex word by word (H/W rule, vowels, first
    letter, padding, non-letters) on arbitrary text."""
    assert con.execute("SELECT app_phonetic(?)", [text]).fetchall()[0][0] == phonetic_code(text)


@pytest.mark.parametrize("kwargs, status, flags", [
    (dict(sex="2", birth_year=1953, birth_month=7, birth_dept="2B"), "consistent",
     (True, True, True, True)),
    (dict(sex="1", birth_year=1953, birth_month=7, birth_dept="2B"), "inconsistent",
     (False, True, True, True)),
    (dict(sex="2", birth_year=1953, birth_month=1, birth_placeholder=True), "consistent",
     (True, True, None, None)),
    (dict(), "unverifiable", (None, None, None, None)),
    (dict(sex="2", birth_year=1953, birth_dept="20"), "consistent", (True, True, None, True)),
])
def test_consistency_corsica(kwargs, status, flags):
    result = check_nir_consistency("253072B07300470", **kwargs)
    assert result.status == status
    assert (result.sex_ok, result.year_ok, result.month_ok, result.place_ok) == flags


def test_consistency_special_cases():
    seine = _with_key("1550375112123")  # born 1955 in Seine (75): now Hauts-de-Seine 92
    assert check_nir_consistency(seine, sex="1", birth_year=1955, birth_dept="92").place_ok
    assert not check_nir_consistency(seine, sex="1", birth_year=1985, birth_dept="92").place_ok
    abroad = "295109912611193"
    assert check_nir_consistency(abroad, birth_country="99126").place_ok
    assert check_nir_consistency(abroad, birth_country="99350").place_ok is False
    assert check_nir_consistency(abroad, birth_dept="75", birth_country="99100").place_ok is False
    assert check_nir_consistency(None).status == "no_nir"
    assert check_nir_consistency("123").status == "invalid"


def test_standardise_platform_and_source(con):
    nir_a = _with_key("2850575112123")
    platform = pd.DataFrame({
        "candidat_id": ["c1", "c2", "c3", "c4"],
        "nir": [nir_a.replace("", " ").strip(), "295109912611193", None, _with_key("1850575112123")],
        "nom": ["Martin née de la Fontaine", "Benali", "Le Gall", "Dupont"],
        "nom_naissance": [None, None, None, None],
        "prenoms": ["Marie-Thérèse, Anne", "Fatma", "Jean Pierre", "Paul"],
        "sexe": ["F", "féminin", "H", "2"],
        "date_naissance": ["14/05/1985", "00/00/1995", "1990-03", "12/05/1985"],
        "commune_naissance": ["75112", None, "2A004", "75112"],
        "pays_naissance": [None, "99126", None, None],
        "code_postal": ["75011", "20200", None, "97400"],
    })
    rel = standardise_identities(con, platform, side="platform")
    assert tuple(rel.columns) == FEATURE_COLUMNS
    rows = {r["record_id"]: r for r in rel.df().to_dict("records")}
    assert len(rows) == 4
    c1, c2, c3, c4 = rows["c1"], rows["c2"], rows["c3"], rows["c4"]
    assert (c1["birth_name"], c1["usage_name"]) == ("DELAFONTAINE", "MARTIN")
    assert list(c1["first_names"]) == ["MARIE THERESE", "ANNE"]
    assert c1["nir"] == nir_a and c1["nir_consistency"] == "consistent"
    assert c2["nir_class"] == "foreign_born" and c2["born_abroad"] and c2["birth_dept"] == "99"
    assert c2["first_name_canon"] == "FATIMA" and c2["birth_date_placeholder"]
    assert c2["residence_dept"] == "2B"
    assert c3["nir_consistency"] == "no_nir" and c3["birth_dept"] == "2A"
    assert c3["first_names_joined"] == "JEAN PIERRE" and c3["birth_month"] == 3
    assert c4["nir_sex_ok"] is False and c4["nir_consistency"] == "inconsistent"
    assert c4["residence_dept"] == "974" and c4["birth_country"] == "99100"

    source = pd.DataFrame({"person_id": [1], "nir": [None], "nom_naissance": ["DE LA FONTAINE"],
                           "nom_usage": ["MARTIN"], "prenoms": ["MARIE THERESE ANNE"],
                           "sexe": ["2"], "date_naissance": ["1985-05-14"]})
    s1 = standardise_identities(con, source, side="source").df().to_dict("records")[0]
    assert (s1["record_id"], s1["birth_name"], s1["usage_name"]) == ("1", "DELAFONTAINE",
                                                                      "MARTIN")
    assert str(s1["birth_date"])[:10] == "1985-05-14"


def test_standardise_missing_column_is_a_clear_error(con):
    # the minimum input is an id plus a surname, or an id plus a key
    with pytest.raises(SchemaError, match="neither a surname nor a key"):
        standardise_identities(con, pd.DataFrame({"candidat_id": ["c1"], "prenoms": ["X"]}))
    with pytest.raises(SchemaError, match="id column 'candidat_id'"):
        standardise_identities(con, pd.DataFrame({"id": ["c1"], "nom": ["X"]}))
    only_name = standardise_identities(con, pd.DataFrame({"candidat_id": ["c1"], "nom": ["X"]}))
    assert only_name.fetchall()[0][0] == "c1"
    only_key = standardise_identities(con, pd.DataFrame({"person_id": ["p1"], "nir": [None]}),
                                      side="source")
    assert only_key.fetchall()[0][0] == "p1"
