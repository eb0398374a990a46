"""Words and numbers of the report pages, in French (default) and English.

One place for every label the quality report and the counterfactual page print: column headers,
category values, section titles. Numbers are formatted for people: counts without decimals and
with thousands separators, shares as percentages, other values with 4 significant digits, and
booleans as words. A raw field name never reaches a page: an unknown key is shown humanised
(``p_adjusted`` → ``p adjusted``) only as a last resort.

Examples:
    >>> label("p_adjusted", "fr"), label("p_adjusted", "en")
    ('p ajustée (Holm)', 'adjusted p (Holm)')
    >>> print(fmt_count(648.0, "fr"), fmt_count(1234567, "en"))
    648 1,234,567
    >>> print(fmt_percent(0.95986, "fr"), fmt_percent(0.95986, "en"), fmt_number(0.99950223, "en"))
    96,0\u202f% 96.0% 0.9995
    >>> fmt_value(True, "bool", "fr"), fmt_value(None, "count", "en")
    ('oui', '–')
"""

from __future__ import annotations

import html
import math
from typing import Any, Iterable, Mapping

__all__ = ["LANGUAGES", "check_language", "label", "fmt_count", "fmt_percent", "fmt_number",
           "fmt_value", "table_html", "KINDS"]

LANGUAGES = ("fr", "en")
SUPPRESSED = "–"

