"""The counterfactual page: every chart drawn in headless Chromium, optional keys rendered,
numbers formatted for people, both languages."""

from __future__ import annotations

import json

import pytest

from appariement.evaluation.counterfactual.page import render
from appariement.evaluation.counterfactual.report import run_counterfactual
from appariement.synth import SynthConfig, generate

from ..quality.test_report import assert_every_chart_drawn


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    d = generate(SynthConfig(n_candidates=400, source_ratio=2, seed=4))
    out = tmp_path_factory.mktemp("cf")
    run_counterfactual(d.platform, d.source["periodes_emploi"], d.truth["links"], out,
                       outcomes=("employed_12m",), n_boot=20, thresholds=(0.5, 0.9))
    return out


def test_every_chart_drawn(written, tmp_path):
    assert_every_chart_drawn(written / "counterfactual.html", tmp_path,
                             expected=("link_rate", "forest", "love_main", "sensitivity"))


def _body(page: str) -> str:
    """The text a reader sees: the body, without the inlined libraries and chart specs."""
    return page.rsplit("</head><body>", 1)[1].split('<script type="application/json"', 1)[0]


def test_optional_keys_and_formatting(written):
    result = json.loads((written / "counterfactual.json").read_text(encoding="utf-8"))
    result["warnings"] = [{"code": "overlap", "message": "propensity scores near 0"}]
    extra = dict(result["estimates"][0], method="aipw", e_value=1.8, e_value_ci=1.2)
    result["estimates"] = [*result["estimates"], extra]
    for language in ("fr", "en"):
        page = _body(render(result, language))
        assert "propensity scores near 0" in page and "E-value" in page
        assert "AIPW" in page
        assert "{'rule'" not in page and "True" not in page and "False" not in page
        assert '"grace_days"' not in page and "<pre>" not in page  # the design is a table
        assert ".000<" not in page  # counts without decimals
    assert "Protocole" in _body(render(result, "fr")) and "Design" in render(result, "en")
