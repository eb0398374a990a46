"""Read one input table into DuckDB, rename user columns and cast them to the contract's types.

Reading is done by DuckDB (``read_csv`` / ``read_parquet`` or a registered DataFrame), never by
Python row loops. CSV files are read with every column as text, then each contract column is
converted with ``TRY_CAST``-style SQL so that a bad value is *counted* (and reported by row key)
instead of crashing the read.

Conversion rules (applied to text; already-typed Parquet/DataFrame columns are kept or cast):

* blank strings (empty or only spaces) are NULL;
* ``DATE`` columns accept ISO ``YYYY-MM-DD`` (a time part is ignored) and ``DD/MM/YYYY``;
  the raw identity column ``date_naissance`` is ``VARCHAR`` in the contract and stays text;
* ``BOOLEAN`` columns accept true/false, 1/0, oui/non, o/n, yes/no, vrai/faux (any case);
* ``DOUBLE`` columns accept a decimal point or a French decimal comma (``12,5``);
* coded columns (those with ``allowed`` values) are normalised before comparison: case, accents,
  surrounding spaces, and runs of spaces/hyphens (→ ``_``) are ignored, so ``"Accepted "`` becomes
  ``accepted`` and ``"cap emploi"`` becomes ``CAP_EMPLOI``. Values that still match no code are
  kept as received and reported by :mod:`appariement.io.validate`;
* non-identifying text columns are trimmed; identifying ones (names, NIR, raw birth date) are kept
  exactly as received.

Column names are matched to canonical names after trimming and ignoring case; a user mapping
``{user_column: canonical_column}`` renames the others. Columns the contract does not know are
kept unchanged after the contract columns (pass-through).
"""

from __future__ import annotations

import contextlib
import re
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import duckdb

from .._log import get_logger
from .._tables import quote_identifier as _quote, sql_literal, temp_view
from ..errors import ConfigError, InputError, InvalidValueError, SchemaError
from .contract import ALL_TABLES, Column, TableSpec, table_spec
from .encoding import (Decoding, normalise_encoding, open_bytes as _open_bytes, resolve_decoding,
                       scan_encoding, transcode)
from .guard import (bad_lines, describe_columns, nir_spreadsheet_sql, reader_errors,
                    report_nir_spreadsheet, _check_scientific_policy)

__all__ = ["read_table", "detect_encoding", "detect_separator"]

_log = get_logger(__name__)

#: internal column names added to staged tables; user columns may not start with this prefix
_INTERNAL_PREFIX = "_app_"
_ROW = "_app_row"
_CAST_FAIL = "_app_cast_fail"

_SEPARATORS = (";", ",", "\t", "|")
_TRUE = ("true", "t", "1", "oui", "o", "yes", "y", "vrai")
_FALSE = ("false", "f", "0", "non", "n", "no", "faux")
_CHUNK = 1 << 20
_counter = iter(range(1, 1 << 62))


def detect_encoding(path: str | Path) -> str:
    """Detect the text encoding of a CSV file: ``"utf-8"``, ``"latin-1"`` or ``"mixed"``.

    Every line holding a non-ASCII byte is checked (streaming, 1 MiB blocks): when none is
    invalid UTF-8 the file is UTF-8 (a byte-order mark is allowed); when all of them are, it is
    Latin-1 (read as Windows-1252 when it holds bytes 0x80-0x9F); when some are and others are
    not, it is ``"mixed"`` and :func:`read_table` applies its ``on_mixed_encoding`` policy (see
    :mod:`appariement.io.encoding`).

    Args:
        path: a ``.csv`` or ``.csv.gz`` file.

    Returns:
        ``"utf-8"``, ``"latin-1"`` or ``"mixed"``.

    Examples:
        >>> import pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = p.write_bytes("nom\\nZoé\\n".encode("latin-1"))
        >>> detect_encoding(p)
        'latin-1'
    """
    kind = scan_encoding(Path(path)).kind
    return "utf-8" if kind == "ascii" else kind