#: key -> (French, English)
_LABELS: dict[str, tuple[str, str]] = {
    # page furniture
    "quality_title": ("Rapport de qualité de l'appariement", "Linkage quality report"),
    "enclave_title": ("Exemples de paires — réservé à l'enclave",
                      "Example pairs — enclave only"),
    "cf_title": ("Effet d'une embauche en IAE sur l'emploi (ATT)",
                 "Effect of an IAE hire on later employment (ATT)"),
    "disclosure": ("Contrôle de la diffusion", "Disclosure control"),
    "language": ("Langue", "Language"),
    "suppressed_note": ("Un tiret (–) marque une valeur masquée (petit effectif ou valeur "
                        "qui permettrait de le retrouver).",
                        "A dash (–) marks a suppressed value (a small count, or a value that "
                        "would give it back)."),
    "export_note": ("Chaque graphique s'exporte en PNG ou SVG par le menu « … » en haut à "
                    "droite.", "Every chart exports to PNG or SVG from its “…” menu."),
    # quality sections
    "sec_links": ("Liens", "Links"),
    "sec_errors": ("Erreurs estimées (sans étiquettes)", "Estimated errors (label-free)"),
    "sec_threshold": ("Choix du seuil", "Threshold selection"),
    "sec_weights": ("Distribution des poids d'appariement", "Match weight distribution"),
    "sec_model": ("Paramètres du modèle", "Model parameters"),
    "sec_waterfall": ("Décomposition des poids (profils d'accord fréquents)",
                      "How weights add up (frequent agreement patterns)"),
    "sec_unlinkables": ("Candidats inappariables", "Unlinkable candidates"),
    "sec_completeness": ("Complétude des traits", "Completeness of the traits"),
    "sec_subgroups": ("Biais d'appariement par sous-groupe", "Linkage bias by subgroup"),
    "sec_gold": ("Étalon issu des liens par NIR", "Gold standard from NIR links"),
    "sec_review": ("Revue manuelle", "Clerical review"),
    "sec_viewer": ("Visionneuse de comparaisons", "Comparison viewer"),
    "sec_examples": ("Décomposition des poids de paires réelles",
                     "Waterfall of real example pairs"),
    # columns
    "method": ("Méthode", "Method"), "decision": ("Décision", "Decision"),
    "n": ("Effectif", "Count"), "n_links": ("Liens", "Links"),
    "what": ("Quoi", "What"),
    "threshold": ("Seuil", "Threshold"), "group": ("Groupe", "Group"),
    "n_linked": ("Appariés", "Linked"), "n_unlinked": ("Non appariés", "Not linked"),
    "link_rate": ("Taux d'appariement", "Link rate"),
    "rate_rest": ("Taux des autres groupes", "Rate in the other groups"),
    "difference": ("Écart au reste", "Difference from the rest"),
    "p_value": ("p", "p"), "p_adjusted": ("p ajustée (Holm)", "adjusted p (Holm)"),
    "flagged": ("Écart significatif", "Significant difference"),
    "est_fdr": ("Taux de faux liens estimé", "Estimated false link rate"),
    "est_fnr": ("Taux de liens manqués estimé", "Estimated missed link rate"),
    "fdr": ("Taux de faux liens estimé (FDR)", "Estimated false discovery rate (FDR)"),
    "fnr": ("Taux de liens manqués estimé (FNR)", "Estimated false negative rate (FNR)"),
    "match_rate": ("Taux d'appariement", "Match rate"),
    "precision": ("Précision", "Precision"), "recall": ("Rappel", "Recall"),
    "f1": ("F1", "F1"), "precision_labelled": ("Précision (revue)", "Precision (review)"),
    "recall_labelled": ("Rappel (revue)", "Recall (review)"),
    "precision_gold": ("Précision (étalon)", "Precision (gold)"),
    "recall_gold": ("Rappel (étalon)", "Recall (gold)"),
    "n_gold": ("Liens étalon", "Gold links"), "true_positives": ("Vrais positifs",
                                                                 "True positives"),
    "false_positives": ("Faux positifs", "False positives"),
    "false_negatives": ("Faux négatifs", "False negatives"),
    "variable": ("Variable", "Variable"), "n_rest": ("Autres", "Others"),
    "share_gold": ("Part (étalon)", "Share (gold)"), "share_rest": ("Part (autres)",
                                                                   "Share (others)"),
    "stratum": ("Strate", "Stratum"), "match": ("Lien", "Match"),
    "non_match": ("Non-lien", "Non-match"), "unsure": ("Incertain", "Unsure"),
    "unlabelled": ("Non étiqueté", "Unlabelled"), "review": ("À revoir", "Review"),
    "column": ("Trait", "Trait"), "completeness": ("Complétude", "Completeness"),
    "side": ("Fichier", "File"),
    # values
    "pivot_exact": ("Exact (NIR pivot)", "Exact (NIR pivot)"),
    "probabilistic": ("Probabiliste", "Probabilistic"),
    "platform": ("Plateforme", "Platform"), "source": ("Source", "Source"),
    "candidates": ("Candidats", "Candidates"),
    "yes": ("oui", "yes"), "no": ("non", "no"),
    "configured": ("configuré", "configured"), "recommended": ("recommandé", "recommended"),
    "review_labels": ("étiquettes de revue", "review labels"),
    "label-free estimates": ("estimations sans étiquettes", "label-free estimates"),
    "review labels": ("étiquettes de revue", "review labels"),
    # subgroup variables
    "sex": ("Sexe", "Sex"), "age_band": ("Tranche d'âge", "Age band"),
    "born_abroad": ("Né à l'étranger", "Born abroad"),
    "departement": ("Département de résidence", "Département of residence"),
    "hired": ("Embauché", "Hired"), "nir_present": ("NIR présent", "NIR present"),
    "prescriber_type": ("Type de prescripteur", "Prescriber type"),
    "structure_type": ("Type de structure", "Structure type"),
    # counterfactual
    "sec_design": ("Protocole", "Design"), "sec_arms": ("Bras et appariement",
                                                       "Arms and linkage"),
    "sec_exclusions": ("Exclusions", "Exclusions"), "sec_estimates": ("Estimations",
                                                                     "Estimates"),
    "sec_forest": ("Effets estimés par méthode et résultat",
                   "Estimated effects by method and outcome"),
    "sec_balance": ("Équilibre des covariables", "Covariate balance"),
    "sec_sensitivity": ("Sensibilité au seuil d'appariement",
                        "Sensitivity to the match threshold"),
    "sec_warnings": ("Avertissements", "Warnings"),
    "sec_assumptions": ("Hypothèses d'identification", "Identifying assumptions"),
    "sec_diagnostics": ("Recouvrement, poids et équilibre", "Overlap, weights and balance"),
    "share_treated_off_support": ("Part des traités hors du support commun",
                                  "Share of treated off the common support"),
    "ess_share_control_ipw": ("Taille effective du groupe de comparaison (IPW, part)",
                              "Effective comparison sample (IPW, share)"),
    "ess_share_control_matched": ("Taille effective du groupe de comparaison (appariement, "
                                  "part)", "Effective comparison sample (matching, share)"),
    "max_abs_smd_after": ("Plus grande différence standardisée après pondération",
                          "Largest standardised difference after weighting"),
    "smd_threshold": ("Seuil de différence standardisée", "Standardised difference threshold"),
    "censoring_ess_share": ("Taille effective après poids de censure (part)",
                            "Effective sample after censoring weights (share)"),
    "censoring_share_truncated": ("Part des poids de censure tronqués",
                                  "Share of censoring weights truncated"),
    "arm": ("Bras", "Arm"), "treated": ("Traités", "Treated"),
    "comparison": ("Comparaison", "Comparison"), "linked": ("Appariés", "Linked"),
    "unlinked": ("Non appariés", "Not linked"), "reason": ("Motif", "Reason"),
    "variant": ("Variante", "Variant"), "main": ("principale", "main"),
    "broad": ("large", "broad"), "outcome": ("Résultat", "Outcome"),
    "estimate": ("Estimation", "Estimate"), "se": ("Erreur type", "Standard error"),
    "ci_low": ("IC 95 % bas", "95% CI low"), "ci_high": ("IC 95 % haut", "95% CI high"),
    "se_ai": ("Erreur type (Abadie-Imbens)", "Standard error (Abadie-Imbens)"),
    "ci_low_ai": ("IC bas (Abadie-Imbens)", "CI low (Abadie-Imbens)"),
    "ci_high_ai": ("IC haut (Abadie-Imbens)", "CI high (Abadie-Imbens)"),
    "n_treated": ("Traités", "Treated"), "n_control": ("Témoins", "Controls"),
    "e_value": ("E-value", "E-value"), "e_value_ci": ("E-value (borne de l'IC)",
                                                      "E-value (CI bound)"),
    "naive": ("Différence brute", "Naive difference"),
    "ipw": ("Pondération (IPW)", "Weighting (IPW)"),
    "matching": ("Appariement sur le score", "Propensity matching"),
    "aipw": ("Doublement robuste (AIPW)", "Doubly robust (AIPW)"),
    "covariate": ("Covariable", "Covariate"),
    "mean_treated": ("Moyenne traités", "Mean treated"),
    "mean_control": ("Moyenne témoins", "Mean controls"),
    "smd_before": ("Écart standardisé avant", "Standardised difference before"),
    "smd_after": ("Écart standardisé après", "Standardised difference after"),
    "link_rate_treated": ("Taux d'appariement traités", "Link rate treated"),
    "link_rate_comparison": ("Taux d'appariement témoins", "Link rate comparison"),
    "setting": ("Paramètre", "Setting"), "value": ("Valeur", "Value"),
    "code": ("Code", "Code"), "message": ("Message", "Message"),
    "before": ("avant pondération", "before weighting"),
    "after": ("après pondération", "after weighting"),
    "none": ("aucune", "none"),
    "smd_ipw": ("Écart standardisé après IPW", "Standardised difference after IPW"),
    "smd_matched": ("Écart standardisé après appariement",
                    "Standardised difference after matching"),
    # traits and comparisons
    "nir": ("NIR", "NIR"), "birth_name": ("Nom de naissance", "Birth name"),
    "first_name": ("Prénom", "First name"), "birth_date": ("Date de naissance", "Birth date"),
    "birth_commune": ("Commune de naissance", "Birth commune"),
    "birth_country": ("Pays de naissance", "Birth country"),
    "postcode": ("Code postal", "Postcode"), "surname": ("Nom", "Surname"),
    "birth_place": ("Lieu de naissance", "Birth place"),
    "residence": ("Résidence", "Residence"), "key": ("Clé (NIR)", "Key (NIR)"),
}

