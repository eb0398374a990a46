"""Quality-report estimates against the synthetic truth (needs appariement.synth).

For each seed: generate a synthetic world, run the real cascade (exact NIR stage, then
probabilistic on traits), and compare

1. the label-free FDR / FNR of the probabilistic (stage-2) links at the match and review
   thresholds with their true values (truth: the true pairs of candidates the exact stage did
   not link);
2. the gold-standard precision / recall (exact-stage links re-linked on traits only, with the
   target prevalence of candidates without NIR) with the true precision / recall of the links
   of candidates WITHOUT NIR;
3. the subgroup flags of the degraded department (noisier identities) and of a control
   department.

Usage:
    .venv/bin/python benchmarks/eval_quality.py --candidates 20000 --seeds 42 1 2
"""

from __future__ import annotations

import argparse
import time

import duckdb
import numpy as np
import pandas as pd

from appariement.evaluation import (candidate_outcomes, error_curve, gold_standard_evaluation,
                                    score_against_truth, stage1_gold_pairs,
                                    subgroup_covariates, subgroup_rates, target_prevalence)
from appariement.evaluation.quality.estimates import probabilities_of, unassigned_missed
from appariement.identity import standardise_identities
from appariement.linkage import link
from appariement.synth import SynthConfig, generate


def run_seed(n: int, seed: int, noise_factor: float, control: str, u_max_pairs: float) -> None:
    t0 = time.perf_counter()
    cfg = SynthConfig(n_candidates=n, seed=seed, degraded_noise_factor=noise_factor)
    data = generate(cfg)
    con = duckdb.connect()
    standardise_identities(con, data.platform["candidats"], side="platform").to_table("pf")
    standardise_identities(con, data.source["personnes"], side="source").to_table("sf")
    res = link(con.table("pf"), con.table("sf"), con=con, u_max_pairs=u_max_pairs)
    con.execute("SELECT 1").fetchall()
    t_link = time.perf_counter() - t0
    th = res.config.thresholds
    links = res.links.df()
    truth = data.truth["links"].to_pandas()
    true_pairs = set(zip(truth.candidat_id.astype(str), truth.person_id.astype(str)))
    exact = set(links.loc[links.method == "pivot_exact", "candidat_id"])
    stage2_true = {pair for pair in true_pairs if pair[0] not in exact}
    p, n_exact = probabilities_of(links)
    unassigned = unassigned_missed(links, res.pairs, con=con)
    recall_b = res.counts["blocking_recall_on_stage1"]
    est = error_curve(p, [th.match, th.review], n_exact=n_exact, unassigned=unassigned,
                      blocking_recall=recall_b)
    prob = links[links.method == "probabilistic"]
    ok = np.array([(a, b) in true_pairs for a, b in zip(prob.candidat_id, prob.person_id)])
    print(f"\n== seed {seed}: {n} candidates, degraded department {cfg.degraded_departement} "
          f"(noise x{noise_factor}); linked in {t_link:.0f} s; exact links {n_exact}, "
          f"probabilistic {len(prob)}, stage-2 true pairs {len(stage2_true)}, "
          f"blocking recall on stage 1 {recall_b:.4f}")
    print("label-free vs true (stage-2 probabilistic links):")
    for name, t, row in zip(("match", "review"), (th.match, th.review), est.itertuples()):
        above = prob.match_probability.to_numpy() >= t
        true_fdr = 1 - ok[above].mean() if above.any() else float("nan")
        true_fnr = 1 - ok[above].sum() / max(len(stage2_true), 1)
        print(f"  {name:6s} t={t:<5} FDR est {row.fdr:.4f} true {true_fdr:.4f} | "
              f"FNR est {row.fnr:.4f} true {true_fnr:.4f}")

    t1 = time.perf_counter()
    gold_pairs = stage1_gold_pairs(res.links, con=con).to_table("gold")
    prevalence = target_prevalence(res.links, con.table("pf"), con=con, blocking_recall=recall_b)
    gold = gold_standard_evaluation(con.table("pf"), con.table("sf"), con.table("gold"),
                                    con=con, prevalence=prevalence, seed=seed,
                                    u_max_pairs=u_max_pairs)
    no_nir = "candidat_id IN (SELECT record_id FROM pf WHERE nir IS NULL)"
    true_no_nir = score_against_truth(res.links, data.truth["links"], con=con, where=no_nir)
    print(f"gold standard ({gold['n_gold']} records, prevalence {prevalence:.3f}, "
          f"{time.perf_counter() - t1:.0f} s) vs truth on {true_no_nir['n_true']} true pairs "
          "of candidates without NIR:")
    print(f"  precision est {gold['precision']:.4f} true {true_no_nir['precision']:.4f} | "
          f"recall est {gold['recall']:.4f} true {true_no_nir['recall']:.4f}")

    P = data.platform
    cov = subgroup_covariates(con, con.table("pf"), candidatures=P["candidatures"],
                              organisations=P["organisations"], structures=P["structures"],
                              candidats=P["candidats"]).to_table("cov")
    table = subgroup_rates(con, candidate_outcomes(con, res.links, con.table("cov")),
                           con.table("cov"))
    dept = table[table.variable == "departement"].set_index("group")
    for g in (cfg.degraded_departement, control):
        r = dept.loc[g]
        print(f"  department {g}: n {r.n}, link rate {r.link_rate:.3f} (rest {r.rate_rest:.3f}),"
              f" p_adj {r.p_adjusted:.2g}, flagged {bool(r.flagged)}")
    others = table[table.flagged & ~((table.variable == "departement")
                                     & (table.group == cfg.degraded_departement))]
    print("  other flagged groups: " + (", ".join(f"{v}={g} ({d:+.3f})" for v, g, d in zip(
        others.variable, others.group, others.difference)) or "none"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--noise-factor", type=float, default=3.0,
                        help="degraded department noise factor (SynthConfig default 3)")
    parser.add_argument("--control", default="75", help="control department")
    parser.add_argument("--u-max-pairs", type=float, default=2e6)
    args = parser.parse_args()
    pd.set_option("display.width", 120)
    for seed in args.seeds:
        run_seed(args.candidates, seed, args.noise_factor, args.control, args.u_max_pairs)


if __name__ == "__main__":
    main()
