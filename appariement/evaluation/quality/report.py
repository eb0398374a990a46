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
from . import charts, splink_charts
from ..disclosure import DisclosurePolicy, suppress
from ..labels import check_language, fmt_count, fmt_number, fmt_percent, label, table_html
from .enclave import ENCLAVE_FOLDER, enclave_page
from .traits import completeness_table, unlinkables_table
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
    #: the enclave-only page (real pairs with their values), None without features
    enclave_html: str | None = None

    def write(self, out_dir, *, folder_name: str | None = None) -> dict[str, str]:
        """Write ``report.html``, ``report.json`` and the output checker's
        ``disclosure_spec.json`` atomically, and the enclave-only page in
        ``enclave/enclave.html`` (never exported); returns name -> path.

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
        if self.enclave_html is not None:  # outside what the output checker exports
            enclave = private_dir(out / ENCLAVE_FOLDER)
            paths["enclave_html"] = str(write_text(enclave / "enclave.html", self.enclave_html))
        return paths


def _tr(language: str):
    """``t(fr, en)``: the text of the page's language."""
    return (lambda fr, en: fr) if language == "fr" else (lambda fr, en: en)


def _h(level: int, key: str, language: str) -> str:
    return f"<h{level}>{html.escape(label(key, language))}</h{level}>"