def detect_separator(path: str | Path, encoding: str = "utf-8") -> str:
    """Detect the field separator from the header line: ``;``, ``,``, tab or ``|``.

    The separator is the candidate that occurs most often outside double quotes in the first
    line; a header with none of them (a single column) gives ``,``.

    Args:
        path: a ``.csv`` or ``.csv.gz`` file.
        encoding: ``"utf-8"`` or ``"latin-1"`` (see :func:`detect_encoding`).

    Returns:
        The separator character.

    Examples:
        >>> import pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = p.write_text("candidat_id;nom;prenoms\\n1;A;B\\n")
        >>> detect_separator(p)
        ';'
    """
    py_encoding = "utf-8-sig" if normalise_encoding(encoding, "separator") == "utf-8" else "cp1252"
    with _open_bytes(Path(path)) as fh:
        first = fh.readline(_CHUNK)
    header = first.decode(py_encoding, errors="_appariement_latin1" if py_encoding == "cp1252"
                          else "replace")
    outside_quotes = re.sub(r'"[^"]*"', "", header)
    counts = {sep: outside_quotes.count(sep) for sep in _SEPARATORS}
    best = max(_SEPARATORS, key=lambda sep: counts[sep])
    return best if counts[best] > 0 else ","


@contextlib.contextmanager
def _transcoded(path: Path, decoding: Decoding) -> Iterator[Path]:
    """Yield a temporary UTF-8 copy of a file (streamed, in a private folder removed on exit)."""
    with tempfile.TemporaryDirectory(prefix="appariement-csv-") as tmp:
        target = Path(tmp) / "utf8.csv"
        with open(target, "wb") as dst:
            transcode(path, decoding, dst)
        yield target


def _bad_lines(path: Path, decoding: Decoding, delim: str) -> tuple[int, str]:
    """Field-count problems of a CSV file that DuckDB refused (line numbers only)."""
    import io

    buffer = io.BytesIO()
    try:
        transcode(path, decoding, buffer)
    except (OSError, EOFError, UnicodeError, zlib.error):
        return 0, ""
    return bad_lines(buffer.getvalue(), delim)


def _is_csv(path: Path) -> bool:
    name = path.name.lower()
    return any(name.endswith(ext) for ext in (".csv", ".csv.gz", ".txt", ".tsv", ".tsv.gz"))


def _is_parquet(path: Path) -> bool:
    return path.name.lower().endswith((".parquet", ".pq"))


