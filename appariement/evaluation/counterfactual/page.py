"""The counterfactual page: ``counterfactual.json`` drawn for a methodologist.

Rendering only: every figure comes from the JSON that :func:`run_counterfactual` wrote (and the
output checker checks), so the page shows nothing the JSON does not publish. Charts: the link
rate by arm, a forest plot of the effects (every method and outcome, with their intervals), a
love plot of the covariates' standardised differences before and after weighting / matching,
and the estimate at each match threshold. Optional keys are drawn when present: ``warnings``
(``{"code", "message"}``), per-estimate ``e_value`` / ``e_value_ci``, any method name.

Examples:
    >>> page = render({"design": {"grace_days": 90}, "estimates": [], "balance": {},
    ...                "arms_and_linkage": [], "exclusions": [], "threshold_sensitivity": [],
    ...                "disclosure": {"rule": "r"}}, "en")
    >>> "<h1>Effect of an IAE hire" in page and "grace_days" not in page
    True
"""

from __future__ import annotations

import html
from typing import Any

from ..labels import check_language, fmt_number, fmt_value, label, table_html
from ..quality import charts

__all__ = ["render"]

_ESTIMANDS_FR = {
    "censor": ("ATT d'une embauche dans le délai de grâce face à l'absence d'embauche : les "
               "personnes du groupe de comparaison embauchées après le délai sont suivies "
               "jusqu'à leur embauche (résultat à un horizon retenu seulement si l'embauche "
               "vient après) et les autres repondérées par l'inverse de la probabilité de ne "
               "pas être censurées (IPCW)."),
    "keep": ("ATT d'une embauche dans le délai de grâce face à l'absence d'embauche dans ce "
             "délai : les personnes embauchées plus tard gardent leur résultat (contraste "
             "« embaucher maintenant ou laisser attendre », plus petit que l'effet face à "
             "l'absence d'embauche)."),
    "exclude": ("ATT d'une embauche dans le délai de grâce face aux personnes jamais embauchées "
                "pendant le suivi (embauches tardives écartées : le groupe est sélectionné sur "
                "le futur ; analyse de sensibilité seulement)."),
}

_DESIGN = {
    "grace_days": ("Délai de grâce (jours)", "Grace period (days)"),
    "later_hires": ("Embauches tardives", "Later hires"),
    "unit": ("Unité", "Unit"), "horizons": ("Horizons (mois)", "Horizons (months)"),
    "comparison_classes": ("Refus du groupe de comparaison", "Refusals in the comparison arm"),
    "diagnosis_validity_days": ("Validité du diagnostic (jours)",
                                "Diagnosis validity (days)"),
    "durable_min_months": ("Emploi durable : mois minimum", "Durable job: minimum months"),
    "eligible_only": ("Éligibles seulement", "Eligible only"),
    "follow_up_end": ("Fin du suivi", "End of follow-up"),
    "match_threshold": ("Seuil d'appariement", "Match threshold"),
    "study_start": ("Début de l'étude", "Study start"), "study_end": ("Fin de l'étude",
                                                                     "Study end"),
    "unlinked": ("Non appariés", "Unlinked people"),
    "refusal_classes": ("Classes de motifs de refus", "Refusal reason classes"),
}

_VALUES = {"censor": ("censurées (IPCW)", "censored (IPCW)"),
           "keep": ("gardées", "kept"), "exclude": ("écartées", "excluded"),
           "person": ("personne", "person"), "person_month": ("personne-mois", "person-month"),
           "zero": ("comptés sans emploi", "counted as not employed"),
           "drop": ("écartés", "dropped"), "employer_side": ("côté employeur", "employer side"),
           "person_side": ("côté personne", "person side"),
           "eligibility": ("éligibilité", "eligibility"), "other": ("autre", "other"),
           "comparison_class": ("motif de refus hors du groupe de comparaison",
                                "refusal reason outside the comparison arm"),
           "excluded": ("Exclus", "Excluded")}

_OUTCOMES = {"employed": ("En emploi à {h} mois", "Employed at {h} months"),
             "durable": ("Emploi durable à {h} mois", "Durable job at {h} months"),
             "months_employed": ("Mois en emploi sur {h} mois", "Months employed over {h}")}


def _i(language: str) -> int:
    return ("fr", "en").index(language)


def _word(v: Any, language: str) -> str:
    if isinstance(v, str) and v in _VALUES:
        return _VALUES[v][_i(language)]
    return label(v, language)


