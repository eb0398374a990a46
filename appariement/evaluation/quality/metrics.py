"""Match quality against a known truth, and the headline counts of a linkage.

:func:`score_against_truth` is a *measurement* helper for tests and benchmarks on synthetic data
(where the truth is known); production reports use the label-free estimates of
:mod:`appariement.evaluation.quality.estimates`, the gold standard of
:mod:`appariement.evaluation.quality.goldstandard` and clerical-review labels.
"""

from __future__ import annotations

from typing import Any

import duckdb

from ..._tables import as_relation, sql_list, temp_view
from ...errors import InputError

__all__ = ["score_against_truth", "link_counts"]


def _rel(con, data, name):
    return as_relation(con, data, name)


def score_against_truth(links, truth, *, decisions=("match",),
                        con: duckdb.DuckDBPyConnection | None = None,
                        where: str | None = None) -> dict[str, Any]:
    """Precision, recall and F1 of links against the true pairs.

    Args:
        links: ``candidat_id``, ``person_id`` and ``decision`` (pandas, Arrow, relation, path).
        truth: the true pairs, ``candidat_id``, ``person_id`` (e.g. ``SynthData.truth["links"]``).
        decisions: which decisions count as links (default: ``match`` only).
        con: DuckDB connection (a new one if None; relations must live on it).
        where: optional SQL filter on candidates, applied to both sides, written against a
            column ``candidat_id`` (e.g. ``"candidat_id IN (SELECT ...)"``) — to score a subset.

    Returns:
        dict with ``precision``, ``recall``, ``f1``, ``true_positives``, ``false_positives``,
        ``false_negatives``, ``n_links``, ``n_true`` (precision/recall are None when undefined).

    Examples:
        >>> import pandas as pd
        >>> links = pd.DataFrame({"candidat_id": ["a", "b"], "person_id": ["1", "9"],
        ...                       "decision": ["match", "match"]})
        >>> truth = pd.DataFrame({"candidat_id": ["a", "b", "c"], "person_id": ["1", "2", "3"]})
        >>> s = score_against_truth(links, truth)
        >>> (s["true_positives"], s["precision"], round(s["recall"], 3))
        (1, 0.5, 0.333)
    """
    con = con or duckdb.connect()
    lrel = _rel(con, links, "links")
    trel = _rel(con, truth, "truth")
    for name, rel, cols in (("links", lrel, ("candidat_id", "person_id", "decision")),
                            ("truth", trel, ("candidat_id", "person_id"))):
        missing = [c for c in cols if c not in rel.columns]
        if missing:
            raise InputError(f"score_against_truth: {name} lacks columns {missing}",
                             table=name, column=missing[0])
    dec = sql_list(decisions)
    filt = f" AND ({where})" if where else ""
    temp_view(lrel, "_app_sat_links")
    temp_view(trel, "_app_sat_truth")
    row = con.execute(f"""
        WITH l AS (SELECT DISTINCT CAST(candidat_id AS VARCHAR) AS candidat_id,
                          CAST(person_id AS VARCHAR) AS person_id
                   FROM _app_sat_links WHERE decision IN ({dec}){filt}),
             t AS (SELECT DISTINCT CAST(candidat_id AS VARCHAR) AS candidat_id,
                          CAST(person_id AS VARCHAR) AS person_id
                   FROM _app_sat_truth WHERE person_id IS NOT NULL{filt})
        SELECT (SELECT count(*) FROM l), (SELECT count(*) FROM t),
               (SELECT count(*) FROM l JOIN t USING (candidat_id, person_id))
    """).fetchall()[0]
    n_links, n_true, tp = (int(v) for v in row)
    precision = tp / n_links if n_links else None
    recall = tp / n_true if n_true else None
    f1 = (2 * precision * recall / (precision + recall)
          if precision and recall else (0.0 if n_links and n_true else None))
    return {"precision": precision, "recall": recall, "f1": f1, "true_positives": tp,
            "false_positives": n_links - tp, "false_negatives": n_true - tp,
            "n_links": n_links, "n_true": n_true}


def link_counts(links, *, n_candidates: int | None = None,
                con: duckdb.DuckDBPyConnection | None = None) -> dict[str, Any]:
    """Headline counts: links by method and decision, and the match rate.

    Args:
        links: the ``links`` output of the cascade.
        n_candidates: number of platform candidates (the match-rate denominator).
        con: DuckDB connection.

    Returns:
        dict with ``by_method_decision`` (list of rows), ``n_match``, ``n_review``, ``match_rate``.

    Examples:
        >>> import pandas as pd
        >>> links = pd.DataFrame({"candidat_id": ["a", "b"], "person_id": ["1", "2"],
        ...     "method": ["pivot_exact", "probabilistic"], "decision": ["match", "review"]})
        >>> link_counts(links, n_candidates=4)["match_rate"]
        0.25
    """
    con = con or duckdb.connect()
    rel = _rel(con, links, "links")
    temp_view(rel, "_app_lc_links")
    rows = con.execute("""SELECT method, decision, count(*) AS n FROM _app_lc_links
                          GROUP BY ALL ORDER BY ALL""").fetchall()
    table = [{"method": m, "decision": d, "n": int(n)} for m, d, n in rows]
    n_match = sum(r["n"] for r in table if r["decision"] == "match")
    n_review = sum(r["n"] for r in table if r["decision"] == "review")
    return {"by_method_decision": table, "n_match": n_match, "n_review": n_review,
            "n_candidates": n_candidates,
            "match_rate": n_match / n_candidates if n_candidates else None}
