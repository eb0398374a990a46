"""PPRL encodings: what each data holder computes from its identities with the project key.

:func:`encode_for_pprl` turns standardised identity features into field-level Bloom filters
(:class:`~appariement.crypto.BloomEncoder`, ``mode="field"``) and keyed blocking tokens
(HMAC-SHA256, :class:`~appariement.crypto.Pseudonymiser`, purpose ``pprl-block``). This is the
key holder's job, hence in ``crypto/``; the statistician links the encodings with
:func:`appariement.linkage.link_encoded`, whose comparisons read them through the SQL macros of
:func:`register_pprl_sql`.

Encodings (one BLOB column per trait, ``output_length / 8`` bytes, NULL when the trait is
missing — never an empty filter, which would compare as "different"):

- ``bf_birth_name``, ``bf_usage_name``, ``bf_first_name``, ``bf_first_names`` share one Bloom
  "field" (``name``), so birth and usage names compare crosswise (married women), a surname
  can be compared with a first name (inverted fields), and one first name with a list;
- ``bf_first_names``: all first names joined by ``_`` (the q-gram padding, so that one first
  name's q-grams are a subset: "first name among the other's first names");
- ``bf_birth_date``: ``YYYYMMDD`` (``YYYYMM`` / ``YYYY`` for partial dates);
- ``bf_birth_place``: the INSEE commune code, or the country code when born abroad.

Blocking tokens (16 base32 characters, NULL when the value is missing): ``tok_sex``,
``tok_year`` (birth year), ``tok_ym`` (year and month), ``tok_md`` (month and day), ``tok_date``
(year and the unordered pair {month, day}: equal for a day/month swap), ``tok_bn`` / ``tok_un`` /
``tok_fn`` (first two characters of the Soundex code of the birth name / usage name / first
name; birth and usage name tokens share one space so they join crosswise), ``tok_bnp`` /
``tok_unp`` / ``tok_fnp`` (the whole Soundex codes), ``tok_pc`` / ``tok_rd`` (postcode and
department of residence: 16 % of the synthetic candidates have no birth place, and residence is
what tells their homonyms apart). One plain column, ``date_precision``
(``day`` / ``month`` / ``year`` / ``placeholder``), tells partial dates apart.

What leaks to the holder of the encodings (the statistician), by design:

- token frequencies: ``tok_sex`` has two values and reveals the sex split; ``tok_year`` / ``tok_ym``
  the birth-cohort distribution (an attacker who knows the population's age pyramid can label
  most year tokens); ``tok_bn`` / ``tok_fn`` have a few hundred values with skewed frequencies
  (the Soundex prefix of common names such as M6.. for MARTIN); the whole-code tokens
  ``tok_bnp`` / ``tok_unp`` / ``tok_fnp`` have thousands of values and leak name frequencies as
  the name filters do; ``tok_pc`` / ``tok_rd`` reveal how records spread over (unnamed)
  postcodes and departments, which public population counts can label for the larger ones;
  ``tok_date`` and ``tok_md`` are near-uniform but fine: they tell which
  records share a birth date; ``date_precision`` reveals partial dates (mostly people born
  abroad);
- equality: identical values give identical filters (no salt), so filter frequencies are exposed
  as token frequencies are — frequent names and common communes can be guessed by frequency
  alignment with public name/commune counts (Christen et al. 2017); ``xor_fold`` hardening (the
  default) breaks the one-bit-one-q-gram mapping that pattern-mining attacks exploit, not
  frequency alignment;
- similarity: Dice values between records reveal how alike two traits are (that is the point).

Without the key nobody can encode a guessed value, so dictionary attacks need the key; encodings
of two projects (or two keys) are unrelated and cannot be joined.
"""

from __future__ import annotations

import time
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from .._log import get_logger
from .._tables import as_relation, fresh_name, temp_view, to_arrow
from ..errors import ConfigError, SchemaError
from .bloom import BloomEncoder, register_bloom_sql
from .keys import SecretKey
from .pseudonymise import Pseudonymiser

__all__ = ["encode_for_pprl", "register_pprl_sql", "PPRL_COLUMNS", "TOKEN_PURPOSE"]

log = get_logger(__name__)

#: Pseudonymiser purpose of the blocking tokens
TOKEN_PURPOSE = "pprl-block"
_TOKEN_LENGTH = 16

_BLOOM_COLUMNS = ("bf_birth_name", "bf_usage_name", "bf_first_name", "bf_first_names",
                  "bf_birth_date", "bf_birth_place")
_TOKEN_COLUMNS = ("tok_sex", "tok_year", "tok_ym", "tok_md", "tok_date", "tok_bn", "tok_un",
                  "tok_fn", "tok_bnp", "tok_unp", "tok_fnp", "tok_pc", "tok_rd")
