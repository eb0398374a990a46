"""The quality report: one self-contained HTML file and a JSON of every figure.

Every count table goes through :func:`appariement.evaluation.disclosure.suppress`; the page
states the rule. No NIR, no name, no record id appears: waterfalls describe agreement patterns
shared by at least ``threshold`` pairs, never a single pair.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from .._atomic import write_json, write_text
from .._tables import as_relation, temp_view
from . import charts
from .disclosure import DisclosurePolicy, suppress
from .estimates import _py, error_curve, estimate_errors, probabilities_of
from .subgroups import SUBGROUP_VARIABLES, candidate_outcomes, flag_differences, subgroup_rates
from .thresholds import recommend_threshold, threshold_curves

__all__ = ["QualityReport", "build_report"]


@dataclass
class QualityReport:
    """Figures (JSON-ready, disclosure-controlled) and the HTML page."""

    figures: dict[str, Any]
    html: str
    charts: dict[str, Any] = field(default_factory=dict)

    def write(self, out_dir) -> dict[str, str]:
        """Write ``report.html`` and ``report.json`` atomically; returns name -> path."""
        from .._paths import private_dir  # folders 0700, as the command line makes them

        out = private_dir(out_dir)
        return {"html": str(write_text(out / "report.html", self.html)),
                "json": str(write_json(out / "report.json",
                                       {**self.figures, "charts": self.charts}))}


def _table_html(rows: list[dict], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c)
            if v is None:
                cells.append('<td class="s">–</td>')
            elif isinstance(v, float):
                cells.append(f"<td>{v:.4g}</td>")
            else:
                cells.append(f"<td>{html.escape(str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def build_report(links, covariates, *, counts: dict | None = None, model=None,
                 thresholds=(0.9, 0.5), policy: DisclosurePolicy | None = None,
                 con: duckdb.DuckDBPyConnection | None = None,
                 gold: dict | None = None, selection: pd.DataFrame | None = None,
                 review: pd.DataFrame | None = None, objective: str = "max_f1",
                 target: float = 0.01, pairs=None) -> QualityReport:
    """Compute every figure and render the report.

    Args:
        links: the ``links`` output of the cascade.
        covariates: :func:`appariement.evaluation.subgroups.subgroup_covariates` (one row per
            candidate: the denominators).
        counts: the cascade's counts (blocking recall...).
        model: the fitted :class:`appariement.linkage.LinkageModel` (m/u chart).
        thresholds: ``(match, review)`` or a Thresholds.
        policy: disclosure rule.
        con: DuckDB connection.
        gold: :func:`appariement.evaluation.goldstandard.gold_standard_evaluation` output.
        selection: :func:`appariement.evaluation.goldstandard.selection_table`.
        review: labelled review sample (:func:`appariement.evaluation.review.read_review_labels`).
        objective, target: threshold recommendation (see
            :func:`appariement.evaluation.thresholds.recommend_threshold`).
        pairs: every scored pair (``LinkageResult.pairs``), for the candidates the assignment
            left without a pair in the label-free FNR.

    Returns:
        A :class:`QualityReport`.
    """
    con = con or duckdb.connect()
    policy = policy or DisclosurePolicy()
    counts = counts or {}
    match_t, review_t = ((thresholds.match, thresholds.review) if hasattr(thresholds, "match")
                         else tuple(thresholds))
    lrel = as_relation(con, links, "links")
    temp_view(lrel, "_app_rp_links")
    crel = as_relation(con, covariates, "cov")
    temp_view(crel, "_app_rp_cov")
    n_candidates = int(con.execute("SELECT count(*) FROM _app_rp_cov").fetchall()[0][0])
    recall_b = counts.get("blocking_recall_on_stage1")
    figures: dict[str, Any] = {"disclosure": policy.to_dict(),
                               "thresholds": {"match": match_t, "review": review_t}}
    chart_specs: dict[str, Any] = {}
    body = ["<h1>Linkage quality report / Rapport de qualité de l'appariement</h1>",
            f'<p class="note"><b>Disclosure control.</b> {html.escape(policy.describe())}</p>']

    # ---- headline counts
    head = con.execute("""SELECT method, decision, count(*) AS n FROM _app_rp_links
                          GROUP BY ALL ORDER BY ALL""").df()
    head_s = suppress(head, ["n"], policy=policy)
    figures["links_by_method_decision"] = head_s.to_dict()
    body += ["<h2>Links / Liens</h2>", f"<p>Candidates: {_round(n_candidates, policy)}</p>",
             _table_html(head_s.records(), ["method", "decision", "n"])]

    # ---- label-free error estimates
    est = estimate_errors(_fr(con), (match_t, review_t), con=con, blocking_recall=recall_b,
                          n_candidates=n_candidates, pairs=pairs)
    figures["label_free_errors"] = est
    rows = [{"threshold": f"{name} ({est[k]['threshold']})",
             "links": est[k]["n_links"], "est. FDR": est[k]["fdr"], "est. FNR": est[k]["fnr"],
             "match rate": est[k]["match_rate"]}
            for name, k in (("match", "at_match"), ("review", "at_review"))]
    review_summary = _review_summary(review, match_t, review_t) if review is not None else None
    if review_summary is not None:
        for name, k in (("match", "at_match"), ("review", "at_review")):
            lab = review_summary[k]
            rows.append({"threshold": f"{name} ({lab['threshold']}), review labels",
                         "links": est[k]["n_links"], "est. FDR": lab["fdr"],
                         "est. FNR": lab["fnr"], "match rate": est[k]["match_rate"]})
    err_s = suppress(pd.DataFrame(rows), ["links"], policy=policy,
                     derived={"est. FDR": ["links"], "est. FNR": ["links"],
                              "match rate": ["links"]})
    body += ["<h2>Estimated errors (label-free) / Erreurs estimées</h2>",
             f"<p>{html.escape(est['method'])}</p>",
             _table_html(err_s.records(), list(rows[0].keys()))]

    # ---- threshold curves
    p, n_exact = probabilities_of(_fr(con), con=con)
    labelled = None
    if review is not None and "is_match" in review.columns:
        from .thresholds import labelled_curve
        rv = review[review["is_match"].notna()]
        labelled = labelled_curve(rv["match_probability"], rv["is_match"].astype(bool),
                                  rv["weight"])
    unassigned = est.get("missed_unassigned") or 0.0
    curve = threshold_curves(p, blocking_recall=recall_b, n_exact=n_exact,
                             n_candidates=n_candidates, labelled=labelled,
                             unassigned=unassigned)
    if gold is not None and gold.get("curve"):
        g = pd.DataFrame(gold["curve"])[["threshold", "precision", "recall"]]
        curve = curve.merge(g.rename(columns={"precision": "precision_gold",
                                              "recall": "recall_gold"}),
                            on="threshold", how="left")
    rec = recommend_threshold(curve, objective, target=target)
    if labelled is not None:
        figures["recommended_threshold_review_labels"] = recommend_threshold(
            curve, objective, target=target, labelled=True)
    figures["threshold_curve"] = [{k: _py(v) for k, v in r.items()}
                                  for r in curve.to_dict(orient="records")]
    figures["recommended_threshold"] = rec
    long = []
    for r in figures["threshold_curve"]:
        for m in ("precision", "recall", "f1", "match_rate", "precision_labelled",
                  "recall_labelled", "precision_gold", "recall_gold"):
            if r.get(m) is not None:
                long.append({"threshold": r["threshold"], "measure": m, "value": r[m]})
    chart_specs["thresholds"] = charts.threshold_spec(long)
    body += ["<h2>Threshold tuning / Choix du seuil</h2>", charts.chart_div("thresholds"),
             f"<p>Recommended threshold ({html.escape(objective)}, "
             f"{html.escape(rec['basis'])}): <b>{rec['threshold']}</b> "
             f"(precision {rec['precision']}, recall {rec['recall']}).</p>"]

    # ---- weight histogram
    hist = con.execute("""SELECT floor(match_weight) AS bin_start, floor(match_weight) + 1
                          AS bin_end, count(*) AS n FROM _app_rp_links
                          WHERE match_weight IS NOT NULL GROUP BY ALL ORDER BY 1""").df()
    hist_s = suppress(hist, ["n"], policy=policy)
    figures["match_weight_histogram"] = hist_s.to_dict()
    chart_specs["weights"] = charts.histogram_spec(hist_s.records())
    body += ["<h2>Match weights / Poids d'appariement</h2>", charts.chart_div("weights")]

    # ---- subgroups
    outcomes = candidate_outcomes(con, _fr(con), con.table("_app_rp_cov"))
    sg = subgroup_rates(con, outcomes, con.table("_app_rp_cov"))
    figures["subgroups"] = {}
    body.append("<h2>Linkage bias by subgroup / Biais d'appariement par sous-groupe</h2>")
    for var, label in SUBGROUP_VARIABLES.items():
        part = sg[sg.variable == var].reset_index(drop=True)
        if part.empty:
            continue
        s = suppress(part, ["n", "n_linked", "n_unlinked"], policy=policy,
                     row_groups=[("n", ["n_linked", "n_unlinked"])],
                     rate_columns={"link_rate": ("n_linked", "n")},
                     # the flag alone cannot give back a count; p-values and rates can
                     derived={"flagged": ["n"],
                              **{c: ["n", "n_linked", "n_unlinked"]
                                 for c in ("rate_rest", "difference", "p_value", "p_adjusted",
                                           "est_fdr", "est_fnr")}})
        figures["subgroups"][var] = s.to_dict()
        chart_specs[f"subgroup_{var}"] = charts.subgroup_spec(
            [{"group": r["group"], "link_rate": r["link_rate"], "flagged": r["flagged"]}
             for r in s.records() if r["link_rate"] is not None], var, label)
        body += [f"<h3>{html.escape(label)} ({var})</h3>", charts.chart_div(f"subgroup_{var}"),
                 _table_html(s.records(), ["group", "n", "n_linked", "link_rate", "difference",
                                           "p_adjusted", "flagged", "est_fdr", "est_fnr"])]
    # only the group names: their rates may be suppressed in the tables
    figures["flagged_groups"] = [{"variable": f["variable"], "group": f["group"]}
                                 for f in flag_differences(sg)
                                 if _published(figures["subgroups"], f)]

    # ---- gold standard
    if gold is not None:
        gold_fig, gold_html = _gold_section(gold, selection, policy)
        figures.update(gold_fig)
        body += gold_html

    # ---- clerical review
    if review is not None:
        rev_fig, rev_html = _review_section(review, review_summary, policy)
        figures["clerical_review"] = rev_fig
        body += rev_html

    # ---- model
    if model is not None:
        mu = []
        for r in model.parameters():
            for kind in ("m", "u"):
                v = r.get(f"{kind}_probability")
                if v is not None:
                    mu.append({"comparison": r["comparison"], "level": r["level"],
                               "kind": kind, "probability": v})
        figures["m_u_parameters"] = mu
        chart_specs["mu"] = charts.mu_spec(mu)
        body += ["<h2>Model parameters / Paramètres du modèle</h2>", charts.chart_div("mu")]
    wf = _waterfall_rows(con, policy.threshold)
    if wf:
        chart_specs["waterfall"] = charts.waterfall_spec(wf)
        figures["waterfall_patterns"] = wf
        body += ["<h2>How weights add up / Décomposition des poids</h2>",
                 f"<p>Agreement patterns shared by at least {policy.threshold} links.</p>",
                 charts.chart_div("waterfall")]
    page = charts.render_html("Linkage quality report", "\n".join(body), chart_specs)
    return QualityReport(figures, page, chart_specs)


def _gold_section(gold: dict, selection, policy: DisclosurePolicy):
    """Gold-standard figures (counts disclosure-controlled) and their HTML."""
    counts = pd.DataFrame([{"n_gold": gold["n_gold"], "true_positives": gold["true_positives"],
                            "false_positives": gold["false_positives"],
                            "false_negatives": gold["false_negatives"]}])
    counts_s = suppress(counts, list(counts.columns), policy=policy)
    fig = {"gold_standard": {
        "precision": gold["precision"], "recall": gold["recall"], "f1": gold["f1"],
        "at_review": gold.get("at_review"), "prevalence": gold["prevalence"],
        "thresholds": gold.get("thresholds"), "model": gold["model"],
        "curve": gold.get("curve", []), "counts": counts_s.to_dict()}}
    n_gold = counts_s.records()[0]["n_gold"]
    at_rev = gold.get("at_review") or {}
    html_parts = [
        "<h2>Gold standard from NIR links / Étalon issu des liens par NIR</h2>",
        f"<p>The {_round(gold['n_gold'], policy) if n_gold is not None else '(suppressed)'} "
        "candidates linked by the exact stage (same valid NIR, consistent with the declared "
        "traits, on both sides) were re-linked on traits only (NIR hidden) against the whole "
        f"source, with a model trained without labels ({html.escape(gold['model'])}). Against "
        f"their NIR partners: precision <b>{_fmt(gold['precision'])}</b>, recall "
        f"<b>{_fmt(gold['recall'])}</b> at the match threshold; counting review links, "
        f"precision {_fmt(at_rev.get('precision'))}, recall {_fmt(at_rev.get('recall'))}. "
        "This estimates the quality of the traits-only links made for candidates without a "
        f"usable NIR. The partners of a random {1 - gold['prevalence']:.1%} of the gold records "
        "were removed from the source first, so the gold set has the estimated share of "
        f"candidates without NIR who have a partner ({gold['prevalence']:.3f}).</p>",
        _table_html(counts_s.records(), list(counts.columns)),
        "<p><b>Selection.</b> The gold records are not a random subset: they hold a valid NIR "
        "consistent with their traits, so their identities are cleaner than those of the "
        "records linked on traits, and they differ in composition (below). The estimate is "
        "therefore optimistic where identities are noisier; read it with the label-free "
        "estimates and the subgroup table.</p>"]
    if selection is not None:
        sel = suppress(selection, ["n_gold", "n_rest"], policy=policy,
                       derived={"share_gold": ["n_gold"], "share_rest": ["n_rest"]})
        fig["gold_standard_selection"] = sel.to_dict()
        html_parts.append(_table_html(sel.records(), ["variable", "group", "n_gold", "n_rest",
                                                      "share_gold", "share_rest"]))
    return fig, html_parts


def _review_summary(review: pd.DataFrame, match_t: float, review_t: float) -> dict | None:
    """Horvitz-Thompson FDR / FNR at the two thresholds from the labelled review sample."""
    if "is_match" not in review.columns:
        return None
    rv = review[review["is_match"].notna()]
    if rv.empty:
        return None
    from .thresholds import labelled_curve
    c = labelled_curve(rv["match_probability"], rv["is_match"].astype(bool), rv["weight"],
                       thresholds=[match_t, review_t])
    out = {"n_labelled": int(len(rv))}
    for k, row in zip(("at_match", "at_review"), c.itertuples()):
        out[k] = {"threshold": float(row.threshold), "fdr": _py(1 - row.precision),
                  "fnr": _py(1 - row.recall)}
    return out


def _review_section(review: pd.DataFrame, summary, policy: DisclosurePolicy):
    """Clerical review figures: labels by stratum (disclosure-controlled) and the estimates."""
    labels = review.get("label", pd.Series([None] * len(review))).fillna("unlabelled")
    frame = pd.DataFrame({"stratum": review["stratum"].astype(str), "label": labels})
    table = (frame.assign(one=1).pivot_table(index="stratum", columns="label", values="one",
                                             aggfunc="sum", fill_value=0)
             .reindex(columns=["match", "non_match", "unsure", "unlabelled"], fill_value=0)
             .reset_index())
    table["n"] = table[["match", "non_match", "unsure", "unlabelled"]].sum(axis=1)
    parts = ["match", "non_match", "unsure", "unlabelled"]
    tab_s = suppress(table, ["n", *parts], policy=policy, row_groups=[("n", parts)])
    fig = {"by_stratum": tab_s.to_dict(), "estimates": summary}
    html_parts = ["<h2>Clerical review / Revue manuelle</h2>",
                  "<p>A stratified sample of pairs across the probability range, over-sampling "
                  "the grey zone between the review and match thresholds, was labelled by "
                  "reviewers. Each labelled pair stands for the pairs of its stratum (weights "
                  "= stratum size / pairs drawn), so the review-label rows of the error table "
                  "and the <i>_labelled</i> threshold curves are Horvitz-Thompson estimates "
                  "over all assigned probabilistic pairs. <i>Unsure</i> labels are left out.</p>",
                  _table_html(tab_s.records(), ["stratum", "n", *parts])]
    return fig, html_parts


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.4f}"


def _fr(con):
    return con.table("_app_rp_links")


def _round(n: int, policy: DisclosurePolicy) -> str:
    if n < policy.threshold and n > 0:
        return f"<{policy.threshold}"
    if policy.rounding and policy.rounding > 1:
        return str(int(np.floor(n / policy.rounding + 0.5) * policy.rounding))
    return str(n)


def _published(subgroups: dict, flag: dict) -> bool:
    rows = subgroups.get(flag["variable"], {}).get("rows", [])
    return any(r["group"] == flag["group"] and r.get("flagged") is not None for r in rows)


def _waterfall_rows(con, min_count: int, n_patterns: int = 3) -> list[dict]:
    cols = con.table("_app_rp_links").columns
    gammas = [c for c in cols if c.startswith("gamma_")]
    if not gammas:
        return []
    comps = [g[len("gamma_"):] for g in gammas]
    mw = [f"avg(coalesce(mw_{c}, 0) + coalesce({'mw_tf_adj_' + c if 'mw_tf_adj_' + c in cols else '0'}, 0)) AS w_{c}"
          for c in comps if f"mw_{c}" in cols]
    if not mw:
        return []
    why = "any_value(why)" if "why" in cols else "NULL"
    pats = con.execute(f"""
        SELECT {', '.join(gammas)}, count(*) AS n, avg(match_weight) AS total, {why} AS why,
               {', '.join(mw)}
        FROM _app_rp_links WHERE match_weight IS NOT NULL
        GROUP BY ALL HAVING count(*) >= {int(min_count)} ORDER BY n DESC LIMIT {n_patterns}
    """).df()
    rows = []
    for k, pat in pats.iterrows():
        name = f"pattern {k + 1}"
        start = float(pat["total"]) - sum(float(pat[f"w_{c}"]) for c in comps
                                          if f"w_{c}" in pat)
        rows.append({"pattern": name, "order": 0, "step": "prior", "weight": start,
                     "start": 0.0, "end": start})
        levels = str(pat["why"] or "").split("; ")
        for i, c in enumerate(comps):
            if f"w_{c}" not in pat:
                continue
            w = float(pat[f"w_{c}"])
            label = next((lv for lv in levels if lv.startswith(c + ":")), f"{c}: level "
                         f"{pat['gamma_' + c]}")
            rows.append({"pattern": name, "order": i + 1, "step": label, "weight": w,
                         "start": start, "end": start + w})
            start += w
    return rows


