"""Logging and progress for long steps.

Library code logs through :mod:`logging` (logger ``appariement.*``) and never prints. Long steps
use :func:`progress`, which reports through the logger so batch runs keep a trace and notebooks
see it too. The command line configures handlers (and ``--quiet``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Iterator

__all__ = ["get_logger", "step"]


def get_logger(name: str) -> logging.Logger:
    """Return the library logger for a module (``appariement.<module>``)."""
    if not name.startswith("appariement"):
        name = f"appariement.{name}"
    return logging.getLogger(name)


@contextlib.contextmanager
def step(logger: logging.Logger, what: str, timings: dict | None = None) -> Iterator[None]:
    """Log the start and the end (with seconds) of a step; record the time in ``timings``."""
    logger.info("%s ...", what)
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - start
        if timings is not None:
            timings[what] = round(seconds, 3)
        logger.info("%s done in %.1f s", what, seconds)