#: columns of an encoded table besides ``record_id``
PPRL_COLUMNS = _BLOOM_COLUMNS + _TOKEN_COLUMNS + ("date_precision",)

_FEATURES_NEEDED = ("record_id", "birth_name", "usage_name", "first_name", "first_names",
                    "birth_year", "birth_month", "birth_day", "birth_commune", "birth_country",
                    "sex", "birth_name_phon", "usage_name_phon", "first_name_phon",
                    "birth_date_placeholder", "postcode", "residence_dept")

# Plaintext value of each token; the kind prefix keeps tokens of different kinds apart even if
# a value coincides (e.g. a year and a month-day string). Birth and usage names share 'n:'.
_TOKEN_SQL = {
    "tok_sex": "'s:' || sex",
    "tok_year": "'y:' || birth_year",
    "tok_ym": "'ym:' || birth_year || '-' || birth_month",
    "tok_md": "'md:' || birth_month || '-' || birth_day",
    "tok_date": ("'d:' || birth_year || '-' || least(birth_month, birth_day) || '-' "
                 "|| greatest(birth_month, birth_day)"),
    "tok_bn": "'n:' || nullif(left(birth_name_phon, 2), '')",
    "tok_un": "'n:' || nullif(left(usage_name_phon, 2), '')",
    "tok_fn": "'f:' || nullif(left(first_name_phon, 2), '')",
    "tok_bnp": "'np:' || nullif(birth_name_phon, '')",
    "tok_unp": "'np:' || nullif(usage_name_phon, '')",
    "tok_fnp": "'fp:' || nullif(first_name_phon, '')",
    "tok_pc": "'pc:' || nullif(postcode, '')",
    "tok_rd": "'rd:' || nullif(residence_dept, '')",
}


def register_pprl_sql(con: duckdb.DuckDBPyConnection) -> None:
    """Register ``app_dice`` / ``app_bloom_ones`` and ``app_bloom_contained(a, b)`` on ``con``.

    ``app_bloom_contained(a, b)`` is the share of ``a``'s bits also set in ``b`` (1.0 when the
    q-grams of ``a`` are among those of ``b``: one first name among several), NULL if either is
    NULL or ``a`` is empty.

    Args:
        con: DuckDB connection (the one the linkage runs on).

    Examples:
        >>> con = duckdb.connect(); register_pprl_sql(con)
        >>> con.execute("SELECT app_bloom_contained(from_hex('c0'), from_hex('f0'))").fetchone()[0]
        1.0
    """
    register_bloom_sql(con)
    con.execute("""
        CREATE OR REPLACE MACRO app_bloom_contained(a, b) AS
            CASE WHEN a IS NULL OR b IS NULL OR app_bloom_ones(a) = 0 THEN NULL
                 ELSE 1.0 * bit_count(CAST(a AS BIT) & CAST(b AS BIT)) / app_bloom_ones(a)
            END;
    """)


