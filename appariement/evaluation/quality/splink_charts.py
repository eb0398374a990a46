"""The quality report's charts built on Splink's own Vega-Lite chart definitions.

Splink 5 ships its charts as Vega-Lite JSON (``splink/internals/files/chart_defs``) filled by
small classes in ``splink.internals.charts``. We feed them our fitted model (its Splink settings)
and disclosure-controlled aggregates, and translate their titles. (Why ``splink.internals``:
Splink's public chart methods need a ``Linker`` over the records, and chart what they compute
from them; the exported report may only chart figures that passed disclosure control, so the
chart classes are fed those figures directly.) a Splink user finds the charts
they know (match weights, m and u, waterfall, threshold selection tool, unlinkables,
completeness), a French reader reads them in French.

What each chart is fed:

- match weights, m and u: the model's parameters (no record);
- waterfall: agreement *patterns* shared by at least ``threshold`` links (average partial
  weights), or — on the enclave page only — real example pairs with their values;
- threshold selection tool: the published label-free curve (expected true / false / missed
  links, which the published counts and precision already give);
- unlinkables and completeness: counts merged or suppressed beforehand by the report.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any, Sequence

from ..labels import label

__all__ = ["match_weights_spec", "mu_spec", "waterfall_spec", "threshold_tool_spec",
           "unlinkables_spec", "completeness_spec", "histogram_spec", "settings_object"]


def settings_object(splink_settings: dict):
    """Splink's ``Settings`` of a trained model (no linker, no data needed)."""
    from splink import SettingsCreator
    return SettingsCreator.from_path_or_dict(copy.deepcopy(splink_settings)).get_settings(
        "duckdb")


#: Splink's English strings -> label keys of our own
_STRINGS = {
    "Model parameters (components of final match weight)": "mw_title",
    "Match weights": "mw_title",
    "Partial match weights (components of final match weight)": "mw_title",
    "Use mousewheel to zoom": "zoom",
    "Prior (starting) match weight": "prior_weight",
    "Comparison name": "comparison_name",
    "Label": "level_label",
    "M probability": "m_prob", "U probability": "u_prob",
    "Proportion of record comparisons in each comparison level by match status": "mu_title",
    "(m and u probabilities)": "mu_sub",
    "Comparison level match weight = log2(m/u)": "mw_axis",
    "Match weight": "mw_short",
    "Proportion of record comparisons": "mu_prop",
    "Amongst matching record comparisons:": "mu_m",
    "Amongst non-matching record comparisons:": "mu_u",
    "Histogram of match weights": "hist_title",
    "Count of record comparisons in bin": "hist_y",
    "Match Threshold Selection Tool": "tool_title",
    "Match probability threshold": "tool_prob",
    "Match weight threshold": "tool_weight",
    "Performance metric score": "tool_score",
    "Unlinkable records": "unl_title",
    "Records with insufficient information to exceed a given match threshold": "unl_sub",
    "Threshold match weight": "unl_x",
    "Percentage of unlinkable records": "unl_y",
    "Column completeness by source dataset": "comp_title",
    "Column name": "column", "Source dataset": "side",
    "Match weights waterfall chart": "wf_title",
    "How each comparison contributes to the final match score": "wf_sub",
    "Match Weight": "mw_short", "Column": "comparison_name", "Probability": "wf_prob",
    "Precision": "precision",
    "Non-match": "non_match", "Match": "match", "Actual": "tool_actual",
    "Predicted": "tool_predicted",
}