#: column -> kind of value (how it is formatted)
KINDS: dict[str, str] = {
    **dict.fromkeys(("n", "n_links", "n_linked", "n_unlinked", "n_gold", "n_rest",
                     "true_positives", "false_positives", "false_negatives", "match",
                     "non_match", "unsure", "unlabelled", "linked", "unlinked", "n_treated",
                     "n_control", "total_rows", "total_null_rows"), "count"),
    **dict.fromkeys(("link_rate", "rate_rest", "fdr", "fnr", "est_fdr", "est_fnr",
                     "match_rate", "precision", "recall", "share_gold", "share_rest",
                     "completeness", "link_rate_treated", "link_rate_comparison",
                     "precision_labelled", "recall_labelled", "precision_gold",
                     "recall_gold", "f1", "share_treated_off_support",
                     "ess_share_control_ipw", "ess_share_control_matched",
                     "censoring_ess_share", "censoring_share_truncated"), "percent"),
    **dict.fromkeys(("difference",), "points"),
    **dict.fromkeys(("flagged",), "bool"),
    **dict.fromkeys(("method", "decision", "arm", "variant", "reason"), "category"),
}


def check_language(language: str) -> str:
    """``language`` if it is one of :data:`LANGUAGES`, else a ValueError naming them."""
    if language not in LANGUAGES:
        raise ValueError(f"language = {language!r} is not allowed; allowed values: "
                         f"{', '.join(LANGUAGES)}")
    return language


