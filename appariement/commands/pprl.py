"""``appariement pprl``: privacy-preserving linkage on keyed Bloom-filter encodings.

Two steps, run by different parties:

- ``appariement pprl encode`` (each data holder, with the project's secret key): reads its
  identity table (candidats or personnes), standardises it and writes the encodings — record id,
  Bloom filters and keyed blocking tokens, no trait in clear;
- ``appariement pprl link`` (the statistician, without any key): links the two encoded files and
  writes links (with the comparison levels behind each), set-aside pairs, scored pairs, the
  model and the counts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import add_option

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``pprl`` sub-command and its ``encode`` / ``link`` steps."""
    p = subparsers.add_parser(
        "pprl", help="linkage on keyed Bloom-filter encodings (encode, then link)",
        description="Privacy-preserving linkage: each data holder runs 'pprl encode' with the "
                    "project key; the statistician runs 'pprl link' on the two encoded files.")
    steps = p.add_subparsers(dest="pprl_step", metavar="STEP")
    steps.required = True

    e = steps.add_parser(
        "encode", help="encode an identity table (data holder, needs the key)",
        description="Read candidats (--side platform) or personnes (--side source), check them "
                    "against the data contract, standardise the identity traits and write "
                    "their Bloom-filter encodings and keyed blocking tokens to --out (Parquet). "
                    "Both holders must use the same key, --project and filter parameters.")
    e.add_argument("--in", dest="src", required=True,
                   help="candidats or personnes file (Parquet/CSV), or a folder holding it")
    e.add_argument("--side", choices=("platform", "source"), required=True)
    e.add_argument("--project", required=True, help="project name (encodings are per project)")
    e.add_argument("--key", help="secret key file (default: environment variable "
                                 "APPARIEMENT_KEY)")
    e.add_argument("--out", required=True, help="encoded table (Parquet)")
    e.add_argument("--length", type=int, default=1024, help="Bloom filter bits (default 1024)")
    e.add_argument("--hashes", type=int, default=20, help="hash functions per q-gram (default 20)")
    e.add_argument("--hardening", default="xor_fold",
                   help="hardening: xor_fold (default), balance, none, or a comma-separated list")
    add_option(e, "--rejects", "inputs.rejects", help="bad input rows: stop with an error "
               "or set them aside (written next to --out)")
    from .link import add_profile_argument
    add_profile_argument(e)
    e.set_defaults(func=_encode)

    k = steps.add_parser(
        "link", help="link two encoded files (statistician, no key)",
        description="Link the platform and source encodings (Fellegi-Sunter on the Dice "
                    "similarity of the filters, one-to-one by default) and write links.parquet "
                    "(decision, weights, comparison levels), set_aside.parquet, pairs.parquet, "
                    "model.json, counts.json and manifest.json into --out.")
    k.add_argument("--platform", required=True, help="platform encodings (Parquet)")
    k.add_argument("--source", required=True, help="source encodings (Parquet)")
    k.add_argument("--out", required=True, help="output folder")
    k.add_argument("--labels",
                   help="known true pairs (Parquet/CSV with candidat_id, person_id), e.g. the "
                        "exact links on pivot codes: they estimate m and leave the pools")
    add_option(k, "--match-threshold", "linkage.match_threshold")
    add_option(k, "--review-threshold", "linkage.review_threshold")
    add_option(k, "--assignment", "linkage.assignment")
    add_option(k, "--budget", "linkage.comparison_budget")
    k.add_argument("--blocking-rules", choices=("default", "large"), default="default",
                   help="'large': tighter rules for files of hundreds of thousands of records "
                        "and more (about 9 times fewer pairs at 200k x 2M)")
    k.add_argument("--model", help="a saved model.json to reuse instead of training")
    k.add_argument("--database", default=":memory:",
                   help="DuckDB database file for data larger than memory (default in memory)")
    k.set_defaults(func=_link)


def _hardening(arg: str):
    if arg.lower() == "none":
        return None
    parts = [h.strip() for h in arg.split(",") if h.strip()]
    return parts[0] if len(parts) == 1 else parts


def _encode(args: argparse.Namespace) -> int:
    from .._paths import check_output_file, refuse_output_over_input
    from .._tables import connect, to_arrow
    from ..identity import standardise_identities
    from ..crypto import encode_for_pprl
    from ..manifest import RunManifest
    from ..pipeline import load_inputs
    from .link import input_source, profile_of
    from .pseudonymise import load_secret, write_table

    table = "candidats" if args.side == "platform" else "personnes"
    profile = profile_of(args)
    name, path = input_source(args.src, table, profile, args.side)
    out = Path(args.out)
    # refused before anything is read or written: an output over its input loses the original
    refuse_output_over_input(
        {"--out": out, "--out (manifest)": out.with_name(out.stem + ".manifest.json"),
         "--out (rejects)": out.parent / "rejects.parquet" if args.rejects == "set_aside"
         else None},
        {"--in": args.src, f"--in ({table})": path, "--key": args.key})
    check_output_file(out, "--out")
    key = load_secret(args.key)
    con = connect()
    tables = {name: path}
    inputs = load_inputs(con, tables if args.side == "platform" else {},
                         tables if args.side == "source" else {}, rejects=args.rejects,
                         rejects_dir=out.parent if args.rejects == "set_aside" else None,
                         profile=profile)
    features = standardise_identities(con, inputs.tables[table], args.side)
    encoded = encode_for_pprl(con, features, key, project=args.project, side=args.side,
                              length=args.length, k=args.hashes,
                              hardening=_hardening(args.hardening))
    result = to_arrow(encoded.order("record_id"))
    write_table(result, str(out))
    manifest = RunManifest(command=f"pprl encode --side {args.side}",
                           config={"project": args.project, "length": args.length,
                                   "hashes": args.hashes, "hardening": args.hardening})
    manifest.add_input(name, path)
    if inputs.profile is not None:
        manifest.config["profile"] = {"label": inputs.profile.label,
                                      **inputs.profile.as_manifest()}
    manifest.keys["pprl"] = key.fingerprint
    manifest.count("encode", records=result.num_rows, **{f"input_{k}": v for k, v in
                                                         inputs.counts.get(table, {}).items()})
    manifest.outputs["encodings"] = out.name
    manifest.write(out.with_name(out.stem + ".manifest.json"))
    print(f"wrote {out}: {result.num_rows} encoded {args.side} records (key {key.fingerprint})")
    return 0


