"""``appariement report``: the quality report of a linkage output folder.

With ``--source`` the report adds the gold standard (the exact-stage NIR links re-linked on
traits only) and its selection table, and ``--review-sample N`` writes a clerical-review file.
That file shows identity traits side by side (never the NIR): it is for the enclave's
reviewers and must not leave the enclave. ``--review-labels`` reads it back once labelled and
uses the labels in the error estimates and threshold curves.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .._paths import (check_output_dir, private_outputs, refuse_inputs_in_outputs,
                      refuse_output_over_input)
from ..config import add_option, check_options
from ..errors import ConfigError, InputError


def register(sub) -> None:
    p = sub.add_parser("report", help="write the quality report (HTML + JSON) of a linkage",
                       description="Quality report of a linkage output folder (written by "
                                   "LinkageResult.write): label-free errors, thresholds, "
                                   "subgroup bias, model; disclosure-controlled.")
    p.add_argument("--links", required=True, help="linkage output folder (links.parquet ...)")
    p.add_argument("--platform", required=True,
                   help="platform folder (candidats, candidatures, organisations, structures)")
    p.add_argument("--out", required=True, help="output folder for report.html / report.json")
    add_option(p, "--min-cell", "quality.min_cell")
    add_option(p, "--language", "report.language")
    add_option(p, "--rounding", "quality.rounding")
    add_option(p, "--objective", "quality.objective")
    add_option(p, "--target", "quality.target")
    p.add_argument("--source", default=None,
                   help="source folder (personnes): adds the gold standard from the NIR links "
                        "and is needed by --review-sample")
    p.add_argument("--review-sample", type=int, default=None, metavar="N",
                   help="also write review_sample.csv: N pairs for clerical review, identity "
                        "traits side by side, never the NIR (stays inside the enclave)")
    p.add_argument("--review-labels", default=None, metavar="FILE",
                   help="the review file with its label column filled in (match / non_match / "
                        "unsure): used in the error estimates and threshold curves")
    p.add_argument("--seed", type=int, default=0, help="seed of the review sample and of the "
                                                       "gold standard's partner removal")
    p.set_defaults(func=run)


def _table(folder: Path, name: str, required: bool = True):
    for ext in (".parquet", ".csv"):
        path = folder / f"{name}{ext}"
        if path.exists():
            return str(path)
    if required:
        raise InputError(f"{folder} has no {name}.parquet or {name}.csv", table=name)
    return None


def run(args: argparse.Namespace) -> int:
    links_dir, platform_dir = Path(args.links), Path(args.platform)
    source_dir = Path(args.source) if args.source else None
    _check_arguments(args)
    if args.review_sample is not None and source_dir is None:
        raise ConfigError("--review-sample needs --source (the reviewers compare both sides)")
    if args.review_labels and not Path(args.review_labels).is_file():
        raise ConfigError(f"review labels file {args.review_labels} does not exist")
    for role, d, what in (("--links", links_dir, "the linkage output folder (the one holding "
                                                "links.parquet)"),
                          ("--platform", platform_dir, "the platform folder"),
                          ("--source", source_dir, "the source folder")):
        if d is None:
            continue
        if d.exists() and not d.is_dir():
            raise ConfigError(f"{role} {d} is a file, not a folder; give {what}")
        if not d.is_dir():
            raise ConfigError(f"{role}: folder {d} does not exist")
    out = Path(args.out)
    inputs = {"--links": links_dir, "--platform": platform_dir, "--source": source_dir,
              "--review-labels": args.review_labels}
    # nothing written before every path is known to be safe: --out may not be an input
    refuse_output_over_input(
        {"--out": out, "--out/review_sample.csv": out / "review_sample.csv"
         if args.review_sample else None,
         "--out/report.html": out / "report.html", "--out/report.json": out / "report.json"},
        inputs)
    refuse_inputs_in_outputs(out, "--out", inputs)  # --out belongs to the command
    check_output_dir(out, "--out")
    with private_outputs(out):
        return _report(args, links_dir, platform_dir, source_dir, out)


def _check_arguments(args: argparse.Namespace) -> None:
    """The options that stand for config keys follow the config's rules."""
    check_options({"quality.min_cell": args.min_cell, "quality.rounding": args.rounding,
                   "quality.objective": args.objective, "quality.target": args.target,
                   "project.seed": args.seed},
                  {"quality.min_cell": "--min-cell", "quality.rounding": "--rounding",
                   "quality.objective": "--objective", "quality.target": "--target",
                   "project.seed": "--seed"})
    if args.review_sample is not None and args.review_sample < 1:
        raise ConfigError(f"--review-sample = {args.review_sample} is out of range: must be "
                          ">= 1 (pairs to review)")