# ---------------------------------------------------------------------------------- encoding
def encode_for_pprl(con: duckdb.DuckDBPyConnection, features, encoder_key: SecretKey, *,
                    project: str, side: str, length: int = 1024, k: int = 20, q: int = 2,
                    hardening: str | list[str] | None = "xor_fold") -> duckdb.DuckDBPyRelation:
    """Encode standardised identity features into Bloom filters and keyed blocking tokens.

    Both data holders run this with the same key, project and parameters; the result holds no
    plaintext trait (see the module docstring for what the encodings still leak).

    Args:
        con: DuckDB connection; the result is a table on it.
        features: output of :func:`appariement.identity.standardise_identities` (relation,
            Arrow, pandas or path).
        encoder_key: the project's master :class:`~appariement.crypto.SecretKey` (sub-keys for
            the Bloom filters and the tokens are derived from it and ``project``).
        project: project name; encodings of two projects are unrelated.
        side: ``"platform"`` or ``"source"`` (names the table; the encoding is the same).
        length, k, q, hardening: Bloom filter parameters (see
            :class:`~appariement.crypto.BloomEncoder`); the Dice levels of
            :func:`pprl_comparisons` were chosen for the defaults.

    Returns:
        A DuckDB relation (a table on ``con``): ``record_id`` and :data:`PPRL_COLUMNS`.

    Examples:
        >>> import duckdb
        >>> from appariement.crypto import generate_key
        >>> from appariement.identity import standardise_identities
        >>> from appariement.synth import SynthConfig, generate
        >>> con = duckdb.connect()
        >>> data = generate(SynthConfig(n_candidates=50, source_ratio=2, seed=1))
        >>> pf = standardise_identities(con, data.platform["candidats"], "platform")
        >>> enc = encode_for_pprl(con, pf, generate_key(), project="demo", side="platform")
        >>> "birth_name" in enc.columns, len(enc.limit(1).fetchall()[0][1])
        (False, 64)
    """
    if side not in ("platform", "source"):
        raise ConfigError(f"side must be 'platform' or 'source', got {side!r}")
    rel = as_relation(con, features, f"{side}_features")
    missing = [c for c in _FEATURES_NEEDED if c not in rel.columns]
    if missing:
        raise SchemaError(f"cannot encode the {side} features: column(s) {missing} missing; "
                          "build them with appariement.identity.standardise_identities",
                          column=missing[0])
    start = time.perf_counter()
    view = fresh_name(f"pprl_{side}_in")
    temp_view(rel, view)
    # The plaintext values to encode, computed in SQL (never leave this function).
    tokens = ",\n".join(f"{sql} AS {name}" for name, sql in _TOKEN_SQL.items())
    plain = to_arrow(con.sql(f"""
        SELECT CAST(record_id AS VARCHAR) AS record_id,
               birth_name, usage_name, first_name,
               -- joined by the padding character: its bigrams are the union of each first
               -- name's padded bigrams, so one first name is "contained" in the list
               nullif(array_to_string(first_names, '_'), '') AS first_names,
               CASE WHEN birth_year IS NULL THEN NULL
                    WHEN birth_month IS NULL THEN lpad(CAST(birth_year AS VARCHAR), 4, '0')
                    WHEN birth_day IS NULL THEN lpad(CAST(birth_year AS VARCHAR), 4, '0')
                         || lpad(CAST(birth_month AS VARCHAR), 2, '0')
                    ELSE lpad(CAST(birth_year AS VARCHAR), 4, '0')
                         || lpad(CAST(birth_month AS VARCHAR), 2, '0')
                         || lpad(CAST(birth_day AS VARCHAR), 2, '0') END AS birth_date,
               coalesce(birth_commune, nullif(birth_country, '99100')) AS birth_place,
               CASE WHEN birth_year IS NULL THEN NULL
                    WHEN coalesce(birth_date_placeholder, FALSE) THEN 'placeholder'
                    WHEN birth_month IS NULL THEN 'year'
                    WHEN birth_day IS NULL THEN 'month' ELSE 'day' END AS date_precision,
               {tokens}
        FROM {view}
    """))
    con.execute(f"DROP VIEW IF EXISTS {view}")
    params = dict(project=project, length=length, k=k, q=q, mode="field", hardening=hardening)
    name_encoder = BloomEncoder(encoder_key, fields=["name"], **params)
    other_encoder = BloomEncoder(encoder_key, fields=["birth_date", "birth_place"], **params)
    columns: dict[str, Any] = {"record_id": plain.column("record_id")}
    for column in ("birth_name", "usage_name", "first_name", "first_names"):
        encoded = name_encoder.encode(pa.table({"record_id": plain.column("record_id"),
                                                "name": plain.column(column)}))
        columns[f"bf_{column}"] = _null_where_missing(encoded.column("bf_name"),
                                                      plain.column(column))
    others = other_encoder.encode(plain.select(["record_id", "birth_date", "birth_place"]))
    for column in ("birth_date", "birth_place"):
        columns[f"bf_{column}"] = _null_where_missing(others.column(f"bf_{column}"),
                                                      plain.column(column))
    tokeniser = Pseudonymiser(encoder_key, project=project, purpose=TOKEN_PURPOSE,
                              length=_TOKEN_LENGTH, normalise="none")
    for name in _TOKEN_COLUMNS:
        columns[name] = tokeniser.pseudonymise(plain.column(name))
    columns["date_precision"] = plain.column("date_precision")
    del plain
    table = pa.table(columns)
    name = fresh_name(f"pprl_{side}")
    con.register(f"{name}_arrow", table)
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {name}_arrow")
    con.unregister(f"{name}_arrow")
    log.info("PPRL-encoded %d %s records in %.1f s (Bloom key %s, token key %s)",
             table.num_rows, side, time.perf_counter() - start, name_encoder.fingerprint,
             tokeniser.fingerprint)
    return con.table(name)


def _null_where_missing(encoded: pa.ChunkedArray, values: pa.ChunkedArray) -> pa.Array:
    """A missing trait must compare as missing, not as an empty (or, hardened, a dense) filter."""
    encoded = encoded.combine_chunks() if isinstance(encoded, pa.ChunkedArray) else encoded
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    missing = pc.or_kleene(pc.is_null(values), pc.equal(pc.cast(values, pa.string()), ""))
    missing = pc.fill_null(missing, True)
    return pc.if_else(missing, pa.scalar(None, encoded.type), encoded)
