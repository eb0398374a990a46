"""What the traits allow: their completeness on each side, and the candidates who could not be
linked even to themselves (Splink's "unlinkables").

Both figures are published, so both are counts under disclosure control: a completeness whose
missing (or present) count is small is suppressed; the self-link weights are grouped into bins
of at least ``threshold`` candidates before the cumulative shares are drawn, so no difference of
two published points is a small count.
"""

from __future__ import annotations

import math
from typing import Any

import duckdb
import pandas as pd

from ..disclosure import DisclosurePolicy, suppress
from ..output_check import TableSpec

__all__ = ["COMPLETENESS_COLUMNS", "completeness_table", "unlinkables_table"]

#: traits whose completeness is shown (feature column -> label key)
COMPLETENESS_COLUMNS = ("nir", "birth_name", "first_name", "birth_date", "sex", "birth_commune",
                        "birth_country", "postcode")


def completeness_table(con: duckdb.DuckDBPyConnection, features: dict[str, Any],
                       policy: DisclosurePolicy) -> tuple[list[dict], TableSpec] | None:
    """Rows ``source_dataset``, ``column_name``, ``total_rows_inc_nulls``, ``total_null_rows``,
    ``n_complete``, ``completeness`` (suppressed where a count is small), and their spec.

    Args:
        features: side name (``platform`` / ``source``) -> features relation.
    """
    rows = []
    for side, rel in features.items():
        if rel is None:
            continue
        cols = [c for c in COMPLETENESS_COLUMNS if c in rel.columns]
        if not cols:
            continue
        agg = ", ".join([f'count("{c}") AS "{c}"' for c in cols] + ["count(*) AS _n"])
        got = rel.aggregate(agg).fetchall()[0]
        total = int(got[-1])
        for c, present in zip(cols, got[:-1]):
            rows.append({"source_dataset": side, "column_name": c,
                         "total_rows_inc_nulls": total, "total_null_rows": total - int(present),
                         "n_complete": int(present),
                         "completeness": int(present) / total if total else None})
    if not rows:
        return None
    s = suppress(pd.DataFrame(rows), ["total_rows_inc_nulls", "total_null_rows", "n_complete"],
                 policy=policy, row_groups=[("total_rows_inc_nulls",
                                             ["total_null_rows", "n_complete"])],
                 rate_columns={"completeness": ("n_complete", "total_rows_inc_nulls")})
    spec = TableSpec("report/completeness", "", ["completeness", "rows"],
                     ["source_dataset", "column_name"],
                     ["total_rows_inc_nulls", "total_null_rows", "n_complete"],
                     row_groups=[("total_rows_inc_nulls", ["total_null_rows", "n_complete"])],
                     rates={"completeness": ("n_complete", "total_rows_inc_nulls")},
                     cell_names={"total_rows_inc_nulls": "records|{source_dataset}"})
    return s.records(), spec


def unlinkables_table(con: duckdb.DuckDBPyConnection, model, platform,
                      policy: DisclosurePolicy) -> tuple[list[dict], TableSpec] | None:
    """Each platform candidate compared with itself by the model (no term-frequency
    adjustment): the share of candidates whose self-link weight stays at or below each
    weight. Bins of whole weights are merged until each holds at least ``threshold``
    candidates; rows ``match_weight`` (upper edge), ``match_probability``, ``n``,
    ``cum_prop``.
    """
    from ...linkage.model import LinkageModel
    settings = getattr(model, "settings_", None)
    if settings is None or platform is None:
        return None
    rel = model.splink_input(con, platform, "platform")
    cols = [c for c in rel.columns if c not in ("unique_id", "source_dataset")]
    both = ", ".join(f'"{c}" AS "{c}_l", "{c}" AS "{c}_r"' for c in cols)
    gammas = LinkageModel._gamma_sql(settings)
    prior = float(settings["probability_two_random_records_match"])
    weight = [str(math.log2(prior / (1 - prior)))]
    for comp in settings["comparisons"]:
        levels = [lv for lv in comp["comparison_levels"] if not lv.get("is_null_level")]
        k = len(levels)
        cases = []
        for i, lv in enumerate(levels):
            m, u = lv.get("m_probability"), lv.get("u_probability")
            w = math.log2(m / u) if m and u else 0.0
            cases.append(f"WHEN {k - 1 - i} THEN {w!r}")
        weight.append(f'CASE "gamma_{comp["output_column_name"]}" {" ".join(cases)} ELSE 0 END')
    sql = (f"SELECT floor({' + '.join(weight)}) AS w, count(*) AS n FROM ("
           f"SELECT {', '.join(gammas)} FROM (SELECT {both} FROM _u)) GROUP BY 1 ORDER BY 1")
    counts = rel.query("_u", sql).fetchall()
    total = sum(int(n) for _, n in counts)
    if total < policy.threshold:
        return None
    merged, acc = [], 0
    for w, n in counts:  # a bin closes once it holds threshold candidates
        acc += int(n)
        if acc >= policy.threshold:
            merged.append([float(w) + 1, acc])
            acc = 0
    if acc:  # the last candidates join the last bin
        merged[-1][1] += acc
        merged[-1][0] = float(counts[-1][0]) + 1
    rows, cum = [], 0
    for w, n in merged:
        cum += n
        rows.append({"match_weight": w, "match_probability": 2 ** w / (1 + 2 ** w), "n": n,
                     "cum_prop": cum / total})
    spec = TableSpec("report/unlinkables", "", ["unlinkables", "rows"], ["match_weight"], ["n"],
                     column_totals={"n": "unlinkables|all"})
    return rows, spec