def build_report(links, covariates, *, counts: dict | None = None, model=None,
                 thresholds=(0.9, 0.5), policy: DisclosurePolicy | None = None,
                 con: duckdb.DuckDBPyConnection | None = None,
                 gold: dict | None = None, selection: pd.DataFrame | None = None,
                 review: pd.DataFrame | None = None, objective: str = "max_f1",
                 target: float = 0.01, pairs=None, features: dict | None = None,
                 language: str = "fr") -> QualityReport:
    """Compute every figure and render the report (and its enclave-only page).

    Args:
        links: the ``links`` output of the cascade.
        covariates: :func:`appariement.evaluation.quality.subgroups.subgroup_covariates` (one row per
            candidate: the denominators).
        counts: the cascade's counts (blocking recall...).
        model: the fitted :class:`appariement.linkage.LinkageModel` (match weights, m/u,
            waterfall, unlinkables charts).
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
        features: ``{"platform": ..., "source": ...}`` standardised features: completeness,
            unlinkables, and the enclave page's example pairs.
        language: ``"fr"`` (default) or ``"en"``: the page's labels and texts.

    Returns:
        A :class:`QualityReport`.
    """
    language = check_language(language)
    t = _tr(language)
    con = con or duckdb.connect()
    policy = policy or DisclosurePolicy()
    counts = counts or {}
    features = features or {}
    match_t, review_t = ((thresholds.match, thresholds.review) if hasattr(thresholds, "match")
                         else tuple(thresholds))
    lrel = as_relation(con, links, "links")
    temp_view(lrel, "_app_rp_links")
    crel = as_relation(con, covariates, "cov")
    temp_view(crel, "_app_rp_cov")
    n_candidates = int(con.execute("SELECT count(*) FROM _app_rp_cov").fetchall()[0][0])
    recall_b = counts.get("blocking_recall_on_stage1")
    figures: dict[str, Any] = {"disclosure": policy.to_dict(),
                               "thresholds": {"match": match_t, "review": review_t},
                               "language": language}
    chart_specs: dict[str, Any] = {}
    body = [_h(1, "quality_title", language),
            f'<p class="note"><b>{html.escape(label("disclosure", language))}.</b> '
            f'{html.escape(policy.describe(language))} '
            f'{html.escape(label("suppressed_note", language))}</p>',
            f'<p class="small">{html.escape(label("export_note", language))}</p>']

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
    cand_text = fmt_count(float(cand), language) if cand.isdigit() else cand
    links_at = len(body)
    body += [_h(2, "sec_links", language), None]  # the table, once the curve is known

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
    # the headline shows what the curve publishes anyway: a probabilistic count held back by
    # the headline's own (conservative) suppression but given by the published links at or
    # above the thresholds is shown, so the two tables never disagree
    head_rows = _headline_rows(head_s.records(), safe, match_t, review_t)
    body[links_at + 1] = (f"<p>{html.escape(label('candidates', language))} : "
                          if language == "fr" else
                          f"<p>{html.escape(label('candidates', language))}: ") + \
        f"<b>{html.escape(cand_text)}</b></p>" + table_html(head_rows, ["method", "decision", "n"],
                                                              language)
    rows = [{"threshold": f"{label(name, language)} ({fmt_number(est[k]['threshold'], language)})",
             "n_links": est_pub[k]["n_links"], "fdr": est_pub[k]["fdr"],
             "fnr": est_pub[k]["fnr"], "match_rate": est_pub[k]["match_rate"]}
            for name, k in (("match", "at_match"), ("review", "at_review"))]
    review_summary = _review_summary(review, match_t, review_t) if review is not None else None
    if review_summary is not None:
        for name, k in (("match", "at_match"), ("review", "at_review")):
            lab = review_summary[k]
            rows.append({"threshold": f"{label(name, language)} "
                                      f"({fmt_number(lab['threshold'], language)}), "
                                      f"{label('review_labels', language)}",
                         "n_links": est_pub[k]["n_links"], "fdr": lab["fdr"],
                         "fnr": lab["fnr"], "match_rate": est_pub[k]["match_rate"]})
    method_text = t(
        "Estimations à la fastLink sur les paires probabilistes retenues (une paire par "
        "candidat après l'affectation un-pour-un) ; les liens exacts par clé sont comptés "
        "justes ; les candidats laissés sans paire par l'affectation sont supposés sans "
        "correspondant ; les paires non générées par le blocage contiennent des vrais liens "
        "dans la proportion 1 − rappel du blocage mesuré sur les liens exacts. Les paires "
        "sous le seuil de report sont supposées sans vrai lien et le blocage ne manque pas "
        "plus souvent les candidats de l'étape 2 que les candidats à clé exacte : le taux de "
        "liens manqués est donc une borne inférieure (lower bound). Ces estimations valent "
        "ce que vaut la calibration du modèle ; l'étalon et la revue manuelle les vérifient.",
        est["method"])
    body += [_h(2, "sec_errors", language), f"<p>{html.escape(method_text)}</p>",
             table_html(rows, list(rows[0].keys()), language, kinds={"threshold": "text"})]
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
                long.append({"threshold": r["threshold"], "measure": label(m, language),
                             "value": r[m]})
    marks = [{"threshold": float(match_t), "what": label("configured", language)}]
    if rec.get("threshold") is not None and float(rec["threshold"]) != float(match_t):
        marks.append({"threshold": float(rec["threshold"]),
                      "what": label("recommended", language)})
    chart_specs["threshold_tool"] = splink_charts.threshold_tool_spec(figures["threshold_curve"],
                                                                     language)
    chart_specs["thresholds"] = charts.threshold_spec(long, language, marks)
    body += [_h(2, "sec_threshold", language),
             "<p>" + html.escape(t(
                 "L'outil de Splink, nourri des estimations publiées : survoler la courbe de "
                 "gauche choisit un seuil et affiche les liens vrais, faux et manqués attendus.",
                 "Splink's tool, fed with the published estimates: hovering over the left "
                 "curve picks a threshold and shows the expected true, false and missed "
                 "links.")) + "</p>",
             charts.chart_div("threshold_tool"), charts.chart_div("thresholds"),
             _threshold_text(rec, est_pub, objective, match_t, policy, language)]

    # ---- weight histogram
    hist = con.execute("""SELECT floor(match_weight) AS bin_start, floor(match_weight) + 1
                          AS bin_end, count(*) AS n FROM _app_rp_links
                          WHERE match_weight IS NOT NULL GROUP BY ALL ORDER BY 1""").df()
    hist_s = suppress(hist, ["n"], policy=policy)
    figures["match_weight_histogram"] = hist_s.to_dict()
    specs.append(TableSpec("report/match_weight_histogram", "",
                           ["match_weight_histogram", "rows"], ["bin_start"], ["n"],
                           column_totals={"n": "links|weighted"}))
    chart_specs["weights"] = splink_charts.histogram_spec(hist_s.records(), language)
    body += [_h(2, "sec_weights", language), charts.chart_div("weights")]

    # ---- model: Splink's charts of the parameters, the waterfall of frequent patterns
    settings = getattr(model, "settings_", None) if model is not None else None
    if model is not None:
        mu = []
        for r in model.parameters():
            for kind in ("m", "u"):
                v = r.get(f"{kind}_probability")
                if v is not None:
                    mu.append({"comparison": r["comparison"], "level": r["level"],
                               "kind": kind, "probability": v})
        figures["m_u_parameters"] = mu
        body.append(_h(2, "sec_model", language))
        if settings is not None:
            chart_specs["match_weights"] = splink_charts.match_weights_spec(settings, language)
            chart_specs["mu"] = splink_charts.mu_spec(settings, language)
            body += [charts.chart_div("match_weights"), charts.chart_div("mu")]
        else:
            chart_specs["mu"] = charts.mu_spec(mu)
            body.append(charts.chart_div("mu"))
    wf = _waterfall_rows(con, policy.threshold)
    if wf:
        figures["waterfall_patterns"] = wf
        patterns = _pattern_records(con, policy.threshold) if settings is not None else []
        if patterns:
            chart_specs["waterfall"] = splink_charts.waterfall_spec(
                settings, patterns, hide_details=True, language=language)
        else:
            chart_specs["waterfall"] = charts.waterfall_spec(wf)
        body += [_h(2, "sec_waterfall", language),
                 "<p>" + html.escape(t(
                     f"Profils d'accord partagés par au moins {policy.threshold} liens (poids "
                     "moyens) : aucune paire n'y est montrée. Le curseur change de profil.",
                     f"Agreement patterns shared by at least {policy.threshold} links (mean "
                     "weights): no single pair is shown. The slider moves between "
                     "patterns.")) + "</p>",
                 charts.chart_div("waterfall")]

    # ---- unlinkables and completeness
    if model is not None and features.get("platform") is not None:
        unl = unlinkables_table(con, model, features["platform"], policy)
        if unl is not None:
            figures["unlinkables"] = {"rows": unl[0]}
            specs.append(unl[1])
            chart_specs["unlinkables"] = splink_charts.unlinkables_spec(unl[0], language)
            body += [_h(2, "sec_unlinkables", language),
                     "<p>" + html.escape(t(
                         "Chaque candidat comparé à lui-même par le modèle (sans ajustement "
                         "de fréquence) : la part de ceux qui ne pourraient pas dépasser un "
                         f"seuil de poids, même face à eux-mêmes. Classes d'au moins "
                         f"{policy.threshold} candidats.",
                         "Each candidate compared with itself by the model (no term-frequency "
                         "adjustment): the share who could not reach a weight threshold even "
                         f"against themselves. Bins of at least {policy.threshold} "
                         "candidates.")) + "</p>",
                     charts.chart_div("unlinkables")]
    comp = completeness_table(con, features, policy) if features else None
    if comp is not None:
        figures["completeness"] = {"rows": comp[0]}
        specs.append(comp[1])
        chart_specs["completeness"] = splink_charts.completeness_spec(
            [{**r, "column_name": label(r["column_name"], language)} for r in comp[0]],
            language)
        body += [_h(2, "sec_completeness", language), charts.chart_div("completeness")]

    # ---- subgroups
    outcomes = candidate_outcomes(con, _fr(con), con.table("_app_rp_cov"))
    sg = subgroup_rates(con, outcomes, con.table("_app_rp_cov"))
    figures["subgroups"] = {}
    body += [_h(2, "sec_subgroups", language),
             "<p>" + html.escape(t(
                 "Taux d'appariement de chaque groupe comparé à celui des autres groupes ; "
                 "p ajustée par la méthode de Holm sur l'ensemble des groupes ; un écart est "
                 "signalé quand elle est sous 5 %.",
                 "Link rate of each group compared with the other groups; p adjusted by "
                 "Holm's method over every group; a difference is flagged below 5%.")) + "</p>"]
    for var in SUBGROUP_VARIABLES:
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
        body += _subgroup_html(var, s.records(), chart_specs, language)
    # only the group names: their rates may be suppressed in the tables
    figures["flagged_groups"] = [{"variable": f["variable"], "group": f["group"]}
                                 for f in flag_differences(sg)
                                 if _published(figures["subgroups"], f)]

    # ---- gold standard
    if gold is not None:
        gold_fig, gold_html = _gold_section(gold, selection, policy, language)
        figures.update(gold_fig)
        specs.append(TableSpec("report/gold_standard", "", ["gold_standard", "counts", "rows"],
                               [], ["n_gold", "true_positives", "false_positives",
                                    "false_negatives"]))
        body += gold_html

    # ---- clerical review
    if review is not None:
        rev_fig, rev_html = _review_section(review, review_summary, policy, language)
        figures["clerical_review"] = rev_fig
        parts = ["match", "non_match", "unsure", "unlabelled"]
        specs.append(TableSpec("report/clerical_review", "",
                               ["clerical_review", "by_stratum", "rows"], ["stratum"],
                               ["n", *parts], row_groups=[("n", parts)]))
        body += rev_html

    page = charts.render_html(label("quality_title", language), "\n".join(body), chart_specs,
                              language=language)
    enclave = enclave_page(con, "_app_rp_links", model, features.get("platform"),
                           features.get("source"), language=language)
    return QualityReport(figures, page, chart_specs, specs, relations, policy.threshold,
                         enclave_html=enclave)


