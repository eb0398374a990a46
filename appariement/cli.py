"""The ``appariement`` command line: a thin layer over the Python API.

Each command lives in ``appariement/commands/<name>.py`` and exposes ``register(subparsers)``,
which adds its sub-parser and sets ``func`` (called with the parsed arguments, returns an exit
code). Exit codes: 0 ok, 1 unexpected error, 2 bad configuration or arguments, 3 bad input data,
4 crypto failure (bad key, tampered file), 5 linkage failure, 6 disclosure failure, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .errors import AppariementError

__all__ = ["main", "build_parser"]

#: command modules, in the order ``--help`` lists them
COMMAND_MODULES: list[str] = [
    "appariement.commands.keygen",
    "appariement.commands.pseudonymise",
    "appariement.commands.pivot",
    "appariement.commands.synth",
    "appariement.commands.link",
    "appariement.commands.pprl",
    "appariement.commands.demo",
    "appariement.commands.report",
    "appariement.commands.counterfactual",
    "appariement.commands.init",
    "appariement.commands.run",
]


_EPILOG = """batch use: appariement init --out projet.toml; edit it; appariement run projet.toml
exit codes:
  0    ok
  1    unexpected error (a bug: please report it with the log file)
  2    bad configuration or arguments (the message names the key and the allowed values)
  3    bad input data (table, column and number of rows in the message)
  4    crypto failure (missing or unreadable key, key readable by others, tampered file)
  5    linkage failure (e.g. blocking over the comparison budget)
  6    disclosure failure (a table would leave without disclosure control)
  130  interrupted
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="appariement",
        description="Secure statistical record linkage: pseudonymise, link, report, evaluate.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--log-file", help="also write logs to this file")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(sub)
    return parser


def _version() -> str:
    from importlib import metadata
    try:
        return f"appariement {metadata.version('appariement')}"
    except metadata.PackageNotFoundError:  # pragma: no cover - source checkout without install
        return "appariement (not installed)"


def _configure_logging(args: argparse.Namespace) -> list[logging.Handler]:
    """Console (and ``--log-file``) handlers on the package logger; returned so that ``main``
    removes them when the command ends (called in-process, from a notebook or a test, handlers
    would otherwise pile up and write to streams that no longer exist)."""
    level = logging.WARNING if args.quiet else (logging.DEBUG if args.verbose else logging.INFO)
    root = logging.getLogger("appariement")
    root.setLevel(logging.DEBUG if args.log_file else level)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(level)
    console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    root.addHandler(console)
    handlers: list[logging.Handler] = [console]
    # Splink narrates every training step and warns about levels it could not observe; the
    # library reports what matters itself (training log in the model JSON).
    logging.getLogger("splink").setLevel(logging.DEBUG if args.verbose else logging.ERROR)
    if args.log_file:
        handler = logging.FileHandler(args.log_file, encoding="utf-8")
        handler.setLevel(logging.DEBUG)
        from ._progress import JsonLinesFormatter  # one JSON object per line
        handler.setFormatter(JsonLinesFormatter())
        root.addHandler(handler)
        handlers.append(handler)
    return handlers


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = _configure_logging(args)
    try:
        return int(args.func(args) or 0)
    except AppariementError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        root = logging.getLogger("appariement")
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