@contextlib.contextmanager
def _raw_relation(con: duckdb.DuckDBPyConnection, source: Any, table: str,
                  encoding: str | None, sep: str | None, on_mixed_encoding: str = "error"
                  ) -> Iterator[duckdb.DuckDBPyRelation]:
    """Yield the source as a relation (CSV: all text); temporary files live until exit."""
    if isinstance(source, duckdb.DuckDBPyRelation):
        yield source
        return
    if not isinstance(source, (str, Path)):
        # DataFrame / Arrow: registered for the read only, so the connection keeps no reference.
        view = f"_app_src_{table}_{next(_counter)}"
        try:
            con.register(view, source)
        except Exception:  # duckdb raises several kinds for objects it cannot scan
            raise ConfigError(f"table {table!r}: cannot read a source of type "
                              f"{type(source).__name__}; give a path, a pandas DataFrame, a "
                              "pyarrow Table or a DuckDB relation") from None
        try:
            yield con.table(view)
        finally:
            con.unregister(view)
        return
    path = Path(source)
    if not path.exists():
        raise InputError(f"table {table!r}: input file {str(path)!r} does not exist",
                         table=table)
    if _is_parquet(path):
        try:
            rel = con.read_parquet(str(path))
        except duckdb.Error as exc:
            raise InputError(f"table {table!r}: {path.name} could not be read as Parquet "
                             f"({type(exc).__name__}); check the file is complete",
                             table=table) from None
        yield rel
        return
    if not _is_csv(path):
        raise ConfigError(f"table {table!r}: cannot tell the format of {path.name}; use a "
                          ".parquet, .csv or .csv.gz file")
    if path.stat().st_size == 0:
        raise InputError(f"table {table!r}: {path.name} is empty (not even a header line)",
                         table=table)
    what = f"table {table!r}"
    with reader_errors(what, path, fmt="CSV"):
        decoding = resolve_decoding(path, what, encoding, on_mixed_encoding=on_mixed_encoding)
        delim = sep if sep is not None else detect_separator(
            path, "utf-8" if decoding.is_utf8 else "latin-1")
    if delim not in _SEPARATORS:
        raise ConfigError(f"table {table!r}: separator {delim!r} is not supported; use one of "
                          + ", ".join(repr(s) for s in _SEPARATORS))
    _log.debug("table %s: reading %s as CSV (encoding %s, separator %r)", table, path.name,
               decoding.label, delim)
    with contextlib.ExitStack() as stack:
        read_path, duck_enc = path, "utf-8"
        if decoding.mode == "latin-1":
            duck_enc = "latin-1"  # DuckDB decodes Latin-1 itself: no copy needed
        elif not decoding.is_utf8:
            with reader_errors(what, path, fmt="CSV"):
                read_path = stack.enter_context(_transcoded(path, decoding))
        sql = (f"SELECT * FROM read_csv({sql_literal(str(read_path))}, header=true, "
               f"all_varchar=true, delim={sql_literal(delim)}, quote='\"', escape='\"', "
               f"encoding={sql_literal(duck_enc)})")
        try:
            rel = con.sql(sql)
            rel.columns  # noqa: B018 - force the sniffer/binder to run inside the try
        except duckdb.Error as exc:
            # The DuckDB message may quote a line of the file (possibly a NIR): not repeated;
            # the bad lines are found again and named by number only.
            n_bad, where = _bad_lines(path, decoding, delim)
            raise InputError(
                f"table {table!r}: {path.name} could not be parsed as CSV (separator {delim!r}, "
                f"encoding {decoding.label}; {type(exc).__name__}"
                + (f": {where}" if n_bad else "") + "). Check the separator, quoting "
                "and the number of fields on each line, or pass sep=/encoding= explicitly",
                table=table, n_rows=n_bad or None) from None
        yield rel


def _check_mapping(spec: TableSpec, mapping: Mapping[str, str] | None) -> dict[str, str]:
    """Validate a ``{user_column: canonical_column}`` mapping for one table.

    Raises:
        ConfigError: a target is not a column of the table, or two user columns map to the
            same canonical column.
    """
    mapping = dict(mapping or {})
    known = set(spec.column_names)
    seen: dict[str, str] = {}
    for user, canonical in mapping.items():
        if canonical not in known:
            raise ConfigError(
                f"mapping for table {spec.name!r}: {user!r} is mapped to {canonical!r}, which is "
                f"not a column of the contract; columns are: {', '.join(spec.column_names)}")
        if canonical in seen:
            raise ConfigError(
                f"mapping for table {spec.name!r}: both {seen[canonical]!r} and {user!r} are "
                f"mapped to {canonical!r}; map exactly one user column to each canonical column")
        seen[canonical] = user
    return mapping