def _outcome(name: str, language: str) -> str:
    stem, _, h = str(name).rpartition("_")
    if stem in _OUTCOMES and h.endswith("m"):
        return _OUTCOMES[stem][_i(language)].format(h=h[:-1])
    return label(name, language)


def _design_value(v: Any, language: str) -> str:
    if v is None:
        return {"fr": "non fixé", "en": "not set"}[language]
    if isinstance(v, bool):
        return fmt_value(v, "bool", language)
    if isinstance(v, list):
        return ", ".join(_design_value(x, language) for x in v) or label("none", language)
    if isinstance(v, dict):
        groups: dict[str, list[str]] = {}
        for k, c in v.items():
            groups.setdefault(_word(c, language), []).append(str(k))
        return "; ".join(f"{g} : {', '.join(ks)}" if language == "fr" else
                         f"{g}: {', '.join(ks)}" for g, ks in groups.items())
    if isinstance(v, (int, float)):
        return fmt_number(v, language)
    return _word(v, language)


def _design_table(design: dict, language: str) -> str:
    rows = "".join(
        f"<tr><td class='c'>{html.escape(_DESIGN.get(k, (k, k))[_i(language)])}</td>"
        f"<td class='c'>{html.escape(_design_value(v, language))}</td></tr>"
        for k, v in design.items())
    return (f"<table><tr><th>{html.escape(label('setting', language))}</th>"
            f"<th>{html.escape(label('value', language))}</th></tr>{rows}</table>")


def _base(title: str, values: list, **extra) -> dict:
    return {"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "title": title,
            "data": {"values": values}, "width": 520, **extra}


def _link_rate_spec(arms: list[dict], language: str) -> dict | None:
    arms = [r for r in arms if r["arm"] in ("treated", "comparison")]
    values = [{"arm": _word(r["arm"], language),
               "rate": r["linked"] / r["n"] if r.get("linked") is not None and r.get("n")
               else None,
               "hidden": {"fr": "– masqué", "en": "– suppressed"}[language]
               if r.get("linked") is None or not r.get("n") else None} for r in arms]
    if not values:
        return None
    return _base({"fr": "Taux d'appariement par bras", "en": "Link rate by arm"}[language],
                 values, height={"step": 24},
                 encoding={"y": {"field": "arm", "type": "nominal", "title": None,
                                 "sort": None, "scale": {"domain": [v["arm"] for v in values]}}},
                 layer=[{"mark": "bar", "encoding": {
                     "x": {"field": "rate", "type": "quantitative", "scale": {"domain": [0, 1]},
                           "axis": {"format": "%"}, "title": label("link_rate", language)},
                     "tooltip": [{"field": "arm"}, {"field": "rate", "format": ".1%"}]}},
                        {"mark": {"type": "text", "align": "left", "x": 4, "color": "#888"},
                         "encoding": {"text": {"field": "hidden"}}}])


def _forest_spec(estimates: list[dict], language: str) -> dict | None:
    values = [{"outcome": _outcome(r["outcome"], language),
               "method": label(r["method"], language),
               "variant": label(r.get("variant", "main"), language),
               "estimate": r["estimate"], "ci_low": r.get("ci_low"),
               "ci_high": r.get("ci_high")}
              for r in estimates if r.get("estimate") is not None]
    if not values:
        return None
    enc_y = {"field": "method", "type": "nominal", "title": None}
    return {"$schema": "https://vega.github.io/schema/vega-lite/v5.json",
            "title": label("sec_forest", language), "data": {"values": values},
            "facet": {"row": {"field": "outcome", "type": "nominal", "title": None,
                              "header": {"labelAngle": 0, "labelAlign": "left"}},
                      "column": {"field": "variant", "type": "nominal",
                                 "title": label("variant", language)}},
            "spec": {"width": 320, "height": {"step": 18}, "layer": [
                {"mark": {"type": "rule", "color": "#999", "strokeDash": [3, 3]},
                 "data": {"values": [{"zero": 0}]},
                 "encoding": {"x": {"field": "zero", "type": "quantitative"}}},
                {"mark": "rule", "encoding": {
                    "y": enc_y, "x": {"field": "ci_low", "type": "quantitative",
                                      "title": label("estimate", language)},
                    "x2": {"field": "ci_high"}, "color": {"field": "method",
                                                          "legend": None}}},
                {"mark": {"type": "point", "filled": True, "size": 60}, "encoding": {
                    "y": enc_y, "x": {"field": "estimate", "type": "quantitative"},
                    "color": {"field": "method", "title": label("method", language)},
                    "tooltip": [{"field": "method"}, {"field": "estimate", "format": ".3f"},
                                {"field": "ci_low", "format": ".3f"},
                                {"field": "ci_high", "format": ".3f"}]}}]},
            "resolve": {"scale": {"y": "independent"}}}