def _headline_rows(rows: list[dict], safe: dict, match_t, review_t) -> list[dict]:
    """Headline rows with a suppressed probabilistic count filled from the published curve
    (links at or above the match threshold; between the two thresholds for review)."""
    out = [dict(r) for r in rows]
    for r in out:
        if r["method"] != "probabilistic" or r["n"] is not None:
            continue
        if r["decision"] == "match" and float(match_t) in safe:
            r["n"] = float(safe[float(match_t)][0])
        elif (r["decision"] == "review" and float(match_t) in safe
              and float(review_t) in safe):
            r["n"] = float(safe[float(review_t)][0] - safe[float(match_t)][0])
    return out


def _threshold_text(rec: dict, est: dict, objective: str, match_t, policy, language) -> str:
    """The configured threshold (the one the run used) and the recommendation beside it."""
    t = _tr(language)
    at = est["at_match"]
    obj = {"max_f1": t("F1 maximal", "maximum F1"),
           "max_recall_at_fdr": t("rappel maximal à taux de faux liens borné",
                                  "maximum recall at a bounded FDR"),
           "max_precision_at_fnr": t("précision maximale à taux de liens manqués borné",
                                     "maximum precision at a bounded FNR")}.get(objective,
                                                                                objective)
    parts = [t(f"Seuil configuré (celui qu'utilise l'appariement) : <b>{fmt_number(match_t, language)}</b>"
               f" — précision estimée {fmt_percent(at.get('precision'), language)}, rappel "
               f"{fmt_percent(at.get('recall'), language)}.",
               f"Configured threshold (the one the linkage uses): <b>{fmt_number(match_t, language)}</b>"
               f" — estimated precision {fmt_percent(at.get('precision'), language)}, recall "
               f"{fmt_percent(at.get('recall'), language)}.")]
    if rec.get("threshold") is not None:
        parts.append(t(
            f"Seuil suggéré ({obj}, {label(rec.get('basis', ''), language)}) : "
            f"<b>{fmt_number(rec['threshold'], language)}</b> — précision "
            f"{fmt_percent(rec.get('precision'), language)}, rappel "
            f"{fmt_percent(rec.get('recall'), language)}.",
            f"Suggested threshold ({obj}, {label(rec.get('basis', ''), language)}): "
            f"<b>{fmt_number(rec['threshold'], language)}</b> — precision "
            f"{fmt_percent(rec.get('precision'), language)}, recall "
            f"{fmt_percent(rec.get('recall'), language)}."))
        f_conf, f_rec = at.get("f1"), rec.get("f1")
        if f_conf is not None and f_rec is not None and abs(f_rec - f_conf) < 0.001:
            parts.append(t("Les deux donnent le même F1 à 0,1 point près : la courbe est plate "
                           "et le seuil configuré convient ; la suggestion n'est qu'un avis, "
                           "rien n'est changé.",
                           "Both give the same F1 within 0.1 point: the curve is flat and the "
                           "configured threshold is fine; the suggestion is advice only, "
                           "nothing is changed."))
        else:
            parts.append(t("La suggestion n'est qu'un avis : pour l'appliquer, changer "
                           "linkage.match_threshold et relancer.",
                           "The suggestion is advice only: to apply it, change "
                           "linkage.match_threshold and re-run."))
    parts.append(t(f"Les seuils dont le nombre de liens laisserait retrouver un petit effectif "
                   f"(moins de {policy.threshold} liens entre deux seuils) ne figurent pas sur "
                   "la courbe.",
                   "Thresholds whose link count would let a reader recompute a small count "
                   f"(fewer than {policy.threshold} links between two thresholds) are left out "
                   "of the curve."))
    return "<p>" + " ".join(parts) + "</p>"


