"""Per-file text encoding: detected line by line, never silently re-decoded as a whole.

A CSV file is scanned once (streaming, 1 MiB blocks) and each physical line holding a byte
above 0x7F is classified: valid UTF-8, or not. The file is then

* ``"ascii"`` / ``"utf-8"``: read as UTF-8 (a byte-order mark is allowed);
* ``"latin-1"``: every non-ASCII line is invalid UTF-8, so the file is a genuine Latin-1 export:
  read as Windows-1252 when those lines hold bytes 0x80-0x9F (``€``, ``œ``, typographic
  quotes), else as Latin-1;
* ``"mixed"``: some non-ASCII lines are UTF-8 and others are not (a file pasted together from
  two exports, or one stray byte in a UTF-8 file). Decoding the whole file one way would garble
  the other lines, so what happens is a policy (:data:`MIXED_ENCODING_POLICIES`):

  - ``"error"`` (default): :class:`~appariement.errors.InputError` with both line counts and the
    first offending line numbers — never a value;
  - ``"warn"``: each line is decoded on its own (UTF-8 lines as UTF-8, the others as
    Windows-1252) and a warning gives the counts and line numbers.

An explicit encoding is obeyed, but ``encoding="utf-8"`` on a file with non-UTF-8 lines is an
error (with counts) rather than a replacement character in a name, and ``encoding="latin-1"``
on a file with UTF-8 lines logs a warning with their count.
"""

from __future__ import annotations

import codecs
import gzip
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .._log import get_logger
from ..errors import ConfigError, InputError

__all__ = ["EncodingScan", "scan_encoding", "resolve_decoding", "transcode", "Decoding",
           "MIXED_ENCODING_POLICIES"]

_log = get_logger(__name__)

#: what to do with a file whose lines are partly UTF-8 and partly not
MIXED_ENCODING_POLICIES = ("error", "warn")

_CHUNK = 1 << 20
_C1 = re.compile(rb"[\x80-\x9f]")
_MAX_EXAMPLES = 5


def _latin1_fallback(err: UnicodeDecodeError) -> tuple[str, int]:
    # The five bytes cp1252 leaves undefined decode as their Latin-1 control characters.
    return err.object[err.start:err.end].decode("latin-1"), err.end


codecs.register_error("_appariement_latin1", _latin1_fallback)


def open_bytes(path: Path) -> BinaryIO:
    """Open a file for reading bytes, decompressing ``.gz`` files."""
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _blocks(path: Path):
    """Yield (index of the block's first line, block) where each block ends at a line end."""
    carry, first_line = b"", 1
    with open_bytes(path) as fh:
        while chunk := fh.read(_CHUNK):
            data = carry + chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0:  # no line end yet: keep reading
                carry = data
                continue
            block, carry = data[:cut], data[cut:]
            yield first_line, block
            first_line += block.count(b"\n")
    if carry:
        yield first_line, carry


@dataclass(frozen=True)
class EncodingScan:
    """What one pass over a file found.

    Attributes:
        utf8_lines: lines with non-ASCII bytes that are valid UTF-8.
        other_lines: lines that are not valid UTF-8.
        other_examples: the first line numbers (1-based, physical lines) of ``other_lines``.
        c1: the non-UTF-8 lines hold bytes 0x80-0x9F (Windows-1252 rather than Latin-1).
    """

    utf8_lines: int
    other_lines: int
    other_examples: tuple[int, ...]
    c1: bool

    @property
    def kind(self) -> str:
        """``"ascii"``, ``"utf-8"``, ``"latin-1"`` or ``"mixed"``."""
        if self.other_lines == 0:
            return "utf-8" if self.utf8_lines else "ascii"
        return "mixed" if self.utf8_lines else "latin-1"

    def where(self) -> str:
        """The first non-UTF-8 line numbers, as text for a message."""
        lines = ", ".join(map(str, self.other_examples))
        more = " ..." if self.other_lines > len(self.other_examples) else ""
        return f"line{'s' if len(self.other_examples) > 1 else ''} {lines}{more}"


def scan_encoding(path: str | Path) -> EncodingScan:
    """Classify every non-ASCII line of a file as UTF-8 or not (one streaming pass).

    Args:
        path: a ``.csv`` or ``.csv.gz`` file.

    Returns:
        An :class:`EncodingScan` (counts and line numbers only, never a value).

    Examples:
        >>> import pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = p.write_bytes("nom\\nZoé\\n".encode() + "Zoé\\n".encode("latin-1"))
        >>> s = scan_encoding(p)
        >>> s.kind, s.utf8_lines, s.other_lines, s.other_examples
        ('mixed', 1, 1, (3,))
    """
    utf8 = other = 0
    examples: list[int] = []
    c1 = False
    for first_line, block in _blocks(Path(path)):
        if block.isascii():
            continue
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            utf8 += sum(1 for line in text.split("\n") if not line.isascii())
            continue
        for number, line in enumerate(block.split(b"\n"), start=first_line):
            if line.isascii():
                continue
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                other += 1
                c1 = c1 or _C1.search(line) is not None
                if len(examples) < _MAX_EXAMPLES:
                    examples.append(number)
            else:
                utf8 += 1
    return EncodingScan(utf8, other, tuple(examples), c1)


