"""NFKC: fullwidth and other compatibility characters normalise like their plain letters, in
Python and in SQL (a fullwidth name used to become NULL in SQL)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appariement.identity import normalise_first_names, normalise_name, standardise_identities
from appariement.identity.names import clean_text

ASCII_NAME = "abcdeiklmnorstuzDELAURSZ '-"


def fullwidth(text: str) -> str:
    """Printable ASCII to its fullwidth form (U+FF01-U+FF5E), space to the ideographic space."""
    return "".join("\u3000" if c == " " else chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c
                   for c in text)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=ASCII_NAME, min_size=1, max_size=25))
def test_fullwidth_names_normalise_like_ascii(sql, text):
    wide = fullwidth(text)
    assert wide != text
    assert normalise_name(wide) == normalise_name(text)
    assert normalise_first_names(wide) == normalise_first_names(text)
    assert sql("app_name_norm(?)", wide) == normalise_name(text)
    assert sql("app_first_names(?)", wide) == normalise_first_names(text)
    assert sql("app_clean_text(?)", wide) == clean_text(text)


@pytest.mark.parametrize("raw, plain", [
    ("ＭＡＲＴＩＮ", "MARTIN"),
    ("ﬁlion", "FILION"),                  # U+FB01 ligature fi
    ("Caſtel", "CASTEL"),                 # long s
    ("Dupont\u00a0Martin", "DUPONT MARTIN"),  # no-break space
    ("Ｌｅ　Ｇａｌｌ", "LEGALL"),           # particle glued after NFKC
    ("Ｄ＇Ａｌｍｅｉｄａ", "DALMEIDA"),      # fullwidth apostrophe is dropped too
    ("Ｚｏé", "ZOE"),                      # fullwidth mixed with an accent
])
def test_compatibility_characters(sql, raw, plain):
    assert normalise_name(raw) == plain
    assert sql("app_name_norm(?)", raw) == plain


def test_nulls_and_ascii_are_untouched(sql):
    assert sql("app_nfkc(?)", None) is None
    assert sql("app_name_norm(?)", None) is None
    assert sql("app_nfkc(?)", "MARTIN") == "MARTIN"


def test_standardise_links_a_fullwidth_record_to_its_ascii_twin(con):
    frame = pd.DataFrame({"candidat_id": ["a", "w"],
                          "nom": ["Martin épouse Dupont", fullwidth("Martin epouse Dupont")],
                          "prenoms": ["Jean-Pierre", fullwidth("Jean-Pierre")]})
    rows = standardise_identities(con, frame, "platform").order("record_id").select(
        "birth_name, usage_name, first_names, birth_name_phon").fetchall()
    assert rows[0] == rows[1]
    assert rows[1][0] == "MARTIN" and rows[1][1] == "DUPONT"
