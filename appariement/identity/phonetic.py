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

SQL: :func:`register_phonetic_udf` registers ``app_phonetic(VARCHAR) -> VARCHAR``, a vectorised
(Arrow) DuckDB function with a cache of already encoded values: names repeat a lot, so 10 million
rows need only a few hundred thousand encodings.
"""

from __future__ import annotations

import re
from functools import lru_cache

import duckdb
import jellyfish
import pyarrow as pa

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


def _arrow_phonetic(values: pa.Array) -> pa.Array:
    # Python work per *distinct* value: encode the dictionary, not the rows.
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = values.dictionary_encode()
    codes = [phonetic_code(v) for v in encoded.dictionary.to_pylist()]
    return pa.array(codes, type=pa.string()).take(encoded.indices)


def register_phonetic_udf(con: duckdb.DuckDBPyConnection) -> None:
    """Register ``app_phonetic(VARCHAR) -> VARCHAR`` on ``con`` (idempotent).

    Examples:
        >>> import duckdb
        >>> con = duckdb.connect()
        >>> register_phonetic_udf(con); register_phonetic_udf(con)
        >>> con.sql("SELECT app_phonetic('Faure')").fetchall()[0][0]
        'F600'
    """
    exists = con.execute("SELECT count(*) FROM duckdb_functions() WHERE function_name = ?",
                         ["app_phonetic"]).fetchall()[0][0]
    if exists:
        return
    con.create_function("app_phonetic", _arrow_phonetic, [duckdb.sqltype("VARCHAR")],
                        duckdb.sqltype("VARCHAR"), type="arrow",
                        null_handling="special", side_effects=False)
