"""Counterfactual evaluation: time zero and grace period on hand-built timelines, recovery of
the planted effect on synthetic data, the immortal-time trap, IPW against statsmodels."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from appariement.errors import ConfigError, InputError
from appariement.evaluation.counterfactual import (CounterfactualDesign,
                                                   build_evaluation_dataset, codebook)
from appariement.evaluation.counterfactual.estimators import (_match, estimate_effects,
                                                              fit_logistic)
from appariement.io.contract import CRITERIA_COLUMNS


D = dt.date


# ---------------------------------------------------------------- hand-built timelines

def _platform(apps: list[tuple], diags: list[tuple] = (), people=("p1", "p2", "p3", "p4", "p5",
                                                                   "p6")) -> dict:
    """apps: (candidature_id, candidat_id, date, etat, motif, date_embauche, structure)."""
    crit_false = {c: [False] * len(people) for c in CRITERIA_COLUMNS}
    candidats = pd.DataFrame({
        "candidat_id": list(people), "nom": "X", "prenoms": "Y", "sexe": "F",
        "date_naissance": "1990-05-01", "code_postal": "75011",
        "date_inscription": pd.to_datetime("2021-01-01").date(),
        **crit_false, "date_diagnostic": None})
    candidatures = pd.DataFrame(apps, columns=["candidature_id", "candidat_id",
                                               "date_candidature", "etat", "motif_refus",
                                               "date_embauche", "structure_id"])
    candidatures["organisation_id"] = None
    structures = pd.DataFrame({"structure_id": ["sA", "sB", "sG"], "type": ["ACI", "EI", "GEIQ"],
                               "departement": ["75", "93", "75"]})
    organisations = pd.DataFrame({"organisation_id": ["o1"], "type": ["FT"]})
    out = {"candidats": candidats, "candidatures": candidatures, "structures": structures,
           "organisations": organisations}
    if diags:
        rows = []
        for i, (cid, date, crits) in enumerate(diags):
            rows.append({"diagnostic_id": f"d{i}", "candidat_id": cid, "date_diagnostic": date,
                         **{c: c in crits for c in CRITERIA_COLUMNS}})
        out["diagnostics"] = pd.DataFrame(rows)
    return out


_SPELLS = pd.DataFrame({"person_id": ["P1"], "date_debut": [D(2022, 1, 1)], "siret": ["1"],
                        "date_fin": [D(2026, 1, 1)], "type_contrat": ["CDI"], "heures": [0.0],
                        "salaire": [0.0]})
_APPS = [
    # p1: applies 2022-03-01 to A, transferred to B (same creation date), hired 40 days later
    ("a1", "p1", D(2022, 3, 1), "accepted", None, D(2022, 4, 10), "sB"),
    # p2: refused for no position at t0, hired 200 days later on another candidature
    ("a2", "p2", D(2022, 3, 1), "refused", "no_position", None, "sA"),
    ("a3", "p2", D(2022, 8, 1), "accepted", None, D(2022, 9, 17), "sA"),
    # p3: first candidature made obsolete by a hire elsewhere within the grace period
    ("a4", "p3", D(2022, 3, 1), "obsolete", None, None, "sA"),
    ("a5", "p3", D(2022, 3, 20), "accepted", None, D(2022, 5, 1), "sB"),
    # p4: refused (person side), never hired
    ("a6", "p4", D(2022, 6, 1), "refused", "lacking_skills", None, "sA"),
    # p5: hired before the study window, applies again in it
    ("a7", "p5", D(2021, 6, 1), "accepted", None, D(2021, 7, 1), "sA"),
    ("a8", "p5", D(2022, 6, 1), "refused", "no_position", None, "sA"),
    # p6: refused at t0 (employer side, old-era code), hired on day 90 exactly
    ("a9", "p6", D(2022, 3, 1), "refused", "prevent_objectives", None, "sA"),
    ("a10", "p6", D(2022, 3, 15), "accepted", None, D(2022, 5, 30), "sA"),
]


def _build(design, apps=_APPS, diags=(), links=None):
    con = duckdb.connect()
    links = links if links is not None else pd.DataFrame(
        {"candidat_id": ["p1"], "person_id": ["P1"], "decision": ["match"],
         "match_probability": [0.99]})
    ds = build_evaluation_dataset(con, _platform(apps, diags), _SPELLS, links, design)
    return ds, ds.to_pandas().set_index("trial_id")


def test_time_zero_and_grace_period_on_hand_built_timelines():
    design = CounterfactualDesign(comparison_classes=None, study_start=D(2022, 1, 1),
                                  follow_up_end=D(2025, 12, 31))
    ds, df = _build(design)
    # transfer: time zero is the creation date, the hire 40 days later is within the grace
    assert df.loc["p1", "t0"].date() == D(2022, 3, 1)
    assert df.loc["p1", "arm"] == "treated" and df.loc["p1", "days_to_hire"] == 40
    # refusal then a later hire: comparison (censored at the hire by the estimators)
    assert df.loc["p2", "arm"] == "comparison" and not df.loc["p2", "treated"]
    assert df.loc["p2", "later_hire_date"].date() == D(2022, 9, 17)
    assert df.loc["p2", "refusal_class_t0"] == "employer_side"
    assert df.loc["p2", "hired_later_by_12m"] and not df.loc["p2", "hired_later_by_6m"]
    assert df.loc["p2", "ever_hired"]
    # obsolete after a hire elsewhere within the grace period: treated
    assert df.loc["p3", "arm"] == "treated" and df.loc["p3", "refusal_class_t0"] == "not_refused"
    assert df.loc["p4", "arm"] == "comparison" and df.loc["p4", "refusal_class_t0"] == "person_side"
    # a hire before time zero excludes the person (already treated)
    assert df.loc["p5", "arm"] == "excluded"
    assert df.loc["p5", "exclusion_reason"] == "hired_before_t0"
    # day 90 is still inside a 90-day grace period, day 91 would not be
    assert df.loc["p6", "treated"] and df.loc["p6", "days_to_hire"] == 90
    _, df60 = _build(design.replace(grace_days=89))
    assert not df60.loc["p6", "treated"] and df60.loc["p6", "arm"] == "comparison"
    assert ds.counts["exclusions"] == {"hired_before_t0": 1}


def test_later_hires_exclude_and_comparison_classes():
    design = CounterfactualDesign(later_hires="exclude", comparison_classes=("employer_side",),
                                  study_start=D(2022, 1, 1), follow_up_end=D(2025, 12, 31))
    _, df = _build(design)
    assert df.loc["p2", "arm"] == "excluded" and df.loc["p2", "exclusion_reason"] == "later_hire"
    assert df.loc["p4", "exclusion_reason"] == "comparison_class"
    assert df.loc["p1", "arm"] == "treated"  # the class filter applies to the comparison only


def test_person_month_trials_stop_at_the_first_hire():
    design = CounterfactualDesign(unit="person_month", comparison_classes=None,
                                  study_start=D(2022, 1, 1), follow_up_end=D(2025, 12, 31))
    _, df = _build(design)
    p2 = df[df.candidat_id == "p2"]
    assert sorted(p2.index) == ["p2:2022-03", "p2:2022-08"]
    assert p2.loc["p2:2022-08", "treated"] and not p2.loc["p2:2022-03", "treated"]
    p6 = df[df.candidat_id == "p6"]
    assert len(p6) == 1  # both candidatures in March 2022: one trial


def test_eligibility_uses_the_diagnosis_valid_at_time_zero_not_the_latest():
    diags = [("p4", D(2022, 5, 1), {"critere_rsa"}),           # before t0 (2022-06-01)
             ("p2", D(2022, 6, 1), {"critere_rsa"})]           # after p2's t0 (2022-03-01)
    design = CounterfactualDesign(comparison_classes=None, eligible_only=True,
                                  study_start=D(2022, 1, 1), follow_up_end=D(2025, 12, 31))
    _, df = _build(design, diags=diags)
    assert df.loc["p4", "eligible_t0"] and df.loc["p4", "critere_rsa_t0"]
    assert not df.loc["p2", "criteria_known_t0"] and not df.loc["p2", "critere_rsa_t0"]
    assert df.loc["p2", "exclusion_reason"] == "not_eligible_t0"


def test_outcomes_from_linked_spells_and_unlinked_policy():
    design = CounterfactualDesign(comparison_classes=None, study_start=D(2022, 1, 1),
                                  follow_up_end=D(2025, 12, 31))
    _, df = _build(design)
    assert df.loc["p1", "employed_12m"] and df.loc["p1", "durable_12m"]
    # spell from 2022-01-01, t0 2022-03-01: t0 - 1 and t0 - 2 months are covered
    assert df.loc["p1", "pre_months_employed_12"] == 2
    assert not df.loc["p4", "linked"] and df.loc["p4", "employed_12m"] == False  # noqa: E712
    _, dfd = _build(design.replace(unlinked="drop"))
    assert pd.isna(dfd.loc["p4", "employed_12m"])
    # administrative censoring: follow-up ends before t0 + 24 months
    _, dfc = _build(design.replace(follow_up_end=D(2023, 12, 31)))
    assert dfc.loc["p1", "observed_12m"] and not dfc.loc["p1", "observed_24m"]


def test_design_rejects_bad_parameters():
    with pytest.raises(ConfigError, match="later_hires"):
        CounterfactualDesign(later_hires="ignore")
    with pytest.raises(ConfigError, match="comparison_classes"):
        CounterfactualDesign(comparison_classes=("employer",))
    with pytest.raises(ConfigError, match="grace_days"):
        CounterfactualDesign(grace_days=0)


def test_codebook_describes_every_column():
    design = CounterfactualDesign(comparison_classes=None, study_start=D(2022, 1, 1))
    _, df = _build(design)
    columns = set(df.reset_index().columns)
    described = {c["column"] for c in codebook(design, iae="iae_start" in columns)}
    assert columns == described


# ---------------------------------------------------------------- estimators

def test_matching_picks_the_nearest_comparison_within_the_cell():
    lps = np.array([0.0, 0.1, 0.5, 0.05, 0.02, 3.0])
    t = np.array([True, False, False, True, False, False])
    cell = np.array([0, 0, 0, 1, 0, 1])
    ti, nb = _match(lps, t, cell, 1, caliper=1.0)
    got = dict(zip(ti.tolist(), nb[:, 0].tolist()))
    assert got[0] == 4           # 0.02 is nearest to 0.0 in cell 0
    assert got[3] == -1          # only comparison of cell 1 is outside the caliper


def test_ipw_att_agrees_with_statsmodels():
    from statsmodels.treatment.treatment_effects import TreatmentEffect
    import statsmodels.api as sm
    rng = np.random.default_rng(3)
    n = 3000
    X = rng.normal(size=(n, 2))
    t = rng.random(n) < 1 / (1 + np.exp(-(X[:, 0] - 0.5 * X[:, 1])))
    y = X[:, 0] + 0.5 * X[:, 1] + 2.0 * t + rng.normal(size=n)
    frame = pd.DataFrame({"arm": np.where(t, "treated", "comparison"), "treated": t,
                          "y_12m": y, "observed_12m": True, "linked": True,
                          "candidat_id": np.arange(n).astype(str), "x1": X[:, 0], "x2": X[:, 1],
                          "t0": pd.Timestamp("2022-01-01"), "t0_month": "2022-01"})
    ours = estimate_effects(frame, "y_12m", methods=("ipw",), n_boot=0, categorical=(),
                            numeric=("x1", "x2"), ridge=0.0).table.set_index("method")
    exog = sm.add_constant(X)
    te = TreatmentEffect(sm.OLS(y, np.ones((n, 1))),
                         t.astype(int), results_select=sm.Logit(t.astype(int), exog).fit(disp=0))
    res = te.ipw(effect_group=1)
    att_sm = float(np.asarray(res.effect).ravel()[0])
    assert ours.loc["ipw", "estimate"] == pytest.approx(att_sm, abs=1e-6)


def test_later_hires_are_censored_at_their_hire_not_counted_as_untreated():
    """p2 (comparison) is hired 200 days after t0: its 6-month outcome counts, its 12-month
    outcome does not under the default 'censor', and does under 'keep'."""
    # linked to an always-employed person (outcome 1), except p4 (unlinked: outcome 0)
    links = pd.DataFrame({"candidat_id": ["p1", "p2", "p3", "p6"], "person_id": "P1",
                          "decision": "match", "match_probability": 0.99})
    base = CounterfactualDesign(comparison_classes=None, study_start=D(2022, 1, 1),
                                follow_up_end=D(2025, 12, 31))
    assert base.later_hires == "censor"
    ds, df = _build(base, links=links)
    assert df.loc["p2", "arm"] == "comparison" and df.loc["p2", "hired_later_by_12m"]
    kw = dict(methods=("naive",), n_boot=0, censoring="drop", categorical=(), numeric=())
    est12 = estimate_effects(ds, "employed_12m", **kw)
    # treated p1, p3, p6 employed (1); comparison: p2 censored, p4 unlinked (0)
    assert est12.table["estimate"][0] == pytest.approx(1.0)
    assert est12.diagnostics["censored_later_hire"] == 1
    assert "never being hired" in est12.diagnostics["estimand"]
    est6 = estimate_effects(ds, "employed_6m", **kw)  # hired after 6 months: not censored
    assert est6.table["estimate"][0] == pytest.approx(0.5)
    keep, _ = _build(base.replace(later_hires="keep"), links=links)
    est_keep = estimate_effects(keep, "employed_12m", **kw)
    assert est_keep.table["estimate"][0] == pytest.approx(0.5)  # p2 counted as untreated
    assert "censored_later_hire" not in est_keep.diagnostics


def test_estimation_refuses_a_dataset_with_no_linked_trial():
    """Links that are all 'review' leave every trial unlinked: all outcomes would be 0 and
    every estimate exactly 0.0 (what notebook 04 once printed); this is an error, not a
    result."""
    design = CounterfactualDesign(comparison_classes=None, study_start=D(2022, 1, 1),
                                  follow_up_end=D(2025, 12, 31))
    review = pd.DataFrame({"candidat_id": ["p1", "p2"], "person_id": "P1",
                           "decision": "review", "match_probability": 0.7})
    ds, df = _build(design, links=review)
    assert not df["linked"].any()
    with pytest.raises(InputError, match="no trial .* is linked"):
        estimate_effects(ds, "employed_12m", n_boot=0)
    # the same links kept by a match threshold are used
    ds, df = _build(design.replace(match_threshold=0.5), links=review)
    assert df.loc["p1", "linked"]


@pytest.fixture(scope="module")
def synthetic():
    from appariement.synth import SynthConfig, generate
    data = generate(SynthConfig(n_candidates=3000, source_ratio=2))  # default seed
    con = duckdb.connect()
    design = CounterfactualDesign(comparison_classes=None)
    datasets = {lh: build_evaluation_dataset(con, data.platform, data.source["periodes_emploi"],
                                             data.truth["links"],
                                             design.replace(later_hires=lh))
                for lh in ("censor", "keep")}
    return data, datasets


@pytest.mark.parametrize("later_hires, truth_key", [("censor", "att_vs_never"),
                                                    ("keep", "att")])
def test_ipw_and_matching_recover_the_planted_att_and_naive_does_not(synthetic, later_hires,
                                                                     truth_key):
    data, datasets = synthetic
    truth = data.effect[truth_key]["12"]
    est = estimate_effects(datasets[later_hires], "employed_12m", n_boot=100, seed=0)
    tab = est.table.set_index("method")
    for method in ("ipw", "matching"):
        assert tab.loc[method, "ci_low"] <= truth <= tab.loc[method, "ci_high"], method
        assert abs(tab.loc[method, "estimate"] - truth) < 0.04, method
    assert tab.loc["matching", "ci_low_ai"] <= truth <= tab.loc["matching", "ci_high_ai"]
    assert not tab.loc["naive", "ci_low"] <= truth <= tab.loc["naive", "ci_high"]
    assert tab.loc["naive", "estimate"] > truth + 0.05  # selection of the more employable
    assert tab["n_boot"].min() == 100


def test_the_two_estimands_differ_as_planted(synthetic):
    """Censoring later hires estimates the effect versus never hired, which is larger than
    the effect versus 'not hired within the grace period' (later hires help the latter)."""
    data, datasets = synthetic
    est = {lh: estimate_effects(ds, "employed_24m", methods=("ipw",), n_boot=0)
           .table["estimate"][0] for lh, ds in datasets.items()}
    assert data.effect["att_vs_never"]["24"] > data.effect["att"]["24"]
    assert est["censor"] > est["keep"]
    for lh, key in (("censor", "att_vs_never"), ("keep", "att")):
        assert abs(est[lh] - data.effect[key]["24"]) < 0.03


def test_immortal_time_trap_is_avoided(synthetic):
    data, datasets = synthetic
    ds = datasets["keep"]  # the same rows, treatment re-labelled; no censoring of later hires
    truth = data.effect["att"]["24"]
    kw = dict(methods=("ipw",), n_boot=0)
    grace = estimate_effects(ds, "employed_24m", **kw).table["estimate"][0]
    ever = estimate_effects(ds, "employed_24m", treatment="ever_hired", **kw).table["estimate"][0]
    # "ever hired" moves later hires into the treated arm from time zero: inflated effect,
    # larger even than the effect versus never hired
    assert ever > truth + 0.04 and ever > grace + 0.02
    assert ever > data.effect["att_vs_never"]["24"]
    assert abs(grace - truth) < abs(ever - truth)


def test_abadie_imbens_interval_covers_over_simulations():
    """Coverage of the matching interval over simulated data sets with a known ATT (the
    bootstrap is not valid in theory for nearest-neighbour matching)."""
    rng = np.random.default_rng(7)
    covered, n = [], 600
    for _ in range(120):
        x = rng.normal(size=n)
        t = rng.random(n) < 1 / (1 + np.exp(-(x - 0.8)))
        y = (rng.random(n) < 1 / (1 + np.exp(-(0.8 * x - 0.5 + 0.6 * t)))).astype(float)
        p1 = 1 / (1 + np.exp(-(0.8 * x[t] - 0.5 + 0.6)))
        p0 = 1 / (1 + np.exp(-(0.8 * x[t] - 0.5)))
        att = float((p1 - p0).mean())  # conditional on X: the sample ATT's expectation
        frame = pd.DataFrame({"arm": np.where(t, "treated", "comparison"), "treated": t,
                              "y_12m": y, "observed_12m": True, "linked": True,
                              "candidat_id": np.arange(n).astype(str), "x": x,
                              "t0": pd.Timestamp("2022-01-01"), "t0_month": "2022-01"})
        row = estimate_effects(frame, "y_12m", methods=("matching",), n_boot=0,
                               categorical=(), numeric=("x",), ridge=0.0,
                               caliper=10.0).table.iloc[0]
        covered.append(row.ci_low_ai <= att <= row.ci_high_ai)
    assert 0.88 <= np.mean(covered) <= 0.995


def test_balance_improves_after_weighting(synthetic):
    ds = synthetic[1]["censor"]
    bal = estimate_effects(ds, "employed_12m", n_boot=0).balance
    assert bal["smd_before"].abs().max() > 0.2
    assert bal["smd_ipw"].abs().max() < 0.1
    assert bal.loc[bal.covariate == "pre_months_employed_24", "smd_matched"].abs().max() < 0.1


def test_fit_logistic_matches_maximum_likelihood():
    import statsmodels.api as sm
    rng = np.random.default_rng(1)
    X = rng.normal(size=(800, 3))
    y = (rng.random(800) < 1 / (1 + np.exp(-(0.3 + X @ [1.0, -0.5, 0.2])))).astype(float)
    ours = fit_logistic(X, y, ridge=0.0)
    ref = sm.Logit(y, sm.add_constant(X)).fit(disp=0).params
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_the_asp_contract_dates_are_the_iae_spell_of_the_dataset():
    """Issue 13 point 4: fluxIAE's contract dates, joined by PASS number, give each hired
    candidate's IAE spell (first start, definitive exit; open -> NULL); others have none."""
    import duckdb

    from appariement.synth import SynthConfig, generate

    d = generate(SynthConfig(n_candidates=300, source_ratio=2, seed=3))
    con = duckdb.connect()
    ds = build_evaluation_dataset(con, d.platform, d.source["periodes_emploi"], d.truth["links"])
    df = ds.relation.df()
    passes = d.platform["pass_agrements"].to_pandas()
    flux = d.platform["flux_iae_salarie"].to_pandas()
    joined = passes.merge(flux, left_on="numero", right_on="numero_pass")
    assert len(joined) > 0
    spells = joined.groupby("candidat_id").agg(start=("date_debut_y", "min"))
    got = df.dropna(subset=["iae_start"]).drop_duplicates("candidat_id").set_index("candidat_id")
    assert set(got.index) == set(spells.index)
    assert (got["iae_start"].astype("datetime64[ns]")
            == spells.loc[got.index, "start"].astype("datetime64[ns]")).all()
    assert (got["iae_exit"].isna() | (got["iae_exit"] >= got["iae_start"])).all()
    # not when the platform lacks the two tables
    no_flux = {k: v for k, v in d.platform.items() if k != "flux_iae_salarie"}
    ds2 = build_evaluation_dataset(con, no_flux, d.source["periodes_emploi"], d.truth["links"])
    assert "iae_start" not in ds2.relation.columns
    assert "iae_start" not in {c["column"] for c in codebook(iae=False)}
