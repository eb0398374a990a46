"""Bias and coverage of the naive, IPW, matching and AIPW ATT estimates against the planted
effect, and the bootstrap's cost.

The truth depends on the design: ``--later-hires censor`` (default) estimates the effect versus
never hired (``effect.json["att_vs_never"]``), ``keep`` versus not hired within the grace
period (``effect.json["att"]``). The run fails (exit code 1) when IPW or matching has a mean
absolute bias above ``--tolerance``, or when the naive difference does not exceed it.

Usage: .venv/bin/python benchmarks/bench_counterfactual.py --seeds 5 --candidates 5000
"""

from __future__ import annotations

import argparse
import sys
import time

import duckdb
import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--candidates", type=int, default=5000)
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--outcome", default="employed_12m")
    parser.add_argument("--later-hires", default="censor", choices=("censor", "keep"))
    parser.add_argument("--comparison", default="all",
                        help="comparison refusal classes ('all' or e.g. employer_side)")
    parser.add_argument("--tolerance", type=float, default=0.02,
                        help="largest mean bias (absolute value, over seeds) for IPW/matching")
    args = parser.parse_args()
    from appariement.evaluation import (CounterfactualDesign, build_evaluation_dataset,
                                        estimate_effects)
    from appariement.synth import SynthConfig, generate
    h = args.outcome.rsplit("_", 1)[1].rstrip("m")
    key = "att_vs_never" if args.later_hires == "censor" else "att"
    classes = None if args.comparison == "all" else tuple(args.comparison.split(","))
    design = CounterfactualDesign(comparison_classes=classes, later_hires=args.later_hires)
    res: dict = {m: {"err": [], "cover": [], "cover_ai": []}
                 for m in ("naive", "ipw", "matching", "aipw")}
    per_replicate = []
    for seed in range(args.seeds):
        data = generate(SynthConfig(n_candidates=args.candidates, source_ratio=2, seed=seed))
        truth = data.effect[key][h]
        start = time.perf_counter()
        ds = build_evaluation_dataset(duckdb.connect(), data.platform,
                                      data.source["periodes_emploi"], data.truth["links"],
                                      design)
        built = time.perf_counter() - start
        est = estimate_effects(ds, args.outcome, n_boot=args.n_boot, seed=seed).table
        took = time.perf_counter() - start - built
        per_replicate.append(took / max(args.n_boot, 1))
        for r in est.itertuples():
            res[r.method]["err"].append(r.estimate - truth)
            res[r.method]["cover"].append(r.ci_low <= truth <= r.ci_high)
            res[r.method]["cover_ai"].append(r.ci_low_ai <= truth <= r.ci_high_ai)
        print(f"seed {seed}: {key} {truth:.4f} " + " ".join(
            f"{r.method} {r.estimate:.4f} [{r.ci_low:.4f}, {r.ci_high:.4f}]"
            for r in est.itertuples()) + f"  (build {built:.1f} s, estimate {took:.1f} s)")
    print(f"\n{args.seeds} seeds x {args.candidates} candidates, outcome {args.outcome}, "
          f"later_hires={args.later_hires} (truth: {key}), comparison {args.comparison}, "
          f"n_boot {args.n_boot}: {np.mean(per_replicate) * 1000:.0f} ms per replicate")
    ok = True
    for m, v in res.items():
        err = np.asarray(v["err"])
        line = (f"{m:>9}: mean bias {err.mean():+.4f}  mean |error| {np.abs(err).mean():.4f}  "
                f"bootstrap coverage {np.mean(v['cover']):.2f}")
        if m == "matching":
            line += f"  Abadie-Imbens coverage {np.mean(v['cover_ai']):.2f}"
        print(line)
        if m == "naive":
            ok &= abs(err.mean()) > args.tolerance
        else:
            ok &= abs(err.mean()) <= args.tolerance
    print(f"tolerance {args.tolerance}: {'PASS' if ok else 'FAIL'} (IPW, matching, AIPW mean bias "
          "within it, naive outside it)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