_EXTRA = {
    "zoom": ("Molette : zoom", "Use mousewheel to zoom"),
    "mw_short": ("Poids d'appariement", "Match weight"),
    "prior_weight": ("Poids de départ (a priori)", "Prior (starting) match weight"),
    "comparison_name": ("Comparaison", "Comparison name"),
    "level_label": ("Niveau", "Label"),
    "m_prob": ("Probabilité m", "M probability"), "u_prob": ("Probabilité u", "U probability"),
    "mu_title": ("Part des paires comparées à chaque niveau, selon le statut",
                 "Proportion of record comparisons in each comparison level by match status"),
    "mu_sub": ("(probabilités m et u)", "(m and u probabilities)"),
    "mw_title": ("Poids d'appariement de chaque niveau de comparaison",
                 "Match weight of each comparison level"),
    "mw_axis": ("Poids du niveau = log2(m/u)", "Comparison level match weight = log2(m/u)"),
    "mu_prop": ("Part des paires comparées", "Proportion of record comparisons"),
    "mu_m": ("Parmi les vraies paires (m) :", "Amongst matching record comparisons:"),
    "mu_u": ("Parmi les fausses paires (u) :", "Amongst non-matching record comparisons:"),
    "hist_title": ("Histogramme des poids d'appariement", "Histogram of match weights"),
    "hist_y": ("Liens dans la classe", "Links in the bin"),
    "tool_title": ("Outil de choix du seuil", "Match threshold selection tool"),
    "tool_prob": ("Seuil de probabilité", "Match probability threshold"),
    "tool_weight": ("Seuil de poids", "Match weight threshold"),
    "tool_score": ("Valeur de la mesure", "Performance metric score"),
    "tool_actual": ("Réel (estimé)", "Actual (estimated)"),
    "tool_predicted": ("Décision", "Predicted"),
    "unl_title": ("Candidats inappariables", "Unlinkable candidates"),
    "unl_sub": ("Candidats dont les traits, comparés à eux-mêmes, ne dépassent pas le seuil",
                "Candidates whose traits, compared with themselves, do not reach the "
                "threshold"),
    "unl_x": ("Seuil de poids", "Threshold match weight"),
    "unl_y": ("Part des candidats inappariables", "Share of unlinkable candidates"),
    "comp_title": ("Complétude des traits par fichier", "Completeness of the traits by file"),
    "wf_sub": ("Contribution de chaque comparaison au poids final",
               "How each comparison contributes to the final match score"),
    "wf_prob": ("Probabilité", "Probability"),
    "wf_title": ("Décomposition du poids d'appariement", "Match weights waterfall"),
}


def _text(key: str, language: str) -> str:
    pair = _EXTRA.get(key)
    return pair[("fr", "en").index(language)] if pair else label(key, language)


def _translate(spec: Any, language: str) -> Any:
    """Replace Splink's English titles (every string value equal to a known one)."""
    if isinstance(spec, dict):
        return {k: _translate(v, language) for k, v in spec.items()}
    if isinstance(spec, list):
        return [_translate(v, language) for v in spec]
    if isinstance(spec, str) and spec in _STRINGS:
        return _text(_STRINGS[spec], language)
    return spec


def _dict(chart, language: str) -> dict[str, Any]:
    spec = _translate(chart.chart_dict, language)
    for r in spec.get("data", {}).get("values") or []:
        for k in ("comparison_name", "column_name"):
            if isinstance(r.get(k), str) and r[k] not in ("Prior", "Final score",
                                                           "probability_two_random_records_match"):
                tf = r[k].startswith("tf_")
                r[k] = label(r[k][3:] if tf else r[k], language) + (" (tf)" if tf else "")
    return spec


def match_weights_spec(splink_settings: dict, language: str = "fr") -> dict[str, Any]:
    """Splink's match weights chart (prior and every comparison level) of a trained model."""
    from splink.internals.charts import MatchWeightsChart  # internal: see the module docstring
    recs = settings_object(splink_settings)._parameters_as_detailed_records
    return _dict(MatchWeightsChart(recs), language)


def mu_spec(splink_settings: dict, language: str = "fr") -> dict[str, Any]:
    """Splink's m and u parameters chart of a trained model."""
    from splink.internals.charts import MUParametersChart  # internal: see the module docstring
    recs = settings_object(splink_settings)._parameters_as_detailed_records
    return _dict(MUParametersChart(recs), language)


def waterfall_spec(splink_settings: dict, records: Sequence[dict], *, hide_details: bool,
                   language: str = "fr") -> dict[str, Any]:
    """Splink's waterfall chart of ``records`` (dicts with ``gamma_<comparison>``,
    ``mw_tf_adj_<comparison>``, ``match_weight``; the input values ``<column>_l`` /
    ``<column>_r`` too unless ``hide_details``)."""
    from splink.internals.charts import WaterfallChart  # internal: see the module docstring
    from splink.internals.waterfall_chart import records_to_waterfall_data  # no public form
    data = records_to_waterfall_data(list(records), settings_object(splink_settings),
                                     hide_details)
    for r in data:
        if r["column_name"] == "Prior":
            r["label_for_charts"] = {"fr": "Poids de départ (a priori)",
                                     "en": "Starting match weight (prior)"}[language]
        elif r["column_name"] == "Final score":
            r["label_for_charts"] = {"fr": "Poids final", "en": "Final score"}[language]
    return _dict(WaterfallChart(data), language)


