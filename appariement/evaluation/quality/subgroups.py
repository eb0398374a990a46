"""Linkage bias: link rates and estimated error rates by subgroup, with significance flags.

Linkage failures rarely fall at random: people born abroad, with compound or transliterated
names, or from an area where identities are typed badly link less often, and an analysis of the
linked file then under-represents them. For each grouping variable (sex, age band, born abroad,
department of residence, prescriber type, structure type, hired or not, NIR present or not) the
report gives each group's link rate, its label-free estimated FDR / FNR, and flags groups whose
link rate differs significantly from the rest of the candidates (two-proportion z-test, Holm
correction over every group tested — groups of at least ``min_group_size`` — and a minimum
difference so that huge files do not flag negligible gaps).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import duckdb
import numpy as np
import pandas as pd

from ..._tables import as_relation, temp_view
from ...errors import InputError

__all__ = ["SUBGROUP_VARIABLES", "subgroup_covariates", "candidate_outcomes", "subgroup_rates",
           "flag_differences"]

#: grouping variables, with their French labels
SUBGROUP_VARIABLES: dict[str, str] = {
    "sex": "Sexe",
    "age_band": "Tranche d'âge",
    "born_abroad": "Né à l'étranger",
    "departement": "Département de résidence",
    "prescriber_type": "Type de prescripteur",
    "structure_type": "Type de structure",
    "hired": "Embauché",
    "nir_present": "NIR renseigné",
}


def _fetch_df(con, sql: str, params=None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def subgroup_covariates(con: duckdb.DuckDBPyConnection, features, *, candidatures=None,
                        organisations=None, structures=None, candidats=None
                        ) -> duckdb.DuckDBPyRelation:
    """One row per candidate with the grouping variables (no identifying value).

    Args:
        con: DuckDB connection.
        features: platform features (``standardise_identities(..., side="platform")``).
        candidatures, organisations, structures: platform tables (optional: the matching
            variables are 'unknown' without them).
        candidats: the platform ``candidats`` table, for ``date_inscription`` (age at
            registration; without it, age at the start of the current year).

    Returns:
        Relation ``candidat_id`` + the variables of :data:`SUBGROUP_VARIABLES` (text).

    Examples:
        >>> import duckdb, pandas as pd
        >>> con = duckdb.connect()
        >>> f = pd.DataFrame({"record_id": ["c1"], "sex": ["2"], "birth_year": [1990],
        ...     "born_abroad": [False], "residence_dept": ["93"], "nir": [None]})
        >>> row = subgroup_covariates(con, f).fetchall()[0]
        >>> row[1], row[3], row[4], row[-1]
        ('F', 'non', '93', 'non')
    """
    feats = as_relation(con, features, "features")
    for col in ("record_id", "sex", "birth_year", "born_abroad", "residence_dept", "nir"):
        if col not in feats.columns:
            raise InputError(f"subgroup covariates need column {col!r} in the platform features",
                             table="features", column=col)
    temp_view(feats, "_app_sg_f")
    ref_year = "year(current_date)"
    joins = []
    if candidats is not None and "date_inscription" in as_relation(con, candidats).columns:
        temp_view(as_relation(con, candidats, "candidats"), "_app_sg_c")
        joins.append("LEFT JOIN (SELECT CAST(candidat_id AS VARCHAR) AS record_id, "
                     "year(TRY_CAST(date_inscription AS DATE)) AS y FROM _app_sg_c) c "
                     "USING (record_id)")
        ref_year = f"coalesce(c.y, {ref_year})"
    if candidatures is not None:
        temp_view(as_relation(con, candidatures, "candidatures"), "_app_sg_a")
        org = ("(SELECT CAST(organisation_id AS VARCHAR) AS organisation_id, type AS otype "
               "FROM _app_sg_o)")
        st = "(SELECT CAST(structure_id AS VARCHAR) AS structure_id, type AS stype FROM _app_sg_s)"
        if organisations is not None:
            temp_view(as_relation(con, organisations, "organisations"), "_app_sg_o")
        else:
            org = "(SELECT NULL::VARCHAR AS organisation_id, NULL::VARCHAR AS otype)"
        if structures is not None:
            temp_view(as_relation(con, structures, "structures"), "_app_sg_s")
        else:
            st = "(SELECT NULL::VARCHAR AS structure_id, NULL::VARCHAR AS stype)"
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _app_sg_cand AS
            SELECT CAST(a.candidat_id AS VARCHAR) AS record_id,
                   arg_min(coalesce(o.otype, CASE WHEN a.origine = 'candidat' THEN 'autonome'
                                                  ELSE NULL END), a.date_candidature)
                       AS prescriber_type,
                   arg_min(s.stype, a.date_candidature) AS structure_type,
                   bool_or(a.etat = 'accepted') AS hired
            FROM _app_sg_a a
            LEFT JOIN {org} o ON o.organisation_id = CAST(a.organisation_id AS VARCHAR)
            LEFT JOIN {st} s ON s.structure_id = CAST(a.structure_id AS VARCHAR)
            GROUP BY 1
        """).fetchall()
        joins.append("LEFT JOIN _app_sg_cand k USING (record_id)")
    else:
        joins.append("LEFT JOIN (SELECT NULL::VARCHAR AS record_id, NULL::VARCHAR AS "
                     "prescriber_type, NULL::VARCHAR AS structure_type, NULL::BOOLEAN AS hired"
                     ") k USING (record_id)")
    age = f"({ref_year} - f.birth_year)"
    return con.sql(f"""
        SELECT CAST(f.record_id AS VARCHAR) AS candidat_id,
               CASE f.sex WHEN '1' THEN 'M' WHEN '2' THEN 'F' ELSE 'inconnu' END AS sex,
               CASE WHEN f.birth_year IS NULL THEN 'inconnu'
                    WHEN {age} < 26 THEN '<26' WHEN {age} < 35 THEN '26-34'
                    WHEN {age} < 45 THEN '35-44' WHEN {age} < 55 THEN '45-54'
                    ELSE '55+' END AS age_band,
               CASE WHEN f.born_abroad THEN 'oui' WHEN NOT f.born_abroad THEN 'non'
                    ELSE 'inconnu' END AS born_abroad,
               coalesce(f.residence_dept, 'inconnu') AS departement,
               coalesce(prescriber_type, 'inconnu') AS prescriber_type,
               coalesce(structure_type, 'inconnu') AS structure_type,
               CASE WHEN hired THEN 'oui' WHEN NOT hired THEN 'non' ELSE 'inconnu' END AS hired,
               CASE WHEN f.nir IS NULL THEN 'non' ELSE 'oui' END AS nir_present
        FROM (SELECT * FROM _app_sg_f) f
        {' '.join(joins)}
    """)


