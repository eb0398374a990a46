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

from ..._atomic import write_json, write_text
from ..._tables import as_relation, temp_view
from . import charts
from ..disclosure import DisclosurePolicy, suppress
from ..output_check import Relation, TableSpec, audit, write_spec
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
    specs: list = field(default_factory=list)
    relations: list = field(default_factory=list)
    threshold: int = 11

    def write(self, out_dir, *, folder_name: str | None = None) -> dict[str, str]:
        """Write ``report.html``, ``report.json`` and the output checker's
        ``disclosure_spec.json`` atomically; returns name -> path.

        ``folder_name`` is the name of the folder in the run's outputs (the spec names files
        relative to the folder above; default: ``out_dir``'s name, without the leading dot and
        ``.partial`` of a stage being written)."""
        from ..._paths import private_dir  # folders 0700, as the command line makes them

        out = private_dir(out_dir)
        folder_name = folder_name or out.name.lstrip(".").removesuffix(".partial")
        paths = {"html": str(write_text(out / "report.html", self.html)),
                 "json": str(write_json(out / "report.json",
                                        {**self.figures, "charts": self.charts}))}
        for spec in self.specs:
            spec.file = f"{folder_name}/report.json"
            spec.exportable_files = [f"{folder_name}/report.json", f"{folder_name}/report.html"]
        paths["disclosure_spec"] = str(write_spec(out, self.specs, self.relations,
                                                  threshold=self.threshold))
        return paths


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
        covariates: :func:`appariement.evaluation.quality.subgroups.subgroup_covariates` (one row per
            candidate: the denominators).
        counts: the cascade's counts (blocking recall...).
        model: the fitted :class:`appariement.linkage.LinkageModel` (m/u chart).
        thresholds: ``(match, review)`` or a Thresholds.
        policy: disclosure rule.
        con: DuckDB connection.
        gold: :func:`appariement.evaluation.quality.goldstandard.gold_standard_evaluation` output.
        selection: :func:`appariement.evaluation.quality.goldstandard.selection_table`.
        review: labelled review sample (:func:`appariement.evaluation.quality.review.read_review_labels`).
        objective, target: threshold recommendation (see
            :func:`appariement.evaluation.quality.thresholds.recommend_threshold`).
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
    specs: list[TableSpec] = []
    relations: list[Relation] = []
    head = con.execute("""SELECT method, decision, count(*) AS n FROM _app_rp_links
                          GROUP BY ALL ORDER BY ALL""").df()
    head_s = suppress(head, ["n"], policy=policy)
    figures["links_by_method_decision"] = head_s.to_dict()
    cand = _round(n_candidates, policy)
    figures["candidates"] = {"rows": [{"what": "candidates",
                                       "n": float(cand) if cand.isdigit() else None}]}
    specs += [TableSpec("report/candidates", "", ["candidates", "rows"], ["what"], ["n"],
                        cell_names={"n": "report|candidates"}),
              TableSpec("report/links", "", ["links_by_method_decision", "rows"],
                        ["method", "decision"], ["n"],
                        cell_names={"n": "links|method={method}|decision={decision}"},
                        column_totals={"n": "links|all"})]
    relations += [Relation("linked|all", ["links|method=pivot_exact|decision=match",
                                          "links|method=probabilistic|decision=match"],
                           "linked candidates: exact and probabilistic matches"),
                  Relation("report|candidates", ["linked|all", "unlinked|all"],
                           "candidates: linked and not linked")]
    body += ["<h2>Links / Liens</h2>", f"<p>Candidates: {cand}</p>",
             _table_html(head_s.records(), ["method", "decision", "n"])]

    # ---- label-free error estimates, threshold curves: one set of published cumulative
    # counts (links at or above a threshold), chosen so that no suppressed headline cell and no
    # small count between two thresholds can be recomputed
    est = estimate_errors(_fr(con), (match_t, review_t), con=con, blocking_recall=recall_b,
                          n_candidates=n_candidates, pairs=pairs)
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
    curve_specs, curve_rel = _curve_specs(curve["threshold"].tolist(), match_t, review_t)
    specs += curve_specs
    relations += curve_rel
    safe = _publishable_cuts(p, curve["threshold"].tolist(), match_t, review_t,
                             [figures["candidates"]["rows"], head_s.records()],
                             specs[:2], relations, curve_specs, curve_rel, policy.threshold)
    curve = _published_curve(curve, safe)
    figures["label_free_errors"] = _published_estimates(est, safe, match_t, review_t,
                                                        head_s.records())
    est_pub = figures["label_free_errors"]
    rows = [{"threshold": f"{name} ({est[k]['threshold']})",
             "links": est_pub[k]["n_links"], "est. FDR": est_pub[k]["fdr"],
             "est. FNR": est_pub[k]["fnr"], "match rate": est_pub[k]["match_rate"]}
            for name, k in (("match", "at_match"), ("review", "at_review"))]
    review_summary = _review_summary(review, match_t, review_t) if review is not None else None
    if review_summary is not None:
        for name, k in (("match", "at_match"), ("review", "at_review")):
            lab = review_summary[k]
            rows.append({"threshold": f"{name} ({lab['threshold']}), review labels",
                         "links": est_pub[k]["n_links"], "est. FDR": lab["fdr"],
                         "est. FNR": lab["fnr"], "match rate": est_pub[k]["match_rate"]})
    body += ["<h2>Estimated errors (label-free) / Erreurs estimées</h2>",
             f"<p>{html.escape(est['method'])}</p>",
             _table_html(rows, list(rows[0].keys()))]
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
             f"(precision {rec['precision']}, recall {rec['recall']}). Thresholds whose link "
             "count would let a reader recompute a small count (fewer than "
             f"{policy.threshold} links between two thresholds) are left out of the curve.</p>"]

    # ---- weight histogram
    hist = con.execute("""SELECT floor(match_weight) AS bin_start, floor(match_weight) + 1
                          AS bin_end, count(*) AS n FROM _app_rp_links
                          WHERE match_weight IS NOT NULL GROUP BY ALL ORDER BY 1""").df()
    hist_s = suppress(hist, ["n"], policy=policy)
    figures["match_weight_histogram"] = hist_s.to_dict()
    specs.append(TableSpec("report/match_weight_histogram", "",
                           ["match_weight_histogram", "rows"], ["bin_start"], ["n"],
                           column_totals={"n": "links|weighted"}))
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
        specs.append(TableSpec(f"report/subgroups/{var}", "", ["subgroups", var, "rows"],
                               ["group"], ["n", "n_linked", "n_unlinked"],
                               row_groups=[("n", ["n_linked", "n_unlinked"])],
                               column_totals={"n": "report|candidates",
                                              "n_linked": "linked|all",
                                              "n_unlinked": "unlinked|all"},
                               rates={"link_rate": ("n_linked", "n")},
                               cell_names={c: f"cand|{var}={{group}}|{c}"
                                           for c in ("n", "n_linked", "n_unlinked")}))
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
        specs.append(TableSpec("report/gold_standard", "", ["gold_standard", "counts", "rows"],
                               [], ["n_gold", "true_positives", "false_positives",
                                    "false_negatives"]))
        body += gold_html

    # ---- clerical review
    if review is not None:
        rev_fig, rev_html = _review_section(review, review_summary, policy)
        figures["clerical_review"] = rev_fig
        parts = ["match", "non_match", "unsure", "unlabelled"]
        specs.append(TableSpec("report/clerical_review", "",
                               ["clerical_review", "by_stratum", "rows"], ["stratum"],
                               ["n", *parts], row_groups=[("n", parts)]))
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
    return QualityReport(figures, page, chart_specs, specs, relations, policy.threshold)


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




