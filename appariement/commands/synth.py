"""``appariement synth``: write a synthetic platform extract, source and ground truth."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``synth`` sub-command."""
    from .link import add_profile_argument

    p = subparsers.add_parser(
        "synth", help="generate a synthetic platform extract + source with ground truth",
        description="Write DIR/platform/<table>.parquet, DIR/source/{personnes,periodes_emploi}"
                    ".parquet and DIR/truth/ (links, candidats, effect.json, config.json). "
                    "With --profile, the platform tables that profile covers are written as "
                    "the real source's CSV files, under its table and column names and with "
                    "its labels (what the source cannot carry is left out): read them with "
                    "the same --profile, or [inputs] profile in the config. Every date fits "
                    "the input checks with [project] as_of = the source date recorded in "
                    "DIR/truth/config.json (source_date), which `appariement init` writes into "
                    "a config whose inputs are that data/ folder.")
    p.add_argument("--candidates", type=int, default=20_000, help="number of candidates")
    p.add_argument("--seed", type=int, default=42, help="random seed (same seed, same files)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--source-ratio", type=float, default=10.0,
                   help="source persons per candidate (default 10)")
    p.add_argument("--deliveries", type=int, default=None, metavar="N",
                   help="write N successive extracts of the same world into DIR/<name>/ (new "
                        "candidates and candidatures, changed identities, longer follow-up; "
                        "--candidates is the size of the first one) and DIR/deliveries.json")
    p.add_argument("--growth", type=float, default=0.10,
                   help="with --deliveries: growth of the candidate file per delivery "
                        "(default 0.10)")
    add_profile_argument(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from .._paths import check_output_dir
    from ..synth import SynthConfig, generate, write_synthetic
    from .link import profile_of

    check_output_dir(args.out, "--out")
    profile = profile_of(args)
    if args.deliveries is not None:
        return _run_deliveries(args, profile)
    if profile is None:
        data = write_synthetic(args.out, n_candidates=args.candidates, seed=args.seed,
                               source_ratio=args.source_ratio)
    else:
        from ..synth.profiles import write_profile_shaped

        data = generate(SynthConfig(n_candidates=args.candidates, seed=args.seed,
                                    source_ratio=args.source_ratio))
        write_profile_shaped(data, args.out, profile)
    eff = data.effect
    shape = f" in the shape of profile {'+'.join(profile)}" if profile else ""
    print(f"wrote {args.out}{shape}: {eff['n_candidates']} candidates, "
          f"{data.source['personnes'].num_rows} source persons, "
          f"{data.source['periodes_emploi'].num_rows} spells; "
          f"planted ATT at 12 months = {eff['att']['12']:.3f}; the source is extracted on "
          f"{data.config.source_date.isoformat()}: run with [project] as_of = that date "
          "(`appariement init --as-of`; init finds it itself when this folder is the "
          "data/ folder beside its config)")
    return 0


def _run_deliveries(args: argparse.Namespace, profile) -> int:
    """``--deliveries N``: one world, N extracts (see :mod:`appariement.synth.deliveries`)."""
    from ..synth import SynthData
    from ..synth.deliveries import write_deliveries

    series = write_deliveries(args.out, args.deliveries, args.candidates, seed=args.seed,
                              growth=args.growth, source_ratio=args.source_ratio)
    if profile is not None:
        from ..synth.profiles import write_profile_shaped

        for d in series.deliveries:  # the same files, in the profile's shape
            write_profile_shaped(SynthData(d.platform, d.source, d.truth, series.world.effect,
                                           series.world.config), f"{args.out}/{d.name}",
                                 profile)
    for d in series.deliveries:
        print(f"{args.out}/{d.name}: {d.platform['candidats'].num_rows} candidates, "
              f"{d.source['personnes'].num_rows} source persons, "
              f"{d.truth['changes'].num_rows} identity changes; extracted on "
              f"{d.extraction_date.isoformat()}, source on {d.source_date.isoformat()} "
              "(its [project] as_of)")
    return 0