def threshold_tool_spec(rows: Sequence[dict], language: str = "fr") -> dict[str, Any]:
    """Splink's threshold selection tool fed with the published label-free curve (rows:
    ``threshold`` (probability), ``precision``, ``recall``, ``f1``, ``expected_true``,
    ``expected_false``, ``expected_missed``). The y axis shows 0 to 1, not Splink's 0.5 to 1,
    and every point is kept."""
    from splink.internals.charts import ThresholdSelectionToolChart  # internal: see the module docstring
    data = []
    for r in rows:
        p = min(max(float(r["threshold"]), 1e-9), 1 - 1e-9)
        if r.get("precision") is None or r.get("recall") is None:
            continue
        data.append({"truth_threshold": math.log2(p / (1 - p)), "match_probability": p,
                     "precision": r["precision"], "recall": r["recall"], "f1": r.get("f1"),
                     "tp": _round(r.get("expected_true")), "fp": _round(r.get("expected_false")),
                     "fn": _round(r.get("expected_missed")), "tn": None,
                     "fp_rate": None})
    chart = ThresholdSelectionToolChart(data, add_metrics=["f1"])
    chart.alter_data = lambda records: records  # keep every published point
    spec = _dict(chart, language)
    # Splink writes the metric names into its expressions: translate them there
    text = json.dumps(spec)
    for en, key in (("Precision (PPV)", "precision"), ("Recall (TPR)", "recall")):
        text = text.replace(en, label(key, language).replace("'", "\\u2019"))
    spec = json.loads(text)
    acc_legend = spec["hconcat"][1]["layer"][0]["encoding"]["color"]
    acc_legend["title"] = {"fr": ["Mesure"], "en": ["Measure"]}[language]
    acc = spec["hconcat"][1]
    acc["layer"][0]["encoding"]["y"]["scale"] = {"domain": [0, 1]}
    acc["layer"][0]["encoding"]["y"]["axis"]["values"] = [i / 10 for i in range(11)]
    names = {"tp": ("Vrais liens (estimés)", "True links (expected)"),
             "fp": ("Faux liens (estimés)", "False links (expected)"),
             "fn": ("Liens manqués (estimés)", "Missed links (expected)"),
             "tn": ("Vrais non-liens", "True non-links")}
    i = ("fr", "en").index(language)
    expr = ("datum.label === 'tp' ? '{tp}' : datum.label === 'tn' ? '{tn}' : "
            "datum.label === 'fp' ? '{fp}' : '{fn}'").format(
        **{k: v[i].replace("'", "\\'") for k, v in names.items()})
    conf = spec["hconcat"][0]["vconcat"][1]["hconcat"][0]
    for t in spec["hconcat"][0]["vconcat"][1]["transform"]:
        if "fold" in t:  # true non-links: every pair never compared, not estimated
            t["fold"] = ["tp", "fp", "fn"]
        if t.get("as") == "confusion_label":
            t["calculate"] = expr
    for axis in ("x", "y"):
        conf["encoding"][axis]["axis"]["labelExpr"] = (
            "datum.label == 1 ? '{}' : '{}'".format(label("match", language),
                                                     label("non_match", language)
                                                     .replace("'", "\\'")))
    spec["title"]["subtitle"] = {
        "fr": ["Survoler une courbe affiche la matrice de confusion estimée (en bas à gauche) "
               "et les mesures (à droite).", "Estimations sans étiquettes, aux seuils publiés."],
        "en": ["Hover over either line graph to show the estimated confusion matrix (bottom "
               "left) and the measures (right).", "Label-free estimates, at the published "
               "thresholds."]}[language]
    return spec


def _round(v):
    return None if v is None else int(round(float(v)))


def unlinkables_spec(rows: Sequence[dict], language: str = "fr") -> dict[str, Any]:
    """Splink's unlinkables chart (rows: ``match_weight``, ``match_probability``,
    ``cum_prop``)."""
    from splink.internals.charts import UnlinkablesChart  # internal: see the module docstring
    return _dict(UnlinkablesChart(list(rows)), language)


def completeness_spec(rows: Sequence[dict], language: str = "fr") -> dict[str, Any]:
    """Splink's completeness chart (rows: ``source_dataset``, ``column_name``,
    ``completeness``, ``total_rows_inc_nulls``, ``total_null_rows``)."""
    from splink.internals.charts import CompletenessChart  # internal: see the module docstring
    spec = _dict(CompletenessChart([{**r, "source_dataset": label(r["source_dataset"],
                                                                    language)}
                                    for r in rows]), language)
    return spec


def histogram_spec(rows: Sequence[dict], language: str = "fr") -> dict[str, Any]:
    """Splink's match weight histogram (rows: ``bin_start``, ``bin_end``, ``n``; suppressed
    bins kept with no bar)."""
    from splink.internals.charts import MatchWeightsHistogramChart  # internal: see the module docstring
    data = [{"splink_score_bin_low": r["bin_start"], "splink_score_bin_high": r["bin_end"],
             "count_rows": r["n"]} for r in rows]
    spec = _dict(MatchWeightsHistogramChart(data), language)
    spec["title"]["subtitle"] = {"fr": "Molette : zoom. Classes masquées : sans barre.",
                                 "en": "Mouse wheel: zoom. Suppressed bins: no bar."}[language]
    return spec