#: the French group values of the covariates, in English
_GROUPS_EN = {"oui": "yes", "non": "no", "inconnu": "unknown"}


def _group(value, language: str) -> str:
    """A group's name as the page shows it (the JSON keeps the value)."""
    text = str(value)
    return _GROUPS_EN.get(text, text) if language == "en" else text


#: subgroup variables with many groups: the table lists the published groups only
_MANY_GROUPS = 25


def _subgroup_html(var: str, rows: list[dict], chart_specs: dict, language: str) -> list[str]:
    t = _tr(language)
    title = label(var, language)
    shown = rows
    note = ""
    if len(rows) > _MANY_GROUPS:
        shown = [r for r in rows if r.get("link_rate") is not None]
        hidden = len(rows) - len(shown)
        if hidden:
            note = "<p>" + html.escape(t(
                f"{hidden} groupes sur {len(rows)} ont un taux masqué (petits effectifs) et ne "
                "sont pas listés ; ils restent dans le fichier JSON.",
                f"{hidden} groups out of {len(rows)} have a suppressed rate (small counts) and "
                "are not listed; they remain in the JSON file.")) + "</p>"
    name = f"subgroup_{var}"
    shown = [{**r, "group": _group(r["group"], language)} for r in shown]
    chart_specs[name] = charts.subgroup_spec(
        [{"group": str(r["group"]), "link_rate": r["link_rate"], "flagged": r["flagged"]}
         for r in shown], var, title, language)
    return [f"<h3>{html.escape(title)}</h3>", charts.chart_div(name), note,
            table_html(shown, ["group", "n", "n_linked", "link_rate", "difference",
                               "p_adjusted", "flagged", "est_fdr", "est_fnr"], language,
                       kinds={"group": "text"})]


