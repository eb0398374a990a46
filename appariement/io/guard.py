"""Guards on everything that reads an input file: no field value in any message.

A reader library (pyarrow, DuckDB, pandas, :mod:`csv`, the codecs) quotes the offending line
when it fails, and a line of an identity file holds a NIR, names and a birth date. So every
read goes through :func:`reader_errors`, which turns those failures into an
:class:`~appariement.errors.InputError` that names only the file's role, its name, the kind of
failure, and numbers (line numbers, field counts) — raised ``from None`` so the original
message is not chained into the traceback either.

Column names are a subtler channel: when a CSV file has no header line, its first *data* row is
taken as the header, and "columns found: ..." would print a person. :func:`describe_columns`
prints a column name only when it cannot be a value — see its docstring for the rule.

:func:`read_text_table` is the one reader of Parquet/CSV files as Arrow tables with every CSV
column as text (identifiers keep their leading zeros): the pivot and pseudonymise commands use
it (through :func:`appariement.crypto.pivot.read_identities`). It decodes per the rules of
:mod:`appariement.io.encoding` and repairs spreadsheet damage to NIR columns
(:func:`nir_spreadsheet_arrow`).

Spreadsheet damage to NIRs (a spreadsheet stored the NIR as a number, then exported it):

* ``185057800608436.0`` — a ``.0`` suffix on an otherwise exact 13- or 15-digit number: the
  digits are all there, the suffix is removed, and the count is logged (never the value);
* ``1.85E+14`` / ``1,85057800608436E+14`` — scientific notation: digits are lost and must never
  be guessed. Policy ``on_nir_scientific``: ``"error"`` (default: InvalidValueError with the
  count and example row keys or line numbers) or ``"null"`` (the values are set to NULL and
  counted in a warning).
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import zlib
from pathlib import Path
from typing import Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from .._log import get_logger
from ..errors import AppariementError, ConfigError, InputError, InvalidValueError
from .._tables import refuse_duplicate_columns

__all__ = ["reader_errors", "describe_columns", "read_text_table", "nir_spreadsheet_arrow",
           "nir_spreadsheet_sql", "NIR_SCIENTIFIC_POLICIES", "looks_like_column_name"]

_log = get_logger(__name__)

#: what to do with a NIR in scientific notation (its digits are lost)
NIR_SCIENTIFIC_POLICIES = ("error", "null")

# --- errors ------------------------------------------------------------------------------------

# only pyarrow's own prefix is parsed: what follows it is the raw line, never looked at
_FIELD_COUNT = re.compile(r"(?:CSV parse error: )?Expected (\d+) columns?, got (\d+)")


def _reader_exceptions() -> tuple[type[BaseException], ...]:
    kinds: list[type[BaseException]] = [UnicodeError, csv.Error, zlib.error, EOFError, OSError,
                                        ValueError, TypeError, KeyError, IndexError,
                                        MemoryError, OverflowError]
    with contextlib.suppress(ImportError):
        kinds.append(pa.ArrowException)
    with contextlib.suppress(ImportError):
        import duckdb
        kinds.append(duckdb.Error)
    with contextlib.suppress(ImportError):
        import pandas.errors
        kinds += [pandas.errors.ParserError, pandas.errors.EmptyDataError]
    return tuple(kinds)


def _numbers_only(exc: BaseException) -> str:
    """What may be said of a reader's failure: its kind and numbers parsed from its message."""
    kind = type(exc).__name__
    if m := _FIELD_COUNT.match(str(exc)):
        return f"{kind}: a line has {m.group(2)} field(s) where the header has {m.group(1)}"
    return kind


@contextlib.contextmanager
def reader_errors(what: str, path: str | Path | None = None, *, fmt: str = "the file",
                  hint: str = "check the file is complete, its separator, quoting and number "
                              "of fields on each line") -> Iterator[None]:
    """Re-raise any reader failure as an InputError that quotes nothing from the file.

    Errors of the library itself (:class:`~appariement.errors.AppariementError`) pass
    unchanged: they already follow the rule.

    Args:
        what: the file's role in messages (``"table 'candidats'"``, ``"identities"``).
        path: the file (only its name is printed).
        fmt: what the file was read as (``"CSV"``, ``"Parquet"``).
        hint: what to do.

    Examples:
        >>> try:
        ...     with reader_errors("identities", "ids.csv", fmt="CSV"):
        ...         raise ValueError("CSV parse error: Expected 6 columns, got 2: 1850578;...")
        ... except InputError as e:
        ...     print(e)
        identities: ids.csv could not be read as CSV (ValueError: a line has 2 field(s) where \
the header has 6); check the file is complete, its separator, quoting and number of fields on \
each line
    """
    try:
        yield
    except AppariementError:
        raise
    except _reader_exceptions() as exc:
        name = f"{Path(path).name} " if path is not None else ""
        if path is not None and str(path).lower().endswith(".gz") and _is_gzip_fault(exc):
            raise InputError(f"{what}: {name}is not a valid gzip file or is truncated "
                             "(decompression failed); export or copy it again") from None
        raise InputError(f"{what}: {name}could not be read as {fmt} ({_numbers_only(exc)}); "
                         f"{hint}") from None