def _love_spec(rows: list[dict], language: str) -> dict | None:
    cols = [c for c in (rows[0] if rows else {}) if c.startswith("smd_")]
    names = {"smd_before": label("before", language),
             "smd_ipw": {"fr": "après pondération (IPW)", "en": "after weighting (IPW)"},
             "smd_matched": {"fr": "après appariement", "en": "after matching"}}
    values = []
    for r in rows:
        for c in cols:
            if r.get(c) is None:
                continue
            name = names.get(c, c.replace("smd_", ""))
            values.append({"covariate": label(r["covariate"], language),
                           "when": name[language] if isinstance(name, dict) else name,
                           "abs_smd": abs(float(r[c])), "smd": float(r[c])})
    if not values:
        return None
    order = [label(r["covariate"], language) for r in
             sorted((r for r in rows if r.get("smd_before") is not None),
                    key=lambda r: -abs(r["smd_before"]))]
    top = max(0.25, max(v["abs_smd"] for v in values) * 1.05)
    return _base({"fr": "Graphique d'équilibre (love plot) : |écart standardisé|",
                  "en": "Love plot: |standardised mean difference|"}[language], values,
                 height={"step": 16},
                 layer=[{"mark": {"type": "rule", "color": "#c00", "strokeDash": [4, 3]},
                         "data": {"values": [{"x": 0.1}]},
                         "encoding": {"x": {"field": "x", "type": "quantitative"}}},
                        {"mark": {"type": "point", "filled": True, "size": 50},
                         "encoding": {
                             "y": {"field": "covariate", "type": "nominal", "sort": order,
                                   "title": None},
                             "x": {"field": "abs_smd", "type": "quantitative",
                                   "scale": {"domain": [0, top]},
                                   "title": {"fr": "|écart standardisé| (ligne : 0,1)",
                                             "en": "|SMD| (line: 0.1)"}[language]},
                             "color": {"field": "when", "type": "nominal", "title": None},
                             "shape": {"field": "when", "type": "nominal", "title": None},
                             "tooltip": [{"field": "covariate"}, {"field": "when"},
                                         {"field": "smd", "format": ".3f"}]}}])


def _sensitivity_spec(rows: list[dict], language: str) -> dict | None:
    values = [{"threshold": r["threshold"], "method": label(r["method"], language),
               "estimate": r["estimate"], "ci_low": r.get("ci_low"),
               "ci_high": r.get("ci_high")} for r in rows if r.get("estimate") is not None]
    if not values:
        return None
    x = {"field": "threshold", "type": "quantitative", "scale": {"domain": [0, 1]},
         "title": {"fr": "Seuil de probabilité des liens retenus",
                   "en": "Match probability threshold of the links kept"}[language]}
    layers = [{"mark": {"type": "line", "point": True},
               "encoding": {"x": x, "y": {"field": "estimate", "type": "quantitative",
                                          "title": label("estimate", language)},
                            "color": {"field": "method", "title": label("method", language)},
                            "tooltip": [{"field": "threshold"}, {"field": "method"},
                                        {"field": "estimate", "format": ".3f"}]}}]
    if any(v["ci_low"] is not None for v in values):
        layers.insert(0, {"mark": {"type": "area", "opacity": 0.2},
                          "transform": [{"filter": "datum.ci_low != null"}],
                          "encoding": {"x": x, "y": {"field": "ci_low",
                                                     "type": "quantitative"},
                                       "y2": {"field": "ci_high"},
                                       "color": {"field": "method"}}})
    return _base({"fr": "Estimation selon le seuil d'appariement",
                  "en": "Estimate by match threshold"}[language], values, height=220,
                 layer=layers)