def candidate_outcomes(con: duckdb.DuckDBPyConnection, links, candidates,
                       ) -> duckdb.DuckDBPyRelation:
    """One row per candidate: linked (decision match), method and the error contributions.

    ``false_part`` = ``1 - p`` for a probabilistic match (its chance of being wrong);
    ``true_part`` = ``p`` for a probabilistic match; ``missed_part`` = ``p`` of the candidate's
    assigned pair when it is not a match (its chance of being a missed match).

    Args:
        con: DuckDB connection.
        links: the ``links`` output of the cascade.
        candidates: any relation with ``candidat_id`` listing every candidate.

    Returns:
        Relation ``candidat_id, linked, method, false_part, true_part, missed_part``.
    """
    temp_view(as_relation(con, links, "links"), "_app_sg_links")
    temp_view(as_relation(con, candidates, "cands"), "_app_sg_cands")
    return con.sql("""
        SELECT CAST(c.candidat_id AS VARCHAR) AS candidat_id,
               coalesce(l.decision = 'match', FALSE) AS linked, l.method,
               CASE WHEN l.decision = 'match' AND l.method = 'probabilistic'
                    THEN 1 - l.match_probability ELSE 0 END AS false_part,
               CASE WHEN l.decision = 'match' AND l.method = 'probabilistic'
                    THEN l.match_probability ELSE 0 END AS true_part,
               CASE WHEN l.decision IS DISTINCT FROM 'match'
                    THEN coalesce(l.match_probability, 0) ELSE 0 END AS missed_part
        FROM _app_sg_cands c
        LEFT JOIN _app_sg_links l ON CAST(l.candidat_id AS VARCHAR) = CAST(c.candidat_id AS VARCHAR)
    """)


