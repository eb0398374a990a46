"""``appariement counterfactual``: evaluation dataset, codebook, balance and estimates."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._paths import (check_output_dir, private_outputs, refuse_inputs_in_outputs,
                      refuse_output_over_input)
from ..config import add_option, check_options
from ..errors import ConfigError


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
    add_option(p, "--grace-days", "counterfactual.grace_days")
    add_option(p, "--later-hires", "counterfactual.later_hires",
               help="comparison people hired after the grace period: censor (ATT versus never "
                    "hired, IPCW), keep (ATT versus not hired within the grace period) or "
                    "exclude")
    add_option(p, "--unit", "counterfactual.unit")
    add_option(p, "--comparison-classes", "counterfactual.comparison_classes",
               help="comma-separated refusal classes, or 'all'")
    p.add_argument("--eligible-only", action="store_true",
                   help="keep only people eligible at time zero")
    add_option(p, "--outcomes", "counterfactual.outcomes", help="comma-separated outcomes")
    add_option(p, "--n-boot", "counterfactual.n_boot")
    p.add_argument("--seed", type=int, default=0)
    add_option(p, "--thresholds", "counterfactual.sensitivity_thresholds",
               help="match-threshold grid for the sensitivity ('' to skip)")
    add_option(p, "--min-cell", "quality.min_cell")
    add_option(p, "--language", "report.language")
    p.set_defaults(func=run)


_OPTIONS = {"counterfactual.grace_days": "--grace-days",
            "counterfactual.later_hires": "--later-hires", "counterfactual.unit": "--unit",
            "counterfactual.comparison_classes": "--comparison-classes",
            "counterfactual.outcomes": "--outcomes", "counterfactual.n_boot": "--n-boot",
            "counterfactual.sensitivity_thresholds": "--thresholds",
            "quality.min_cell": "--min-cell", "project.seed": "--seed"}


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _thresholds(text: str) -> tuple[float, ...]:
    values = []
    for part in _split(text):
        try:
            values.append(float(part))
        except ValueError:
            raise ConfigError(f"--thresholds (counterfactual.sensitivity_thresholds): {part!r} "
                              "is not a number; give comma-separated numbers between 0 and 1, "
                              "e.g. 0.5,0.9") from None
    return tuple(values)


def _check_arguments(args: argparse.Namespace):
    """Parse the list options and check every option by the config's rules.

    Returns:
        (comparison classes or None for 'all', outcomes, thresholds).
    """
    classes = None if args.comparison_classes.strip() == "all" else _split(
        args.comparison_classes)
    outcomes = _split(args.outcomes)
    thresholds = _thresholds(args.thresholds)
    values = {"counterfactual.grace_days": args.grace_days,
              "counterfactual.later_hires": args.later_hires, "counterfactual.unit": args.unit,
              "counterfactual.outcomes": outcomes, "counterfactual.n_boot": args.n_boot,
              "counterfactual.sensitivity_thresholds": list(thresholds),
              "quality.min_cell": args.min_cell, "project.seed": args.seed}
    if classes is not None:
        values["counterfactual.comparison_classes"] = classes
    check_options(values, _OPTIONS)
    if not outcomes:
        raise ConfigError("--outcomes (counterfactual.outcomes) is empty; give at least one "
                          "outcome, e.g. employed_12m")
    if classes is not None and not classes:
        raise ConfigError("--comparison-classes is empty; give classes or 'all'")
    return (None if classes is None else tuple(classes)), tuple(outcomes), thresholds


def run(args: argparse.Namespace) -> int:
    from ..evaluation.counterfactual import CounterfactualDesign
    from ..evaluation.counterfactual.report import run_counterfactual

    classes, outcomes, thresholds = _check_arguments(args)
    links = Path(args.links)
    if links.is_dir():
        links = links / "links.parquet"
    for role, path, kind in (("--platform", Path(args.platform), "folder"),
                             ("--source", Path(args.source), "any"),
                             ("--links", links, "file")):
        if not path.exists():
            raise ConfigError(f"{role} {path} does not exist")
        if kind == "folder" and not path.is_dir():
            raise ConfigError(f"{role} {path} is a file; give the platform folder")
        if kind == "file" and not path.is_file():
            raise ConfigError(f"{role} {path} is a folder without links.parquet")
    out = Path(args.out)
    inputs = {"--platform": args.platform, "--source": args.source, "--links": args.links,
              "--links file": links}
    refuse_output_over_input({"--out": out, **{f"--out/{name}": out / name for name in _WRITES}},
                             inputs)
    refuse_inputs_in_outputs(out, "--out", inputs)  # --out belongs to the command
    check_output_dir(out, "--out")
    design = CounterfactualDesign(grace_days=args.grace_days, later_hires=args.later_hires,
                                  unit=args.unit, comparison_classes=classes,
                                  eligible_only=args.eligible_only)
    with private_outputs(out):
        result = run_counterfactual(args.platform, args.source, str(links), out, design=design,
                                    outcomes=outcomes, n_boot=args.n_boot, seed=args.seed,
                                    thresholds=thresholds, min_cell=args.min_cell,
                                    language=args.language)
    from ..evaluation.output_check import check_outputs
    check_outputs(out)  # every exported table, once; DisclosureError (exit 6) if one is unsafe
    for row in result["estimates"]:
        if row["variant"] == "main":
            print(f"{row['outcome']:>22} {row['method']:>9} {row['estimate']!s:>8.6} "
                  f"[{row['ci_low']!s:.6}, {row['ci_high']!s:.6}]")
    print(f"written to {args.out}")
    return 0


#: the files the command writes into --out
_WRITES = ("evaluation.parquet", "codebook.json", "codebook.md", "counterfactual.json",
           "counterfactual.html")