def label(key: Any, language: str = "fr") -> str:
    """The label of ``key`` in ``language``; unknown keys humanised (underscores to spaces)."""
    pair = _LABELS.get(str(key))
    if pair is None:
        return str(key).replace("_", " ")
    return pair[LANGUAGES.index(language)]


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _sep(text: str, language: str) -> str:
    # French: narrow no-break space between thousands, comma for decimals
    if language == "fr":
        return text.replace(",", "\u202f").replace(".", ",")
    return text


def fmt_count(v, language: str = "fr") -> str:
    """A count: no decimals, thousands separated."""
    if _missing(v):
        return SUPPRESSED
    return _sep(f"{int(round(float(v))):,}", language)


def fmt_percent(v, language: str = "fr", digits: int = 1) -> str:
    """A share as a percentage (``0.9599`` → ``96,0 %``); tiny non-zero shares keep 2
    significant digits (``0.00026`` → ``0,026 %``) rather than showing as 0."""
    if _missing(v):
        return SUPPRESSED
    pct = float(v) * 100
    if pct != 0 and abs(pct) < 0.1:
        text = f"{pct:.2g}"
        text = f"{float(text):f}".rstrip("0").rstrip(".")
    else:
        text = f"{pct:.{digits}f}"
    return _sep(text, language) + ("\u202f%" if language == "fr" else "%")


def fmt_number(v, language: str = "fr") -> str:
    """Any other number: 4 significant digits, integers without decimals."""
    if _missing(v):
        return SUPPRESSED
    f = float(v)
    if abs(f) < 1e-9:  # a rounding residue (an SMD of 6e-16), not a value
        f = 0.0
    if f.is_integer() and abs(f) < 1e15:
        return fmt_count(f, language)
    text = f"{f:.4g}"
    if "e" in text:
        return text.replace(".", "," if language == "fr" else ".")
    return _sep(f"{float(text):,}" if abs(f) >= 1000 else text, language)


def fmt_value(v, kind: str | None = None, language: str = "fr") -> str:
    """``v`` formatted by its kind (``count``, ``percent``, ``points``, ``bool``,
    ``category``, ``number``; None: guessed from the type)."""
    if _missing(v):
        return SUPPRESSED
    if isinstance(v, bool) or kind == "bool":
        return label("yes" if v else "no", language)
    if kind == "count":
        return fmt_count(v, language)
    if kind == "percent":
        return fmt_percent(v, language)
    if kind == "points":  # a difference of two rates, in percentage points
        pts = float(v) * 100
        return _sep(f"{pts:+.1f}", language) + (" pt" if language == "fr" else " pp")
    if isinstance(v, (int, float)):
        return fmt_number(v, language)
    return label(v, language) if kind == "category" else str(v)


def table_html(rows: Iterable[Mapping[str, Any]], columns: list[str], language: str = "fr",
               kinds: Mapping[str, str] | None = None) -> str:
    """An HTML table with labelled headers and formatted cells (suppressed: a grey dash).

    Examples:
        >>> table_html([{"method": "probabilistic", "n": 155.0}], ["method", "n"], "en")
        '<table><tr><th>Method</th><th>Count</th></tr><tr><td class="c">Probabilistic</td><td>155</td></tr></table>'
    """
    kinds = {**KINDS, **(kinds or {})}
    head = "".join(f"<th>{html.escape(label(c, language))}</th>" for c in columns)
    body = []
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c)
            kind = kinds.get(c)
            text = html.escape(fmt_value(v, kind, language))
            if _missing(v):
                cells.append(f'<td class="s">{text}</td>')
            elif isinstance(v, str) or kind == "category":
                cells.append(f'<td class="c">{text}</td>')
            else:
                cells.append(f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"
