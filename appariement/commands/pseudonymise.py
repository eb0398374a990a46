"""``appariement pseudonymise``: replace identifier columns by keyed pseudonyms."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``pseudonymise`` sub-command."""
    p = subparsers.add_parser(
        "pseudonymise", help="replace identifier columns (e.g. nir) by keyed pseudonyms",
        description="Read a Parquet/CSV table, replace each --column by its keyed HMAC-SHA256 "
                    "pseudonym (column <name>_pseudo, fixed-length base32) and write --out "
                    "(Parquet, or CSV if it ends in .csv). The plaintext column is dropped. The "
                    "key is derived from the master key for --project and --purpose; with "
                    "--purpose pivot the codes equal the pivot authority's codes of valid NIRs.")
    p.add_argument("--key", help="secret key file (default: environment variable "
                                 "APPARIEMENT_KEY)")
    p.add_argument("--project", required=True, help="project name (codes are per project)")
    p.add_argument("--purpose", default="pseudonym", help="key purpose (default: pseudonym)")
    p.add_argument("--in", dest="src", required=True, help="input table (Parquet or CSV)")
    p.add_argument("--column", action="append", required=True,
                   help="column to pseudonymise (repeat for several)")
    p.add_argument("--out", required=True, help="output table")
    p.add_argument("--length", type=int, default=26, help="characters per pseudonym (16-32)")
    p.add_argument("--normalise", choices=("nir", "none"), default="nir",
                   help="normalisation before hashing (default: nir = compact NIR form)")
    p.set_defaults(func=_run)


def load_secret(path: str | None):
    """The secret key from ``path``, or from the ``APPARIEMENT_KEY`` environment variable."""
    from ..crypto import KEY_ENV_VAR, SecretKey, load_key
    if path:
        return load_key(path, expect=SecretKey)
    return load_key(env=KEY_ENV_VAR, expect=SecretKey)


def write_table(table, out: str) -> Path:
    """Write an Arrow table atomically as Parquet, or CSV when ``out`` ends in ``.csv``."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from .._atomic import atomic_path
    with atomic_path(out) as tmp:
        if out.lower().endswith(".csv"):
            pacsv.write_csv(table, tmp)
        else:
            pq.write_table(table, tmp)
    return Path(out)


def read_table(path: str):
    """Read Parquet, or CSV with every column as text (identifiers keep leading zeros)."""
    from ..crypto.pivot import read_identities
    return read_identities(path)


def _run(args: argparse.Namespace) -> int:
    from .._paths import check_output_file, refuse_output_over_input
    from ..config import check_options
    from ..crypto import Pseudonymiser

    check_options({"project.name": args.project}, {"project.name": "--project"})
    # refused before anything is read or written: an output over its input loses the original
    refuse_output_over_input({"--out": args.out}, {"--in": args.src, "--key": args.key})
    if not Path(args.src).is_file():
        raise ConfigError(f"--in {args.src}: no such file" if not Path(args.src).exists()
                          else f"--in {args.src} is a folder; give a table file")
    check_output_file(args.out, "--out")
    if args.out.lower().endswith(".enc"):  # a plain table under an envelope's name misleads
        raise ConfigError("--out ends in .enc but pseudonymise writes a plain Parquet or CSV "
                          "table (the pseudonyms are keyed hashes, not an encrypted file); "
                          "name it .parquet or .csv")
    key = load_secret(args.key)
    pseudonymiser = Pseudonymiser(key, project=args.project, purpose=args.purpose,
                                  length=args.length, normalise=args.normalise)
    from ..pipeline import GZIP_ERRORS, gzip_input_error
    try:
        table = read_table(args.src)
    except GZIP_ERRORS as exc:
        raise gzip_input_error({"--in": Path(args.src)}, exc, tables=False) from None
    for column in args.column:
        table = pseudonymiser.pseudonymise_table(table, column)
    write_table(table, args.out)
    print(f"wrote {args.out}: {table.num_rows} rows, pseudonymised {', '.join(args.column)} "
          f"with key {pseudonymiser.fingerprint}")
    return 0