@dataclass(frozen=True)
class Decoding:
    """How to turn a file's bytes into UTF-8 text.

    Attributes:
        mode: ``"utf-8"`` (bytes used as they are), ``"latin-1"``, ``"cp1252"`` (whole file) or
            ``"per_line"`` (UTF-8 lines kept, the others decoded as Windows-1252).
        label: the encoding named in logs and messages.
    """

    mode: str
    label: str

    @property
    def is_utf8(self) -> bool:
        return self.mode == "utf-8"


_UTF8_NAMES = {"utf-8", "utf8", "utf-8-sig"}
_LATIN_NAMES = {"latin-1", "latin1", "iso-8859-1", "iso8859-1", "cp1252", "windows-1252"}


def normalise_encoding(encoding: str | None, what: str) -> str | None:
    """``"utf-8"``, ``"latin-1"`` or None from a user's encoding name (ConfigError otherwise)."""
    if encoding is None or str(encoding).lower() == "auto":
        return None
    low = str(encoding).lower()
    if low in _UTF8_NAMES:
        return "utf-8"
    if low in _LATIN_NAMES:
        return "latin-1"
    raise ConfigError(f"{what}: encoding {encoding!r} is not supported; use 'utf-8' or "
                      "'latin-1' (read as Windows-1252), or None to detect it")


def _check_policy(on_mixed_encoding: str) -> None:
    if on_mixed_encoding not in MIXED_ENCODING_POLICIES:
        raise ConfigError(f"on_mixed_encoding must be one of {list(MIXED_ENCODING_POLICIES)}, "
                          f"got {on_mixed_encoding!r}")


def resolve_decoding(path: str | Path, what: str, encoding: str | None = None, *,
                     on_mixed_encoding: str = "error") -> Decoding:
    """Decide how to decode a CSV file (see the module docstring for the rules).

    Args:
        path: a ``.csv`` or ``.csv.gz`` file.
        what: how messages name the file (``"table 'candidats'"``, ``"input candidats.csv"``).
        encoding: ``"utf-8"``, ``"latin-1"`` or None to detect it.
        on_mixed_encoding: ``"error"`` (default) or ``"warn"``.

    Returns:
        A :class:`Decoding`.

    Raises:
        InputError: mixed encodings under ``"error"``, or non-UTF-8 lines in a file declared
            UTF-8 (counts and line numbers only).
        ConfigError: an unknown encoding or policy.
    """
    _check_policy(on_mixed_encoding)
    declared = normalise_encoding(encoding, what)
    scan = scan_encoding(path)
    name = Path(path).name
    if declared == "latin-1":
        if scan.utf8_lines:
            _log.warning("%s: %s is declared Latin-1 but %d line(s) are valid UTF-8; they are "
                         "decoded as Latin-1 (check the encoding option)", what, name,
                         scan.utf8_lines)
        return Decoding("cp1252", "cp1252") if scan.c1 else Decoding("latin-1", "latin-1")
    if declared == "utf-8" and scan.other_lines:
        raise InputError(f"{what}: {name} is declared UTF-8 but {scan.other_lines} line(s) are "
                         f"not valid UTF-8 (first at {scan.where()}); re-export the file in "
                         "UTF-8, or let the encoding be detected")
    kind = scan.kind
    if kind in ("ascii", "utf-8"):
        return Decoding("utf-8", "utf-8")
    if kind == "latin-1":
        _log.info("%s: %s decoded as %s (%d non-ASCII line(s), none of them UTF-8)", what, name,
                  "cp1252" if scan.c1 else "latin-1", scan.other_lines)
        return Decoding("cp1252", "cp1252") if scan.c1 else Decoding("latin-1", "latin-1")
    if on_mixed_encoding == "error":
        raise InputError(
            f"{what}: {name} mixes encodings: {scan.utf8_lines} line(s) are UTF-8 and "
            f"{scan.other_lines} line(s) are not (first at {scan.where()}). Decoding the whole "
            "file one way would garble the other lines. Re-export the file in one encoding, or "
            "set on_mixed_encoding='warn' to decode each line on its own")
    _log.warning("%s: %s mixes encodings: %d line(s) decoded as UTF-8, %d line(s) decoded as "
                 "Windows-1252 (first at %s); check those rows", what, name, scan.utf8_lines,
                 scan.other_lines, scan.where())
    return Decoding("per_line", "utf-8 + cp1252 per line")


def _decode_line(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("cp1252", errors="_appariement_latin1")


def transcode(path: str | Path, decoding: Decoding, dst: BinaryIO) -> None:
    """Write the file's text to ``dst`` as UTF-8 bytes, decoded as ``decoding`` says (streamed).

    Args:
        path: the source file (``.gz`` decompressed).
        decoding: from :func:`resolve_decoding`.
        dst: a binary file (a temporary file or an in-memory buffer).
    """
    for _, block in _blocks(Path(path)):
        if decoding.mode == "utf-8" or block.isascii():
            dst.write(block)
        elif decoding.mode == "latin-1":
            dst.write(block.decode("latin-1").encode("utf-8"))
        elif decoding.mode == "cp1252":
            dst.write(block.decode("cp1252", errors="_appariement_latin1").encode("utf-8"))
        else:  # per line: a block is split only when it is not UTF-8 as a whole
            try:
                block.decode("utf-8")
            except UnicodeDecodeError:
                dst.write("".join(_decode_line(line) for line in block.splitlines(keepends=True)
                                  ).encode("utf-8"))
            else:
                dst.write(block)
