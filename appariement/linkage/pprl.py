"""Privacy-preserving record linkage (PPRL): Fellegi-Sunter on keyed Bloom-filter encodings.

The data holders (platform, source) standardise their identities, then run
:func:`encode_for_pprl` with the project's secret key: every trait becomes a field-level Bloom
filter (:class:`appariement.crypto.BloomEncoder`, ``mode="field"``) and a few coarse values become
keyed blocking tokens (HMAC-SHA256, :class:`appariement.crypto.Pseudonymiser`, purpose
``pprl-block``). The statistician receives only record ids, filters and tokens, and runs
:func:`link_encoded`: the same Fellegi-Sunter model as the plaintext linkage
(:class:`LinkageModel`, one-to-one :func:`assign`), with comparison levels on the Dice similarity
of the filters computed in SQL (``app_dice``, registered by
:func:`appariement.crypto.register_bloom_sql`).

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

The exact stage (pivot codes / keyed NIR pseudonyms) runs before, with
``appariement.linkage.link(..., key_column=...)``; pass its links as ``labels`` here to estimate
the m probabilities and to take those records out of the pools, as the cascade does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from .._log import get_logger, step
from .._tables import fresh_name, as_relation, temp_table, temp_view, to_arrow
from ..blocking.analysis import DEFAULT_COMPARISON_BUDGET, check_budget
from ..blocking.rules import BlockingRule, get_rules, rule
from ..crypto import BloomEncoder, Pseudonymiser, register_bloom_sql
from ..crypto.keys import SecretKey
from ..errors import ConfigError, LinkageError, SchemaError
from .assignment import ASSIGNMENT_MODES, Thresholds, assign
from .comparisons import SqlLevel, else_level, null_level, residence_comparison
from .model import LinkageModel, splink_failures

__all__ = ["encode_for_pprl", "pprl_comparisons", "pprl_blocking_rules", "pprl_training_rules",
           "link_encoded", "PprlResult", "register_pprl_sql", "PPRL_COLUMNS", "TOKEN_PURPOSE"]

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

#: Dice thresholds of the similarity levels (xor-folded 1024-bit filters, bigrams)
DICE_LEVELS = (0.95, 0.85, 0.7)
#: containment threshold of "first name among the other's first names" (xor folding lets some
#: bits of a contained name cancel out in the longer filter: ~0.8 for contained names, ~0.35
#: for unrelated ones on the synthetic data)
CONTAIN_LEVEL = 0.8


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


# ---------------------------------------------------------------------------------- model
def _dice(a: str, b: str) -> str:
    return f"app_dice({a}, {b})"


def _any_dice(threshold: float, left: tuple[str, ...], right: tuple[str, ...]) -> str:
    parts = [f"{_dice(f'{a}_l', f'{b}_r')} >= {threshold}" for a in left for b in right]
    return "(" + " OR ".join(parts) + ")"


def pprl_comparisons(levels: tuple[float, float, float] = DICE_LEVELS,
                     contain: float = CONTAIN_LEVEL) -> list:
    """Splink comparisons on the encodings, with Dice-similarity levels rendered in SQL.

    Mirrors the plaintext comparisons: surname (birth and usage names crosswise), first name
    (first of one among the other's first names), birth date (swap, same year and month, typo),
    sex, birth place and residence (postcode, department). A missing trait gives the null level
    (weight 0). The SQL needs
    :func:`register_pprl_sql` on the connection.

    Args:
        levels: high, medium and low Dice thresholds (default 0.95 / 0.85 / 0.7: with bigrams,
            0.95 is in practice "same value", 0.85 one error in a long value, 0.7 one error in
            a short one).
        contain: threshold on the share of one first name's bits set in the other side's
            first-names filter ("first name among the other's first names").

    Returns:
        A list of Splink ``CustomComparison`` objects.

    Examples:
        >>> [c.create_output_column_name() for c in pprl_comparisons()]
        ['surname', 'first_name', 'birth_date', 'sex', 'birth_place', 'residence']
    """
    import splink.comparison_library as cl

    high, mid, low = levels
    if not 0 < low < mid < high <= 1:
        raise ConfigError(f"levels must satisfy 0 < low < mid < high <= 1, got {levels}")
    names = ("bf_birth_name", "bf_usage_name")
    cross = ("(" + " OR ".join(f"{_dice(a, b)} >= {high}" for a, b in (
        ("bf_usage_name_l", "bf_birth_name_r"), ("bf_birth_name_l", "bf_usage_name_r"),
        ("bf_usage_name_l", "bf_usage_name_r"))) + ")")
    inverted = (f"({_dice('bf_birth_name_l', 'bf_first_name_r')} >= {high} AND "
                f"{_dice('bf_first_name_l', 'bf_birth_name_r')} >= {high})")
    surname = cl.CustomComparison(
        output_column_name="surname",
        comparison_description="birth / usage name filters, crosswise",
        comparison_levels=[
            null_level("bf_birth_name"),
            SqlLevel(f"{_dice('bf_birth_name_l', 'bf_birth_name_r')} >= {high}",
                     f"birth name Dice >= {high}"),
            SqlLevel(cross, f"birth/usage name Dice >= {high} crosswise"),
            SqlLevel(_any_dice(mid, names, names), f"name Dice >= {mid} (any pairing)"),
            SqlLevel(_any_dice(low, names, names), f"name Dice >= {low} (any pairing)"),
            SqlLevel("(tok_bnp_l = tok_bnp_r OR tok_unp_l = tok_bnp_r OR tok_bnp_l = tok_unp_r "
                     "OR tok_unp_l = tok_unp_r)", "same Soundex code (any pairing)"),
            SqlLevel(inverted, "name and first name inverted"),
            else_level(),
        ],
    )
    contained = (f"(app_bloom_contained(bf_first_name_l, bf_first_names_r) >= {contain} OR "
                 f"app_bloom_contained(bf_first_name_r, bf_first_names_l) >= {contain})")
    first_name = cl.CustomComparison(
        output_column_name="first_name",
        comparison_description="first-name filters",
        comparison_levels=[
            null_level("bf_first_name"),
            SqlLevel(f"{_dice('bf_first_name_l', 'bf_first_name_r')} >= {high}",
                     f"first name Dice >= {high}"),
            SqlLevel(contained, "first name among the other's first names"),
            SqlLevel(f"{_dice('bf_first_name_l', 'bf_first_name_r')} >= {mid}",
                     f"first name Dice >= {mid}"),
            SqlLevel(f"{_dice('bf_first_names_l', 'bf_first_names_r')} >= {mid}",
                     f"all first names Dice >= {mid}"),
            SqlLevel(f"{_dice('bf_first_name_l', 'bf_first_name_r')} >= {low}",
                     f"first name Dice >= {low}"),
            SqlLevel("tok_fnp_l = tok_fnp_r", "same Soundex code"),
            else_level(),
        ],
    )
    birth_date = cl.CustomComparison(
        output_column_name="birth_date",
        comparison_description="birth-date filters and date tokens",
        comparison_levels=[
            null_level("bf_birth_date"),
            SqlLevel(f"{_dice('bf_birth_date_l', 'bf_birth_date_r')} >= {high}",
                     f"date Dice >= {high}"),
            SqlLevel("tok_date_l = tok_date_r", "day and month swapped"),
            SqlLevel("tok_year_l = tok_year_r AND coalesce(tok_ym_l = tok_ym_r, TRUE) "
                     "AND (date_precision_l <> 'day' OR date_precision_r <> 'day')",
                     "same year, day or month unknown"),
            SqlLevel("tok_ym_l = tok_ym_r", "same year and month"),
            SqlLevel("tok_md_l = tok_md_r", "same day and month, year differs"),
            SqlLevel(f"{_dice('bf_birth_date_l', 'bf_birth_date_r')} >= {low}",
                     f"date Dice >= {low}"),
            SqlLevel("tok_year_l = tok_year_r", "same year only"),
            else_level(),
        ],
    )
    sex = cl.CustomComparison(
        output_column_name="sex",
        comparison_description="sex token",
        comparison_levels=[null_level("tok_sex"), SqlLevel("tok_sex_l = tok_sex_r", "same sex"),
                           else_level()],
    )
    birth_place = cl.CustomComparison(
        output_column_name="birth_place",
        comparison_description="birth-place filters (commune, or country abroad)",
        comparison_levels=[
            null_level("bf_birth_place"),
            SqlLevel(f"{_dice('bf_birth_place_l', 'bf_birth_place_r')} >= {high}",
                     f"birth place Dice >= {high}"),
            SqlLevel(f"{_dice('bf_birth_place_l', 'bf_birth_place_r')} >= {low}",
                     f"birth place Dice >= {low}"),
            else_level(),
        ],
    )
    residence = residence_comparison("tok_pc", "tok_rd",
                                     description="postcode / department of residence tokens")
    return [surname, first_name, birth_date, sex, birth_place, residence]


def pprl_blocking_rules(large: bool = False) -> list[BlockingRule]:
    """Equi-join blocking rules on the keyed tokens (platform left, source right).

    Args:
        large: the rules for files of hundreds of thousands of records and more: each broad
            rule gets one more token (first-name or name prefix on the date, residence
            department on the whole-name sounds and on the surname-change rule). Measured on
            plaintext equivalents at 200,000 candidates x 2M persons: 13.0M pairs instead of
            121.8M, reaching 193,013 true pairs instead of 193,029 (of 193,171).

    Returns:
        Default rules: same date up to a day/month swap; same name and first-name Soundex
        prefixes with the same birth year (also birth/usage crosswise) or the same day and month
        (year errors); same first-name prefix and year-month (surname errors); same postcode and
        name prefix, also birth/usage crosswise (a date error and a first-name error together:
        54 of the 63 true pairs the other rules missed at 20k x 200k, for 32,000 more pairs).

    Examples:
        >>> [r.name for r in pprl_blocking_rules()][:2]
        ['pprl_date', 'pprl_name_first_year']
        >>> len(pprl_blocking_rules(large=True))
        13
    """
    names_year = [
        rule("pprl_name_first_year", "tok_bn", "tok_fn", "tok_year",
             description="same name and first-name prefixes, same birth year"),
        rule("pprl_usage_birth_year", ("tok_un", "tok_bn"), "tok_fn", "tok_year",
             description="candidate's usage name prefix = person's birth name prefix"),
        rule("pprl_birth_usage_year", ("tok_bn", "tok_un"), "tok_fn", "tok_year",
             description="candidate's birth name prefix = person's usage name prefix"),
    ]
    year_errors = rule("pprl_name_first_md", "tok_bn", "tok_fn", "tok_md",
                       description="same name and first-name prefixes, day and month "
                                   "(year errors)")
    postcode = [
        rule("pprl_postcode_name", "tok_pc", "tok_bn",
             description="same postcode and name prefix (errors in the date and first name)"),
        rule("pprl_postcode_birth_usage", "tok_pc", ("tok_bn", "tok_un"),
             description="same postcode, candidate's birth name prefix = person's usage name "
                         "prefix"),
    ]
    if large:
        return [
            rule("pprl_date_first", "tok_date", "tok_fn",
                 description="same birth date (swaps included) and first-name prefix"),
            rule("pprl_date_name", "tok_date", "tok_bn",
                 description="same birth date (swaps included) and name prefix"),
            rule("pprl_date_usage", "tok_date", ("tok_bn", "tok_un"),
                 description="same birth date, candidate's birth name prefix = person's usage "
                             "name prefix"),
            *names_year,
            rule("pprl_phon_first_rd", "tok_bnp", "tok_fnp", "tok_rd",
                 description="same Soundex codes of name and first name, same department of "
                             "residence"),
            rule("pprl_usage_phon_first_rd", ("tok_unp", "tok_bnp"), "tok_fnp", "tok_rd",
                 description="candidate's usage name sounds like the person's birth name, same "
                             "department of residence"),
            year_errors,
            rule("pprl_first_ym_sex_rd", "tok_fn", "tok_ym", "tok_sex", "tok_rd",
                 description="same first-name prefix, year and month, sex and department of "
                             "residence (surname changes)"),
            *postcode,
            rule("pprl_md_postcode_sex", "tok_md", "tok_pc", "tok_sex",
                 description="same day and month, postcode and sex (year and name errors)"),
        ]
    return [
        rule("pprl_date", "tok_date", description="same birth date, day/month swaps included"),
        *names_year,
        rule("pprl_phon_first", "tok_bnp", "tok_fnp",
             description="same Soundex codes of birth name and first name"),
        rule("pprl_usage_phon_first", ("tok_unp", "tok_bnp"), "tok_fnp",
             description="candidate's usage name sounds like the person's birth name"),
        year_errors,
        rule("pprl_first_ym_sex", "tok_fn", "tok_ym", "tok_sex",
             description="same first-name prefix, year and month, sex (surname changes)"),
        *postcode,
    ]


def pprl_training_rules() -> list[BlockingRule]:
    """EM passes: one blocked on the date (trains names, sex and place), one on identical name,
    first-name and birth-place filters (trains the date and sex).

    The second pass joins on the filters themselves (identical filters = identical values): on
    Soundex codes, with 200,000 source persons, common names put so many non-matches in the
    training pairs that EM converged to a wrong date model (m of "date equal" 0.31 instead of
    ~0.85).

    Examples:
        >>> [r.name for r in pprl_training_rules()]
        ['pprl_date', 'pprl_names_place_exact']
    """
    return [pprl_blocking_rules()[0],
            rule("pprl_names_place_exact", "bf_birth_name", "bf_first_name", "bf_birth_place",
                 description="identical birth-name, first-name and birth-place filters")]


# ---------------------------------------------------------------------------------- linkage
@dataclass
class PprlResult:
    """What :func:`link_encoded` produced (DuckDB relations on ``con``).

    Attributes:
        links: candidat_id, person_id, method ('pprl'), match_weight, match_probability,
            decision (match / review / non_match), gamma_* and mw_* columns.
        pairs: every scored pair at or above ``min_report_probability`` (record_id_l,
            record_id_r, match_weight, match_probability, gamma_*, mw_*).
        set_aside: pairs the assignment did not keep, with the reason.
        model: the fitted :class:`LinkageModel`.
        counts: figures of every step; timings: seconds per step.
    """

    con: duckdb.DuckDBPyConnection
    links: duckdb.DuckDBPyRelation
    pairs: duckdb.DuckDBPyRelation
    set_aside: duckdb.DuckDBPyRelation
    model: LinkageModel
    counts: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def _estimate_expected_matches(con, left: str, right: str, recall: float = 0.8) -> float:
    """Matches expected between the pools: platform records with a near-certain partner (same
    date token, birth or usage name and first name Dice >= 0.95), divided by ``recall`` — the
    deterministic-rules estimate Splink uses, on encodings."""
    n_sure = con.execute(f"""
        SELECT count(DISTINCT l.record_id) FROM {left} l JOIN {right} r USING (tok_date)
        WHERE app_dice(l.bf_first_name, r.bf_first_name) >= 0.95
          AND (app_dice(l.bf_birth_name, r.bf_birth_name) >= 0.95
               OR app_dice(l.bf_usage_name, r.bf_birth_name) >= 0.95
               OR app_dice(l.bf_birth_name, r.bf_usage_name) >= 0.95)
    """).fetchall()[0][0]
    n_left = con.execute(f"SELECT count(*) FROM {left}").fetchall()[0][0]
    return float(min(max(n_sure / recall, 1.0), n_left))


def link_encoded(platform_enc, source_enc, *, con: duckdb.DuckDBPyConnection,
                 thresholds: Thresholds = Thresholds(), assignment: str = "one_to_one",
                 labels=None, expected_matches: float | None = None,
                 model: LinkageModel | None = None, min_report_probability: float = 0.01,
                 blocking_rules=None, comparison_budget: int = DEFAULT_COMPARISON_BUDGET,
                 pairs_per_chunk: int = 5_000_000, u_max_pairs: float = 3e5,
                 seed: int = 42) -> PprlResult:
    """Link Bloom-filter encodings (the statistician's side of PPRL).

    Args:
        platform_enc, source_enc: outputs of :func:`encode_for_pprl` (relations, Arrow,
            pandas or Parquet paths) with ``record_id`` and :data:`PPRL_COLUMNS`.
        con: DuckDB connection (the Dice macros are registered on it; results live there).
        thresholds: match / review thresholds on the match probability.
        assignment: ``"one_to_one"`` or ``"many_to_one"``.
        labels: optional true pairs (``record_id_l``, ``record_id_r``), e.g. the exact-stage
            links on pivot codes: they estimate m, and their records leave the pools (platform
            side always, source side in one-to-one), as in the cascade.
        expected_matches: expected true pairs in the pools (prior); None → estimated from
            near-certain pairs (see ``counts["expected_matches"]``).
        model: a fitted PPRL model to reuse instead of training one.
        min_report_probability: pairs below this probability are dropped before assignment.
        blocking_rules: rules on the tokens to score pairs with (default
            :func:`pprl_blocking_rules`, or the rules of ``model`` when one is given).
        comparison_budget: raise :class:`~appariement.errors.BlockingBudgetError` before any
            pair is formed if the blocking rules would generate more pairs than this.
        pairs_per_chunk: score the blocked pairs in chunks of about this many (peak memory).
        u_max_pairs, seed: training options (see :class:`LinkageModel`).

    Returns:
        A :class:`PprlResult`; ``links`` holds one row per assigned pair with its decision.

    Examples:
        >>> # enc_p = encode_for_pprl(con, pf, key, project="p", side="platform"); likewise enc_s
        >>> # result = link_encoded(enc_p, enc_s, con=con)
        >>> # result.links.filter("decision = 'match'").count("*")
    """
    with splink_failures("the PPRL linkage"):
        return _link_encoded(platform_enc, source_enc, con=con, thresholds=thresholds,
                             assignment=assignment, labels=labels,
                             expected_matches=expected_matches, model=model,
                             min_report_probability=min_report_probability,
                             blocking_rules=blocking_rules,
                             comparison_budget=comparison_budget,
                             pairs_per_chunk=pairs_per_chunk, u_max_pairs=u_max_pairs, seed=seed)


def _link_encoded(platform_enc, source_enc, *, con, thresholds, assignment, labels,
                  expected_matches, model, min_report_probability, blocking_rules,
                  comparison_budget, pairs_per_chunk, u_max_pairs, seed) -> PprlResult:
    if assignment not in ASSIGNMENT_MODES:
        raise ConfigError(f"assignment must be one of {', '.join(ASSIGNMENT_MODES)}, "
                          f"got {assignment!r}")
    if not 0 <= min_report_probability <= thresholds.review:
        raise ConfigError("min_report_probability must be between 0 and thresholds.review")
    register_pprl_sql(con)
    counts: dict[str, Any] = {}
    timings: dict[str, float] = {}
    for side, data in (("P", platform_enc), ("S", source_enc)):
        rel = as_relation(con, data, "pprl_platform" if side == "P" else "pprl_source")
        missing = [c for c in ("record_id", *PPRL_COLUMNS) if c not in rel.columns]
        if missing:
            raise SchemaError(f"the {'platform' if side == 'P' else 'source'} encodings lack "
                              f"column(s) {missing}; build them with encode_for_pprl",
                              column=missing[0])
        temp_table(rel, f"_app_pprl_{side}")
        dups = con.execute(f"SELECT count(*) FROM (SELECT record_id FROM _app_pprl_{side} "
                           "GROUP BY 1 HAVING count(*) > 1 OR record_id IS NULL)").fetchall()[0][0]
        if dups:
            raise LinkageError(f"{'platform' if side == 'P' else 'source'} encodings have {dups} "
                               "duplicated or null record_id values; the key must be unique")
    if labels is not None:
        temp_view(as_relation(con, labels, "pprl_labels"), "_app_pprl_labels_in")
        con.execute("CREATE OR REPLACE TEMP TABLE _app_pprl_labels AS SELECT DISTINCT "
                    "CAST(record_id_l AS VARCHAR) AS record_id_l, "
                    "CAST(record_id_r AS VARCHAR) AS record_id_r FROM _app_pprl_labels_in")
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE _app_pprl_labels AS SELECT NULL::VARCHAR AS "
                    "record_id_l, NULL::VARCHAR AS record_id_r LIMIT 0")
    n_labels = con.execute("SELECT count(*) FROM _app_pprl_labels").fetchall()[0][0]
    con.execute("CREATE OR REPLACE TEMP TABLE _app_pprl_P2 AS SELECT * FROM _app_pprl_P "
                "WHERE record_id NOT IN (SELECT record_id_l FROM _app_pprl_labels)")
    drop_r = (" WHERE record_id NOT IN (SELECT record_id_r FROM _app_pprl_labels)"
              if assignment == "one_to_one" else "")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _app_pprl_S2 AS SELECT * FROM _app_pprl_S{drop_r}")
    for name, table in (("platform_records", "_app_pprl_P"), ("source_records", "_app_pprl_S"),
                        ("platform_pool", "_app_pprl_P2"), ("source_pool", "_app_pprl_S2")):
        counts[name] = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    counts["labels"] = n_labels
    if pairs_per_chunk < 1:
        raise ConfigError(f"pairs_per_chunk must be positive, got {pairs_per_chunk}")
    if blocking_rules is not None:
        rules = get_rules(blocking_rules)
    elif model is not None:
        rules = get_rules(getattr(model, "blocking_rules_", None) or model.blocking_rules)
    else:
        rules = pprl_blocking_rules()
    with step(log, "PPRL: blocking budget", timings):
        # an upper bound of the distinct pairs (sum of each rule's pairs); fails early
        counts["blocking_pairs_upper_bound"] = check_budget(
            con, con.table("_app_pprl_P2"), con.table("_app_pprl_S2"), rules,
            budget=comparison_budget)

    if model is None:
        model = LinkageModel(comparisons=pprl_comparisons(),
                             blocking_rules=rules,
                             training_rules=pprl_training_rules(), u_max_pairs=u_max_pairs,
                             seed=seed, term_frequency=False, columns=PPRL_COLUMNS)
        if expected_matches is None:
            # the prior is over the full files (the model trains on them, as the cascade does)
            expected_matches = _estimate_expected_matches(con, "_app_pprl_P", "_app_pprl_S")
        counts["expected_matches"] = expected_matches
        with step(log, "PPRL: training the model", timings):
            model.fit(con.table("_app_pprl_P"), con.table("_app_pprl_S"),
                      labels=con.table("_app_pprl_labels") if n_labels else None,
                      expected_matches=expected_matches, con=con)
    with step(log, "PPRL: scoring pairs", timings):
        preds = model.predict(con.table("_app_pprl_P2"), con.table("_app_pprl_S2"), con=con,
                              threshold_match_probability=min_report_probability,
                              table_name="_app_pprl_preds", blocking_rules=rules,
                              num_chunks=max(1, -(-counts["blocking_pairs_upper_bound"]
                                                  // pairs_per_chunk)))
    counts["pairs_scored"] = preds.count("*").fetchall()[0][0]
    with step(log, "PPRL: assignment", timings):
        assigned, aside = assign(con, preds, mode=assignment,
                                 min_probability=min_report_probability,
                                 prefix="_app_pprl_assign")
    gm = [c for c in assigned.columns if c.startswith(("gamma_", "mw_"))]
    con.execute(f"""
        CREATE OR REPLACE TABLE pprl_links AS
        SELECT record_id_l AS candidat_id, record_id_r AS person_id, 'pprl' AS method,
               match_weight, match_probability,
               {thresholds.decision_sql("match_probability")} AS decision, {", ".join(gm)}
        FROM _app_pprl_assign_acc ORDER BY candidat_id
    """)
    links = con.table("pprl_links")
    for d in ("match", "review", "non_match"):
        counts[f"links_{d}"] = con.execute(
            f"SELECT count(*) FROM pprl_links WHERE decision = '{d}'").fetchall()[0][0]
    log.info("PPRL linkage: %d matches, %d to review among %d platform records in the pool",
             counts["links_match"], counts["links_review"], counts["platform_pool"])
    return PprlResult(con, links, preds, aside, model, counts, timings)
