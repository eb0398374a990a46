"""The generator follows the platform's rules, and the checker would see a break of each."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from appariement.io.contract import CRITERIA_COLUMNS
from appariement.synth import SynthConfig, generate
from appariement.synth import _platform_rules as rules

_CASES = [
    (300, 1, {}),
    (1500, 7, {}),
    (3000, 23, {}),
    # an extract taken before the archiving and the auto-refusal job existed
    (800, 4, {"last_t0": date(2023, 12, 31), "last_date": date(2024, 6, 30)}),
    # a later extract: the pool state and a longer run of the job
    (800, 5, {"first_date": date(2022, 6, 1), "last_date": date(2026, 6, 30)}),
]


@pytest.fixture(scope="module")
def data():
    return generate(SynthConfig(n_candidates=3000, source_ratio=1.5, seed=23))


@pytest.fixture()
def tables(data):
    """Copies of the checked platform tables as DataFrames, to plant violations in."""
    return {name: data.platform[name].to_pandas()
            for name in ("candidatures", "structures", "pass_agrements", "diagnostics")}


def _day(value) -> date:
    return pd.Timestamp(value).date()


@pytest.mark.parametrize(("n", "seed", "dates"), _CASES)
def test_generated_tables_break_no_rule(n, seed, dates):
    cfg = SynthConfig(n_candidates=n, source_ratio=1.5, seed=seed, **dates)
    counts = rules.rule_violations(generate(cfg))
    assert set(counts) == set(rules.RULES)
    assert counts == dict.fromkeys(rules.RULES, 0)


def test_checker_needs_the_extract_date_only_for_bare_tables(data, tables):
    assert rules.rule_violations(tables, as_of=data.config.last_date) == rules.rule_violations(data)
    assert sum(rules.rule_violations(tables).values()) == 0  # as_of from the latest date


def test_pending_applications_auto_refusal_and_archiving(data):
    c = data.platform["candidatures"].to_pandas()
    d = pd.to_datetime(c.date_candidature)
    t = pd.to_datetime(c.date_traitement)
    auto = c.motif_refus == "auto"
    start = pd.Timestamp(rules.AUTO_REFUSAL_START)
    # old pending applications nobody touched: refused on the job's first day when not archived
    assert (auto & (d < pd.Timestamp("2025-01-01")) & (t == start)).any()
    # and left pending (archived) when idle for 180 days before it
    archived = d < start - pd.Timedelta(days=rules.ARCHIVE_DELAY_DAYS + rules.TOUCH_DAYS)
    assert (c.etat.isin(["new", "processing"]) & archived).sum() > 10
    # postponed is never auto-refused
    assert ((c.etat == "postponed") & (d < start - pd.Timedelta(days=60))).any()
    assert ((t - d)[auto] >= pd.Timedelta(days=rules.AUTO_REFUSAL_DELAY_DAYS)).all()
    # processed_at only where a transition sets it
    assert t.isna().eq(~c.etat.isin(rules.PROCESSED_STATES)).all()


def test_cancelled_hires_have_no_pass(data):
    c = data.platform["candidatures"].to_pandas()
    p = data.platform["pass_agrements"].to_pandas()
    cancelled = c[c.etat == "cancelled"]
    assert len(cancelled) and cancelled.date_embauche.notna().all()
    keys = set(zip(p.candidat_id, p.structure_id, p.date_debut))
    assert not keys & set(zip(cancelled.candidat_id, cancelled.structure_id,
                              cancelled.date_embauche))


def test_diagnoses_criteria_by_author(data):
    dg = data.platform["diagnostics"].to_pandas()
    n_criteria = dg[list(CRITERIA_COLUMNS)].sum(axis=1)
    # an authorised prescriber needs no criterion; an employer always gives some
    assert (n_criteria[dg.auteur_diagnostic == "prescripteur"] == 0).sum() > 10
    assert (n_criteria[dg.auteur_diagnostic == "employeur"] >= 1).all()


def test_helpers():
    days = np.array(["2021-09-19", "2021-09-20", "2022-07-25", "2022-07-26", "NaT"],
                    dtype="datetime64[D]")
    assert rules.reason_available("not_mobile", days).tolist() == [False, True, True, True,
                                                                    False]
    assert rules.reason_available("unavailable", days).tolist() == [True, True, True, False,
                                                                     False]
    assert rules.reason_available("poorly_informed", days).tolist() == [False, False, True,
                                                                         False, False]
    touch = np.array(["2022-01-01", "2024-10-01", "2025-02-01"], dtype="datetime64[D]")
    auto_at = rules.auto_refusal_date(touch)
    assert auto_at.tolist() == [rules.AUTO_REFUSAL_START.item()] * 2 + [date(2025, 4, 2)]
    assert rules.archived_before(touch, auto_at).tolist() == [True, False, False]
    expiry = rules.diagnosis_expiry(np.array(["2024-08-31"] * 2, dtype="datetime64[D]"),
                                    np.array([True, False]))
    assert expiry.tolist() == [date(2025, 2, 28), date(2024, 12, 1)]


# ---------------------------------------------------------------- planted violations

def _first(mask: pd.Series) -> int:
    idx = np.flatnonzero(mask.to_numpy())
    assert len(idx), "the data set has no row to plant this violation in"
    return int(mask.index[idx[0]])


def _plant_prior_to_hire_outside_geiq(t):
    c, s = t["candidatures"], t["structures"]
    non_geiq = c.structure_id.isin(s.structure_id[s.type != "GEIQ"])
    i = _first(non_geiq & (c.etat == "processing")
               & (pd.to_datetime(c.date_candidature) >= pd.Timestamp("2023-06-01")))
    c.loc[i, "etat"] = "prior_to_hire"


def _plant_prior_to_hire_before_introduction(t):
    c, s = t["candidatures"], t["structures"]
    i = _first(c.etat == "processing")
    c.loc[i, ["etat", "structure_id", "date_candidature"]] = [
        "prior_to_hire", s.structure_id[s.type == "GEIQ"].iloc[0], date(2022, 5, 2)]


def _plant_pool_before_introduction(t):
    c = t["candidatures"]
    c.loc[_first(c.etat == "postponed"), "etat"] = "pool"


def _plant_processed_at_by_state(t):
    c = t["candidatures"]
    c.loc[_first(c.etat == "processing"), "date_traitement"] = date(2025, 6, 1)


def _plant_refusal_reason_by_state(t):
    c = t["candidatures"]
    c.loc[_first(c.etat == "refused"), "motif_refus"] = None


def _plant_refusal_reason_out_of_period(t):
    c = t["candidatures"]
    late = pd.to_datetime(c.date_traitement) >= pd.Timestamp("2023-01-01")
    c.loc[_first((c.etat == "refused") & late), "motif_refus"] = "poorly_informed"


def _plant_auto_refusal_too_early(t):
    c = t["candidatures"]
    i = _first(c.motif_refus == "auto")
    c.loc[i, "date_traitement"] = _day(c.loc[i, "date_candidature"]) + timedelta(days=59)


def _plant_auto_refusal_missed(t):
    c = t["candidatures"]
    i = _first(c.motif_refus == "auto")
    c.loc[i, ["etat", "motif_refus", "date_traitement"]] = ["new", None, None]


def _plant_obsolete_without_acceptance(t):
    c = t["candidatures"]
    i = _first(c.etat == "obsolete")
    c.loc[i, "date_traitement"] = _day(c.loc[i, "date_traitement"]) + timedelta(days=1)


def _plant_pending_after_acceptance(t):
    c = t["candidatures"]
    c.loc[_first(c.etat == "obsolete"), ["etat", "date_traitement"]] = ["postponed", None]


def _plant_pass_without_accepted_hire(t):
    c, p = t["candidatures"], t["pass_agrements"]
    hired = c.candidat_id.isin(p.candidat_id.iloc[:1]) & (c.etat == "accepted")
    c.loc[_first(hired), "etat"] = "cancelled"  # a cancelled hire that kept its PASS


def _plant_employer_diagnosis_without_criteria(t):
    d = t["diagnostics"]
    d.loc[_first(d.auteur_diagnostic == "employeur"), list(CRITERIA_COLUMNS)] = False


def _plant_hire_without_valid_diagnosis(t):
    c, s, d = t["candidatures"], t["structures"], t["diagnostics"]
    iae = c.structure_id.isin(s.structure_id[s.type.isin(rules.IAE_STRUCTURES)])
    who = c.loc[_first(iae & (c.etat == "accepted")), "candidat_id"]
    t["diagnostics"] = d[d.candidat_id != who]


_PLANTS = {name.removeprefix("_plant_"): fn for name, fn in dict(globals()).items()
           if name.startswith("_plant_")}


def test_every_rule_has_a_planted_violation():
    assert set(_PLANTS) == set(rules.RULES)


@pytest.mark.parametrize("rule", rules.RULES)
def test_checker_catches_a_planted_violation(rule, data, tables):
    # the unmodified copies break no rule (test_checker_needs_the_extract_date_...)
    _PLANTS[rule](tables)
    assert rules.rule_violations(tables, as_of=data.config.last_date)[rule] > 0
