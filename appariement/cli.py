"""The ``appariement`` command line: a thin layer over the Python API.

Each command lives in ``appariement/commands/<name>.py`` and exposes ``register(subparsers)``,
which adds its sub-parser and sets ``func`` (called with the parsed arguments, returns an exit
code). Exit codes: 0 ok, 1 unexpected error, 2 bad configuration or arguments, 3 bad input data,
4 crypto failure (bad key, tampered file), 5 linkage failure, 6 disclosure failure, 7 the system
refused a read or a write (disk full, permission denied, file vanished), 130 interrupted.

Whatever fails, the user gets one line on stderr and the documented exit code, never a
traceback (``--verbose`` shows it for an unexpected error, which is a bug). The line never
quotes an exception raised by a library or a reader: such messages can hold field values.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import sys
import traceback

from .errors import AppariementError, InputError, SystemFault

__all__ = ["main", "build_parser", "EXIT_SYSTEM", "EXIT_UNEXPECTED"]

#: exit code of an unexpected error (a bug)
EXIT_UNEXPECTED = 1
#: exit code when the operating system refuses a read or a write (kept for callers that import
#: it: the code belongs to :class:`~appariement.errors.SystemFault`)
EXIT_SYSTEM = SystemFault.exit_code

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
  7    the system refused a read or a write (disk full, permission denied, file vanished);
       completed stages are kept, the failed one left no output: fix it and rerun
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
    # a previous in-process call (a notebook, the tests) left its handlers: replace them
    for old in [h for h in root.handlers if getattr(h, "_appariement_cli", False)]:
        root.removeHandler(old)
        old.close()
    root.setLevel(logging.DEBUG if args.log_file else level)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(level)
    console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    console._appariement_cli = True
    root.addHandler(console)
    handlers: list[logging.Handler] = [console]
    # Splink narrates every training step and warns about levels it could not observe; the
    # library reports what matters itself (training log in the model JSON).
    logging.getLogger("splink").setLevel(logging.DEBUG if args.verbose else logging.ERROR)
    if args.log_file:
        from pathlib import Path

        from ._paths import check_output_file, private_dir, private_file
        check_output_file(args.log_file, "--log-file")
        private_dir(Path(args.log_file).parent)  # a missing folder is created 0700, as outputs
        handler = logging.FileHandler(private_file(args.log_file), encoding="utf-8")
        handler.setLevel(logging.DEBUG)
        from ._progress import JsonLinesFormatter  # one JSON object per line
        handler.setFormatter(JsonLinesFormatter())
        handler._appariement_cli = True
        root.addHandler(handler)
        handlers.append(handler)
    return handlers


def _os_error_message(exc: OSError) -> str:
    """What the system refused, naming the path and the reason (never the library's text)."""
    reason = os.strerror(exc.errno) if exc.errno else "input/output error"
    where = f" ({exc.filename})" if exc.filename else ""
    advice = {errno.ENOSPC: "free some space (or point outputs.dir / backend.temp_dir to a "
                            "larger volume) and rerun",
              errno.EDQUOT: "free some space within your quota and rerun",
              errno.EACCES: "check the permissions of that path",
              errno.EPERM: "check the permissions of that path",
              errno.EROFS: "choose a writable location",
              errno.ENOENT: "check the path exists"}.get(exc.errno, "fix it and rerun")
    return f"the system refused a read or a write: {reason}{where}; {advice}"


def _engine_resource_error(exc: BaseException) -> str | None:
    """DuckDB's file and memory errors are the system's, not bugs (their text, which may quote
    a value, is not repeated)."""
    if not type(exc).__module__.lstrip("_").startswith("duckdb"):
        return None
    if type(exc).__name__ == "IOException":
        return ("the database engine could not read or write a file (disk full, permissions "
                "or a file that vanished); check the space and permissions of outputs.dir, "
                "backend.database and backend.temp_dir, then rerun")
    if type(exc).__name__ == "OutOfMemoryException":
        return ("the database engine ran out of memory; set backend.memory_limit and "
                "backend.temp_dir (a folder on a large, encrypted volume) and rerun")
    return None


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "appariement" in f.filename.replace("\\", "/")] or frames
    if not ours:
        return ""
    last = ours[-1]
    parts = last.filename.replace("\\", "/").split("/")
    name = "/".join(parts[parts.index("appariement"):]) if "appariement" in parts else parts[-1]
    return f" in {name}:{last.lineno}"


def _type_name(exc: BaseException) -> str:
    kind = type(exc)
    return kind.__qualname__ if kind.__module__ == "builtins" else \
        f"{kind.__module__.lstrip('_')}.{kind.__qualname__}"


def _is_gzip_fault(exc: BaseException) -> bool:
    """A corrupt or truncated .gz file, whichever reader met it (the caller could not say which
    file: the message says what to check)."""
    import gzip
    import zlib

    if isinstance(exc, (zlib.error, gzip.BadGzipFile)):
        return True
    frames = traceback.extract_tb(exc.__traceback__)
    return isinstance(exc, EOFError) and any(
        f.filename.endswith(("gzip.py", "_compression.py")) for f in frames)


def _unexpected(exc: BaseException) -> str:
    return (f"unexpected {_type_name(exc)}{_where(exc)}: this is a bug, please report it "
            "with the command and the log file (rerun with --verbose to see the traceback; "
            "it may quote data, keep it inside the enclave)")


def _report(exc: AppariementError) -> int:
    """One line on stderr; the exit code of the error's family."""
    print(f"error: {exc}", file=sys.stderr)
    return exc.exit_code


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers: list[logging.Handler] = []
    try:
        # inside: a --log-file that cannot be created is an error too
        handlers = _configure_logging(args)
        return int(args.func(args) or 0)
    except AppariementError as exc:
        return _report(exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        if exc.errno:
            return _report(SystemFault(_os_error_message(exc)))
        if args.verbose:  # a library's IOError without an errno: its text may quote data
            raise
        print(f"error: {_unexpected(exc)}", file=sys.stderr)
        return EXIT_UNEXPECTED
    except Exception as exc:
        if _is_gzip_fault(exc):
            print("error: an input file is not a valid gzip file or is truncated (decompression "
                  "failed); check the .gz inputs and export or copy them again", file=sys.stderr)
            return InputError.exit_code
        engine = _engine_resource_error(exc)
        if engine:
            return _report(SystemFault(engine))
        if args.verbose:
            raise
        print(f"error: {_unexpected(exc)}", file=sys.stderr)
        return EXIT_UNEXPECTED
    finally:
        root = logging.getLogger("appariement")
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
