"""Splink's own messages, collected and summarised in one line.

Splink logs a warning for every comparison level a training pass does not observe ("Level ...
not observed in dataset, unable to train m value") and every m probability it clamps: dozens of
lines on a small extract, which bury appariement's own messages (and, with no logging handler
configured, Python prints each of them). :func:`splink_messages` catches Splink's log records
and Python warnings while a block runs, keeps them at debug level in the ``appariement`` log,
and logs one summary line: ``Splink (training): 37 warnings (12 level not observed, ...)``.

Examples:
    >>> import logging
    >>> with splink_messages("demo") as seen:
    ...     logging.getLogger("splink.internals.demo").warning(
    ...         "Level exact on comparison x not observed in dataset, unable to train m value")
    >>> seen.summary()
    'Splink (demo): 1 warning (1 level not observed)'
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import warnings
from collections import Counter
from typing import Callable, Iterator

from ._log import get_logger

__all__ = ["splink_messages", "quiet_splink", "SplinkMessages"]

_log = get_logger("splink")

#: message pattern -> short name of the kind
_KINDS = (
    (re.compile(r"not observed in dataset"), "level not observed"),
    (re.compile(r"below the minimum allowed|m_probability.*(below|above)", re.I),
     "m probability out of range"),
    (re.compile(r"u_probability", re.I), "u probability"),
    (re.compile(r"zero blocked pairs|no pairs", re.I), "EM sample empty"),
    (re.compile(r"deprecat", re.I), "deprecation"),
)


def _kind(message: str) -> str:
    for pattern, name in _KINDS:
        if pattern.search(message):
            return name
    return "other"


class SplinkMessages(logging.Handler):
    """The records caught by :func:`splink_messages` (warnings and above)."""

    def __init__(self, what: str):
        super().__init__(logging.WARNING)
        self.what = what
        self.kinds: Counter = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.add(message)

    def add(self, message: str) -> None:
        self.kinds[_kind(message)] += 1
        _log.debug("Splink (%s): %s", self.what, message)

    @property
    def n(self) -> int:
        return sum(self.kinds.values())

    def summary(self) -> str:
        parts = ", ".join(f"{n} {k}" for k, n in self.kinds.most_common())
        return f"Splink ({self.what}): {self.n} warning{'s' if self.n != 1 else ''} ({parts})"


@contextlib.contextmanager
def splink_messages(what: str) -> Iterator[SplinkMessages]:
    """Catch Splink's warnings while the block runs; log one summary line (info level) at the
    end when there were any. Splink's log level and handlers are restored afterwards."""
    logger = logging.getLogger("splink")
    handler = SplinkMessages(what)
    saved = logger.propagate, logger.level
    logger.addHandler(handler)
    logger.propagate = False  # nothing reaches the root logger (or Python's last resort)
    if logger.level == logging.NOTSET or logger.level > logging.WARNING:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate, level = saved
        logger.setLevel(level)
        others = []
        for w in caught:
            if "splink" in str(getattr(w, "filename", "")):
                handler.add(str(w.message))
            else:  # not Splink's: give it back to Python
                others.append(w)
        for w in others:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if handler.n:
            _log.info(handler.summary())


def quiet_splink(what: str) -> Callable:
    """Decorator form of :func:`splink_messages` (for the methods that call Splink)."""
    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            with splink_messages(what):
                return fn(*args, **kwargs)
        return inner
    return wrap
