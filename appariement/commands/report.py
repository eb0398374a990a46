"""``appariement report``: the quality report of a linkage output folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

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
    p.add_argument("--min-cell", type=int, default=11, help="smallest published count (11)")
    p.add_argument("--rounding", type=int, default=None, help="round counts to this base")
    p.add_argument("--objective", default="max_f1",
                   choices=("max_f1", "max_recall_at_fdr", "max_precision_at_fnr"))
    p.add_argument("--target", type=float, default=0.01, help="error bound of the objective")
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
    import duckdb

    from ..evaluation import DisclosurePolicy, build_report, subgroup_covariates
    from ..identity import standardise_identities
    from ..linkage import LinkageModel

    links_dir, platform_dir = Path(args.links), Path(args.platform)
    for d in (links_dir, platform_dir):
        if not d.is_dir():
            raise ConfigError(f"folder {d} does not exist")
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
    report = build_report(links, con.table("_rep_cov"), counts=counts, model=model,
                          thresholds=thresholds, policy=policy, con=con,
                          objective=args.objective, target=args.target)
    written = report.write(args.out)
    print(f"report written: {written['html']} and {written['json']}")
    return 0
