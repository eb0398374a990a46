"""``appariement run CONFIG.toml``: every stage of a batch run, from one config file."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``run`` sub-command."""
    from ..pipeline import STAGES

    p = subparsers.add_parser(
        "run", help="run the pipeline described by a config file",
        description="Run the stages of CONFIG (" + " -> ".join(STAGES) + "). Completed "
                    "stages whose inputs and settings are unchanged are skipped (resume); "
                    "every stage writes into OUTPUTS/<stage>/ with a _SUCCESS.json marker, "
                    "and the run writes OUTPUTS/manifest.json and a JSON-lines log "
                    "(OUTPUTS/run.log unless --log-file is given).")
    p.add_argument("config", help="TOML config file (see `appariement init`)")
    p.add_argument("--stage", action="append", choices=STAGES,
                   help="run only this stage (repeatable); earlier stages' outputs are read "
                        "from disk")
    p.add_argument("--dry-run", action="store_true",
                   help="check the config, the keys and the inputs and print the blocking "
                        "budget table; link nothing, write nothing")
    p.add_argument("--restart", action="store_true",
                   help="re-run every stage even when its outputs are up to date")
    p.add_argument("--delivery", metavar="NAME",
                   help="run this delivery of the project's series (overrides [delivery] "
                        "name): outputs in OUTPUTS/deliveries/NAME/; the first delivery trains "
                        "and freezes the model, later ones reuse it and score only new or "
                        "changed records")
    p.add_argument("--retrain", action="store_true",
                   help="with a delivery: train a new model instead of reusing the frozen one, "
                        "and write the drift check (link/drift.json)")
    from .link import add_profile_argument
    add_profile_argument(p, overrides="[inputs] profile")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from .._paths import private_dir, private_file
    from .._progress import JsonLinesFormatter
    from ..config import load_config
    from ..pipeline import check_paths, run_pipeline

    config = load_config(args.config)
    if getattr(args, "profile", None):
        config = config.with_profile(args.profile, option="--profile")
    delivery = getattr(args, "delivery", None) or config.delivery.name
    retrain = True if getattr(args, "retrain", False) else None
    run_config = config
    if delivery is not None:
        from ..deliveries import plan_delivery

        # the series and the previous delivery are checked before anything is written
        run_config = plan_delivery(config, delivery, retrain).run_config
    elif retrain:
        from ..errors import ConfigError

        raise ConfigError("--retrain applies to a delivery: give --delivery NAME or "
                          "[delivery] name")
    # every path checked before the first byte (run.log included) is written
    check_paths(run_config, args.stage)
    handler = None
    if not args.log_file and not args.dry_run:
        if delivery is not None:
            private_dir(Path(config.outputs.dir) / "deliveries")
        out = private_dir(run_config.outputs.dir)
        handler = logging.FileHandler(private_file(out / "run.log"), encoding="utf-8")
        handler.setLevel(logging.DEBUG)
        handler.setFormatter(JsonLinesFormatter())
        root = logging.getLogger("appariement")
        root.setLevel(logging.DEBUG)
        root.addHandler(handler)
    try:
        if delivery is not None:
            from ..deliveries import run_delivery

            manifest = run_delivery(config, delivery, retrain=retrain, stages=args.stage,
                                    dry_run=args.dry_run, restart=args.restart,
                                    progress=False if args.quiet else None)
        else:
            manifest = run_pipeline(config, args.stage, dry_run=args.dry_run,
                                    restart=args.restart,
                                    progress=False if args.quiet else None)
    finally:
        if handler is not None:
            logging.getLogger("appariement").removeHandler(handler)
            handler.close()
    if args.dry_run:
        _print_budget(manifest)
        return 0
    link = manifest.counts.get("link", {})
    done = ", ".join(manifest.counts)
    print(f"stages: {done}; outputs in {run_config.outputs.dir}"
          + (f"; {link.get('links_match')} matches, {link.get('links_review')} to review"
             if link else ""))
    return 0


def _print_budget(manifest) -> None:
    blocking = manifest.counts["blocking"]
    inputs = manifest.counts.get("inputs", {})
    for table, c in inputs.items():
        print(f"input {table}: {c.get('read')} read, {c.get('kept')} kept, "
              f"{c.get('rejected')} rejected")
    print(f"{'rule':<24}{'pairs':>14}{'new pairs':>14}{'cumulative':>14}")
    for row in blocking["rules"]:
        print(f"{row['rule']:<24}{row['pairs']:>14,}{row['marginal_pairs']:>14,}"
              f"{row['cumulative_pairs']:>14,}")
    verdict = "within" if blocking["within_budget"] else "OVER"
    print(f"total {blocking['total_pairs']:,} pairs: {verdict} the budget of "
          f"{blocking['budget']:,} (linkage.comparison_budget). Dry run: nothing linked.")
