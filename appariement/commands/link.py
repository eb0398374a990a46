"""``appariement link``: the cascade (exact key, then probabilistic) on two identity tables."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._paths import (check_output_dir, check_output_file, private_outputs,
                      refuse_inputs_in_outputs, refuse_output_over_input)
from ..config import add_option, check_options
from ..errors import ConfigError

__all__ = ["register", "add_profile_argument", "profile_of", "input_source"]


def add_profile_argument(parser, *, overrides: str | None = None) -> None:
    """The ``--profile NAME`` option (repeatable: profiles of different tables combine)."""
    from ..io.profiles import list_profiles

    parser.add_argument(
        "--profile", action="append", metavar="NAME",
        help="import profile of a real source, whose file, column names and labels are read "
             f"into the data contract ({', '.join(list_profiles())}); repeat it to combine "
             "profiles of different tables" + (f"; overrides {overrides}" if overrides else ""))


def profile_of(args: argparse.Namespace) -> list[str] | None:
    """The ``--profile`` names, checked (unknown name: ConfigError listing the known ones)."""
    from ..io.profiles import get_profile

    names = getattr(args, "profile", None)
    if not names:
        return None
    try:
        get_profile(list(names))
    except ConfigError as exc:
        raise ConfigError(f"--profile: {exc}") from None
    return list(names)


def input_source(arg: str, table: str, profile: list[str] | None, side: str
                 ) -> tuple[str, str]:
    """(input name, file) of one table given as a file or a folder on the command line.

    Without a profile the name is the contract table (``candidats``). With one, a folder is
    searched for the profile's source names (``candidats_v0.csv``, ``job_seekers.csv``) and a
    file keeps its own name when the profile knows it, else stands for the table's first
    source name.
    """
    if profile is None:
        return table, _table_path(arg, table)
    from ..io.profiles import find_profile_files, get_profile, table_of

    path = Path(arg)
    if path.is_dir():
        found = {n: p for n, p in find_profile_files(path, profile, side).items()
                 if (table_of(profile, n) or n) == table}
        if not found:
            raise ConfigError(f"no {table} file in {arg} under the names of profile "
                              f"{'+'.join(profile)}")
        name = sorted(found)[0]
        return name, str(found[name])
    stem = _stem(path.name)
    if table_of(profile, stem) == table or stem == table:
        return stem, str(path)
    tp = get_profile(profile).tables.get(table)
    return (tp.sources[0] if tp is not None and tp.sources else table), str(path)


def _stem(name: str) -> str:
    low = name.lower()
    for ext in (".csv.gz", ".parquet", ".pq", ".csv", ".tsv", ".txt"):
        if low.endswith(ext):
            return name[: -len(ext)]
    return name


def register(subparsers) -> None:
    """Add the ``link`` sub-command."""
    p = subparsers.add_parser(
        "link", help="link platform candidates to source persons",
        description="Read candidats and personnes (Parquet/CSV files, or folders holding them), "
                    "standardise identities, link (exact key stage, then Fellegi-Sunter on "
                    "traits) and write links, unlinked records, scored pairs and the model "
                    "into --out.")
    p.add_argument("--platform", required=True,
                   help="candidats file, or a folder with candidats.parquet|csv")
    p.add_argument("--source", required=True,
                   help="personnes file, or a folder with personnes.parquet|csv")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--key", default="nir",
                   help="exact-stage key column present on both sides (default nir); "
                        "'none' for traits-only linkage")
    add_option(p, "--match-threshold", "linkage.match_threshold")
    add_option(p, "--review-threshold", "linkage.review_threshold")
    add_option(p, "--assignment", "linkage.assignment")
    add_option(p, "--backend", "backend.engine")
    add_option(p, "--budget", "linkage.comparison_budget")
    p.add_argument("--blocking-rules", default="default",
                   help="'default', 'large' (tighter rules for millions of source persons) or a "
                        "comma-separated list of rule names from appariement.blocking.FRENCH_RULES")
    p.add_argument("--model", help="a saved model.json to reuse instead of training")
    p.add_argument("--database", default=":memory:",
                   help="DuckDB database file for data larger than memory (default in memory)")
    add_option(p, "--rejects", "inputs.rejects")
    add_profile_argument(p)
    p.set_defaults(func=_run)


def _table_path(arg: str, table: str) -> str:
    path = Path(arg)
    if path.is_dir():
        for sub in (path, path / "platform", path / "source"):
            for ext in (".parquet", ".csv"):
                if (sub / f"{table}{ext}").exists():
                    return str(sub / f"{table}{ext}")
        raise ConfigError(f"no {table}.parquet or {table}.csv in {arg}")
    return str(path)


def _rules(arg: str) -> tuple[str, ...]:
    from ..blocking.rules import DEFAULT_PREDICTION_RULES, LARGE_FILE_RULES
    presets = {"default": DEFAULT_PREDICTION_RULES, "large": LARGE_FILE_RULES}
    if arg in presets:
        return tuple(presets[arg])
    return tuple(name.strip() for name in arg.split(",") if name.strip())


def _run(args: argparse.Namespace) -> int:
    rules = _rules(args.blocking_rules)
    check_options({"linkage.match_threshold": args.match_threshold,
                   "linkage.review_threshold": args.review_threshold,
                   "linkage.comparison_budget": args.budget,
                   "linkage.blocking_rules": list(rules)},
                  {"linkage.match_threshold": "--match-threshold",
                   "linkage.review_threshold": "--review-threshold",
                   "linkage.comparison_budget": "--budget",
                   "linkage.blocking_rules": "--blocking-rules"})
    profile = profile_of(args)
    cand_name, cand = input_source(args.platform, "candidats", profile, "platform")
    pers_name, pers = input_source(args.source, "personnes", profile, "source")
    for role, path in (("--platform", cand), ("--source", pers)):
        if not Path(path).is_file():
            raise ConfigError(f"{role}: file {path} does not exist")
    out = Path(args.out)
    database = None if args.database == ":memory:" else Path(args.database)
    inputs = {"--platform": args.platform, "--source": args.source,
              "--platform (candidats)": cand, "--source (personnes)": pers,
              "--model": args.model}
    # every output path checked before the first byte is written
    refuse_output_over_input(
        {"--out": out, "--database": database,
         **{f"--out/{name}": out / name for name in _WRITES}}, inputs)
    refuse_inputs_in_outputs(out, "--out", inputs)  # --out belongs to the command
    check_output_dir(out, "--out")
    if database is not None:
        check_output_file(database, "--database")
    if args.model and not Path(args.model).is_file():
        raise ConfigError(f"--model {args.model} does not exist")
    with private_outputs(out):
        return _link(args, (cand_name, cand), (pers_name, pers), rules, profile)


#: files the command writes into --out (besides those of LinkageResult.write)
_WRITES = ("links.parquet", "pairs.parquet", "unlinked_platform.parquet",
           "unlinked_source.parquet", "model.json", "linkage_counts.json", "manifest.json",
           "rejects.parquet", "blocking.parquet", "set_aside.parquet")


def _link(args: argparse.Namespace, cand_input: tuple[str, str], pers_input: tuple[str, str],
          rules: tuple[str, ...], profile: list[str] | None) -> int:
    import duckdb

    from .._tables import connect
    from ..linkage import LinkageConfig, LinkageModel, Thresholds
    from ..manifest import RunManifest
    from ..pipeline import (GZIP_ERRORS, gzip_input_error, link_stage, load_inputs,
                            standardise_both)

    try:
        con = connect(args.database)
    except duckdb.Error:
        raise ConfigError(f"--database {args.database} could not be opened: it is not a DuckDB "
                          "database, or another process holds it") from None
    (cand_name, cand), (pers_name, pers) = cand_input, pers_input
    manifest = RunManifest(command="link")
    manifest.add_input(cand_name, cand)
    manifest.add_input(pers_name, pers)
    try:
        inputs = load_inputs(con, {cand_name: cand}, {pers_name: pers},
                             rejects=args.rejects, rejects_dir=args.out, profile=profile)
    except GZIP_ERRORS as exc:
        raise gzip_input_error({"candidats": Path(cand), "personnes": Path(pers)}, exc) \
            from None
    if inputs.profile is not None:
        manifest.config["profile"] = {"label": inputs.profile.label,
                                      **inputs.profile.as_manifest()}
    pf, sf = standardise_both(con, inputs.tables["candidats"], inputs.tables["personnes"])
    config = LinkageConfig(key_column=None if args.key.lower() == "none" else args.key,
                           thresholds=Thresholds(match=args.match_threshold,
                                                 review=args.review_threshold),
                           assignment=args.assignment, backend=args.backend,
                           comparison_budget=args.budget,
                           blocking_rules=rules)
    model = LinkageModel.load(args.model) if args.model else None
    result = link_stage(con, pf, sf, args.out, config=config, model=model, manifest=manifest)
    manifest.write(Path(args.out) / "manifest.json")
    c = result.counts
    print(f"{c['links_match']} matches ({c['links_match_pivot_exact']} exact, "
          f"{c['links_match_probabilistic']} probabilistic), {c['links_review']} to review, "
          f"{c['unlinked_platform']} candidates unlinked; outputs in {args.out}")
    return 0