def _is_gzip_fault(exc: BaseException) -> bool:
    """A corrupt or truncated gzip stream, as Python's gzip / zlib or DuckDB's reader report it
    (the message is inspected, never printed)."""
    import gzip
    import zlib

    if isinstance(exc, (zlib.error, gzip.BadGzipFile, EOFError)):
        return True
    text = str(exc).lower()
    return any(w in text for w in ("gzip", "zlib", "decompress", "compressed"))


# --- column names ------------------------------------------------------------------------------

#: a column name that cannot be a person's value: lower-case words joined by underscores
_SNAKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")
_DATA_LIKE = re.compile(r"\d{4}|\d[/.\-]\d|^\d+$|@")


def looks_like_column_name(name: str, known: Iterable[str] = ()) -> bool:
    """True when ``name`` may be printed: it cannot be a value from the file.

    A name is printed only when it is one of ``known`` (the contract's column names and the
    user's mapping, compared case-insensitively once trimmed), or it is lower-case words joined
    by underscores (``date_inscription``, ``id_candidat``) without a run of four digits. A single
    word (``MARTIN``, ``jean``), anything with a digit run, a date or an ``@`` could be a value
    of a headerless file's first row and is never printed.

    Examples:
        >>> looks_like_column_name("nom", ["nom"]), looks_like_column_name("code_postal")
        (True, True)
        >>> looks_like_column_name("MARTIN"), looks_like_column_name("185057800608491")
        (False, False)
    """
    text = str(name).strip()
    if text.lower() in {k.strip().lower() for k in known}:
        return True
    return _SNAKE.fullmatch(text) is not None and not _DATA_LIKE.search(text)


def describe_columns(columns: Iterable[str], known: Iterable[str] = (), *, limit: int = 40
                     ) -> str:
    """Describe a file's columns for a message without ever printing a possible value.

    Names that pass :func:`looks_like_column_name` are listed; the others are only counted.
    When most of the names look like data (digit runs, dates), a hint says the file may lack its
    header line.

    Args:
        columns: the column names as read.
        known: names that are safe to print (contract columns, mapping keys).
        limit: at most this many names are listed.

    Returns:
        A phrase such as ``"6 column(s), none shown (names that could be values are never
        printed) (the first line looks like data: does the file have a header line?)"``.

    Examples:
        >>> describe_columns(["c1", "185057800608491", "MARTIN", "1985-05-01"])
        '4 column(s), none shown (names that could be values are never printed) (the first \
line looks like data: does the file have a header line?)'
        >>> describe_columns(["candidat_id", "Nom"], known=["candidat_id"])
        "2 column(s): 'candidat_id' and 1 not shown (names that could be values are never \
printed)"
    """
    columns = [str(c) for c in columns]
    known = list(known)
    shown = [c for c in columns if looks_like_column_name(c, known)]
    hidden = len(columns) - len(shown)
    data_like = sum(1 for c in columns if _DATA_LIKE.search(c.strip()))
    head = f"{len(columns)} column(s)"
    if shown:
        listed = ", ".join(repr(c) for c in shown[:limit])
        if len(shown) > limit:
            listed += f" (+{len(shown) - limit} more)"
        text = f"{head}: {listed}"
        if hidden:
            text += f" and {hidden} not shown (names that could be values are never printed)"
    else:
        text = f"{head}, none shown (names that could be values are never printed)"
    if columns and data_like * 2 >= len(columns):
        text += " (the first line looks like data: does the file have a header line?)"
    return text


# --- NIRs damaged by a spreadsheet -------------------------------------------------------------

_NIR_DOT_ZERO = r"^\s*([0-9]{13}|[0-9]{15})\.0+\s*$"
_NIR_SCIENTIFIC = r"^\s*[0-9]([.,][0-9]*)?[eE][+-]?[0-9]+\s*$"


def _check_scientific_policy(policy: str) -> None:
    if policy not in NIR_SCIENTIFIC_POLICIES:
        raise ConfigError(f"on_nir_scientific must be one of {list(NIR_SCIENTIFIC_POLICIES)}, "
                          f"got {policy!r}")


