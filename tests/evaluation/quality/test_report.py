import json
import os
import re
import subprocess
from html.parser import HTMLParser

import pandas as pd
import pytest

from appariement.evaluation import (build_report, draw_review_sample, selection_table,
                                    subgroup_covariates)

CHROMIUM = "/usr/bin/chromium"


class _Scan(HTMLParser):
    def __init__(self):
        super().__init__()
        self.external, self.charts, self.specs, self.inline_scripts = [], [], set(), 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            if (a.get(key) or "").startswith(("http:", "https:", "//")):
                self.external.append(a[key])
        if tag == "div" and "chart" in (a.get("class") or ""):
            self.charts.append(a["data-chart"])
        if tag == "script" and a.get("type") == "application/json":
            self.specs.add(a["id"][len("spec-"):])
        elif tag == "script" and "src" not in a:
            self.inline_scripts += 1


@pytest.fixture(scope="module")
def written(world, tmp_path_factory):
    p = world.data.platform
    cov = subgroup_covariates(world.con, world.pf, candidatures=p["candidatures"],
                              organisations=p["organisations"], structures=p["structures"],
                              candidats=p["candidats"])
    cov = cov.to_table("cov_report")
    cov = world.con.table("cov_report")
    truth = pd.DataFrame(world.truth_links.to_pandas())
    true_pairs = set(zip(truth.candidat_id.astype(str), truth.person_id.astype(str)))
    review = draw_review_sample(world.result.links, n=120, con=world.con)
    # reviewers' labels simulated from the truth; a few left unsure
    review["label"] = ["match" if (c, p) in true_pairs else "non_match"
                       for c, p in zip(review.candidat_id, review.person_id)]
    review.loc[review.index[:3], "label"] = "unsure"
    review["is_match"] = review["label"].map({"match": True, "non_match": False})
    report = build_report(world.result.links, cov, counts=world.result.counts,
                          model=world.result.model, con=world.con, pairs=world.result.pairs,
                          gold=world.gold,
                          selection=selection_table(world.con, cov, world.gold_pairs),
                          review=review, features={"platform": world.pf, "source": world.sf})
    return report.write(tmp_path_factory.mktemp("report"))


def test_html_self_contained_with_every_chart_spec(written):
    page = open(written["html"], encoding="utf-8").read()
    scan = _Scan()
    scan.feed(page)
    assert scan.external == []
    assert len(scan.charts) >= 5 and set(scan.charts) <= scan.specs
    assert scan.inline_scripts >= 4
    assert page.count("vega-embed") >= 1


def test_no_small_cell_and_no_identity_in_json(written, world):
    figures = json.load(open(written["json"], encoding="utf-8"))
    threshold = figures["disclosure"]["threshold"]

    def walk(obj):
        if isinstance(obj, dict):
            for k, v in obj.items():
                if k in ("n", "n_linked", "n_unlinked", "n_gold", "n_rest") and \
                        isinstance(v, (int, float)) and not isinstance(v, bool):
                    assert v == 0 or v >= threshold
                walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)
    walk({k: v for k, v in figures.items() if k not in ("charts",)})
    text = open(written["json"], encoding="utf-8").read()
    nirs = [n for n in world.data.platform["candidats"]["nir"].to_pylist() if n][:50]
    assert not any(n in text for n in nirs)
    # the page states the rule in its language (French by default; the JSON keeps English)
    page = open(written["html"], encoding="utf-8").read()
    assert figures["disclosure"]["rule"].startswith("Counts from 1 to")
    assert f"Les effectifs de 1 à {threshold - 1} sont masqués" in page


def test_gold_standard_selection_and_review_sections(written, world):
    figures = json.load(open(written["json"], encoding="utf-8"))
    page = open(written["html"], encoding="utf-8").read()
    gold = figures["gold_standard"]
    assert gold["precision"] == world.gold["precision"] and gold["recall"] == world.gold["recall"]
    assert "Sélection" in page and "gold_standard_selection" in figures
    sel = figures["gold_standard_selection"]["rows"]
    assert {r["variable"] for r in sel} >= {"sex", "hired"}
    assert "Revue manuelle" in page
    est = figures["clerical_review"]["estimates"]
    assert est["n_labelled"] == 117
    assert 0 <= est["at_match"]["fdr"] <= 0.05
    curve = figures["threshold_curve"]
    assert any(r.get("precision_labelled") is not None for r in curve)
    assert any(r.get("recall_gold") is not None for r in curve)
    # the label-free FNR counts the assignment's left-overs when pairs are given
    assert figures["label_free_errors"]["missed_unassigned"] >= 0
    assert "lower bound" in page


