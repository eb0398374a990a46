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

The encodings (columns, tokens, what they leak) are described in
:mod:`appariement.crypto.pprl_encoding`, where :func:`encode_for_pprl` lives (re-exported here).

The exact stage (pivot codes / keyed NIR pseudonyms) runs before, with
``appariement.linkage.link(..., key_column=...)``; pass its links as ``labels`` here to estimate
the m probabilities and to take those records out of the pools, as the cascade does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from .._log import get_logger, step
from .._tables import as_relation, temp_table, temp_view
from ..blocking.analysis import DEFAULT_COMPARISON_BUDGET, check_budget
from ..blocking.rules import BlockingRule, get_rules, rule
# the encodings are the key holder's (crypto/); re-exported so that callers need one import
from ..crypto.pprl_encoding import (PPRL_COLUMNS, TOKEN_PURPOSE, encode_for_pprl,
                                    register_pprl_sql)
from ..errors import ConfigError, LinkageError, SchemaError
from .assignment import ASSIGNMENT_MODES, Thresholds, assign
from .comparisons import SqlLevel, else_level, null_level, residence_comparison
from .model import LinkageModel, splink_failures

__all__ = ["encode_for_pprl", "pprl_comparisons", "pprl_blocking_rules", "pprl_training_rules",
           "link_encoded", "PprlResult", "register_pprl_sql", "PPRL_COLUMNS", "TOKEN_PURPOSE"]

log = get_logger(__name__)

#: Dice thresholds of the similarity levels (xor-folded 1024-bit filters, bigrams)
DICE_LEVELS = (0.95, 0.85, 0.7)
#: containment threshold of "first name among the other's first names" (xor folding lets some
#: bits of a contained name cancel out in the longer filter: ~0.8 for contained names, ~0.35
#: for unrelated ones on the synthetic data)
CONTAIN_LEVEL = 0.8


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
