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
    if out.exists() and not args.force and not out.is_dir():
        raise ConfigError(f"{out} already exists; pass --force to overwrite it")
    check_output_file(out, "--out")  # a folder, below a file, read-only: refused up front
    if args.synthetic:
        from ..pipeline import DEMO_OUTPUTS, write_synthetic_project

        path = write_synthetic_project(out.parent, n_candidates=args.candidates,
                                       seed=args.seed, config_name=out.name)
        print(f"wrote {path}, synthetic data in {out.parent / 'data'} and keys in "
              f"{out.parent / 'keys'}; next: appariement run {path} (outputs in "
              f"{out.parent / DEMO_OUTPUTS})")
        return 0
    write_text(out, example_config(profile=profile))
    what = f" for import profile {'+'.join(profile)}" if profile else ""
    print(f"wrote {out}{what}: edit [inputs] and [outputs], then: appariement run {out} "
          "--dry-run")
    return 0