def rendered_charts(html_path, tmp_path) -> dict[str, str]:
    """Chart name -> the DOM headless Chromium drew into its div (every chart of the page)."""
    # `make test` installs chromium when it may (tools/ensure_chromium.sh); a missing browser fails
    assert os.path.exists(CHROMIUM), (f"{CHROMIUM} is missing: install it with "
                                      "'apt-get install -y chromium' (make test does when run as root)")
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-background-networking", "--disable-component-update",
                           "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
                           "--virtual-time-budget=20000", "--dump-dom",
                           "file://" + str(html_path)],
                          capture_output=True, text=True, timeout=240)
    dom = proc.stdout
    assert "<body" in dom, f"no DOM from chromium (exit {proc.returncode}): {proc.stderr[-300:]}"
    names = re.findall(r'<div class="chart[^"]*" id="chart-([^"]+)"', dom)
    parts = re.split(r'<div class="chart[^"]*" id="chart-[^"]+"', dom)[1:]
    return dict(zip(names, parts))


def assert_every_chart_drawn(html_path, tmp_path, expected=()):
    page = open(html_path, encoding="utf-8").read()
    n_charts = page.count('class="chart"')
    drawn = rendered_charts(html_path, tmp_path)
    assert len(drawn) == n_charts and set(expected) <= set(drawn), sorted(drawn)
    for name, own in drawn.items():  # the DOM up to the next chart
        assert "Chart error" not in own[:2000], (name, own[:300])  # vega failed
        assert "<svg" in own, name
        # the chart drew marks (paths, rects, symbols), not just an empty frame
        assert own.count('role="graphics-symbol"') + own.count('role="graphics-object"') >= 1, name
    # the export menu (PNG / SVG) is on, the online editor off
    assert '"export":true' in page.replace(" ", "") or "export: true" in page


def test_headless_chromium_renders_every_chart(written, tmp_path):
    assert_every_chart_drawn(written["html"], tmp_path,
                             expected=("threshold_tool", "thresholds", "weights",
                                       "match_weights", "mu", "waterfall", "unlinkables",
                                       "completeness", "subgroup_sex"))


def test_enclave_page_holds_the_pairs_and_is_not_exported(written, world, tmp_path):
    from appariement.evaluation.output_check import EXPORTABLE
    enclave = written["enclave_html"]
    assert enclave.endswith("enclave/enclave.html")
    assert not any("enclave" in f for f in EXPORTABLE)
    assert_every_chart_drawn(enclave, tmp_path, expected=("examples",))
    exported = (open(written["html"], encoding="utf-8").read()
                + open(written["json"], encoding="utf-8").read())
    cands = world.data.platform["candidats"]
    names = [n for n in cands["nom_naissance"].to_pylist() if n and len(n) > 5][:200]
    ids = [i for i in cands["candidat_id"].to_pylist()][:200]
    assert not any(f">{n}<" in exported or f'"{n}"' in exported for n in names)
    assert not any(i in exported for i in ids)
    # the example pairs show their values on the enclave page only
    assert "Réservé à l'enclave" in open(enclave, encoding="utf-8").read()


def test_english_page_no_raw_names_no_python_booleans(world):
    import pytest as _pytest
    from appariement.config import config_from_dict
    from appariement.errors import ConfigError

    assert config_from_dict({}).report.language == "fr"
    with _pytest.raises(ConfigError, match="report.language"):
        config_from_dict({"report": {"language": "de"}})
    p = world.data.platform
    cov = subgroup_covariates(world.con, world.pf, candidatures=p["candidatures"],
                              organisations=p["organisations"], structures=p["structures"],
                              candidats=p["candidats"])
    report = build_report(world.result.links, cov, counts=world.result.counts,
                          model=world.result.model, con=world.con, language="en")
    body = report.html.rsplit("</head><body>", 1)[1].split('<script type="application/json"')[0]
    assert "Linkage quality report" in body and "Rapport de qualité" not in body
    for raw in ("p_adjusted", "est_fdr", "est_fnr", "n_linked", "pivot_exact", ">True<",
                ">False<", "0.9995022"):
        assert raw not in body, raw
    # counts print without decimals; the configured threshold is named beside the suggestion
    assert not re.search(r"<td>\d+\.0</td>", body)
    assert "Configured threshold" in body and "Suggested threshold" in body