def _resolve_columns(spec: TableSpec, source_columns: list[str], mapping: dict[str, str]
                     ) -> tuple[dict[str, str], list[str]]:
    """Return ({canonical: source column}, [pass-through columns])."""
    by_norm = {}
    for col in source_columns:
        by_norm.setdefault(col.strip().lower(), col)
    mapped_sources: dict[str, str] = {}  # source column -> canonical
    for user, canonical in mapping.items():
        src = user if user in source_columns else by_norm.get(user.strip().lower())
        if src is not None:
            mapped_sources[src] = canonical
    canonical_names = set(spec.column_names)
    resolved: dict[str, str] = {}
    extras: list[str] = []
    for col in source_columns:
        target = mapped_sources.get(col)
        if target is None and col.strip().lower() in canonical_names:
            target = col.strip().lower()
        if target is None:
            if col.startswith(_INTERNAL_PREFIX):
                raise ConfigError(f"table {spec.name!r}: column {col!r} uses the reserved prefix "
                                  f"{_INTERNAL_PREFIX!r}; rename it")
            extras.append(col)
            continue
        if target in resolved:
            raise ConfigError(
                f"table {spec.name!r}: columns {resolved[target]!r} and {col!r} both provide "
                f"{target!r}; drop one or fix the mapping")
        resolved[target] = col
    return resolved, extras


def _missing_columns_error(spec: TableSpec, missing: list[str], source_columns: list[str],
                           mapping: dict[str, str]) -> SchemaError:
    hints = []
    for canonical in missing:
        users = [u for u, c in mapping.items() if c == canonical]
        if users:
            hints.append(f"the mapping names {users[0]!r} for {canonical!r} but the input has no "
                         "such column")
    hint = ("; ".join(hints) + ". ") if hints else ""
    # A headerless file's first row is taken as its header: only names that cannot be values
    # are printed (see appariement.io.guard.describe_columns).
    known = [c for t in ALL_TABLES.values() for c in t.column_names] + list(mapping)
    found = describe_columns(source_columns, known)
    return SchemaError(
        f"table {spec.name!r}: required column(s) {', '.join(repr(m) for m in missing)} missing. "
        f"{hint}Found {found}. Rename them in the file or add a mapping "
        f"{{'<your column>': '{missing[0]}'}} for table {spec.name!r} in the configuration",
        table=spec.name, column=missing[0], n_rows=None)


_NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                  "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "REAL")


def _normalised_code(text_sql: str) -> str:
    return (f"regexp_replace(strip_accents(lower(trim({text_sql}))), '[\\s\\-]+', '_', 'g')")


def _typed_expr(column: Column, src_sql: str, src_type: str) -> tuple[str, str | None]:
    """SQL converting a source column to the contract type.

    Returns (typed expression, text expression to compare for cast failures or None when the
    conversion cannot fail).
    """
    src_type = src_type.upper()
    text = f"CAST({src_sql} AS VARCHAR)"
    blank_null = f"NULLIF(trim({text}), '')"
    target = column.type.upper()
    if target == "VARCHAR":
        if column.allowed:
            cases = " ".join(f"WHEN {sql_literal(_norm_py(code))} THEN {sql_literal(code)}"
                             for code in column.allowed)
            return (f"CASE WHEN {blank_null} IS NULL THEN NULL "
                    f"ELSE CASE {_normalised_code(text)} {cases} ELSE trim({text}) END END"), None
        if column.identifying:
            return f"CASE WHEN {blank_null} IS NULL THEN NULL ELSE {text} END", None
        return blank_null, None
    if src_type == target:
        return src_sql, None
    if target == "DATE":
        if src_type == "DATE" or src_type.startswith("TIMESTAMP"):
            return f"CAST({src_sql} AS DATE)", None
        iso = (f"CASE WHEN regexp_full_match({blank_null}, '\\d{{4}}-\\d{{1,2}}-\\d{{1,2}}"
               f"([ T].*)?') THEN TRY_CAST({blank_null} AS DATE) END")
        fr = (f"CASE WHEN regexp_full_match({blank_null}, '\\d{{1,2}}/\\d{{1,2}}/\\d{{4}}') "
              f"THEN CAST(TRY_STRPTIME({blank_null}, '%d/%m/%Y') AS DATE) END")
        return f"COALESCE({iso}, {fr})", blank_null
    if target == "BOOLEAN":
        low = f"lower({blank_null})"
        truthy = ", ".join(sql_literal(v) for v in _TRUE)
        falsy = ", ".join(sql_literal(v) for v in _FALSE)
        return (f"CASE WHEN {low} IN ({truthy}) THEN TRUE WHEN {low} IN ({falsy}) THEN FALSE "
                "END"), blank_null
    if target == "DOUBLE":
        if src_type in _NUMERIC_TYPES or src_type.startswith("DECIMAL"):
            return f"CAST({src_sql} AS DOUBLE)", None
        comma = (f"CASE WHEN regexp_full_match({blank_null}, '-?\\d*,\\d+') "
                 f"THEN replace({blank_null}, ',', '.') ELSE {blank_null} END")
        return f"TRY_CAST({comma} AS DOUBLE)", blank_null
    return f"TRY_CAST({blank_null} AS {column.type})", blank_null


