"""``appariement synth``: write a synthetic platform extract, source and ground truth."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``synth`` sub-command."""
    p = subparsers.add_parser(
        "synth", help="generate a synthetic platform extract + source with ground truth",
        description="Write DIR/platform/<table>.parquet, DIR/source/{personnes,periodes_emploi}"
                    ".parquet and DIR/truth/ (links, candidats, effect.json, config.json).")
    p.add_argument("--candidates", type=int, default=20_000, help="number of candidates")
    p.add_argument("--seed", type=int, default=42, help="random seed (same seed, same files)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--source-ratio", type=float, default=10.0,
                   help="source persons per candidate (default 10)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from .._paths import check_output_dir
    from ..synth import write_synthetic

    check_output_dir(args.out, "--out")
    data = write_synthetic(args.out, n_candidates=args.candidates, seed=args.seed,
                           source_ratio=args.source_ratio)
    eff = data.effect
    print(f"wrote {args.out}: {eff['n_candidates']} candidates, "
          f"{data.source['personnes'].num_rows} source persons, "
          f"{data.source['periodes_emploi'].num_rows} spells; "
          f"planted ATT at 12 months = {eff['att']['12']:.3f}")
    return 0
