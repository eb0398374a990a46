"""Label-free estimates, gold standard and subgroup flags against the synthetic truth."""
import numpy as np
import pandas as pd

from appariement.evaluation import (error_curve, gold_standard_evaluation, nir_gold_pairs,
                                    score_against_truth, subgroup_covariates, subgroup_rates,
                                    candidate_outcomes)
from appariement.evaluation.estimates import probabilities_of

from .conftest import DEGRADED_DEPT

# measured on seed 11 (1,500 candidates): |estimate - truth| <= 0.008; margin x2.5
TOLERANCE = 0.02


def test_label_free_fdr_fnr_close_to_truth(world):
    con = world.con
    links = world.result.links.df()
    truth = pd.DataFrame(world.truth_links.to_pandas())
    true_pairs = set(zip(truth.candidat_id.astype(str), truth.person_id.astype(str)))
    p, _ = probabilities_of(links)
    est = error_curve(p, [0.5, 0.9, 0.99])
    prob = links[links.method == "probabilistic"]
    ok = np.array([(a, b) in true_pairs for a, b in zip(prob.candidat_id, prob.person_id)])
    for t, row in zip([0.5, 0.9, 0.99], est.itertuples()):
        above = prob.match_probability.to_numpy() >= t
        true_fdr = 1 - ok[above].mean()
        true_fnr = 1 - ok[above].sum() / len(true_pairs)
        assert abs(row.fdr - true_fdr) <= TOLERANCE
        assert abs(row.fnr - true_fnr) <= TOLERANCE


def test_gold_standard_close_to_truth_without_nir(world):
    con = world.con
    gold = nir_gold_pairs(con, world.pf, world.sf)
    est = gold_standard_evaluation(world.pf, world.sf, gold, con=con, model=world.result.model,
                                   prevalence=0.95)
    truth = score_against_truth(world.result.links, world.truth_links, con=con,
                                where="candidat_id IN (SELECT record_id FROM pf "
                                      "WHERE nir IS NULL)")
    assert est["n_gold"] > 500
    assert abs(est["precision"] - truth["precision"]) <= TOLERANCE
    assert abs(est["recall"] - truth["recall"]) <= TOLERANCE


def test_planted_bias_flagged_and_clean_group_not(world):
    con = world.con
    p = world.data.platform
    cov = subgroup_covariates(con, world.pf, candidatures=p["candidatures"],
                              organisations=p["organisations"], structures=p["structures"],
                              candidats=p["candidats"])
    out = candidate_outcomes(con, world.result.links, cov)
    table = subgroup_rates(con, out, cov)
    dept = table[table.variable == "departement"].set_index("group")
    assert bool(dept.loc[DEGRADED_DEPT, "flagged"])
    assert dept.loc[DEGRADED_DEPT, "difference"] < 0
    assert not bool(dept.loc["75", "flagged"])
    assert not table[table.variable == "sex"].flagged.any()