# ------------------------------------------------------------- cumulative counts and curves

def _cut(c) -> str:
    c = float(c)
    return str(int(c)) if c.is_integer() else repr(c)


def _curve_specs(grid, match_t, review_t) -> tuple[list[TableSpec], list[Relation]]:
    """Specs of the tables that publish cumulative link counts (the threshold curve, the
    label-free table) and the relations a reader knows between them and the headline."""
    cells = {"n_links": "plinks|p>={threshold}", "n_matches_total": "alllinks|p>={threshold}"}
    common = dict(key=["threshold"], counts=["n_links", "n_matches_total"], cell_names=cells,
                  rates={"match_rate": ("n_matches_total", "@report|candidates")})
    specs = [TableSpec("report/threshold_curve", "", ["threshold_curve"], **common),
             TableSpec("report/label_free_errors", "", ["label_free_errors", "rows"], **common),
             TableSpec("report/label_free_errors/zone", "", ["label_free_errors", "zone_rows"],
                       ["what"], ["n_review_zone", "n_exact_matches"],
                       cell_names={"n_review_zone": "links|method=probabilistic|decision=review",
                                   "n_exact_matches": "links|method=pivot_exact|decision=match"})]
    cuts = sorted({float(c) for c in grid} | {float(match_t), float(review_t)})
    prob = "links|method=probabilistic|decision={}"
    # every pair of thresholds, not only neighbours: when the thresholds in between are left
    # out, the difference of the two published counts is still the links between them
    rel = [Relation(f"plinks|p>={_cut(a)}", [f"plinks|p>={_cut(b)}", f"plinks|bin[{_cut(a)},"
                                             f"{_cut(b)})"], "links between two thresholds")
           for i, a in enumerate(cuts) for b in cuts[i + 1:]]
    rel += [Relation(f"alllinks|p>={_cut(c)}", [f"plinks|p>={_cut(c)}",
                                                "links|method=pivot_exact|decision=match"],
                     "matches = probabilistic + exact") for c in cuts]
    rel += [Relation(f"plinks|p>={_cut(match_t)}", [prob.format("match")],
                     "probabilistic matches are the links at or above the match threshold"),
            Relation(f"plinks|p>={_cut(review_t)}", [prob.format("match"), prob.format("review")],
                     "links at or above the review threshold"),
            Relation("plinks|all", [f"plinks|p>={_cut(cuts[0])}", f"plinks|p<{_cut(cuts[0])}"],
                     "probabilistic links"),
            Relation("plinks|all", [prob.format(d) for d in ("match", "review", "non_match")],
                     "probabilistic links by decision")]
    return specs, rel


