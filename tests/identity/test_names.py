"""Names: tricky real-world forms, idempotence, Python and SQL giving the same result."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appariement.identity import (canonical_first_name, normalise_first_names, normalise_name,
                                  split_name_forms)

# A restricted alphabet both Python's unicodedata and DuckDB's strip_accents agree on.
NAME_ALPHABET = "abcdeDELAURSZéèêëàçïôüÉÈÀÇŒœæß '’-.,;/()"


@pytest.mark.parametrize("raw, expected", [
    ("de la Fontaine", "DELAFONTAINE"),
    ("DELAFONTAINE", "DELAFONTAINE"),
    ("Fontaine (de la)", "DELAFONTAINE"),
    ("Le Gall", "LEGALL"),
    ("LEGALL", "LEGALL"),
    ("d'Almeida", "DALMEIDA"),
    ("D’ALMEIDA", "DALMEIDA"),
    ("D ALMEIDA", "DALMEIDA"),
    ("Martin-Dupont", "MARTIN DUPONT"),
    ("  martin   dupont ", "MARTIN DUPONT"),
    ("Lefèvre", "LEFEVRE"),
    ("Œuvrard", "OEUVRARD"),
    ("Van der Berg", "VANDERBERG"),
    ("Ben Ali", "BENALI"),
    ("N'Diaye", "NDIAYE"),
    ("Saint-Exupéry", "SAINTEXUPERY"),
    ("Müller", "MULLER"),
    ("", None),
    ("--", None),
])
def test_surname_forms(raw, expected, sql):
    assert normalise_name(raw) == expected
    assert sql("app_name_norm(?)", raw) == expected


@pytest.mark.parametrize("raw, birth, usage", [
    ("Dupont épouse Martin", "DUPONT", "MARTIN"),
    ("DUPONT EP. MARTIN", "DUPONT", "MARTIN"),
    ("Dupont ép Le Gall", "DUPONT", "LEGALL"),
    ("Durand veuve Petit", "DURAND", "PETIT"),
    ("Martin née Dupont", "DUPONT", "MARTIN"),
    ("MARTIN NEE DE LA FONTAINE", "DELAFONTAINE", "MARTIN"),
])
def test_birth_and_usage_in_free_text(raw, birth, usage, sql):
    forms = split_name_forms(raw)
    assert (forms.birth, forms.usage, forms.plain) == (birth, usage, None)
    got = sql("app_name_forms(?)", raw)
    assert (got["birth"], got["usage"], got["plain"]) == (birth, usage, None)


def test_a_name_that_only_looks_like_a_marker_is_kept():
    assert split_name_forms("Nee").plain == "NEE"
    assert split_name_forms("Epoux Martin").plain == "EPOUX MARTIN"


@pytest.mark.parametrize("raw, expected", [
    ("Jean-Pierre, Marie", ["JEAN PIERRE", "MARIE"]),
    ("Jean-Pierre Marie", ["JEAN PIERRE", "MARIE"]),
    ("Jean Pierre", ["JEAN", "PIERRE"]),
    ("Anaïs  Léa", ["ANAIS", "LEA"]),
    ("Marie-Thérèse;Éloïse", ["MARIE THERESE", "ELOISE"]),
    ("N'Deye", ["NDEYE"]),
    (", ,", []),
    (None, []),
])
def test_first_names(raw, expected, sql):
    assert normalise_first_names(raw) == expected
    assert sql("app_first_names(?)", raw) == expected


def test_compound_with_and_without_hyphen_are_comparable():
    hyphen, space = normalise_first_names("Jean-Pierre"), normalise_first_names("Jean Pierre")
    assert " ".join(hyphen) == " ".join(space) == "JEAN PIERRE"


@pytest.mark.parametrize("raw, canon", [
    ("MOHAMMED", "MOHAMED"), ("MUHAMMAD", "MOHAMED"), ("MOHAMED", "MOHAMED"),
    ("ABDEL KADER", "ABDELKADER"), ("YUSUF", "YOUSSEF"), ("FATMA", "FATIMA"), ("PAUL", "PAUL"),
])
def test_transliteration(raw, canon, sql):
    assert canonical_first_name(raw) == canon
    assert sql("app_first_name_canon(?)", raw) == canon


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=NAME_ALPHABET, max_size=30))
def test_name_normalisation_is_idempotent(text):
    once = normalise_name(text)
    assert normalise_name(once) == once
    names = normalise_first_names(text)
    # the comma-separated form is the fixed point (a trailing comma marks a one-name list)
    assert normalise_first_names(", ".join(names) + ",") == names


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=NAME_ALPHABET, max_size=30))
def test_sql_agrees_with_python(sql, text):
    assert sql("app_name_norm(?)", text) == normalise_name(text)
    assert sql("app_first_names(?)", text) == normalise_first_names(text)
    forms = split_name_forms(text)
    got = sql("app_name_forms(?)", text)
    assert (got["birth"], got["usage"], got["plain"]) == (forms.birth, forms.usage, forms.plain)


# --- first-name variants: the bundled table, user tables, SQL = Python, first_name_head ------

import csv  # noqa: E402

import pandas as pd  # noqa: E402

from appariement.errors import ConfigError, InputError, SchemaError  # noqa: E402
from appariement.identity import (clean_text, first_name_head,  # noqa: E402
                                  load_first_name_variants, standardise_identities)
from appariement.identity.names import (FIRST_NAME_VARIANTS,  # noqa: E402
                                        FIRST_NAME_VARIANTS_FILE, read_first_name_variants)

GROUPS = {"arabic", "berber", "west_african", "turkish", "french_diminutive", "slavic"}


def _bundled_rows():
    with open(FIRST_NAME_VARIANTS_FILE, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_bundled_table_loads_and_is_clean():
    rows = _bundled_rows()
    assert list(rows[0]) == ["canonical", "variant", "group"]
    assert len(rows) >= 500
    assert {r["group"] for r in rows} == GROUPS
    for r in rows:  # already folded as clean_text does, without spaces
        for value in (r["canonical"], r["variant"]):
            assert value == clean_text(value).replace(" ", "") and value.isascii()
    assert read_first_name_variants(FIRST_NAME_VARIANTS_FILE) == [
        (r["canonical"], r["variant"], r["group"]) for r in rows]


def test_bundled_table_has_no_duplicate_or_conflict():
    rows = _bundled_rows()
    variants = [r["variant"] for r in rows]
    assert len(variants) == len(set(variants)), "a variant maps to two canonicals"
    canonicals = {r["canonical"] for r in rows}
    assert not canonicals & set(variants), "a canonical is also a variant (a chain)"
    assert all(r["canonical"] != r["variant"] for r in rows)
    # so canonicalising is idempotent and every key reaches its row's canonical
    for r in rows:
        assert FIRST_NAME_VARIANTS[r["variant"]] == r["canonical"]
    for key, canon in FIRST_NAME_VARIANTS.items():
        assert canonical_first_name(canon) == canon == canonical_first_name(key)


@pytest.mark.parametrize("names, canon", [
    (["MOHAMED", "MOHAMMED", "MUHAMMAD", "MOHAMMAD", "MOUHAMED", "MUHAMMET"], "MOHAMED"),
    (["FATIMA", "FATMA", "FADMA", "FATIMAH"], "FATIMA"),
    (["OUSMANE", "USMAN", "OUSMAN", "OTHMANE", "OSMAN"], "OUSMANE"),
    (["YOUSSEF", "YUSUF", "YOUCEF", "YOUSSOUF"], "YOUSSEF"),
    (["KHADIJA", "KHADIDJA", "KADIDIA"], "KHADIJA"),
    (["SOULEYMANE", "SULEIMAN", "SULEYMAN", "SOULEMANE"], "SOULEYMANE"),
    (["BOUBACAR", "ABOUBACAR", "ABUBAKAR"], "BOUBACAR"),
    (["HUSSEIN", "HUSEYIN", "HOCINE"], "HUSSEIN"),
    (["SERGUEI", "SERGEY", "SERHIY"], "SERGUEI"),
    (["FREDERIC", "FRED"], "FREDERIC"),
    (["ABDELKADER", "ABDEL KADER", "ABD EL KADER", "ABDELKADIR"], "ABDELKADER"),
])
def test_variants_share_one_canonical(names, canon, sql):
    assert {canonical_first_name(n) for n in names} == {canon}
    assert {sql("app_first_name_canon(?)", n) for n in names} == {canon}


@pytest.mark.parametrize("a, b", [("HASSAN", "HUSSEIN"), ("AISSA", "AICHA"), ("MYRIAM", "MARIAM"),
                                  ("JASMINE", "YASMINE"), ("MEHMET", "MOHAMED"),
                                  ("ALEXANDRE", "ALEXIS"), ("MAXIME", "MAXIM")])
def test_distinct_names_stay_apart(a, b):
    assert canonical_first_name(a) != canonical_first_name(b)


def test_sql_canon_equals_python_on_every_key(con):
    keys = sorted(FIRST_NAME_VARIANTS) + ["PAUL", "JEAN PIERRE", "MOHAMMED ALI", "ABDEL KADER"]
    got = con.execute("SELECT k, app_first_name_canon(k), app_first_name_head(k) "
                      "FROM unnest(?::VARCHAR[]) t(k)", [keys]).fetchall()
    assert len(got) == len(keys)
    for key, canon, head in got:
        assert canon == canonical_first_name(key), key
        assert head == first_name_head(key), key


WORDS = st.sampled_from(sorted(FIRST_NAME_VARIANTS)[::7] + ["JEAN", "PIERRE", "MARIE", "ABDEL",
                                                            "KADER", "ABD", "EL", "ALI"])


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.lists(WORDS, min_size=1, max_size=3).map(" ".join),
                 st.text(alphabet=NAME_ALPHABET, max_size=20)))
def test_sql_canon_and_head_agree_with_python(sql, text):
    for name in normalise_first_names(text) or [None]:
        assert sql("app_first_name_canon(?)", name) == canonical_first_name(name)
        assert sql("app_first_name_head(?)", name) == first_name_head(name)


@pytest.mark.parametrize("name, head", [
    ("MOHAMMED ALI", "MOHAMED"), ("JEAN PIERRE", "JEAN"), ("JEAN", "JEAN"),
    ("ABDEL KADER", "ABDELKADER"), ("FATMA ZOHRA", "FATIMA"), ("USMAN", "OUSMANE"),
    (None, None),
])
def test_first_name_head(name, head, sql):
    assert first_name_head(name) == head
    assert sql("app_first_name_head(?)", name) == head


@settings(max_examples=100, deadline=None)
@given(WORDS, WORDS)
def test_head_of_a_compound_is_its_first_part(first, second):
    compound = f"{first} {second}"
    if compound.replace(" ", "") not in FIRST_NAME_VARIANTS:
        assert first_name_head(compound) == canonical_first_name(first) == first_name_head(first)


def _standardise_firsts(con, firsts, **kwargs):
    df = pd.DataFrame({"candidat_id": [f"c{i}" for i in range(len(firsts))],
                       "nom": ["X"] * len(firsts), "prenoms": firsts})
    rel = standardise_identities(con, df, **kwargs)
    rows = dict((r[0], r[1:]) for r in rel.select(
        "record_id, first_name, first_name_canon, first_name_head").fetchall())
    return [rows[f"c{i}"] for i in range(len(firsts))]


def test_standardise_canon_and_head_columns(con):
    firsts = ["Mohammed Ali", "Jean-Pierre, Marie", "Abdel-Kader", "Fatma", "Usman", "Paul",
              None, ", ,", "Muhammad", "Jean Pierre"]
    assert _standardise_firsts(con, firsts) == [
        ("MOHAMMED", "MOHAMED", "MOHAMED"),  # "Mohammed Ali" without a hyphen is two names
        ("JEAN PIERRE", "JEAN PIERRE", "JEAN"), ("ABDEL KADER", "ABDELKADER", "ABDELKADER"),
        ("FATMA", "FATIMA", "FATIMA"), ("USMAN", "OUSMANE", "OUSMANE"), ("PAUL", "PAUL", "PAUL"),
        (None, None, None), (None, None, None), ("MUHAMMAD", "MOHAMED", "MOHAMED"),
        ("JEAN", "JEAN", "JEAN")]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.one_of(st.lists(WORDS, min_size=1, max_size=3).map("-".join),
                          st.text(alphabet=NAME_ALPHABET, max_size=15)), min_size=1,
                max_size=8))
def test_standardise_columns_equal_python(con, firsts):
    for raw, (first, canon, head) in zip(firsts, _standardise_firsts(con, firsts)):
        expected = (normalise_first_names(raw) or [None])[0]
        assert (first, canon, head) == (expected, canonical_first_name(expected),
                                        first_name_head(expected))


USER_CSV = """canonical,variant,group
Jean,Jeannot,french_diminutive
AISHA,AISHA,user
Fatoumata,Fatma,west_african
MUHAMMAD,MOHAMED,user
Abdel Aziz,Aziz,
"""


def test_user_table_adds_and_overrides(tmp_path, con):
    path = tmp_path / "prenoms.csv"
    path.write_text(USER_CSV, encoding="utf-8")
    lookup = load_first_name_variants(path)
    assert canonical_first_name("JEANNOT", lookup) == "JEAN"  # added
    assert canonical_first_name("AISHA", lookup) == "AISHA"  # bundled mapping removed
    assert canonical_first_name("AICHA", lookup) == "AICHA"
    assert canonical_first_name("FATMA", lookup) == "FATOUMATA"  # reassigned
    assert canonical_first_name("FATIMA", lookup) == "FATIMA"
    # a user canonical is final, and chains are followed
    assert {canonical_first_name(n, lookup) for n in ("MOHAMED", "MOHAMMED", "MUHAMMAD")} == {
        "MUHAMMAD"}
    assert canonical_first_name("AZIZ", lookup) == "ABDELAZIZ"  # folded, spaces removed
    assert first_name_head("MOHAMMED ALI", lookup) == "MUHAMMAD"
    # the bundled lookup is untouched
    assert canonical_first_name("MOHAMMED") == "MOHAMED"
    for source in (path, str(path), pd.read_csv(path)):
        firsts = ["Jeannot", "Fatma", "Mohammed Ali", "Mohamed", "Aisha", "Aziz", "Paul"]
        got = _standardise_firsts(con, firsts, first_name_variants=source)
        assert [g[1:] for g in got] == [
            ("JEAN", "JEAN"), ("FATOUMATA", "FATOUMATA"), ("MUHAMMAD", "MUHAMMAD"),
            ("MUHAMMAD", "MUHAMMAD"), ("AISHA", "AISHA"),
            ("ABDELAZIZ", "ABDELAZIZ"), ("PAUL", "PAUL")]
        for raw, (first, canon, head) in zip(firsts, got):
            assert (canon, head) == (canonical_first_name(first, lookup),
                                     first_name_head(first, lookup))
    # the default table of the connection is unchanged by a user table
    assert _standardise_firsts(con, ["Mohamed"]) == [("MOHAMED", "MOHAMED", "MOHAMED")]


POOL = sorted(FIRST_NAME_VARIANTS)[::25] + ["ZORGLUB", "BOUZOUF", "JEANNOT"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(POOL), st.sampled_from(POOL)), max_size=8,
                unique_by=lambda r: r[1]))
def test_any_user_table_gives_a_consistent_lookup(rows):
    df = pd.DataFrame(rows, columns=["canonical", "variant"])
    try:
        lookup = load_first_name_variants(df)
    except InputError as exc:
        assert "cycle" in str(exc)
        return
    for key, canon in lookup.items():  # idempotent: a canonical is final
        assert lookup[canon] == canon
        assert canonical_first_name(key, lookup) == canon
    for canon, variant in rows:  # every user row holds, through its canonical's canonical
        if canon != variant:
            assert lookup[variant] == lookup.get(canon, canon)
        else:
            assert lookup.get(variant, variant) == variant
    for key in FIRST_NAME_VARIANTS:  # bundled rows the user did not touch are kept
        touched = {n for r in rows for n in r}
        if key not in touched and FIRST_NAME_VARIANTS[key] not in touched:
            assert lookup[key] == FIRST_NAME_VARIANTS[key]


@pytest.mark.parametrize("text, error, needle", [
    ("canonical,group\nMOHAMED,arabic\n", SchemaError, "variant"),
    ("variante,canonique\nMOHAMMED,MOHAMED\n", SchemaError, "canonical"),
    ("canonical,variant\nMOHAMED,\n", InputError, "row 2"),
    ("canonical,variant\nMOHAMED,MOHAMMED\n\nAHMED,MOHAMMED\n", InputError, "rows 2 and 4"),
    ("canonical,variant\nZORGLUB,BOUZOUF\nBOUZOUF,ZORGLUB\n", InputError, "cycle"),
])
def test_malformed_user_table_is_a_clear_error(tmp_path, con, text, error, needle):
    path = tmp_path / "my_variants.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(error) as info:
        load_first_name_variants(path)
    message = str(info.value)
    assert needle in message and "my_variants.csv" in message
    for value in ("MOHAMED", "MOHAMMED", "AHMED", "ZORGLUB", "BOUZOUF"):
        assert value not in message  # never echoes a value
    with pytest.raises(error):
        standardise_identities(con, pd.DataFrame({"candidat_id": ["c1"], "nom": ["X"],
                                                  "prenoms": ["Y"]}), first_name_variants=path)


def test_unreadable_or_wrong_type_user_table(tmp_path):
    with pytest.raises(InputError, match="missing.csv"):
        load_first_name_variants(tmp_path / "missing.csv")
    with pytest.raises(SchemaError, match="DataFrame"):
        load_first_name_variants(pd.DataFrame({"canonical": ["A"]}))
    with pytest.raises(ConfigError):
        load_first_name_variants({"MOHAMMED": "MOHAMED"})