#: columns holding a NIR (or a pivot code): spreadsheet damage is repaired or refused
_NIR_COLUMNS = ("nir",)


def _nir_repaired(typed: str, on_nir_scientific: str) -> str:
    """The NIR expression with a '.0' suffix removed (and scientific notation NULL under
    policy "null"; under "error" the read fails once the values are counted)."""
    repaired, _, scientific = nir_spreadsheet_sql(f"({typed})")
    if on_nir_scientific == "null":
        return f"CASE WHEN {scientific} THEN NULL ELSE {repaired} END"
    return repaired


def _nir_flag_columns(column: str, typed: str) -> list[tuple[str, str]]:
    """[(quoted name, SQL)] of the two flags: '.0' suffix, scientific notation."""
    _, dot_zero, scientific = nir_spreadsheet_sql(f"({typed})")
    return [(_quote(f"{_INTERNAL_PREFIX}dot0_{column}"), f"coalesce({dot_zero}, false)"),
            (_quote(f"{_INTERNAL_PREFIX}sci_{column}"), f"coalesce({scientific}, false)")]


def _report_nir_flags(con: duckdb.DuckDBPyConnection, spec: TableSpec, name: str,
                      flags: list[str], on_nir_scientific: str) -> None:
    """Count the repaired / refused NIRs of a staged table, log or raise, drop the flags."""
    dot0, sci = flags
    column = sci.strip('"')[len(_INTERNAL_PREFIX + "sci_"):]
    n_dot0, n_sci, examples = con.execute(
        f"SELECT count(*) FILTER ({dot0}), count(*) FILTER ({sci}), "
        f"list({_key_sql(spec)} ORDER BY {_ROW}) FILTER ({sci})[1:5] FROM {name}").fetchall()[0]
    try:
        report_nir_spreadsheet(f"table {spec.name!r}", column, n_dot0, n_sci, examples or [],
                               on_nir_scientific)
    except InvalidValueError as exc:
        exc.table = spec.name
        con.execute(f"DROP TABLE IF EXISTS {name}")
        raise
    for flag in flags:
        con.execute(f"ALTER TABLE {name} DROP COLUMN {flag}")


def _norm_py(code: str) -> str:
    """Python twin of :func:`_normalised_code` for the (ASCII) codes of the contract."""
    return re.sub(r"[\s\-]+", "_", code.strip().lower())


@dataclass(frozen=True)
class StagedTable:
    """A table read and cast, held on the connection with internal columns.

    ``name`` is a DuckDB table with ``_app_row`` (1-based input position), the contract columns
    (typed), the pass-through columns and ``_app_cast_fail`` (names of columns whose value could
    not be converted on that row).
    """

    table: str
    name: str
    n_rows: int
    extras: tuple[str, ...]
    filled_missing: tuple[str, ...]


