"""``appariement counterfactual``: evaluation dataset, codebook, balance and estimates."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("counterfactual", help="build the evaluation dataset and estimate the "
                       "effect of an IAE hire (non-retained candidates as comparison)",
                       description="Evaluation dataset (Parquet) + codebook, balance and "
                                   "ATT estimates (naive, IPW, matching) as JSON and HTML; "
                                   "counts disclosure-controlled.")
    p.add_argument("--platform", required=True, help="platform folder (candidats, "
                   "candidatures, structures, organisations, diagnostics)")
    p.add_argument("--source", required=True, help="source folder or periodes_emploi file")
    p.add_argument("--links", required=True,
                   help="links file (links.parquet) or a linkage output folder")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--grace-days", type=int, default=90)
    p.add_argument("--later-hires", default="censor", choices=("censor", "keep", "exclude"),
                   help="comparison people hired after the grace period: censor (default; ATT "
                        "versus never hired, IPCW), keep (ATT versus not hired within the "
                        "grace period) or exclude")
    p.add_argument("--unit", default="person", choices=("person", "person_month"))
    p.add_argument("--comparison-classes", default="employer_side",
                   help="comma-separated refusal classes, or 'all' (default employer_side)")
    p.add_argument("--eligible-only", action="store_true",
                   help="keep only people eligible at time zero")
    p.add_argument("--outcomes", default="employed_6m,employed_12m,employed_24m,durable_12m,"
                   "months_employed_12m")
    p.add_argument("--n-boot", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--thresholds", default="0.5,0.8,0.9,0.95,0.99",
                   help="match-threshold grid for the sensitivity ('' to skip)")
    p.add_argument("--min-cell", type=int, default=11, help="smallest published count")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.counterfactual import CounterfactualDesign
    from ..evaluation.counterfactual_report import run_counterfactual
    links = Path(args.links)
    if links.is_dir():
        links = links / "links.parquet"
    classes = None if args.comparison_classes == "all" else tuple(
        c.strip() for c in args.comparison_classes.split(",") if c.strip())
    design = CounterfactualDesign(grace_days=args.grace_days, later_hires=args.later_hires,
                                  unit=args.unit, comparison_classes=classes,
                                  eligible_only=args.eligible_only)
    thresholds = tuple(float(x) for x in args.thresholds.split(",") if x.strip())
    result = run_counterfactual(args.platform, args.source, str(links), args.out, design=design,
                                outcomes=tuple(o.strip() for o in args.outcomes.split(",")),
                                n_boot=args.n_boot, seed=args.seed, thresholds=thresholds,
                                min_cell=args.min_cell)
    for row in result["estimates"]:
        if row["variant"] == "main":
            print(f"{row['outcome']:>22} {row['method']:>9} {row['estimate']!s:>8.6} "
                  f"[{row['ci_low']!s:.6}, {row['ci_high']!s:.6}]")
    print(f"written to {args.out}")
    return 0