def _pattern_records(con, min_count: int, n_patterns: int = 3) -> list[dict]:
    """Agreement patterns shared by at least ``min_count`` links, as Splink waterfall records
    (gamma levels, mean partial weights; no value)."""
    cols = con.table("_app_rp_links").columns
    gammas = [c for c in cols if c.startswith("gamma_")]
    if not gammas:
        return []
    tf = [c for c in cols if c.startswith("mw_tf_adj_")]
    aggs = ", ".join([f"avg({c}) AS {c}" for c in tf] + ["avg(match_weight) AS match_weight"])
    pats = con.execute(f"""
        SELECT {', '.join(gammas)}, {aggs}, count(*) AS n
        FROM _app_rp_links WHERE match_weight IS NOT NULL
        GROUP BY ALL HAVING count(*) >= {int(min_count)} ORDER BY n DESC LIMIT {n_patterns}
    """).df()
    recs = pats.drop(columns=["n"]).to_dict(orient="records")
    for r in recs:
        for k, v in list(r.items()):
            if k.startswith("gamma_"):
                r[k] = int(v)
    return recs


def _gold_section(gold: dict, selection, policy: DisclosurePolicy, language: str = "fr"):
    """Gold-standard figures (counts disclosure-controlled) and their HTML."""
    t = _tr(language)
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
    n_text = (fmt_count(float(_round(gold["n_gold"], policy)), language)
              if n_gold is not None and _round(gold["n_gold"], policy).isdigit()
              else t("(masqué)", "(suppressed)"))
    at_rev = gold.get("at_review") or {}
    pc = lambda v: fmt_percent(v, language)  # noqa: E731
    removed = fmt_percent(1 - gold["prevalence"], language)
    html_parts = [
        _h(2, "sec_gold", language),
        "<p>" + t(
            f"Les {n_text} candidats appariés par l'étape exacte (même NIR valide, cohérent avec "
            "les traits déclarés, des deux côtés) ont été réappariés sur les seuls traits (NIR "
            "caché) contre toute la source, avec un modèle entraîné sans étiquettes "
            f"({html.escape(gold['model'])}). Face à leurs partenaires par NIR : précision "
            f"<b>{pc(gold['precision'])}</b>, rappel <b>{pc(gold['recall'])}</b> au seuil de "
            f"lien ; en comptant les liens à revoir, précision {pc(at_rev.get('precision'))}, "
            f"rappel {pc(at_rev.get('recall'))}. Cela estime la qualité des liens sur traits "
            "faits pour les candidats sans NIR utilisable. Les partenaires d'un tirage de "
            f"{removed} des candidats de l'étalon ont d'abord été retirés de la source, pour "
            "que l'étalon ait la part estimée de candidats sans NIR qui ont un partenaire "
            f"({pc(gold['prevalence'])}).",
            f"The {n_text} candidates linked by the exact stage (same valid NIR, consistent "
            "with the declared traits, on both sides) were re-linked on traits only (NIR "
            f"hidden) against the whole source, with a model trained without labels "
            f"({html.escape(gold['model'])}). Against their NIR partners: precision "
            f"<b>{pc(gold['precision'])}</b>, recall <b>{pc(gold['recall'])}</b> at the match "
            f"threshold; counting review links, precision {pc(at_rev.get('precision'))}, recall "
            f"{pc(at_rev.get('recall'))}. This estimates the quality of the traits-only links "
            "made for candidates without a usable NIR. The partners of a random "
            f"{removed} of the gold records were removed from the source first, so the gold "
            "set has the estimated share of candidates without NIR who have a partner "
            f"({pc(gold['prevalence'])}).") + "</p>",
        table_html(counts_s.records(), list(counts.columns), language),
        "<p>" + t(
            "<b>Sélection.</b> Les candidats de l'étalon ne sont pas tirés au hasard : leur NIR "
            "est valide et cohérent avec leurs traits, leurs identités sont donc plus propres "
            "que celles des candidats appariés sur traits, et leur composition diffère "
            "(ci-dessous). L'estimation est optimiste là où les identités sont plus bruitées ; "
            "la lire avec les estimations sans étiquettes et le tableau par sous-groupe.",
            "<b>Selection.</b> The gold records are not a random subset: they hold a valid NIR "
            "consistent with their traits, so their identities are cleaner than those of the "
            "records linked on traits, and they differ in composition (below). The estimate is "
            "therefore optimistic where identities are noisier; read it with the label-free "
            "estimates and the subgroup table.") + "</p>"]
    if selection is not None:
        sel = suppress(selection, ["n_gold", "n_rest"], policy=policy,
                       derived={"share_gold": ["n_gold"], "share_rest": ["n_rest"]})
        fig["gold_standard_selection"] = sel.to_dict()
        rows = [{**r, "variable": label(r["variable"], language),
                 "group": _group(r["group"], language)} for r in sel.records()]
        html_parts.append(table_html(rows, ["variable", "group", "n_gold", "n_rest",
                                            "share_gold", "share_rest"], language,
                                     kinds={"group": "text", "variable": "text"}))
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


