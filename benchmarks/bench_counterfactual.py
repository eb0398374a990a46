"""Bias and coverage of the naive, IPW and matching ATT estimates against the planted effect.

Usage: .venv/bin/python benchmarks/bench_counterfactual.py --seeds 5 --candidates 5000
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: no BLAS thread thrashing

import argparse  # noqa: E402
import time  # noqa: E402

import duckdb  # noqa: E402
import numpy as np  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--candidates", type=int, default=5000)
    parser.add_argument("--n-boot", type=int, default=100)
    parser.add_argument("--outcome", default="employed_12m")
    args = parser.parse_args()
    from appariement.evaluation import (CounterfactualDesign, build_evaluation_dataset,
                                        estimate_effects)
    from appariement.synth import SynthConfig, generate
    h = args.outcome.rsplit("_", 1)[1].rstrip("m")
    res: dict = {m: {"err": [], "cover": []} for m in ("naive", "ipw", "matching")}
    for seed in range(args.seeds):
        data = generate(SynthConfig(n_candidates=args.candidates, source_ratio=2, seed=seed))
        truth = data.effect["att"][h]
        start = time.perf_counter()
        ds = build_evaluation_dataset(duckdb.connect(), data.platform,
                                      data.source["periodes_emploi"], data.truth["links"],
                                      CounterfactualDesign(comparison_classes=None))
        built = time.perf_counter() - start
        est = estimate_effects(ds, args.outcome, n_boot=args.n_boot, seed=seed).table
        took = time.perf_counter() - start - built
        for r in est.itertuples():
            res[r.method]["err"].append(r.estimate - truth)
            res[r.method]["cover"].append(r.ci_low <= truth <= r.ci_high)
        print(f"seed {seed}: truth {truth:.4f} " + " ".join(
            f"{r.method} {r.estimate:.4f} [{r.ci_low:.4f}, {r.ci_high:.4f}]"
            for r in est.itertuples()) + f"  (build {built:.1f} s, estimate {took:.1f} s)")
    print(f"\n{args.seeds} seeds x {args.candidates} candidates, outcome {args.outcome}")
    for m, v in res.items():
        err = np.asarray(v["err"])
        print(f"{m:>9}: mean bias {err.mean():+.4f}  mean |error| {np.abs(err).mean():.4f}  "
              f"coverage {np.mean(v['cover']):.2f}")


if __name__ == "__main__":
    main()
