"""What a batch operator sees: one progress line per stage, and a JSON-lines log file.

No extra dependency. The progress line goes to stderr only when stderr is a terminal (a CASD
batch job redirected to a file gets none) and never under ``--quiet``; the log file keeps the
full trace, one JSON object per line (``time, level, logger, message`` and the exception).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import TextIO

__all__ = ["StageProgress", "JsonLinesFormatter"]


class StageProgress:
    """``[2/6] standardise ... done in 3.1 s`` lines on a terminal.

    Args:
        total: number of stages.
        enabled: None: on when ``stream`` is a terminal; False: never.
        stream: where to write (default ``sys.stderr``).

    Examples:
        >>> import io
        >>> buf = io.StringIO()
        >>> p = StageProgress(2, enabled=True, stream=buf)
        >>> p.start("link"); p.end("link", skipped=True)
        >>> buf.getvalue().split("\x1b[K")[-1].strip()
        '[1/2] link: up to date, skipped'
    """

    def __init__(self, total: int, *, enabled: bool | None = None, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled
        self.total = total
        self._done = 0
        self._start = 0.0

    def start(self, stage: str) -> None:
        self._start = time.perf_counter()
        self._write(f"[{self._done + 1}/{self.total}] {stage} ...", final=False)

    def end(self, stage: str, *, skipped: bool = False, failed: bool = False) -> None:
        self._done += 1
        if skipped:
            text = f"[{self._done}/{self.total}] {stage}: up to date, skipped"
        elif failed:
            text = f"[{self._done}/{self.total}] {stage}: FAILED"
        else:
            seconds = time.perf_counter() - self._start
            text = f"[{self._done}/{self.total}] {stage} done in {seconds:.1f} s"
        self._write(text, final=True)

    def _write(self, text: str, *, final: bool) -> None:
        if not self.enabled:
            return
        # a terminal gets the line rewritten in place; the final state stays on screen
        self.stream.write("\r\x1b[K" + text + ("\n" if final else ""))
        self.stream.flush()


class JsonLinesFormatter(logging.Formatter):
    """Format log records as one JSON object per line (for ``--log-file``).

    Examples:
        >>> rec = logging.LogRecord("appariement.x", logging.INFO, "f", 1, "n=%d", (3,), None)
        >>> json.loads(JsonLinesFormatter().format(rec))["message"]
        'n=3'
    """

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
            + f".{int(record.msecs):03d}",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for extra in ("stage", "event", "seconds"):
            if hasattr(record, extra):
                entry[extra] = getattr(record, extra)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