def _link(args: argparse.Namespace) -> int:
    from .._paths import private_outputs

    out = Path(args.out)
    _check_link_paths(args, out)  # before anything is read or written
    with private_outputs(out):
        return _link_into(args, out)


#: the files ``pprl link`` writes into --out
_LINK_WRITES = ("links.parquet", "set_aside.parquet", "pairs.parquet", "model.json",
                "counts.json", "manifest.json")


def _check_link_paths(args: argparse.Namespace, out: Path) -> None:
    """Inputs exist; no output over an input; --out holds no input and can be written."""
    from .._paths import (check_output_dir, check_output_file, refuse_inputs_in_outputs,
                          refuse_output_over_input)
    from ..errors import ConfigError

    inputs = {"--platform": args.platform, "--source": args.source, "--labels": args.labels,
              "--model": args.model}
    for role, path in inputs.items():
        if path is not None and not Path(path).is_file():
            what = "is a folder, not a file" if Path(path).is_dir() else "does not exist"
            raise ConfigError(f"{role} {path} {what}")
    database = None if args.database == ":memory:" else Path(args.database)
    refuse_output_over_input({"--out": out, "--database": database,
                              **{f"--out/{name}": out / name for name in _LINK_WRITES}},
                             inputs)
    refuse_inputs_in_outputs(out, "--out", inputs)  # --out belongs to the command
    check_output_dir(out, "--out")
    if database is not None:
        check_output_file(database, "--database")


def _link_into(args: argparse.Namespace, out: Path) -> int:
    from .._atomic import write_json
    from .._tables import connect
    from ..linkage import LinkageModel, Thresholds, link_encoded, pprl_blocking_rules
    from ..manifest import RunManifest
    from .._atomic import write_parquet

    con = connect(args.database)
    manifest = RunManifest(command="pprl link",
                           config={"blocking_rules": args.blocking_rules,
                                   "match_threshold": args.match_threshold,
                                   "review_threshold": args.review_threshold,
                                   "assignment": args.assignment, "budget": args.budget})
    manifest.add_input("platform_encodings", args.platform)
    manifest.add_input("source_encodings", args.source)
    labels = None
    if args.labels:
        manifest.add_input("labels", args.labels)
        labels = _labels(con, args.labels)
    model = LinkageModel.load(args.model) if args.model else None
    result = link_encoded(args.platform, args.source, con=con,
                          thresholds=Thresholds(match=args.match_threshold,
                                                review=args.review_threshold),
                          assignment=args.assignment, labels=labels, model=model,
                          comparison_budget=args.budget,
                          blocking_rules=pprl_blocking_rules(
                              large=args.blocking_rules == "large"))
    for name, rel in (("links", result.links), ("set_aside", result.set_aside),
                      ("pairs", result.pairs)):
        write_parquet(out / f"{name}.parquet", rel.order("1"))
        manifest.outputs[name] = f"{name}.parquet"
    result.model.save(out / "model.json")
    write_json(out / "counts.json", result.counts)
    manifest.outputs.update({"model": "model.json", "counts": "counts.json"})
    manifest.count("pprl_link", **{k: v for k, v in result.counts.items()
                                   if isinstance(v, (int, float))})
    manifest.timings.update(result.timings)
    manifest.write(out / "manifest.json")
    c = result.counts
    print(f"{c['links_match']} matches, {c['links_review']} to review among "
          f"{c['platform_pool']} platform records in the pool; outputs in {out}")
    return 0


def _labels(con, path: str):
    """Known true pairs as (record_id_l, record_id_r) from a table with candidat_id, person_id
    (link_encoded casts them and removes duplicates)."""
    from .._tables import as_relation
    from ..errors import SchemaError

    rel = as_relation(con, path, "labels")
    missing = [c for c in ("candidat_id", "person_id") if c not in rel.columns]
    if missing:
        raise SchemaError(f"the labels file lacks column(s) {missing} (it needs candidat_id and "
                          "person_id)", column=missing[0])
    return rel.filter("candidat_id IS NOT NULL AND person_id IS NOT NULL").project(
        "candidat_id AS record_id_l, person_id AS record_id_r")
