import json
import os
import subprocess
from html.parser import HTMLParser

import pytest

from appariement.evaluation import build_report, subgroup_covariates


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
    report = build_report(world.result.links, cov, counts=world.result.counts,
                          model=world.result.model, con=world.con)
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


@pytest.mark.skipif(not os.path.exists("/usr/bin/chromium"), reason="chromium not installed")
def test_headless_chromium_renders_charts(written):
    dom = subprocess.run(["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu",
                          "--virtual-time-budget=15000", "--dump-dom",
                          "file://" + written["html"]],
                         capture_output=True, text=True, timeout=120).stdout
    page = open(written["html"], encoding="utf-8").read()
    assert dom.count("<svg") >= page.count('class="chart"')
    assert ">Chart error" not in dom
