"""A gold standard from the data itself: the NIR links.

Records linked by a valid, traits-consistent NIR on both sides are (nearly) certain pairs. Hiding
their NIR and re-linking them on traits only, against the whole source, measures how good
traits-only links are — the method used for people without a NIR — with labels.

Two corrections make the measure closer to the records without NIR:

* **prevalence** — every gold record has its person in the source, while many candidates without
  NIR have none, and a record without a true partner can only produce false links. With
  ``prevalence=π``, the true partners of a random ``1 - π`` share of the gold records are removed
  from the source before re-linking, so the gold set has the match prevalence of the target
  population (π: the label-free expected matches per candidate of stage 2, or given).
* **selection** — gold records differ from the rest (more often hired, born in France...).
  :func:`selection_table` shows how, group by group, and the report says it.

The re-linking runs on its own DuckDB connection (the cascade uses fixed table names) with the
fitted model of the main run when given: m estimated partly on these very pairs makes the
measure slightly optimistic (stated in the report).
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pandas as pd

from ..._log import get_logger
from ..._tables import as_relation, sql_list, to_arrow, temp_view
from ...errors import ConfigError, InputError
from .estimates import DEFAULT_GRID
from .metrics import score_against_truth

__all__ = ["nir_gold_pairs", "stage1_gold_pairs", "target_prevalence", "gold_standard_evaluation",
           "selection_table"]

log = get_logger(__name__)


def nir_gold_pairs(con: duckdb.DuckDBPyConnection, platform_features, source_features, *,
                   trusted=("consistent",)) -> duckdb.DuckDBPyRelation:
    """Pairs with the same valid, traits-consistent NIR on both sides, unique on both sides.

    Args:
        con: DuckDB connection.
        platform_features, source_features: standardised features (``record_id``, ``nir``,
            ``nir_valid``, ``nir_consistency``).
        trusted: consistency statuses accepted.

    Returns:
        Relation ``candidat_id``, ``person_id`` (no NIR column).

    Examples:
        >>> import duckdb, pandas as pd
        >>> con = duckdb.connect()
        >>> p = pd.DataFrame({"record_id": ["c1", "c2"], "nir": ["A", "B"],
        ...     "nir_valid": [True, True], "nir_consistency": ["consistent", "inconsistent"]})
        >>> s = pd.DataFrame({"record_id": ["p1", "p2"], "nir": ["A", "B"],
        ...     "nir_valid": [True, True], "nir_consistency": ["consistent", "consistent"]})
        >>> nir_gold_pairs(con, p, s).fetchall()
        [('c1', 'p1')]
    """
    temp_view(as_relation(con, platform_features, "pf"), "_app_gs_p")
    temp_view(as_relation(con, source_features, "sf"), "_app_gs_s")
    ok = sql_list(trusted)
    return con.sql(f"""
        WITH p AS (SELECT CAST(record_id AS VARCHAR) AS id, nir FROM _app_gs_p
                   WHERE nir IS NOT NULL AND nir_valid AND nir_consistency IN ({ok})),
             s AS (SELECT CAST(record_id AS VARCHAR) AS id, nir FROM _app_gs_s
                   WHERE nir IS NOT NULL AND nir_valid AND nir_consistency IN ({ok})),
             j AS (SELECT p.id AS candidat_id, s.id AS person_id,
                          count(*) OVER (PARTITION BY p.id) AS nl,
                          count(*) OVER (PARTITION BY s.id) AS nr
                   FROM p JOIN s USING (nir))
        SELECT candidat_id, person_id FROM j WHERE nl = 1 AND nr = 1 ORDER BY 1
    """)


def stage1_gold_pairs(links, *, con: duckdb.DuckDBPyConnection | None = None
                      ) -> duckdb.DuckDBPyRelation:
    """The gold pairs of a cascade run: its exact-key links decided ``match``.

    Stage 1 links a candidate only on a valid NIR consistent with the declared traits on both
    sides, unique on both sides, whose names / birth date do not disagree (the cascade's
    guards) — these are the labelled pairs of the gold standard.

    Args:
        links: the ``links`` output of the cascade (``method``, ``decision``).
        con: DuckDB connection.

    Returns:
        Relation ``candidat_id``, ``person_id``.

    Examples:
        >>> import pandas as pd
        >>> links = pd.DataFrame({"candidat_id": ["a", "b", "c"], "person_id": ["1", "2", "3"],
        ...     "method": ["pivot_exact", "pivot_exact", "probabilistic"],
        ...     "decision": ["match", "review", "match"]})
        >>> stage1_gold_pairs(links).fetchall()
        [('a', '1')]
    """
    con = con or duckdb.connect()
    rel = as_relation(con, links, "links")
    for col in ("candidat_id", "person_id", "method", "decision"):
        if col not in rel.columns:
            raise InputError(f"gold standard: links lack column {col!r}", table="links",
                             column=col)
    temp_view(rel, "_app_gs_links")
    return con.sql("""SELECT CAST(candidat_id AS VARCHAR) AS candidat_id,
                             CAST(person_id AS VARCHAR) AS person_id
                      FROM _app_gs_links WHERE method = 'pivot_exact' AND decision = 'match'
                      ORDER BY 1""")


def target_prevalence(links, platform_features, *, con: duckdb.DuckDBPyConnection | None = None,
                      blocking_recall: float | None = None) -> float | None:
    """Label-free share of candidates *without NIR* who have a partner in the source.

    The expected number of true pairs among them is the sum of the match probabilities of
    their assigned probabilistic pairs (divided by the blocking recall when given); the
    share is that over their number — the ``prevalence`` to give
    :func:`gold_standard_evaluation` so the gold set looks like the target population.

    Args:
        links: the ``links`` output of the cascade.
        platform_features: standardised platform features (``record_id``, ``nir``).
        con: DuckDB connection.
        blocking_recall: recall of the blocking rules (None: 1).

    Returns:
        The share in (0, 1], or None when no candidate lacks a NIR.

    Examples:
        >>> import pandas as pd
        >>> links = pd.DataFrame({"candidat_id": ["a", "b"], "person_id": ["1", "2"],
        ...     "method": ["probabilistic"] * 2, "match_probability": [0.9, 0.5]})
        >>> f = pd.DataFrame({"record_id": ["a", "b", "c", "d"], "nir": [None] * 4})
        >>> target_prevalence(links, f)
        0.35
    """
    con = con or duckdb.connect()
    temp_view(as_relation(con, links, "links"), "_app_gs_tl")
    temp_view(as_relation(con, platform_features, "pf"), "_app_gs_tp")
    n, expected = con.execute("""
        SELECT count(*), coalesce(sum(l.match_probability), 0)
        FROM _app_gs_tp p LEFT JOIN _app_gs_tl l
             ON CAST(l.candidat_id AS VARCHAR) = CAST(p.record_id AS VARCHAR)
             AND l.method = 'probabilistic'
        WHERE p.nir IS NULL""").fetchall()[0]
    if not n:
        return None
    if blocking_recall and 0 < blocking_recall < 1:
        expected = expected / blocking_recall
    return float(min(1.0, max(expected / n, 1e-3)))


def gold_standard_evaluation(platform_features, source_features, gold_pairs, *,
                             con: duckdb.DuckDBPyConnection | None = None, model=None,
                             prevalence: float | None = None, seed: int = 0,
                             **link_options) -> dict[str, Any]:
    """Re-link the gold records on traits only and score the links against their NIR pairs.

    Args:
        platform_features, source_features: standardised features (on ``con``).
        gold_pairs: :func:`nir_gold_pairs` (``candidat_id``, ``person_id``).
        con: connection holding the inputs.
        model: a fitted :class:`appariement.linkage.LinkageModel` to reuse (None: train a
            traits-only model on the gold records).
        prevalence: share of gold records whose partner stays in the source (None or 1: all).
        seed: seed of the partner removal (deterministic hash).
        **link_options: fields of :class:`appariement.linkage.LinkageConfig`.

    Returns:
        dict with ``precision``, ``recall``, ``f1`` and the counts of
        :func:`appariement.evaluation.score_against_truth` (links decided ``match``), plus
        ``n_gold``, ``prevalence``, ``n_partners_removed``, ``thresholds``, ``at_review``
        (precision / recall counting ``review`` links too), ``curve`` (precision / recall
        against the threshold, one dict per threshold) and ``model``.

    Example (after the main run ``result = appariement.linkage.link(pf, sf, con=con)``; run
    on a synthetic world by ``tests/evaluation/conftest.py``, too slow for a docstring)::

        gold = stage1_gold_pairs(result.links, con=con)
        g = gold_standard_evaluation(pf, sf, gold, con=con,
                                     prevalence=target_prevalence(result.links, pf, con=con))
        g["precision"], g["recall"]
    """
    from ...linkage import Linkage, LinkageConfig  # evaluation depends on linkage, not back

    if prevalence is not None and not 0 < prevalence <= 1:
        raise ConfigError(f"prevalence must be in (0, 1], got {prevalence}")
    con = con or duckdb.connect()
    gold = to_arrow(as_relation(con, gold_pairs, "gold"))
    pf = to_arrow(as_relation(con, platform_features, "pf"))
    sf = to_arrow(as_relation(con, source_features, "sf"))
    work = duckdb.connect()
    work.register("_gold_in", gold)
    work.register("_pf_in", pf)
    work.register("_sf_in", sf)
    pi = 1.0 if prevalence is None else float(prevalence)
    work.execute(f"""
        CREATE TABLE gold AS
        SELECT candidat_id, person_id,
               (hash(candidat_id || '#{int(seed)}') % 1000000) / 1000000.0 >= {pi!r} AS removed
        FROM _gold_in
    """).fetchall()
    work.execute("""CREATE TABLE gp AS SELECT * REPLACE (NULL::VARCHAR AS nir) FROM _pf_in
                    WHERE CAST(record_id AS VARCHAR) IN (SELECT candidat_id FROM gold)""").fetchall()
    work.execute("""CREATE TABLE gs AS SELECT * FROM _sf_in WHERE CAST(record_id AS VARCHAR)
                    NOT IN (SELECT person_id FROM gold WHERE removed)""").fetchall()
    n_gold, n_removed = work.execute("SELECT count(*), count(*) FILTER (WHERE removed) "
                                     "FROM gold").fetchall()[0]
    options = {"key_column": None, **link_options}
    config = LinkageConfig(**options)
    result = Linkage(config, con=work, model=model).run(work.table("gp"), work.table("gs"))
    work.execute("SELECT 1").fetchall()  # close any pending result before reading tables
    truth = work.sql("SELECT candidat_id, person_id FROM gold WHERE NOT removed")
    scores = score_against_truth(result.links, truth, con=work)
    at_review = score_against_truth(result.links, truth, con=work,
                                    decisions=("match", "review"))
    scores.update({"n_gold": int(n_gold), "prevalence": pi, "n_partners_removed": int(n_removed),
                   "thresholds": {"match": config.thresholds.match,
                                  "review": config.thresholds.review},
                   "at_review": {k: at_review[k] for k in ("precision", "recall", "f1",
                                                           "n_links")},
                   "curve": _gold_curve(work, result.links, truth),
                   "model": "reused from the main run" if model is not None
                   else "trained on the gold records (traits only)"})
    log.info("gold standard: %d records, precision %.4f, recall %.4f", n_gold,
             scores["precision"] or 0, scores["recall"] or 0)
    return scores


def _gold_curve(con, links, truth, thresholds=DEFAULT_GRID) -> list[dict[str, Any]]:
    """Precision / recall of the gold re-linkage against the threshold (labels: NIR pairs)."""
    temp_view(links, "_app_gs_rl")
    temp_view(truth, "_app_gs_rt")
    frame = con.execute("""
        SELECT l.match_probability AS p, t.candidat_id IS NOT NULL AS ok
        FROM _app_gs_rl l LEFT JOIN _app_gs_rt t
             ON t.candidat_id = CAST(l.candidat_id AS VARCHAR)
             AND t.person_id = CAST(l.person_id AS VARCHAR)
        WHERE l.match_probability IS NOT NULL""").fetchnumpy()
    n_true = con.execute("SELECT count(*) FROM _app_gs_rt").fetchall()[0][0]
    p, ok = np.asarray(frame["p"], dtype=float), np.asarray(frame["ok"], dtype=bool)
    rows = []
    for t in thresholds:
        above = p >= t
        n_above, tp = int(above.sum()), int((above & ok).sum())
        prec = tp / n_above if n_above else None
        rec = tp / n_true if n_true else None
        f1 = 2 * prec * rec / (prec + rec) if prec and rec else None
        rows.append({"threshold": float(t), "precision": prec, "recall": rec, "f1": f1})
    return rows


def selection_table(con: duckdb.DuckDBPyConnection, covariates, gold_pairs,
                    variables=("sex", "age_band", "born_abroad", "hired", "prescriber_type")
                    ) -> pd.DataFrame:
    """How the gold records differ from the others: group shares in each set.

    Args:
        con: DuckDB connection.
        covariates: :func:`appariement.evaluation.quality.subgroups.subgroup_covariates`.
        gold_pairs: :func:`nir_gold_pairs`.
        variables: grouping variables to compare.

    Returns:
        DataFrame ``variable, group, n_gold, n_rest, share_gold, share_rest`` (counts to pass
        through disclosure control).
    """
    temp_view(as_relation(con, covariates, "cov"), "_app_gs_cov")
    temp_view(as_relation(con, gold_pairs, "gold"), "_app_gs_gold")
    cols = [v for v in variables if v in con.table("_app_gs_cov").columns]
    frames = []
    for var in cols:
        frames.append(con.execute(f"""
            SELECT '{var}' AS variable, CAST({var} AS VARCHAR) AS "group",
                   count(*) FILTER (WHERE g.candidat_id IS NOT NULL) AS n_gold,
                   count(*) FILTER (WHERE g.candidat_id IS NULL) AS n_rest
            FROM _app_gs_cov c LEFT JOIN _app_gs_gold g USING (candidat_id)
            GROUP BY ALL ORDER BY 2""").df())
    table = pd.concat(frames, ignore_index=True)
    for side in ("gold", "rest"):
        tot = table.groupby("variable")[f"n_{side}"].transform("sum")
        table[f"share_{side}"] = table[f"n_{side}"] / tot.where(tot > 0)
    return table
