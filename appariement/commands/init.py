"""``appariement init``: write a commented example config (optionally with synthetic data)."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``init`` sub-command."""
    p = subparsers.add_parser(
        "init", help="write a commented example config file",
        description="Write a commented TOML config for `appariement run` (every section and "
                    "key, with defaults). With --synthetic, also write synthetic data and "
                    "pivot-protocol keys next to it, so that `appariement run` on it reproduces "
                    "`appariement demo`.")
    p.add_argument("--out", default="config.toml", help="config file to create "
                                                        "(default config.toml)")
    p.add_argument("--synthetic", action="store_true",
                   help="also generate synthetic data (data/) and keys (keys/) next to it; "
                        "the config's outputs folder is results/, beside them")
    p.add_argument("--candidates", type=int, default=2000,
                   help="with --synthetic: synthetic candidates (default 2000)")
    p.add_argument("--seed", type=int, default=42, help="with --synthetic: random seed")
    p.add_argument("--as-of", metavar="YYYY-MM-DD",
                   help="[project] as_of, the reference date of the input date checks (the "
                        "extraction date of the data). Default: the source date recorded with "
                        "synthetic data found at the config's inputs (data/truth/config.json, "
                        "written by `appariement synth --out data`); else left to the run "
                        "(today)")
    p.add_argument("--force", action="store_true", help="overwrite an existing config file")
    from .link import add_profile_argument
    add_profile_argument(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from .._atomic import write_text
    from ..config import example_config
    from ..errors import ConfigError

    from .._paths import check_output_file

    from .link import profile_of

    out = Path(args.out)
    profile = profile_of(args)
    if profile is not None and args.synthetic:
        raise ConfigError("--synthetic writes data in the contract's own names; for data in a "
                          "profile's shape run `appariement synth --profile NAME` and "
                          "`appariement init --profile NAME`")
    if args.as_of is not None:
        from ..config import check_options
        check_options({"project.as_of": args.as_of}, {"project.as_of": "--as-of"})
    if out.exists() and not args.force and not out.is_dir():
        raise ConfigError(f"{out} already exists; pass --force to overwrite it")
    check_output_file(out, "--out")  # a folder, below a file, read-only: refused up front
    if args.synthetic:
        from ..pipeline import DEMO_OUTPUTS, write_synthetic_project

        path = write_synthetic_project(out.parent, n_candidates=args.candidates,
                                       seed=args.seed, config_name=out.name,
                                       **({"as_of": args.as_of} if args.as_of else {}))
        print(f"wrote {path}, synthetic data in {out.parent / 'data'} and keys in "
              f"{out.parent / 'keys'}; next: appariement run {path} (outputs in "
              f"{out.parent / DEMO_OUTPUTS})")
        return 0
    as_of, origin = args.as_of, None
    if as_of is None:
        as_of, origin = _synthetic_as_of(out.parent / "data")
    write_text(out, example_config(profile=profile, as_of=as_of))
    what = f" for import profile {'+'.join(profile)}" if profile else ""
    if origin is not None:
        what += f" (as_of = {as_of}, the source date recorded in {origin})"
    print(f"wrote {out}{what}: edit [inputs] and [outputs], then: appariement run {out} "
          "--dry-run")
    return 0


def _synthetic_as_of(folder: Path) -> tuple[str | None, Path | None]:
    """(as_of, record file) for synthetic data written by ``appariement synth --out FOLDER``:
    the source date in its ``truth/config.json``, which every date of the data set respects
    (the run's default, today, may come before the synthetic calendar ends). (None, None) when
    ``folder`` holds no such record: real data are checked against the date the user gives."""
    import datetime as dt
    import json

    record = folder / "truth" / "config.json"
    if not record.is_file():
        return None, None
    try:
        value = json.loads(record.read_text(encoding="utf-8")).get("source_date")
        dt.date.fromisoformat(value)
    except (OSError, ValueError, TypeError, AttributeError):
        return None, None  # not a record of ours: nothing derived from it
    return value, record
