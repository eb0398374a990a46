"""``appariement demo``: every stage of the pipeline on bundled synthetic data."""

from __future__ import annotations

import argparse
import json

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``demo`` sub-command."""
    p = subparsers.add_parser(
        "demo", help="run the whole pipeline on synthetic data",
        description="Generate a synthetic platform extract and source, keys for the pivot "
                    "protocol (OUT/keys, owner-only) and a config (OUT/config.toml), then run "
                    "every stage exactly as `appariement run OUT/config.toml` would: input "
                    "checks, identity standardisation, pivot codes, linkage, quality report, "
                    "counterfactual. Run manifest: OUT/manifest.json.")
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--candidates", type=int, default=2000,
                   help="synthetic candidates (default 2000; the source is 10x larger)")
    p.add_argument("--seed", type=int, default=42, help="random seed")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from .._paths import check_output_dir
    from ..pipeline import run_demo

    check_output_dir(args.out, "--out")  # before the synthetic data is written
    manifest = run_demo(args.out, n_candidates=args.candidates, seed=args.seed,
                        progress=False if args.quiet else None)
    link = manifest.counts.get("link", {})
    print(json.dumps({"out": args.out,
                      "config": f"{args.out}/config.toml",
                      "links_match": link.get("links_match"),
                      "links_review": link.get("links_review"),
                      "unlinked_platform": link.get("unlinked_platform"),
                      "report": f"{args.out}/report/report.html"}, indent=2))
    return 0
