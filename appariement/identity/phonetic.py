"""Phonetic codes for names: Soundex2 ("soundex français") and the library's chosen code.

Soundex2 (F. Brouard) adapts Soundex to French spelling: ``GUI``/``GUE``/``GA``/``GO``/``GU``,
``CA``/``CO``/``CU``, ``Q``/``CC``/``CK`` are turned into ``K`` sounds; vowels after the first
letter are merged; the prefixes ``MAC``, ``SCH``, ``ASA``, ``KN``, ``PH``, ``PF`` are rewritten;
``H`` is dropped unless it follows ``C`` or ``S``; ``Y`` is dropped unless it follows a vowel;
a final ``A``, ``D``, ``T`` or ``S`` (silent in French) is dropped; then non-leading vowels are
removed and repeated letters squeezed. The classic code keeps 4 letters.

Names with several words (``MARTIN DUPONT``, ``JEAN PIERRE``) are encoded word by word and the
codes joined by a space, so a compound keeps the information of each part.

``benchmarks/eval_identity.py`` compares this encoding with jellyfish's Soundex and Metaphone on
the synthetic data (standardised birth names of true pairs whose names differ, vs random
same-year non-pairs). Soundex2 recalls 32.2% / 30.9% (seeds 1 / 2) at 0.64% false agreement,
jellyfish Soundex 36.9% / 34.4% at 0.66% / 0.68%, Metaphone 33.3% / 29.5%. **The library's code
(:func:`phonetic_code`, ``app_phonetic``, the ``*_phon`` columns) is therefore jellyfish's
Soundex, word by word**; :func:`soundex2` stays available for French-specific uses.

SQL: :func:`register_phonetic_udf` registers ``app_phonetic(VARCHAR) -> VARCHAR`` as DuckDB
macros (``app_soundex_word`` per word): the same codes as :func:`phonetic_code` (property-tested
against jellyfish), computed inside DuckDB on all threads. A Python UDF did the same work but
crossed the DuckDB/Arrow/Python boundary for every vector: 0.6 s of the 1.0 s needed to
standardise 200,000 source records, on one thread.
"""

from __future__ import annotations

import re
from functools import lru_cache

import duckdb
import jellyfish

from .names import clean_text

__all__ = ["soundex2", "phonetic_code", "register_phonetic_udf", "DEFAULT_MAX_LENGTH"]

#: code length per word; 4 is the classic Soundex2 length (see benchmarks/eval_identity.py)
DEFAULT_MAX_LENGTH = 4

_GROUPS = ((re.compile(r"GU([IE])"), r"K\1"), (re.compile(r"G([AO])"), r"K\1"),
           (re.compile(r"GU"), "K"), (re.compile(r"C([AOU])"), r"K\1"),
           (re.compile(r"Q|CC|CK"), "K"))
_PREFIXES = (("MAC", "MCC"), ("SCH", "SSS"), ("ASA", "AZA"), ("KN", "NN"), ("PH", "FF"),
             ("PF", "FF"))
_H = re.compile(r"([^CS])H")
_Y = re.compile(r"([^A])Y")
_SILENT_END = re.compile(r"[ADTS]$")
_REPEATS = re.compile(r"(.)\1+")


def _soundex2_word(word: str, max_length: int | None) -> str:
    code = word
    for pattern, replacement in _GROUPS:
        code = pattern.sub(replacement, code)
    code = code[:1] + re.sub(r"[EIOU]", "A", code[1:])
    for prefix, replacement in _PREFIXES:
        if code.startswith(prefix):
            code = replacement + code[len(prefix):]
            break
    code = _H.sub(r"\1", code)
    code = _Y.sub(r"\1", code)
    if len(code) > 1:
        code = _SILENT_END.sub("", code)
    code = code[:1] + code[1:].replace("A", "")
    code = _REPEATS.sub(r"\1", code)
    return code[:max_length] if max_length else code


def soundex2(text: str | None, max_length: int | None = DEFAULT_MAX_LENGTH) -> str | None:
    """Soundex2 code of a name, word by word.

    Args:
        text: a name (any case, accents allowed).
        max_length: letters kept per word (None: no limit).

    Returns:
        The code (words separated by a space), or None for an empty name.

    Examples:
        >>> soundex2("Martin"), soundex2("Bernard"), soundex2("Philippe")
        ('MRTN', 'BRNR', 'FLP')
        >>> soundex2("Jean-Pierre")
        'JN PR'
    """
    cleaned = clean_text(text)
    if cleaned is None:
        return None
    return " ".join(_soundex2_word(w, max_length) for w in cleaned.split(" "))


@lru_cache(maxsize=1_000_000)
def phonetic_code(text: str | None) -> str | None:
    """The library's phonetic code for names: jellyfish Soundex per word (see module docstring).

    Examples:
        >>> phonetic_code("Dupond") == phonetic_code("DUPONT"), phonetic_code("Jean-Pierre")
        (True, 'J500 P600')
    """
    cleaned = clean_text(text)
    if cleaned is None:
        return None
    return " ".join(jellyfish.soundex(w) for w in cleaned.split(" "))


#: Soundex digit of each letter A-Z: as the first letter (where only its code matters), and
#: after it, where H and W (``-``) are skipped without separating equal codes
_SOUNDEX_FIRST = "01230120022455012623010202"
_SOUNDEX_REST = "0123012-02245501262301-202"
_SQUEEZE = "".join(f"regexp_replace(" for _ in range(6))

#: jellyfish's Soundex in SQL. Codes: the first letter's, then the others' with H/W dropped and
#: every other non-coded letter (vowels, Y) as 0; runs of one digit squeezed (equal codes
#: separated only by H/W merge; a vowel's 0 keeps them apart); the first code dropped (the
#: letter itself is kept), the 0s removed, 3 digits kept, padded with 0.
SQL_MACROS = {
    "app_soundex_word": ("w", "CASE WHEN w IS NULL OR w = '' THEN NULL ELSE left(w, 1) || "
                         "rpad(left(replace(substr("
                         + _SQUEEZE
                         + f"regexp_replace(translate(left(w, 1), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', "
                           f"'{_SOUNDEX_FIRST}'), '[^0-9]', '0', 'g') || "
                           f"regexp_replace(replace(translate(substr(w, 2), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', "
                           f"'{_SOUNDEX_REST}'), '-', ''), '[^0-9]', '0', 'g')"
                         + "".join(f", '{d}+', '{d}', 'g')" for d in "123456")
                         + ", 2), '0', ''), 3), 3, '0') END"),
    "app_phonetic": ("x", "nullif(array_to_string(list_transform(string_split("
                          "app_clean_text(x), ' '), lambda w: app_soundex_word(w)), ' '), '')"),
}


def register_phonetic_udf(con: duckdb.DuckDBPyConnection) -> None:
    """Register ``app_phonetic(VARCHAR) -> VARCHAR`` (and ``app_soundex_word``) on ``con``.

    The macros need ``app_clean_text`` (registered by
    :func:`appariement.identity.register_sql_functions`, which calls this function); safe to
    call twice.

    Examples:
        >>> import duckdb
        >>> from appariement.identity import register_sql_functions
        >>> con = register_sql_functions(duckdb.connect())
        >>> con.sql("SELECT app_phonetic('Faure'), app_phonetic('Jean-Pierre')").fetchall()[0]
        ('F600', 'J500 P600')
    """
    for name, (params, body) in SQL_MACROS.items():
        con.execute(f"CREATE OR REPLACE TEMP MACRO {name}({params}) AS ({body})")