def _review_section(review: pd.DataFrame, summary, policy: DisclosurePolicy,
                    language: str = "fr"):
    """Clerical review figures: labels by stratum (disclosure-controlled) and the estimates."""
    t = _tr(language)
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
    html_parts = [_h(2, "sec_review", language),
                  "<p>" + t(
                      "Un échantillon stratifié de paires sur toute l'échelle des probabilités, "
                      "sur-représentant la zone grise entre les seuils de revue et de lien, a "
                      "été étiqueté par des relecteurs. Chaque paire étiquetée représente les "
                      "paires de sa strate (poids = taille de la strate / paires tirées) : les "
                      "lignes « étiquettes de revue » du tableau des erreurs et les courbes "
                      "« (revue) » sont des estimations de Horvitz-Thompson sur toutes les "
                      "paires probabilistes retenues. Les étiquettes « incertain » sont "
                      "écartées.",
                      "A stratified sample of pairs across the probability range, over-sampling "
                      "the grey zone between the review and match thresholds, was labelled by "
                      "reviewers. Each labelled pair stands for the pairs of its stratum "
                      "(weights = stratum size / pairs drawn), so the review-label rows of the "
                      "error table and the “(review)” threshold curves are Horvitz-Thompson "
                      "estimates over all assigned probabilistic pairs. <i>Unsure</i> labels "
                      "are left out.") + "</p>",
                  table_html(tab_s.records(), ["stratum", "n", *parts], language,
                             kinds={"stratum": "text"})]
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