def _rule_text(disclosure: Any, language: str) -> str:
    rule = disclosure.get("rule") if isinstance(disclosure, dict) else str(disclosure)
    if language == "fr":
        import re
        m = re.search(r"minimum cell size (\d+)", rule or "")
        k = int(m.group(1)) if m else 11
        text = (f"Les effectifs de 1 à {k - 1} sont masqués (au moins {k} personnes par case) ;"
                " les zéros sont publiés. Masquage secondaire dans les lignes et colonnes dont "
                "le total est publié ; les estimations calculées à partir d'un effectif masqué "
                "sont masquées avec lui.")
    else:
        text = rule or ""
    return f"{text} {label('suppressed_note', language)}"


_DIAGNOSTIC_COLUMNS = ("share_treated_off_support", "ess_share_control_ipw",
                       "ess_share_control_matched", "max_abs_smd_after", "smd_threshold")


def _diagnostics_html(rows: list[dict], language: str) -> list[str]:
    """Overlap, weights and balance diagnostics per variant and outcome (``diagnostics``)."""
    if not rows:
        return []
    flat = []
    for r in rows:
        row = {"variant": label(str(r.get("variant", "")), language),
               "outcome": _outcome(str(r.get("outcome", "")), language)}
        for c in _DIAGNOSTIC_COLUMNS:
            v = r.get(c)
            row[c] = max(v.values()) if isinstance(v, dict) and v else v
        cw = r.get("censoring_weights") or {}
        row["censoring_ess_share"] = cw.get("ess_share")
        row["censoring_share_truncated"] = cw.get("share_truncated")
        flat.append(row)
    cols = ["variant", "outcome", *[c for c in (*_DIAGNOSTIC_COLUMNS, "censoring_ess_share",
                                                 "censoring_share_truncated")
                                    if any(f.get(c) is not None for f in flat)]]
    return [f"<h2>{html.escape(label('sec_diagnostics', language))}</h2>",
            table_html(flat, cols, language, kinds={"variant": "text", "outcome": "text"})]