def _stage_table(con: duckdb.DuckDBPyConnection, source: Any, table: str,
                mapping: Mapping[str, str] | None = None, *, encoding: str | None = None,
                sep: str | None = None, on_mixed_encoding: str = "error",
                on_nir_scientific: str = "error") -> StagedTable:
    """Read ``source``, rename and cast its columns, and materialise it (internal step).

    Raises:
        InvalidValueError: NIRs in scientific notation under ``on_nir_scientific="error"``.
        ConfigError: bad mapping or options.
        SchemaError: a required column is missing.
        InputError: the file is missing or unreadable.
    """
    spec = table_spec(table)
    mapping = _check_mapping(spec, mapping)
    _check_scientific_policy(on_nir_scientific)
    name = f"_app_stg_{table}_{next(_counter)}"
    nir_flags: list[str] = []
    with _raw_relation(con, source, table, encoding, sep, on_mixed_encoding) as raw:
        source_columns = list(raw.columns)
        source_types = [str(t) for t in raw.types]
        resolved, extras = _resolve_columns(spec, source_columns, mapping)
        required = [c.name for c in spec.columns if not c.nullable or c.name in spec.key]
        missing = [c for c in required if c not in resolved]
        if missing:
            raise _missing_columns_error(spec, missing, source_columns, mapping)
        filled = [c.name for c in spec.columns if c.name not in resolved]
        type_of = dict(zip(source_columns, source_types))
        inner, checks, raw_cols = [f"row_number() OVER () AS {_ROW}"], [], []
        for column in spec.columns:
            if column.name not in resolved:
                inner.append(f"CAST(NULL AS {column.type}) AS {_quote(column.name)}")
                continue
            src = resolved[column.name]
            typed, text = _typed_expr(column, _quote(src), type_of[src])
            if column.name in _NIR_COLUMNS:
                flags = _nir_flag_columns(column.name, typed)
                inner.extend(f"{sql} AS {flag}" for flag, sql in flags)
                nir_flags = [flag for flag, _ in flags]
                typed = _nir_repaired(typed, on_nir_scientific)
            inner.append(f"{typed} AS {_quote(column.name)}")
            if text is not None:
                raw_name = f"{_INTERNAL_PREFIX}raw_{column.name}"
                inner.append(f"{text} AS {_quote(raw_name)}")
                raw_cols.append(raw_name)
                checks.append(f"CASE WHEN {_quote(raw_name)} IS NOT NULL AND "
                              f"{_quote(column.name)} IS NULL THEN {sql_literal(column.name)} END")
        inner.extend(_quote(c) for c in extras)
        fail = (f"list_filter([{', '.join(checks)}], lambda x: x IS NOT NULL)" if checks
                else "CAST([] AS VARCHAR[])")
        exclude = f" EXCLUDE ({', '.join(_quote(c) for c in raw_cols)})" if raw_cols else ""
        view = f"_app_raw_{table}_{next(_counter)}"
        temp_view(raw, view)
        try:
            con.execute(
                f"CREATE OR REPLACE TABLE {name} AS SELECT *{exclude}, {fail} AS {_CAST_FAIL} "
                f"FROM (SELECT {', '.join(inner)} FROM {view})")
        except duckdb.Error as exc:
            raise InputError(f"table {table!r}: the input could not be read or converted "
                             f"({type(exc).__name__}); check the file", table=table) from None
        finally:
            con.execute(f"DROP VIEW IF EXISTS {view}")
    n_rows = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
    if nir_flags:
        _report_nir_flags(con, spec, name, nir_flags, on_nir_scientific)
    if filled:
        _log.info("table %s: optional column(s) absent, filled with NULL: %s", table,
                  ", ".join(filled))
    if extras:
        _log.debug("table %s: %d pass-through column(s) kept", table, len(extras))
    return StagedTable(table, name, n_rows, tuple(extras), tuple(filled))


def _public_columns_sql(spec: TableSpec, staged: StagedTable) -> str:
    """The SELECT list of a staged table without internal columns."""
    return ", ".join(_quote(c) for c in (*spec.column_names, *staged.extras))