def _publishable_cuts(p, grid, match_t, review_t, base_rows, base_specs, relations,
                      curve_specs, curve_rel, threshold) -> dict[float, tuple[int, int]]:
    """The thresholds whose cumulative counts can be published: added one at a time (match
    and review thresholds first, then the grid from the top) and kept only when the output
    checker finds nothing recomputable with them. Returns ``cut -> (n_links, n_matches)``."""
    p = np.asarray(p, dtype=float)
    head = {(r["method"], r["decision"]): r["n"] for r in base_rows[1]}
    exact = head.get(("pivot_exact", "match"))
    order = [float(match_t), float(review_t)] + sorted({float(c) for c in grid}, reverse=True)
    kept: dict[float, tuple[int, int]] = {}
    base = [(base_specs[0], base_rows[0]), (base_specs[1], base_rows[1])]
    # findings the headline has on its own are not the curve's to fix (they fail the export)
    known = {(f.cell, f.rule) for f in audit(base, [*relations, *curve_rel],
                                             threshold=threshold).unsafe}
    for c in order:
        if c in kept:
            continue
        n = int((p >= c).sum())
        trial = {**kept, c: (n, n + int(exact) if exact is not None else None)}
        rows = [{"threshold": t, "n_links": v[0], "n_matches_total": v[1]}
                for t, v in sorted(trial.items())]
        if any(r["n_matches_total"] is None for r in rows):
            continue  # the exact-match count is suppressed: matches = links + it would give it
        found = audit([*base, (curve_specs[0], rows)], [*relations, *curve_rel],
                      threshold=threshold).unsafe
        if not {(f.cell, f.rule) for f in found} - known:
            kept = trial
    return kept


def _published_curve(curve: pd.DataFrame, safe: dict) -> pd.DataFrame:
    """The curve at the publishable thresholds only; label counts dropped (cumulative counts of
    the review sample), the match-rate change recomputed on the published points."""
    keep = curve[curve["threshold"].astype(float).isin(list(safe))].reset_index(drop=True)
    keep = keep.drop(columns=[c for c in keep.columns if c.startswith("n_labelled")])
    t = keep["threshold"].to_numpy(dtype=float)
    rate = keep["match_rate"].to_numpy(dtype=float)
    keep["match_rate_change"] = np.gradient(rate, t) * 0.01 if len(t) > 1 else np.nan
    return keep


def _published_estimates(est: dict, safe: dict, match_t, review_t, head_rows) -> dict:
    """The label-free estimates with their counts published only where the curve publishes
    them (otherwise every value computed from the count is withheld too)."""
    out = dict(est)
    counted = ("n_links", "expected_false", "expected_true", "expected_missed",
               "missed_below_threshold", "fdr", "fnr", "precision", "recall", "f1",
               "n_matches_total", "fdr_overall", "fnr_overall", "match_rate")
    for k, t in (("at_match", match_t), ("at_review", review_t)):
        row = dict(est[k])
        if float(t) not in safe:
            row.update({c: None for c in counted})
        out[k] = row
    # the checker's rows: only the thresholds whose counts are published
    out["rows"] = [out[k] for k, t in (("at_match", match_t), ("at_review", review_t))
                   if float(t) in safe]
    head = {(r["method"], r["decision"]): r["n"] for r in head_rows}
    zone = (est["n_review_zone"] if float(match_t) in safe and float(review_t) in safe
            else None)
    out["n_review_zone"] = zone
    out["n_exact_matches"] = head.get(("pivot_exact", "match"))
    out["zone_rows"] = [{"what": "links", "n_review_zone": zone,
                         "n_exact_matches": out["n_exact_matches"]}]
    return out