def render(result: dict, language: str = "fr") -> str:
    """The self-contained counterfactual page of ``result`` (``counterfactual.json``)."""
    language = check_language(language)
    t = (lambda fr, en: fr) if language == "fr" else (lambda fr, en: en)
    later = str(result.get("design", {}).get("later_hires", "censor"))
    estimand = (_ESTIMANDS_FR.get(later, result.get("estimand", "")) if language == "fr"
                else result.get("estimand", ""))
    chart_specs: dict[str, Any] = {}
    body = [f"<h1>{html.escape(label('cf_title', language))}</h1>",
            f'<p class="note"><b>{html.escape(label("disclosure", language))}.</b> '
            f"{html.escape(_rule_text(result.get('disclosure', {}), language))}</p>",
            f'<p class="small">{html.escape(label("export_note", language))}</p>',
            "<p>" + html.escape(t(
                "Traités : embauchés dans le délai de grâce après le temps zéro (première "
                "candidature). Comparaison : candidats non embauchés dans ce délai ; une "
                "personne embauchée plus tard n'est jamais comptée non traitée pour tout son "
                "suivi (biais du temps immortel). La différence brute est montrée à côté des "
                "estimations sur score de propension ; intervalles bootstrap à 95 % "
                "(personnes rééchantillonnées, chaque modèle réajusté).",
                "Treated: hired within the grace period after time zero (first candidature). "
                "Comparison: candidates not hired within it; people hired later are never "
                "counted as untreated for their whole follow-up (immortal-time bias). The naive "
                "difference is shown beside the propensity-score estimates; 95% percentile "
                "bootstrap intervals (persons resampled, every model re-fitted).")) + "</p>",
            f"<p><b>{t('Estimande', 'Estimand')}.</b> {html.escape(estimand)}</p>"]
    warnings = result.get("warnings") or []
    if warnings:
        body += [f"<h2>{html.escape(label('sec_warnings', language))}</h2>",
                 "<ul class='warn'>" + "".join(
                     f"<li><b>{html.escape(str(w.get('code', '')))}</b> "
                     f"{html.escape(str(w.get('message', '')))}</li>" for w in warnings)
                 + "</ul>"]
    body += [f"<h2>{html.escape(label('sec_design', language))}</h2>",
             _design_table(result.get("design", {}), language)]
    arms = result.get("arms_and_linkage", [])
    body += [f"<h2>{html.escape(label('sec_arms', language))}</h2>",
             table_html([{**r, "arm": _word(r["arm"], language)} for r in arms],
                        ["arm", "n", "linked", "unlinked"], language, kinds={"arm": "text"})]
    spec = _link_rate_spec(arms, language)
    if spec:
        chart_specs["link_rate"] = spec
        body.append(charts.chart_div("link_rate"))
    excl = result.get("exclusions", [])
    body += [f"<h2>{html.escape(label('sec_exclusions', language))}</h2>",
             table_html([{**r, "reason": _word(r["reason"], language)} for r in excl],
                        ["reason", "n"], language, kinds={"reason": "text"})]
    estimates = result.get("estimates", [])
    spec = _forest_spec(estimates, language)
    body.append(f"<h2>{html.escape(label('sec_estimates', language))}</h2>")
    if spec:
        chart_specs["forest"] = spec
        body.append(charts.chart_div("forest"))
    cols = ["variant", "outcome", "method", "estimate", "ci_low", "ci_high", "se", "n_treated",
            "n_control"]
    if any(r.get("se_ai") is not None for r in estimates):
        cols += ["se_ai", "ci_low_ai", "ci_high_ai"]
    cols += [c for c in ("e_value", "e_value_ci") if any(c in r for r in estimates)]
    body.append(table_html([{**r, "variant": label(r.get("variant", ""), language),
                             "outcome": _outcome(r["outcome"], language),
                             "method": label(r["method"], language)} for r in estimates],
                           cols, language, kinds={"variant": "text", "outcome": "text",
                                                  "method": "text"}))
    body.append("<p>" + html.escape(t(
        "Intervalles de l'appariement : le bootstrap n'est pas valide en théorie pour "
        "l'appariement au plus proche voisin à nombre de voisins fixé (Abadie et Imbens "
        "2008) ; les colonnes Abadie-Imbens donnent la variance d'Abadie-Imbens (2006), qui "
        "traite le score de propension comme connu. Lire les deux intervalles ensemble ; "
        "l'intervalle bootstrap de l'IPW n'a pas cette réserve.",
        "Matching intervals: the bootstrap is not valid in theory for nearest-neighbour "
        "matching with a fixed number of neighbours (Abadie & Imbens 2008); the "
        "Abadie-Imbens columns give the Abadie-Imbens (2006) variance, which treats the "
        "propensity score as known. Read the two intervals together; the IPW bootstrap "
        "interval has no such caveat.")) + "</p>")
    for name, rows in (result.get("balance") or {}).items():
        title = f"{label('sec_balance', language)} ({label(name, language)})"
        body.append(f"<h2>{html.escape(title)}</h2>")
        spec = _love_spec(rows, language)
        if spec:
            chart_specs[f"love_{name}"] = spec
            body.append(charts.chart_div(f"love_{name}"))
        bcols = list(rows[0]) if rows else ["covariate"]
        shown = [r for r in rows if any(r.get(c) is not None for c in bcols[1:])]
        body.append(table_html(shown, bcols, language, kinds={"covariate": "text"}))
        if len(shown) < len(rows):
            n = len(rows) - len(shown)
            body.append("<p>" + html.escape(t(
                f"{n} covariables sur {len(rows)} ont leurs valeurs masquées (petits "
                "effectifs) et ne sont pas listées. Les noms des covariables sont définis dans "
                "codebook.md.",
                f"{n} covariates out of {len(rows)} have suppressed values (small counts) and "
                "are not listed. The covariates are defined in codebook.md.")) + "</p>")
    body += _diagnostics_html(result.get("diagnostics") or [], language)
    assumptions = result.get("assumptions") or []
    if assumptions:
        body += [f"<h2>{html.escape(label('sec_assumptions', language))}</h2>",
                 "<ul>" + "".join(f"<li>{html.escape(str(a))}</li>" for a in assumptions)
                 + "</ul>"]
    sens = result.get("threshold_sensitivity") or []
    body.append(f"<h2>{html.escape(label('sec_sensitivity', language))}</h2>")
    spec = _sensitivity_spec(sens, language)
    if spec:
        chart_specs["sensitivity"] = spec
        body.append(charts.chart_div("sensitivity"))
    if sens:
        scols = ["threshold", "method", "estimate", "ci_low", "ci_high", "link_rate_treated",
                 "link_rate_comparison", "n_treated", "n_control"]
        body.append(table_html([{**r, "method": label(r["method"], language)} for r in sens],
                               scols, language, kinds={"method": "text"}))
    else:
        body.append("<p>" + t("Non calculée (aucun seuil demandé).",
                              "Not computed (no threshold asked for).") + "</p>")
    return charts.render_html(label("cf_title", language), "\n".join(body), chart_specs,
                              language=language)

