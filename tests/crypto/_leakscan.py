"""Reusable leak scanner: no plaintext identifier or key bytes in written files or logs.

Usage from any test::

    from tests.crypto._leakscan import assert_no_leak   # or a relative import
    assert_no_leak([out_dir], secrets=[*nirs, key._raw()], log_text=caplog.text)

Each secret is searched in several encodings: ``str`` secrets as UTF-8 and UTF-16-LE bytes,
``bytes`` secrets raw and as hex (both cases), base64 (standard and URL-safe, with and without
padding) and base32. Files are scanned as raw bytes; Parquet files are also decoded (a
compressed or dictionary-encoded column hides its values from a byte scan) and every cell is
scanned as text, as are the column names and key-value metadata.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Iterable

import pyarrow.parquet as pq

__all__ = ["assert_no_leak", "secret_forms"]


def secret_forms(secret: str | bytes) -> list[bytes]:
    """The byte strings under which ``secret`` could appear."""
    if isinstance(secret, str):
        return [secret.encode("utf-8"), secret.encode("utf-16-le")]
    forms = [secret, secret.hex().encode(), secret.hex().upper().encode()]
    for encode in (base64.b64encode, base64.urlsafe_b64encode, base64.b32encode):
        text = encode(secret)
        forms += [text, text.rstrip(b"=")]
    return forms


def _files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    out = []
    for path in map(Path, paths):
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            out.append(path)
    return out


def _parquet_text(path: Path) -> bytes | None:
    try:
        table = pq.read_table(path)
    except Exception:  # not a readable Parquet file: the byte scan covers it
        return None
    parts = [" ".join(table.column_names)]
    metadata = table.schema.metadata or {}
    parts += [k.decode("utf-8", "replace") + v.decode("utf-8", "replace")
              for k, v in metadata.items()]
    for column in table.columns:
        parts += [str(v) for v in column.to_pylist()]
    return "\n".join(parts).encode("utf-8")


def assert_no_leak(paths: Iterable[str | os.PathLike], secrets: Iterable[str | bytes],
                   log_text: str = "") -> int:
    """Fail if any secret, in any of its encodings, appears in the files or the log text.

    Args:
        paths: files and folders (scanned recursively).
        secrets: identifiers (``str``, e.g. NIRs) and key material (``bytes``).
        log_text: captured logs / console output.

    Returns:
        Number of files scanned (so a caller can check the scan was not empty).
    """
    forms = [(i, form) for i, s in enumerate(secrets) if s for form in secret_forms(s)]
    haystacks: list[tuple[str, bytes]] = [("log text", log_text.encode("utf-8"))]
    files = _files(paths)
    for path in files:
        data = path.read_bytes()
        haystacks.append((str(path), data))
        if data[:4] == b"PAR1":
            decoded = _parquet_text(path)
            if decoded is not None:
                haystacks.append((f"{path} (decoded Parquet)", decoded))
    found = [(where, index) for where, data in haystacks for index, form in forms
             if form in data]
    if found:
        details = "; ".join(f"secret #{i} in {where}" for where, i in found[:10])
        raise AssertionError(f"{len(found)} leak(s): {details}")
    return len(files)
