"""Atomic writes: a file appears complete or not at all.

Outputs are written to a temporary file in the same folder, flushed, then renamed over the
target (``os.replace`` is atomic on POSIX and Windows for files on one volume). An interrupted run
leaves a ``.tmp-*`` file that is never mistaken for an output.

Permissions are the same for every output: files 0600 (``mkstemp`` creates them so, before a
byte is written), folders created on the way 0700 (:func:`appariement._paths.private_dir`).
A failed write (disk full, permission denied) removes its temporary file and leaves the target
as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from ._paths import private_dir

__all__ = ["atomic_path", "write_bytes", "write_text", "write_json", "write_parquet"]


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it to ``target`` on success.

    Examples:
        >>> import pyarrow as pa, pyarrow.parquet as pq, tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> with atomic_path(d / "t.parquet") as tmp:
        ...     pq.write_table(pa.table({"a": [1]}), tmp)
        >>> (d / "t.parquet").exists()
        True
    """
    target = Path(target)
    private_dir(target.parent)
    fd, tmp_name = tempfile.mkstemp(prefix=f".tmp-{target.name}-", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes(target: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(target)


def write_text(target: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``target`` atomically."""
    return write_bytes(target, text.encode("utf-8"))


def write_json(target: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON (stable bytes for the same content)."""
    return write_text(target, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False,
                                         default=str) + "\n")


def write_parquet(target: str | os.PathLike, data: Any) -> Path:
    """Write an Arrow table or a DuckDB relation as Parquet, atomically.

    Examples:
        >>> import tempfile, pyarrow as pa, pyarrow.parquet as pq
        >>> p = write_parquet(Path(tempfile.mkdtemp()) / "t.parquet", pa.table({"a": [1]}))
        >>> pq.read_table(p).num_rows
        1
    """
    import pyarrow.parquet as pq

    from ._tables import to_arrow

    table = data if hasattr(data, "num_rows") else to_arrow(data)
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp)
    return Path(target)
