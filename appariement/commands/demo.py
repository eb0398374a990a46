"""``appariement demo``: every stage of the pipeline on bundled synthetic data."""

from __future__ import annotations

import argparse
import json

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``demo`` sub-command."""
    p = subparsers.add_parser(
        "demo", help="run the whole pipeline on synthetic data",
        description="Generate a synthetic platform extract and source (OUT/data), keys for "
                    "the pivot protocol (OUT/keys, owner-only) and a config (OUT/config.toml), "
                    "then run every stage exactly as `appariement run OUT/config.toml` would: "
                    "input checks, identity standardisation, pivot codes, linkage, quality "
                    "report, counterfactual. The run writes into OUT/results (one folder per "
                    "stage, manifest.json, run.log), which holds none of the inputs.")
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--candidates", type=int, default=2000,
                   help="synthetic candidates (default 2000; the source is 10x larger)")
    p.add_argument("--seed", type=int, default=42, help="random seed")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .._paths import check_output_dir
    from ..pipeline import DEMO_OUTPUTS, run_demo

    # before the synthetic data is written (run_demo checks OUT/results too)
    check_output_dir(args.out, "--out")
    manifest = run_demo(args.out, n_candidates=args.candidates, seed=args.seed,
                        progress=False if args.quiet else None)
    link = manifest.counts.get("link", {})
    results = Path(args.out) / DEMO_OUTPUTS
    print(json.dumps({"out": args.out,
                      "config": str(Path(args.out) / "config.toml"),
                      "outputs": str(results),
                      "links_match": link.get("links_match"),
                      "links_review": link.get("links_review"),
                      "unlinked_platform": link.get("unlinked_platform"),
                      "report": str(results / "report" / "report.html")}, indent=2))
    return 0