def read_table(con: duckdb.DuckDBPyConnection, source: Any, table: str,
               mapping: Mapping[str, str] | None = None, *, encoding: str | None = None,
               sep: str | None = None, on_mixed_encoding: str = "error",
               on_nir_scientific: str = "error") -> duckdb.DuckDBPyRelation:
    """Read one input table and return it with canonical names and contract types.

    This checks the schema (required columns) and the conversion of every value; the row-level
    rules (nulls, codes, keys, references, dates) are checked by
    :func:`appariement.io.validate_tables` / :func:`appariement.io.load_tables`.

    Args:
        con: DuckDB connection the relation is bound to.
        source: a path (``.parquet``, ``.csv``, ``.csv.gz``), a pandas DataFrame, a pyarrow
            Table or a DuckDB relation on ``con``.
        table: canonical table name (``"candidats"``, ``"candidatures"``...).
        mapping: ``{user_column: canonical_column}`` renames.
        encoding: CSV encoding, ``"utf-8"`` or ``"latin-1"``; None detects it.
        sep: CSV separator (``";"``, ``","``...); None detects it from the header line.
        on_mixed_encoding: a CSV file whose lines are partly UTF-8 and partly not is an error
            (``"error"``, default) or is decoded line by line with a warning giving the counts
            (``"warn"``); see :mod:`appariement.io.encoding`.
        on_nir_scientific: NIRs in scientific notation (``1.85E+14``: digits lost) are an
            error (``"error"``, default) or read as missing with a warning (``"null"``). A
            ``.0`` suffix on an exact 13/15-digit NIR is always removed, and counted in a
            warning (see :mod:`appariement.io.guard`).

    Returns:
        A relation with the contract columns in contract order (absent optional columns are
        NULL) followed by the pass-through columns.

    Raises:
        ConfigError: bad mapping or options.
        SchemaError: a required column is missing.
        InvalidValueError: some values cannot be converted (count and example row keys given).

    Examples:
        >>> import duckdb, pandas as pd
        >>> con = duckdb.connect()
        >>> df = pd.DataFrame({"id": ["s1"], "type": ["aci "]})
        >>> rel = read_table(con, df, "structures", mapping={"id": "structure_id"})
        >>> rel.select("structure_id, type").fetchall()
        [('s1', 'ACI')]
    """
    spec = table_spec(table)
    staged = _stage_table(con, source, table, mapping, encoding=encoding, sep=sep,
                          on_mixed_encoding=on_mixed_encoding,
                          on_nir_scientific=on_nir_scientific)
    rows = con.execute(
        f"SELECT c, count(*), list({_key_sql(spec)} ORDER BY {_ROW})[1:5] FROM "
        f"(SELECT *, unnest({_CAST_FAIL}) AS c FROM {staged.name}) GROUP BY c ORDER BY c"
    ).fetchall()
    if rows:
        column, n, examples = rows[0]
        raise InvalidValueError(
            f"table {table!r}, column {column!r}: {n} value(s) cannot be converted to "
            f"{spec.column(column).type}; example row keys: {', '.join(map(str, examples))}"
            + (f" (and {len(rows) - 1} other column(s))" if len(rows) > 1 else ""),
            table=table, column=column, n_rows=n, examples=examples)
    return con.table(staged.name).project(_public_columns_sql(spec, staged))


def _key_sql(spec: TableSpec) -> str:
    """SQL giving a row's key as text (``a|b`` for composite keys, ``#row N`` when null)."""
    parts = [f"CAST({_quote(k)} AS VARCHAR)" for k in spec.key]
    joined = parts[0] if len(parts) == 1 else " || '|' || ".join(parts)
    if any(spec.column(k).identifying for k in spec.key):  # never the case in the contract
        return f"'#row ' || {_ROW}"
    return f"COALESCE({joined}, '#row ' || {_ROW})"
