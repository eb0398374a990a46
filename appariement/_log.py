"""Logging and progress for long steps.

Library code logs through :mod:`logging` (logger ``appariement.*``) and never prints. Long steps
use :func:`progress`, which reports through the logger so batch runs keep a trace and notebooks
see it too. The command line configures handlers (and ``--quiet``).
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import time
from typing import Iterator

__all__ = ["get_logger", "step", "notebook_logging"]


def get_logger(name: str) -> logging.Logger:
    """Return the library logger for a module (``appariement.<module>``)."""
    if not name.startswith("appariement"):
        name = f"appariement.{name}"
    return logging.getLogger(name)


@contextlib.contextmanager
def step(logger: logging.Logger, what: str, timings: dict | None = None, *,
         extra: dict | None = None) -> Iterator[None]:
    """Log the start of a step, then its end: "done in N s" only when it succeeded.

    A step that raises logs "failed after N s (ExceptionType)" at error level — the type only,
    never the exception's text, which may quote a field value — and the exception propagates.
    ``timings`` records the seconds of successful steps only (a failed step did not produce
    what its time would describe). Log records carry ``event`` (``"done"`` / ``"failed"``) and
    ``seconds``, plus ``extra`` (e.g. ``{"stage": "link"}``), for the JSON log file.

    Examples:
        >>> timings = {}
        >>> with step(get_logger("doc"), "counting", timings):
        ...     pass
        >>> list(timings)
        ['counting']
    """
    extra = dict(extra or {})
    logger.info("%s ...", what, extra=extra)
    start = time.perf_counter()
    try:
        yield
    except BaseException as exc:
        seconds = time.perf_counter() - start
        logger.error("%s failed after %.1f s (%s)", what, seconds, type(exc).__name__,
                     extra={**extra, "event": "failed", "seconds": round(seconds, 3)})
        raise
    seconds = time.perf_counter() - start
    if timings is not None:
        timings[what] = round(seconds, 3)
    logger.info("%s done in %.1f s", what, seconds,
                extra={**extra, "event": "done", "seconds": round(seconds, 3)})


class _NotebookHandler(logging.StreamHandler):
    """The handler :func:`notebook_logging` adds (recognised, so it is added once). A
    notebook's output is easily shared: the example row keys some checks quote are left to
    the run's log file."""

    _KEYS = re.compile(r"example row keys?: .*?(?=\. [A-Z]|$)", re.S)

    def format(self, record: logging.LogRecord) -> str:
        return self._KEYS.sub("example row keys: see the run log", super().format(record))


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    ip = shell.get_ipython() if shell is not None and hasattr(shell, "get_ipython") else None
    return ip is not None and "ipykernel" in sys.modules


def notebook_logging(level: int = logging.INFO, *, force: bool = False) -> bool:
    """In a Jupyter kernel, show appariement's progress (its ``appariement`` log records, info
    and above) under the running cell; a no-op elsewhere (the command line and batch scripts
    configure their own handlers) or when a handler is already set.

    Returns:
        True when a handler was added.

    Examples:
        >>> notebook_logging()  # not in a notebook
        False
    """
    logger = logging.getLogger("appariement")
    if not (force or _in_notebook()):
        return False
    if any(isinstance(h, _NotebookHandler) for h in logger.handlers) or (
            not force and logger.handlers):
        return False
    handler = _NotebookHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return True
