"""Issue 18 / 16.3 / 15.4: E-values, the planted unobserved confounder, warnings, matching with
censoring weights, time-varying censoring covariates, the estimator object, with_covariates."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pytest

from appariement.errors import ConfigError, SchemaError
from appariement.evaluation import (CounterfactualDesign, EffectEstimator,
                                    build_evaluation_dataset, e_value, estimate_effects)
from appariement.synth import SynthConfig, generate


@pytest.fixture(scope="module")
def small():
    d = generate(SynthConfig(n_candidates=1200, source_ratio=1, seed=11))
    ds = build_evaluation_dataset(duckdb.connect(), d.platform, d.source["periodes_emploi"],
                                  d.truth["links"], CounterfactualDesign(comparison_classes=None))
    return d, ds


def test_e_value_of_a_risk_ratio_and_its_bound():
    # RR = 0.5 / 0.4 = 1.25 -> E = 1.25 + sqrt(1.25 * 0.25)
    ev, ev_ci = e_value(0.1, 0.05, mean_treated=0.5)
    assert ev == pytest.approx(1.25 + np.sqrt(1.25 * 0.25))
    assert 1 < ev_ci < ev
    assert e_value(0.1, -0.01, mean_treated=0.5)[1] == 1.0   # the interval includes 0
    assert e_value(-0.1, None, mean_treated=0.3)[0] == pytest.approx(
        e_value(0.1, None, mean_treated=0.4)[0])              # RR 0.75 = 1 / (0.4 / 0.3)


def test_the_planted_confounder_biases_ipw_and_the_e_value_measures_it():
    """Strength 1.5 (a binary trait, prevalence 1/2): the E-value of the IPW estimate against
    the true effect (how strong a confounder must be to produce the bias seen) is within 0.25 of
    the planted strength expressed as an equal-ratio E-value (effect.json); one seed (the
    benchmark's figures are over seeds)."""
    d = generate(SynthConfig(n_candidates=4000, source_ratio=1, seed=0,
                             unobserved_confounder=1.5))
    ds = build_evaluation_dataset(duckdb.connect(), d.platform, d.source["periodes_emploi"],
                                  d.truth["links"], CounterfactualDesign(comparison_classes=None))
    ipw = estimate_effects(ds, "employed_12m", ("ipw",), n_boot=0).table.iloc[0]
    truth = d.effect["att_vs_never"]["12"]
    assert ipw.estimate - truth > 0.05                        # biased upwards
    df = ds.to_pandas()
    p1 = df.loc[df["arm"] == "treated", "employed_12m"].astype(float).mean()
    b = (p1 / (p1 - ipw.estimate)) / (p1 / (p1 - truth))
    e_required = b + np.sqrt(b * (b - 1))
    planted = d.effect["unobserved_confounder"]["e_value_planted"]["12"]
    assert abs(e_required - planted) <= 0.25
    assert ipw.e_value > e_required                           # explaining it all takes more


def test_the_default_world_has_no_hidden_trait():
    d = generate(SynthConfig(n_candidates=100, source_ratio=1, seed=3))
    assert "unobserved_confounder" not in d.effect
    with pytest.raises(ConfigError, match="unobserved_confounder"):
        SynthConfig(unobserved_confounder=-1.0)


def test_estimator_object_and_the_thin_function_agree(small):
    _, ds = small
    est = EffectEstimator("employed_12m", ("ipw", "aipw", "matching"), n_boot=0).fit(ds)
    fn = estimate_effects(ds, "employed_12m", ("ipw", "aipw", "matching"), n_boot=0)
    assert est.estimates_["estimate"].tolist() == fn.table["estimate"].tolist()
    assert {"e_value", "e_value_ci", "n_unmatched", "estimand"} <= set(est.estimates_.columns)
    assert isinstance(est.warnings_, list) and "censoring_weights" in est.diagnostics_
    assert est.diagnostics_["censoring_weights"]["model"].startswith("pooled person-month")
    with pytest.raises(ConfigError, match="methods"):
        EffectEstimator(methods=("ols",))


def test_matching_uses_the_censoring_weights(small):
    _, ds = small
    kw = dict(methods=("matching",), n_boot=0)
    ipcw = estimate_effects(ds, "employed_24m", censoring="ipcw", **kw).table.iloc[0]
    drop = estimate_effects(ds, "employed_24m", censoring="drop", **kw).table.iloc[0]
    assert ipcw.estimate != pytest.approx(drop.estimate, abs=1e-9)
    assert ipcw.n_treated + ipcw.n_unmatched == drop.n_treated + drop.n_unmatched


def test_to_pandas_keeps_censoring_and_with_covariates_keeps_the_monthly_model(small):
    _, ds = small
    frame = ds.to_pandas()
    on_frame = estimate_effects(frame, "employed_24m", ("ipw",), n_boot=0)
    assert on_frame.diagnostics["censored_later_hire"] > 0
    assert "ipcw_time_zero_only" in {w["code"] for w in on_frame.warnings}
    extra = frame[["candidat_id"]].assign(score=np.arange(len(frame)) % 3)
    plus = ds.with_covariates(extra, time_reference="t0 + grace")
    assert plus.monthly is not None
    est = estimate_effects(plus, "employed_24m", ("ipw",), n_boot=0,
                           numeric=("pre_months_employed_12", "score"))
    assert est.diagnostics["censored_later_hire"] == on_frame.diagnostics["censored_later_hire"]
    codes = {w["code"]: w["message"] for w in est.warnings}
    assert "ipcw_time_zero_only" not in codes and "score" in codes["covariate_after_t0"]
    with pytest.raises(SchemaError, match="already"):
        ds.with_covariates(frame[["candidat_id", "t0"]])


def test_monthly_covariates_follow_the_employment_source(small):
    _, ds = small
    m = ds.monthly_pandas()
    assert list(m.columns)[:3] == ["trial_id", "k", "month_start"]
    df = ds.to_pandas().set_index("trial_id")
    # employed at the start of month 13 = employed at t0 + 12 months
    k13 = m[m["k"] == 13].set_index("trial_id")
    linked = df.loc[k13.index, "linked"].astype(bool)
    assert (k13["employed_start"][linked].astype(bool)
            == df.loc[k13.index, "employed_12m"][linked].astype(bool)).all()
    hires = m.groupby("trial_id")["hired_in_month"].sum()
    assert (hires <= 1).all()


def test_warnings_for_eligibility_refusals_and_the_keep_contrast(small, tmp_path):
    d, _ = small
    from appariement.evaluation import run_counterfactual
    from appariement.evaluation.output_check import check_outputs
    res = run_counterfactual(d.platform, d.source["periodes_emploi"], d.truth["links"],
                             tmp_path / "cf", design=CounterfactualDesign(
                                 later_hires="keep",
                                 comparison_classes=("employer_side", "eligibility")),
                             outcomes=("employed_12m",), n_boot=0, thresholds=())
    codes = {w["code"] for w in res["warnings"]}
    assert {"comparison_selected_on_eligibility", "keep_contrast_not_identified"} <= codes
    assert all(set(w) == {"code", "message", "scope"} for w in res["warnings"])
    assert all("e_value" in r and "e_value_ci" in r for r in res["estimates"])
    assert any(r["variant"] == "class=eligibility" for r in res["estimates"])
    page = (tmp_path / "cf" / "counterfactual.html").read_text()
    import html

    from appariement.evaluation.labels import label
    assert "comparison_selected_on_eligibility" in page
    assert html.escape(label("e_value", "fr")) in page
    assert html.escape(label("sec_assumptions", "fr")) in page
    assert json.loads((tmp_path / "cf" / "counterfactual.json").read_text())["assumptions"]
    assert not check_outputs(tmp_path / "cf").failing
