import json
import os
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
                          review=review)
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
    assert figures["disclosure"]["rule"] in open(written["html"], encoding="utf-8").read()


def test_gold_standard_selection_and_review_sections(written, world):
    figures = json.load(open(written["json"], encoding="utf-8"))
    page = open(written["html"], encoding="utf-8").read()
    gold = figures["gold_standard"]
    assert gold["precision"] == world.gold["precision"] and gold["recall"] == world.gold["recall"]
    assert "Selection" in page and "gold_standard_selection" in figures
    sel = figures["gold_standard_selection"]["rows"]
    assert {r["variable"] for r in sel} >= {"sex", "hired"}
    assert "Clerical review" in page
    est = figures["clerical_review"]["estimates"]
    assert est["n_labelled"] == 117
    assert 0 <= est["at_match"]["fdr"] <= 0.05
    curve = figures["threshold_curve"]
    assert any(r.get("precision_labelled") is not None for r in curve)
    assert any(r.get("recall_gold") is not None for r in curve)
    # the label-free FNR counts the assignment's left-overs when pairs are given
    assert figures["label_free_errors"]["missed_unassigned"] >= 0
    assert "lower bound" in page


def test_headless_chromium_renders_charts(written, tmp_path):
    # `make test` installs chromium when it may (tools/ensure_chromium.sh); a missing browser fails
    assert os.path.exists(CHROMIUM), (f"{CHROMIUM} is missing: install it with "
                                      "'apt-get install -y chromium' (make test does when run as root)")
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-background-networking", "--disable-component-update",
                           "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
                           "--virtual-time-budget=15000", "--dump-dom",
                           "file://" + written["html"]],
                          capture_output=True, text=True, timeout=180)
    dom = proc.stdout
    assert "<body" in dom, f"no DOM from chromium (exit {proc.returncode}): {proc.stderr[-300:]}"
    page = open(written["html"], encoding="utf-8").read()
    n_charts = page.count('class="chart"')
    assert n_charts >= 5
    assert dom.count("<svg") >= n_charts
    assert ">Chart error" not in dom  # the renderer writes it into a failing chart div
    # each chart drew marks (paths or rects), not just an empty frame
    assert dom.count('role="graphics-symbol"') >= n_charts