def _report(args, links_dir: Path, platform_dir: Path, source_dir: Path | None,
            out: Path) -> int:
    import duckdb

    from ..evaluation import (DisclosurePolicy, build_report, draw_review_sample,
                              export_review_sample, gold_standard_evaluation,
                              read_review_labels, selection_table, stage1_gold_pairs,
                              subgroup_covariates, target_prevalence)
    from ..identity import standardise_identities
    from ..linkage import LinkageModel, Thresholds

    policy = DisclosurePolicy(threshold=args.min_cell, rounding=args.rounding)
    con = duckdb.connect()
    links = con.read_parquet(_table(links_dir, "links"))
    counts, thresholds = {}, (0.9, 0.5)
    counts_file = links_dir / "linkage_counts.json"
    if counts_file.exists():
        meta = json.loads(counts_file.read_text(encoding="utf-8"))
        counts = meta.get("counts", {})
        th = meta.get("config", {}).get("thresholds") or {}
        thresholds = (th.get("match", 0.9), th.get("review", 0.5))
    model = (LinkageModel.load(links_dir / "model.json")
             if (links_dir / "model.json").exists() else None)
    features = standardise_identities(con, _table(platform_dir, "candidats"), side="platform")
    features.to_table("_rep_pf")
    cov = subgroup_covariates(con, con.table("_rep_pf"),
                              candidatures=_table(platform_dir, "candidatures", False),
                              organisations=_table(platform_dir, "organisations", False),
                              structures=_table(platform_dir, "structures", False),
                              candidats=_table(platform_dir, "candidats"))
    cov.to_table("_rep_cov")
    pairs_file = links_dir / "pairs.parquet"
    pairs = con.read_parquet(str(pairs_file)) if pairs_file.exists() else None
    gold = selection = None
    if source_dir is not None:
        standardise_identities(con, _table(source_dir, "personnes"),
                               side="source").to_table("_rep_sf")
        gold_pairs = stage1_gold_pairs(links, con=con)
        gold_pairs.to_table("_rep_gold")
        n_gold = con.execute("SELECT count(*) FROM _rep_gold").fetchall()[0][0]
        if n_gold:
            prevalence = target_prevalence(links, con.table("_rep_pf"), con=con,
                                           blocking_recall=counts.get(
                                               "blocking_recall_on_stage1"))
            gold = gold_standard_evaluation(
                con.table("_rep_pf"), con.table("_rep_sf"), con.table("_rep_gold"), con=con,
                prevalence=prevalence, seed=args.seed,
                thresholds=Thresholds(match=thresholds[0], review=thresholds[1]))
            selection = selection_table(con, con.table("_rep_cov"), con.table("_rep_gold"))
        else:
            print("no exact-stage links: the report has no gold standard")
        if args.review_sample:
            sample = draw_review_sample(links, n=args.review_sample, review=thresholds[1],
                                        match=thresholds[0], seed=args.seed, con=con)
            path = export_review_sample(sample, con.table("_rep_pf"), con.table("_rep_sf"),
                                        out / "review_sample.csv", con=con)
            print(f"review sample written: {path} ({len(sample)} pairs; identity traits, no "
                  "NIR — keep it inside the enclave)")
    review = read_review_labels(args.review_labels) if args.review_labels else None
    report = build_report(links, con.table("_rep_cov"), counts=counts, model=model,
                          thresholds=thresholds, policy=policy, con=con,
                          objective=args.objective, target=args.target, pairs=pairs,
                          gold=gold, selection=selection, review=review,
                          features={"platform": con.table("_rep_pf"),
                                    "source": con.table("_rep_sf")
                                    if source_dir is not None else None},
                          language=args.language)
    written = report.write(out)
    from ..evaluation.output_check import check_outputs
    check_outputs(out)  # every exported table, once; DisclosureError (exit 6) if one is unsafe
    print(f"report written: {written['html']} and {written['json']}")
    return 0