def nir_spreadsheet_sql(text_sql: str) -> tuple[str, str, str]:
    """SQL for one NIR text expression: (repaired value, is-``.0`` flag, is-scientific flag).

    The repaired value drops a ``.0`` suffix from an otherwise exact 13/15-digit number and
    keeps every other value as it is (scientific notation is handled by the caller's policy).
    """
    dot_zero = f"regexp_matches({text_sql}, '{_NIR_DOT_ZERO}')"
    scientific = f"regexp_matches({text_sql}, '{_NIR_SCIENTIFIC}')"
    repaired = (f"CASE WHEN {dot_zero} THEN regexp_extract({text_sql}, '{_NIR_DOT_ZERO}', 1) "
                f"ELSE {text_sql} END")
    return repaired, dot_zero, scientific


def report_nir_spreadsheet(what: str, column: str, n_dot_zero: int, n_scientific: int,
                           examples: list, policy: str, *, where: str = "row keys") -> None:
    """Log the repairs and apply the scientific-notation policy (raise or warn)."""
    if n_dot_zero:
        _log.warning("%s, column %s: %d value(s) ended in '.0' (a spreadsheet stored them as "
                     "numbers); the suffix was removed, the digits are exact", what, column,
                     n_dot_zero)
    if not n_scientific:
        return
    if policy == "error":
        raise InvalidValueError(
            f"{what}, column {column!r}: {n_scientific} value(s) are in scientific notation "
            f"(e.g. 1.85E+14: a spreadsheet stored them as numbers and lost digits, which "
            f"cannot be recovered); example {where}: {', '.join(map(str, examples))}. Re-export "
            "the column as text, or set on_nir_scientific='null' to read them as missing",
            column=column, n_rows=n_scientific, examples=examples)
    _log.warning("%s, column %s: %d value(s) in scientific notation (digits lost) read as "
                 "missing", what, column, n_scientific)


def nir_spreadsheet_arrow(values: pa.Array | pa.ChunkedArray, what: str, column: str = "nir",
                          *, on_nir_scientific: str = "error"
                          ) -> pa.Array | pa.ChunkedArray:
    """Repair ``.0`` suffixes and apply the scientific-notation policy to an Arrow column.

    Args:
        values: a string column.
        what: the file's role in messages.
        column: its name in messages.
        on_nir_scientific: ``"error"`` or ``"null"`` (see the module docstring).

    Returns:
        The repaired column (same length).

    Raises:
        InvalidValueError: scientific notation under ``"error"`` (count and line numbers).

    Examples:
        >>> nir_spreadsheet_arrow(pa.array(["185057800608436.0", None, "2A"]), "t").to_pylist()
        ['185057800608436', None, '2A']
    """
    _check_scientific_policy(on_nir_scientific)
    text = pc.cast(values, pa.string())
    dot_zero = pc.fill_null(pc.match_substring_regex(text, _NIR_DOT_ZERO), False)
    scientific = pc.fill_null(pc.match_substring_regex(text, _NIR_SCIENTIFIC), False)
    n_dot_zero = pc.sum(dot_zero).as_py() or 0
    n_scientific = pc.sum(scientific).as_py() or 0
    if not n_dot_zero and not n_scientific:
        return values
    # line numbers of a CSV read with a header line: data row i is on line i + 2
    rows = pc.indices_nonzero(scientific).to_pylist()[:5] if n_scientific else []
    report_nir_spreadsheet(what, column, n_dot_zero, n_scientific, [r + 2 for r in rows],
                           on_nir_scientific, where="line numbers")
    repaired = pc.if_else(dot_zero, pc.replace_substring_regex(
        pc.utf8_trim_whitespace(text), r"\.0+$", ""), text)
    return pc.if_else(scientific, pa.scalar(None, pa.string()), repaired)


# --- the Arrow reader --------------------------------------------------------------------------

def _is_parquet(path: Path) -> bool:
    return path.name.lower().endswith((".parquet", ".pq"))


