"""Vega-Lite chart specs and the self-contained HTML page that renders them offline.

The vega, vega-lite and vega-embed JavaScript bundled in the Splink wheel is inlined ONCE in the
page; each chart is a ``<div>`` plus its spec in a ``<script type="application/json">``. No
network access is needed to view the report.
"""

from __future__ import annotations

import html
import json
from typing import Any, Sequence

__all__ = ["histogram_spec", "threshold_spec", "subgroup_spec", "mu_spec", "waterfall_spec",
           "render_html"]

_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"


def _base(title: str, values: list[dict], **extra) -> dict[str, Any]:
    return {"$schema": _SCHEMA, "title": title, "data": {"values": values},
            "width": 520, "height": 220, **extra}


def histogram_spec(rows: list[dict]) -> dict[str, Any]:
    """Match-weight distribution (rows: ``bin_start``, ``bin_end``, ``n``; suppressed n = None).

    Examples:
        >>> histogram_spec([{"bin_start": 0, "bin_end": 1, "n": 20}])["mark"]["type"]
        'bar'
    """
    return _base("Match weight distribution / Distribution des poids", rows,
                 mark={"type": "bar"},
                 encoding={"x": {"field": "bin_start", "type": "quantitative", "bin":
                                 {"binned": True}, "title": "match weight"},
                           "x2": {"field": "bin_end"},
                           "y": {"field": "n", "type": "quantitative", "title": "pairs"}})


def threshold_spec(rows: list[dict], language: str = "fr",
                   marks: Sequence[dict] = ()) -> dict[str, Any]:
    """Precision / recall / F1 / match rate against the threshold (long rows: ``threshold``,
    ``measure`` (already labelled), ``value``), on a 0–1 axis (no zoom); ``marks``: vertical
    rules (``threshold``, ``what``), e.g. the configured and the recommended threshold.

    Examples:
        >>> threshold_spec([])["layer"][0]["encoding"]["y"]["scale"]["domain"]
        [0, 1]
    """
    title = {"fr": "Mesures estimées selon le seuil", "en": "Estimated measures by threshold"}
    line = {"mark": {"type": "line", "point": True},
            "encoding": {"x": {"field": "threshold", "type": "quantitative",
                               "scale": {"domain": [0, 1]},
                               "title": {"fr": "Seuil de probabilité",
                                         "en": "Match probability threshold"}[language]},
                         "y": {"field": "value", "type": "quantitative",
                               "scale": {"domain": [0, 1]}, "axis": {"format": "%"},
                               "title": {"fr": "Valeur", "en": "Value"}[language]},
                         "color": {"field": "measure", "type": "nominal",
                                   "title": {"fr": "Mesure", "en": "Measure"}[language]},
                         "tooltip": [{"field": "measure"}, {"field": "threshold"},
                                     {"field": "value", "format": ".4"}]}}
    rule = {"data": {"values": list(marks)}, "mark": {"type": "rule", "strokeDash": [4, 3]},
            "encoding": {"x": {"field": "threshold", "type": "quantitative"},
                         "color": {"value": "#555"},
                         "tooltip": [{"field": "what"}, {"field": "threshold"}]}}
    text = {"data": {"values": list(marks)},
            "mark": {"type": "text", "angle": 270, "align": "right", "dx": -4, "dy": -6,
                     "y": 0},
            "encoding": {"x": {"field": "threshold", "type": "quantitative"},
                         "text": {"field": "what"}}}
    return _base(title[language], rows, layer=[line, rule, text] if marks else [line])


def subgroup_spec(rows: list[dict], variable: str, label: str,
                  language: str = "fr") -> dict[str, Any]:
    """Link rate of each group of one variable (rows: ``group``, ``link_rate`` (None when
    suppressed), ``flagged``). Every group is on the axis; a suppressed one shows a dash.

    Examples:
        >>> subgroup_spec([], "sex", "Sexe")["encoding"]["y"]["field"]
        'group'
    """
    words = {"fr": ("Taux d'appariement par", "taux d'appariement", "écart significatif",
                    "– masqué", "oui", "non"),
             "en": ("Link rate by", "link rate", "significant difference", "– suppressed",
                    "yes", "no")}[language]
    values = [{**r, "flag": (words[4] if r.get("flagged") else words[5])
               if r.get("flagged") is not None else None,
               "hidden": words[3] if r.get("link_rate") is None else None} for r in rows]
    return _base(f"{words[0]} {label[:1].lower() + label[1:]}", values, height={"step": 18},
                 encoding={"y": {"field": "group", "type": "nominal", "sort": None,
                                 "scale": {"domain": [r["group"] for r in rows]},
                                 "title": None}},
                 layer=[{"mark": {"type": "bar"},
                         "encoding": {"x": {"field": "link_rate", "type": "quantitative",
                                            "scale": {"domain": [0, 1]},
                                            "axis": {"format": "%"}, "title": words[1]},
                                      "color": {"field": "flag", "type": "nominal",
                                                "scale": {"domain": [words[5], words[4]],
                                                          "range": ["#4c78a8", "#e45756"]},
                                                "title": words[2]},
                                      "tooltip": [{"field": "group"},
                                                  {"field": "link_rate", "format": ".1%"}]}},
                        {"mark": {"type": "text", "align": "left", "x": 4, "color": "#888"},
                         "encoding": {"text": {"field": "hidden"}}}])


