"""The counterfactual on links from the real linkage (standardised identities, Splink), not on
the truth links: link rate by arm reported, estimates still near the planted effect."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from appariement.evaluation import (CounterfactualDesign, build_evaluation_dataset,
                                    estimate_effects)
from appariement.evaluation.counterfactual.report import threshold_sensitivity


@pytest.fixture(scope="module")
def linked():
    from appariement.identity import standardise_identities
    from appariement.linkage import link
    from appariement.synth import SynthConfig, generate
    data = generate(SynthConfig(n_candidates=1500, source_ratio=2, seed=5))
    con = duckdb.connect()
    standardise_identities(con, data.platform["candidats"], side="platform").to_table("pf")
    standardise_identities(con, data.source["personnes"], side="source").to_table("sf")
    result = link(con.table("pf"), con.table("sf"), con=con, u_max_pairs=2e5)
    con.execute("SELECT 1").fetchall()  # finish any pending result (DuckDB 2)
    return data, con, result


def test_estimates_on_real_links_stay_near_the_truth(linked):
    data, con, result = linked
    design = CounterfactualDesign(comparison_classes=None)
    ds = build_evaluation_dataset(con, data.platform, data.source["periodes_emploi"], result,
                                  design)
    # link rate by arm: reported in the dataset counts and in the estimates' diagnostics
    by_arm = ds.counts["linkage_by_arm"]
    assert set(by_arm) == {"treated", "comparison"}
    assert 0.85 < by_arm["comparison"]["link_rate"] < 1.0
    # the never-hired more often lack a NIR on the platform: they link a little less
    assert by_arm["treated"]["link_rate"] > by_arm["comparison"]["link_rate"]
    est = estimate_effects(ds, "employed_12m", n_boot=100, seed=0)
    rates = est.diagnostics["link_rate_by_arm"]
    assert rates["treated"] == pytest.approx(by_arm["treated"]["link_rate"])
    truth = data.effect["att_vs_never"]["12"]
    tab = est.table.set_index("method")
    assert tab.loc["ipw", "ci_low"] <= truth <= tab.loc["ipw", "ci_high"]
    assert abs(tab.loc["ipw", "estimate"] - truth) < 0.05
    assert tab.loc["naive", "estimate"] > truth + 0.04
    # the inverse-probability-of-linkage option runs on the same links and stays close
    iplw = estimate_effects(ds, "employed_12m", methods=("ipw",), n_boot=0,
                            linkage_weights=True).table["estimate"][0]
    assert abs(iplw - truth) < 0.06


def test_threshold_sensitivity_on_real_links(linked):
    data, con, result = linked
    sens = threshold_sensitivity(con, data.platform, data.source["periodes_emploi"],
                                 result.links, CounterfactualDesign(comparison_classes=None),
                                 thresholds=(0.5, 0.99, 1.0), outcome="employed_12m")
    assert sens["threshold"].tolist() == [0.5, 0.99, 1.0]
    rates = sens["link_rate_comparison"].to_numpy()
    assert rates[0] >= rates[1] >= rates[2]          # a stricter threshold keeps fewer links
    assert np.isfinite(sens["estimate"].iloc[0])
    truth = data.effect["att_vs_never"]["12"]
    assert abs(sens["estimate"].iloc[0] - truth) < 0.05