def read_text_table(path: str | Path, *, what: str = "input", encoding: str | None = None,
                    sep: str | None = None, on_mixed_encoding: str = "error",
                    nir_columns: Iterable[str] = ("nir",),
                    on_nir_scientific: str = "error") -> pa.Table:
    """Read a Parquet or CSV file as an Arrow table, CSV columns all text, guarded.

    CSV text is decoded in memory (no transcoded copy of identity data is written to disk);
    blank fields are null. Every failure is an :class:`~appariement.errors.InputError` that
    quotes nothing from the file.

    Args:
        path: a ``.parquet``, ``.csv`` or ``.csv.gz`` file.
        what: the file's role in messages (``"identities"``, ``"reference"``).
        encoding: ``"utf-8"``, ``"latin-1"`` or None to detect it per file.
        sep: CSV separator, or None to detect it from the header line.
        on_mixed_encoding: ``"error"`` (default) or ``"warn"`` (see :mod:`.encoding`).
        nir_columns: text columns whose spreadsheet damage is repaired or refused.
        on_nir_scientific: ``"error"`` (default) or ``"null"``.

    Returns:
        The Arrow table.

    Raises:
        InputError: missing, empty or unreadable file; mixed encodings under ``"error"``.
        InvalidValueError: NIRs in scientific notation under ``"error"``.

    Examples:
        >>> import pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = p.write_text("candidat_id;nir\\nc1;185057800608436.0\\nc2;\\n")
        >>> read_text_table(p).to_pylist()
        [{'candidat_id': 'c1', 'nir': '185057800608436'}, {'candidat_id': 'c2', 'nir': None}]
    """
    from .encoding import resolve_decoding, transcode
    from .read import detect_separator

    _check_scientific_policy(on_nir_scientific)
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what}: input file {path.name} does not exist (or is not a file)")
    if _is_parquet(path):
        import pyarrow.parquet as pq
        with reader_errors(what, path, fmt="Parquet", hint="check the file is complete"):
            table = pq.read_table(path)
        refuse_duplicate_columns(table.column_names, f"{what} ({path.name})")
        return _repair_nirs(table, what, nir_columns, on_nir_scientific)
    with reader_errors(what, path, fmt="CSV"):
        if path.stat().st_size == 0:
            raise InputError(f"{what}: {path.name} is empty (not even a header line)")
        decoding = resolve_decoding(path, what, encoding, on_mixed_encoding=on_mixed_encoding)
        buffer = io.BytesIO()
        transcode(path, decoding, buffer)
        data = buffer.getvalue()
        delim = sep if sep is not None else detect_separator(path, "utf-8" if decoding.is_utf8
                                                             else "latin-1")
        first = data.split(b"\n", 1)[0].decode("utf-8")
        header = [name.lstrip("\ufeff") for name in next(csv.reader([first], delimiter=delim),
                                                          [])]
        if not header:
            raise InputError(f"{what}: {path.name} has an empty header line")
        refuse_duplicate_columns(header, f"{what} ({path.name})")
        table = _parse_csv(data, header, delim, what, path)
    return _repair_nirs(table, what, nir_columns, on_nir_scientific)


def _arrow_csv_options(header: list[str], delim: str, **read):
    import pyarrow.csv as pacsv

    return dict(read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, **read),
                convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in header},
                                                     strings_can_be_null=True))


def bad_lines(data: bytes, delim: str) -> tuple[int, str]:
    """(number of lines whose field count differs from the header's, a phrase naming the first
    ones by number) of UTF-8 CSV bytes; (0, "") when every line has the header's count."""
    import pyarrow.csv as pacsv

    first = data.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    header = [name.lstrip("\ufeff") for name in next(csv.reader([first], delimiter=delim), [])]
    bad: list[tuple[int | None, int, int]] = []

    def on_invalid(row) -> str:
        bad.append((row.number, row.expected_columns, row.actual_columns))
        return "skip"

    try:
        pacsv.read_csv(pa.BufferReader(data),
                       parse_options=pacsv.ParseOptions(delimiter=delim,
                                                        invalid_row_handler=on_invalid),
                       **_arrow_csv_options(header, delim, use_threads=False))
    except _reader_exceptions():
        pass  # another kind of failure: the caller's message stands alone
    if not bad:
        return 0, ""
    lines = ", ".join(str(n) for n, _, _ in bad[:5] if n is not None) or "unknown"
    _, expected, actual = bad[0]
    return len(bad), (f"{len(bad)} line(s) do not have {expected} field(s) like the header "
                      f"(the first has {actual}); line(s) {lines}")


def _parse_csv(data: bytes, header: list[str], delim: str, what: str, path: Path) -> pa.Table:
    import pyarrow.csv as pacsv

    try:
        return pacsv.read_csv(pa.BufferReader(data),
                              parse_options=pacsv.ParseOptions(delimiter=delim),
                              **_arrow_csv_options(header, delim))
    except pa.ArrowInvalid:
        pass  # read again, single-threaded, to learn which lines are bad (numbers only)
    n_bad, where = bad_lines(data, delim)
    if not n_bad:
        raise InputError(f"{what}: {path.name} could not be parsed as CSV (separator {delim!r})"
                         "; check its quoting")
    raise InputError(f"{what}: {path.name} could not be parsed as CSV (separator {delim!r}): "
                     f"{where}. Check the separator and the quoting of those lines",
                     n_rows=n_bad)


def _repair_nirs(table: pa.Table, what: str, nir_columns: Iterable[str],
                 on_nir_scientific: str) -> pa.Table:
    for name in nir_columns:
        if name not in table.column_names:
            continue
        column = table.column(name)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        index = table.column_names.index(name)
        table = table.set_column(index, name, nir_spreadsheet_arrow(
            column, what, name, on_nir_scientific=on_nir_scientific))
    return table