def mu_spec(rows: list[dict]) -> dict[str, Any]:
    """m and u probabilities per comparison level (rows: ``comparison``, ``level``,
    ``kind`` (m/u), ``probability``).

    Examples:
        >>> mu_spec([])["mark"]["type"]
        'bar'
    """
    return _base("m and u parameters / Paramètres m et u", rows, mark={"type": "bar"},
                 height={"step": 10},
                 encoding={"y": {"field": "level", "type": "nominal", "sort": None},
                           "x": {"field": "probability", "type": "quantitative"},
                           "yOffset": {"field": "kind"},
                           "color": {"field": "kind", "type": "nominal"},
                           "row": {"field": "comparison", "type": "nominal"}},
                 resolve={"scale": {"y": "independent"}})


def waterfall_spec(rows: list[dict]) -> dict[str, Any]:
    """Waterfall of partial match weights for agreement patterns (rows: ``pattern``, ``order``,
    ``step`` (comparison: level), ``weight``, ``start``, ``end``).

    Examples:
        >>> waterfall_spec([])["mark"]["type"]
        'bar'
    """
    return _base("Waterfall of frequent agreement patterns / Décomposition du poids", rows,
                 mark={"type": "bar"}, height={"step": 14},
                 encoding={"y": {"field": "step", "type": "nominal", "sort": {"field": "order"}},
                           "x": {"field": "start", "type": "quantitative",
                                 "title": "cumulative match weight"},
                           "x2": {"field": "end"},
                           "color": {"condition": {"test": "datum.weight < 0",
                                                   "value": "#d62728"}, "value": "#2ca02c"},
                           "row": {"field": "pattern", "type": "nominal"}},
                 resolve={"scale": {"y": "independent"}})


def _json_for_script(value: Any) -> str:
    return (json.dumps(value, ensure_ascii=False, default=str)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def render_html(title: str, body_html: str, charts: dict[str, dict[str, Any]],
                language: str = "fr") -> str:
    """The full page: inline vega libraries once, a renderer, the body with chart divs.

    Args:
        title: page title.
        body_html: the report body; place each chart with ``<div class="chart"
            id="chart-NAME"></div>`` (see :func:`chart_div`).
        charts: chart name -> vega-lite spec.

    Returns:
        The HTML text.

    Examples:
        >>> page = render_html("t", chart_div("a"), {"a": threshold_spec([])})
        >>> page.count("<script>") >= 3 and 'id="spec-a"' in page
        True
    """
    # the vega bundles Splink ships (offline pages); Splink has no public accessor for them
    from splink.internals.html_utils import load_chart_libraries
    libs = load_chart_libraries()
    specs = "\n".join(f'<script type="application/json" id="spec-{html.escape(name)}">'
                      f"{_json_for_script(spec)}</script>" for name, spec in charts.items())
    return f"""<!DOCTYPE html>
<html lang="{language}"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 2px 8px; text-align: right; }}
th {{ background: #f2f2f2; }} td.s {{ color: #999; }} td.c {{ text-align: left; }}
.enclave {{ background: #fdecea; border-left-color: #d9534f; }}
.chart {{ margin: 0.5em 0 1em; }}
.note {{ background: #fff8e1; padding: 0.6em 1em; border-left: 4px solid #f0ad4e; }}
</style>
<script>{libs["vega"]}</script>
<script>{libs["vega-lite"]}</script>
<script>{libs["vega-embed"]}</script>
</head><body>
{body_html}
{specs}
<script>
document.querySelectorAll("div.chart").forEach(function (div) {{
  var spec = JSON.parse(document.getElementById("spec-" + div.dataset.chart).textContent);
  // export actions on (PNG / SVG); no link to the online editor: the page works offline
  vegaEmbed(div, spec, {{actions: {{export: true, source: false, compiled: false,
                                    editor: false}}, renderer: "svg"}}).catch(function (err) {{
    div.textContent = "Chart error: " + err.message;
  }});
}});
</script>
</body></html>
"""


def chart_div(name: str) -> str:
    """The placeholder of chart ``name`` in the body.

    Examples:
        >>> chart_div("x")
        '<div class="chart" id="chart-x" data-chart="x"></div>'
    """
    n = html.escape(name)
    return f'<div class="chart" id="chart-{n}" data-chart="{n}"></div>'


__all__ += ["chart_div"]