def subgroup_rates(con: duckdb.DuckDBPyConnection, outcomes, covariates,
                   variables: Sequence[str] | None = None, *, alpha: float = 0.05,
                   min_difference: float = 0.02, min_group_size: int = 30) -> pd.DataFrame:
    """Link rate and estimated error rates per group, with the bias flag.

    Args:
        con: DuckDB connection.
        outcomes: :func:`candidate_outcomes`.
        covariates: :func:`subgroup_covariates`.
        variables: grouping variables (default: every column of :data:`SUBGROUP_VARIABLES`
            present).
        alpha: family-wise error rate of the flags (Holm correction over all groups).
        min_difference: smallest absolute link-rate gap that can be flagged.
        min_group_size: groups (and complements) smaller than this are not tested — the normal
            approximation of the z-test does not hold there, their rates cannot be published
            anyway, and testing them would only spend the family-wise error rate (p-values
            are NaN, never flagged).

    Returns:
        DataFrame with ``variable``, ``label`` (French), ``group``, ``n``, ``n_linked``,
        ``n_unlinked``, ``link_rate``, ``rate_rest``, ``difference``, ``p_value``,
        ``p_adjusted``, ``flagged``, ``est_fdr``, ``est_fnr``.

    Examples:
        >>> import duckdb, pandas as pd
        >>> con = duckdb.connect()
        >>> o = pd.DataFrame({"candidat_id": list("abcd"), "linked": [True, True, False, True],
        ...     "method": ["pivot_exact"] * 4, "false_part": [0.0] * 4, "true_part": [0.0] * 4,
        ...     "missed_part": [0.0] * 4})
        >>> c = pd.DataFrame({"candidat_id": list("abcd"), "sex": list("MMFF")})
        >>> subgroup_rates(con, o, c, min_group_size=1)["link_rate"].tolist()
        [0.5, 1.0]
    """
    orel = as_relation(con, outcomes, "outcomes")
    crel = as_relation(con, covariates, "covariates")
    temp_view(orel, "_app_sg_out")
    temp_view(crel, "_app_sg_cov")
    variables = [v for v in (variables or SUBGROUP_VARIABLES) if v in crel.columns]
    frames = []
    for var in variables:
        df = _fetch_df(con, f"""
            SELECT '{var}' AS variable, CAST(c.{var} AS VARCHAR) AS "group", count(*) AS n,
                   count(*) FILTER (WHERE o.linked) AS n_linked,
                   sum(o.false_part) AS exp_false, sum(o.true_part) AS exp_true,
                   sum(o.missed_part) AS exp_missed,
                   count(*) FILTER (WHERE o.linked AND o.method = 'probabilistic') AS n_prob
            FROM _app_sg_cov c JOIN _app_sg_out o USING (candidat_id)
            GROUP BY ALL ORDER BY 2
        """)
        frames.append(df)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if table.empty:
        return table
    table["n"] = table["n"].astype(int)
    table["n_linked"] = table["n_linked"].astype(int)
    table["n_unlinked"] = table["n"] - table["n_linked"]
    table["label"] = table["variable"].map(SUBGROUP_VARIABLES).fillna(table["variable"])
    table["link_rate"] = table["n_linked"] / table["n"]
    total_n = table.groupby("variable")["n"].transform("sum")
    total_linked = table.groupby("variable")["n_linked"].transform("sum")
    rest_n = total_n - table["n"]
    rest_linked = total_linked - table["n_linked"]
    table["rate_rest"] = np.where(rest_n > 0, rest_linked / rest_n.where(rest_n > 0, 1), np.nan)
    table["difference"] = table["link_rate"] - table["rate_rest"]
    pooled = total_linked / total_n
    se = np.sqrt(pooled * (1 - pooled) * (1 / table["n"] + 1 / rest_n.where(rest_n > 0)))
    testable = (table["n"] >= min_group_size) & (rest_n >= min_group_size)
    z = (table["difference"] / se.where(se > 0)).where(testable)
    table["p_value"] = [(math.erfc(abs(v) / math.sqrt(2)) if pd.notna(v) else np.nan) for v in z]
    table["p_adjusted"] = _holm(table["p_value"].to_numpy())
    table["flagged"] = ((table["p_adjusted"] < alpha)
                        & (table["difference"].abs() >= min_difference)).fillna(False)
    table["est_fdr"] = np.where(table["n_linked"] > 0,
                                table["exp_false"] / table["n_linked"].where(
                                    table["n_linked"] > 0, 1), np.nan)
    denom = table["exp_true"] + table["exp_missed"]
    table["est_fnr"] = np.where(denom > 0, table["exp_missed"] / denom.where(denom > 0, 1),
                                np.nan)
    return table[["variable", "label", "group", "n", "n_linked", "n_unlinked", "link_rate",
                  "rate_rest", "difference", "p_value", "p_adjusted", "flagged", "est_fdr",
                  "est_fnr"]]


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values (NaN stay NaN)."""
    p = np.asarray(p, dtype=float)
    ok = ~np.isnan(p)
    out = np.full(len(p), np.nan)
    idx = np.flatnonzero(ok)
    order = idx[np.argsort(p[idx])]
    m = len(order)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def flag_differences(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The flagged groups as short records (variable, group, link rate, rest, difference).

    Examples:
        >>> import pandas as pd
        >>> t = pd.DataFrame({"variable": ["sex"], "group": ["F"], "flagged": [True],
        ...     "link_rate": [0.5], "rate_rest": [0.9], "difference": [-0.4]})
        >>> flag_differences(t)[0]["group"]
        'F'
    """
    rows = table[table["flagged"].astype(bool)]
    return [{"variable": r.variable, "group": r.group, "link_rate": float(r.link_rate),
             "rate_rest": float(r.rate_rest), "difference": float(r.difference)}
            for r in rows.itertuples()]
