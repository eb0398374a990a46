"""The enclave-only page of the quality report: real pairs, with their values.

A methodologist checks a model by looking at pairs: Splink's comparison viewer and the waterfall
of example pairs. Both show the compared values (names, birth dates), so they are written to
``report/enclave/enclave.html``, a folder the output checker never exports (it is not in
:data:`appariement.evaluation.output_check.EXPORTABLE`); the exportable report only holds
aggregates. Record ids are not shown even here: the pairs are read by their values.
"""

from __future__ import annotations

import html
from typing import Any

import duckdb

from ..._tables import temp_view
from ..labels import fmt_count, fmt_number, label
from . import charts
from . import splink_charts

__all__ = ["ENCLAVE_FOLDER", "enclave_page"]

#: sub-folder of the report's folder holding the enclave-only page
ENCLAVE_FOLDER = "enclave"


def _pairs(con, links_view: str, model, platform, source, limit: int) -> list[dict]:
    """Example scored pairs spread over the match-weight range, with the compared values as
    ``<column>_l`` / ``<column>_r``."""
    left = model.splink_input(con, platform, "platform")
    right = model.splink_input(con, source, "source")
    cols = [c for c in left.columns if c not in ("unique_id", "source_dataset")]
    temp = "_app_enc_l", "_app_enc_r"
    temp_view(left, temp[0])  # session views: nothing left in a database file
    temp_view(right, temp[1])
    sel = ", ".join(f'l."{c}" AS "{c}_l", r."{c}" AS "{c}_r"' for c in cols)
    rows = con.execute(f"""
        WITH k AS (SELECT *, ntile({int(limit)}) OVER (ORDER BY match_weight) AS band
                   FROM {links_view} WHERE match_weight IS NOT NULL),
             one AS (SELECT * FROM k QUALIFY row_number() OVER (PARTITION BY band
                                                                ORDER BY match_weight) = 1)
        SELECT one.* EXCLUDE (band), {sel} FROM one
        JOIN {temp[0]} l ON l.unique_id = CAST(one.candidat_id AS VARCHAR)
        JOIN {temp[1]} r ON r.unique_id = CAST(one.person_id AS VARCHAR)
        ORDER BY match_weight DESC""").df()
    return rows.to_dict(orient="records")


def enclave_page(con: duckdb.DuckDBPyConnection, links_view: str, model, platform, source, *,
                 language: str = "fr", n_examples: int = 20, n_patterns: int = 20) -> str | None:
    """The enclave page (None without a model and both sides' features)."""
    if model is None or platform is None or source is None or not hasattr(model, "settings_"):
        return None
    settings = model.settings_
    t = {"fr": lambda fr, en: fr, "en": lambda fr, en: en}[language]
    body = [f"<h1>{html.escape(label('enclave_title', language))}</h1>",
            '<p class="note enclave"><b>' + t(
                "Réservé à l'enclave. Cette page montre des paires réelles et leurs valeurs "
                "(noms, dates de naissance) : elle ne sort jamais de l'enclave et le contrôle "
                "des sorties ne l'exporte pas.",
                "Enclave only. This page shows real pairs and their values (names, birth "
                "dates): it never leaves the enclave and the output checker does not export "
                "it.") + "</b></p>"]
    examples = _pairs(con, links_view, model, platform, source, n_examples)
    chart_specs: dict[str, Any] = {}
    if examples:
        for r in examples:  # Splink reads values as text; lists and dates print plainly
            for k, v in list(r.items()):
                if hasattr(v, "tolist"):
                    r[k] = ", ".join(map(str, v.tolist()))
        chart_specs["examples"] = splink_charts.waterfall_spec(settings, examples,
                                                               hide_details=False,
                                                               language=language)
        body += [f"<h2>{html.escape(label('sec_examples', language))}</h2>",
                 "<p>" + t("Une paire par tranche de poids, de la plus sûre à la moins sûre ; "
                           "le curseur sous le graphique change de paire.",
                           "One pair per band of weights, from the surest to the least sure; "
                           "the slider under the chart moves from pair to pair.") + "</p>",
                 charts.chart_div("examples")]
    body += [f"<h2>{html.escape(label('sec_viewer', language))}</h2>",
             "<p>" + t("Chaque profil d'accord (niveau atteint par chaque comparaison) avec son "
                       "nombre de liens, son poids et une paire exemple.",
                       "Each agreement pattern (the level reached on every comparison) with its "
                       "number of links, its weight and one example pair.") + "</p>",
             _viewer(con, links_view, model, platform, source, n_patterns, language)]
    return charts.render_html(label("enclave_title", language), "\n".join(body), chart_specs,
                              language=language)


def _v(value) -> str:
    return "–" if value is None else str(value)


def _viewer(con, links_view, model, platform, source, n_patterns: int, language: str) -> str:
    gammas = [c for c in con.table(links_view).columns if c.startswith("gamma_")]
    if not gammas:
        return ""
    names = [g[len("gamma_"):] for g in gammas]
    levels = model.level_labels()
    left = model.splink_input(con, platform, "platform")
    shown = [c for c in ("birth_name", "first_name", "birth_date", "sex", "birth_commune",
                         "postcode") if c in left.columns]
    pats = con.execute(f"""
        SELECT {', '.join(gammas)}, count(*) AS n, avg(match_weight) AS w,
               arg_min(candidat_id, match_weight) AS c, arg_min(person_id, match_weight) AS p
        FROM {links_view} WHERE match_weight IS NOT NULL
        GROUP BY ALL ORDER BY n DESC LIMIT {int(n_patterns)}""").df()
    right = model.splink_input(con, source, "source")
    temp_view(right, "_app_enc_vr")
    temp_view(left, "_app_enc_vl")
    head = ("<tr><th>" + html.escape(label("n_links", language)) + "</th><th>"
            + html.escape({"fr": "Poids moyen", "en": "Mean weight"}[language]) + "</th>"
            + "".join(f"<th>{html.escape(label(n, language))}</th>" for n in names)
            + "<th>" + {"fr": "Exemple (plateforme | source)",
                        "en": "Example (platform | source)"}[language] + "</th></tr>")
    out = []
    for _, r in pats.iterrows():
        vals = con.execute(
            f"SELECT {', '.join(f'l.{c}, s.{c}' for c in shown)} FROM _app_enc_vl l, "
            "_app_enc_vr s WHERE l.unique_id = ? AND s.unique_id = ?",
            [str(r["c"]), str(r["p"])]).fetchall()
        example = ""
        if vals:
            v = vals[0]
            example = "<br>".join(
                html.escape(f"{label(c, language)} : {_v(v[2 * i])} | {_v(v[2 * i + 1])}"
                            if language == "fr" else
                            f"{label(c, language)}: {_v(v[2 * i])} | {_v(v[2 * i + 1])}")
                for i, c in enumerate(shown))
        cells = "".join(
            f"<td class='c'>{html.escape(str(levels.get(n, {}).get(int(r['gamma_' + n]), r['gamma_' + n])))}</td>"
            for n in names)
        out.append(f"<tr><td>{fmt_count(r['n'], language)}</td>"
                   f"<td>{fmt_number(r['w'], language)}</td>{cells}"
                   f"<td class='c'>{example}</td></tr>")
    return f"<table>{head}{''.join(out)}</table>"
