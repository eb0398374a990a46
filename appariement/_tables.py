"""Conversions at the edges: the library's internal currency is a DuckDB relation.

Public functions accept a pandas DataFrame, a pyarrow Table, a DuckDB relation or a path to a
Parquet/CSV file, and work on DuckDB relations bound to one connection. Heavy work is SQL run by
DuckDB, never Python loops over rows.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Iterable, Mapping

import duckdb
import pyarrow as pa

__all__ = ["connect", "quote_identifier", "as_relation", "to_arrow", "temp_view", "temp_table",
           "drop_relation", "refuse_duplicate_columns", "TableLike", "sql_literal", "sql_list",
           "sql_map", "fresh_name"]

TableLike = Any  # pandas.DataFrame | pyarrow.Table | duckdb.DuckDBPyRelation | str | Path

_counter = itertools.count()


def connect(database: str = ":memory:", *, threads: int | None = None,
            memory_limit: str | None = None, temp_directory: str | None = None
            ) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB connection with the library's settings.

    Args:
        database: ``":memory:"`` or a path to an on-disk database (for data larger than RAM).
        threads: number of threads DuckDB may use (default: all cores).
        memory_limit: e.g. ``"16GB"``.
        temp_directory: where DuckDB spills to disk.
    """
    con = duckdb.connect(database)
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute("SET memory_limit = ?", [memory_limit])
    if temp_directory:
        con.execute("SET temp_directory = ?", [str(temp_directory)])
    return con


def quote_identifier(name: str) -> str:
    """A SQL identifier quoted for DuckDB (embedded double quotes doubled).

    Examples:
        >>> quote_identifier('date_début'), quote_identifier('a"b')
        ('"date_début"', '"a""b"')
    """
    return '"' + name.replace('"', '""') + '"'


def sql_literal(value: Any) -> str:
    """A Python value as a DuckDB SQL literal: strings quoted with embedded quotes doubled,
    None as NULL, booleans and numbers as themselves. The one way SQL text takes a value.

    Examples:
        >>> sql_literal("l'été"), sql_literal(None), sql_literal(True), sql_literal(0.5)
        ("'l''été'", 'NULL', 'TRUE', '0.5')
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def sql_list(values: Iterable[Any], *, brackets: bool = False) -> str:
    """Literals separated by commas (for ``IN (...)``), or a DuckDB list with ``brackets``.

    Examples:
        >>> sql_list(["a", "b'c"]), sql_list([1, 2], brackets=True)
        ("'a', 'b''c'", '[1, 2]')
    """
    text = ", ".join(sql_literal(v) for v in values)
    return f"[{text}]" if brackets else text


def sql_map(mapping: Mapping[Any, Any]) -> str:
    """A DuckDB ``MAP {...}`` literal, keys in sorted order.

    Examples:
        >>> sql_map({"b": "x'y", "a": "z"})
        "MAP {'a': 'z', 'b': 'x''y'}"
    """
    items = ", ".join(f"{sql_literal(k)}: {sql_literal(v)}" for k, v in sorted(mapping.items()))
    return "MAP {" + items + "}"


def fresh_name(prefix: str) -> str:
    """A name for a temporary view or table, unique in this process (``_app_<prefix>_<n>``)."""
    return f"_app_{prefix}_{next(_counter)}"


def as_relation(con: duckdb.DuckDBPyConnection, data: TableLike, name: str = "t"
                ) -> duckdb.DuckDBPyRelation:
    """Return ``data`` as a DuckDB relation on ``con``.

    A path is read through the guarded readers of :mod:`appariement.io.guard`: a Parquet file
    by DuckDB (lazily), a CSV file with every column as text (identifiers keep their leading
    zeros; no type is guessed) and its encoding and separator detected. A missing, empty or
    unreadable file is an :class:`~appariement.errors.InputError` that quotes nothing from the
    file. DataFrames and Arrow tables are registered as views under a fresh name; a relation of
    another connection is copied (through Arrow) and registered likewise.

    A file or a table with two columns of the same name is refused (:class:`InputError`):
    DuckDB would rename the second one (``nom_1``) and every later step would silently use the
    first.

    Examples:
        >>> import pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "labels.csv"
        >>> _ = p.write_text("record_id_l;record_id_r\\n007;0042\\n")
        >>> as_relation(connect(), p).fetchall()
        [('007', '0042')]
    """
    if isinstance(data, duckdb.DuckDBPyRelation):
        owner = relation_connection(data)
        if owner is None or owner is con:
            return data
        # a relation of another connection: its SQL would run (or fail) against the wrong
        # catalog, so its rows are copied over through Arrow
        data = to_arrow(data)
    if isinstance(data, (str, Path)):
        data = _read_path(con, Path(data), name)
        if isinstance(data, duckdb.DuckDBPyRelation):
            return data
    refuse_duplicate_columns(_column_names(data), f"table {name!r}")
    view = fresh_name(name)
    con.register(view, data)
    return con.table(view)


def _read_path(con: duckdb.DuckDBPyConnection, path: Path, name: str
               ) -> duckdb.DuckDBPyRelation | pa.Table:
    """A file as a lazy DuckDB relation (Parquet) or an all-text Arrow table (CSV), guarded."""
    from .errors import InputError
    from .io.guard import read_text_table, reader_errors

    what = f"table {name!r}"
    if not path.name.lower().endswith((".parquet", ".pq")):
        table = read_text_table(path, what=what, nir_columns=())
        refuse_duplicate_columns(table.column_names, f"{what} ({path.name})")
        return table
    if not path.is_file():
        raise InputError(f"{what}: input file {path.name} does not exist (or is not a file)",
                         table=name)
    with reader_errors(what, path, fmt="Parquet", hint="check the file is complete"):
        import pyarrow.parquet as pq
        # the file's own names: DuckDB's scan has already renamed a duplicate
        refuse_duplicate_columns(pq.read_schema(path).names, f"{what} ({path.name})")
        return con.read_parquet(str(path))


def _column_names(data: TableLike) -> list[str]:
    if isinstance(data, pa.Table):
        return list(data.column_names)
    columns = getattr(data, "columns", None)  # a pandas DataFrame
    return [str(c) for c in columns] if columns is not None else []


def refuse_duplicate_columns(columns: list[str], what: str) -> None:
    """Raise :class:`InputError` when two columns share a name (case-insensitively, as DuckDB
    compares them); the names are described by :func:`appariement.io.guard.describe_columns`
    (a headerless file's first row may repeat a value).

    Examples:
        >>> refuse_duplicate_columns(["id", "nom", "NOM"], "table 'x'")
        Traceback (most recent call last):
        ...
        appariement.errors.InputError: table 'x': 1 column name(s) appear more than once \
(1 column(s): 'nom'); rename the columns so that each is unique
    """
    from .errors import InputError
    from .io.contract import ALL_TABLES
    from .io.guard import describe_columns

    known = {c for spec in ALL_TABLES.values() for c in spec.column_names}
    seen: dict[str, str] = {}
    repeated: list[str] = []
    for column in columns:
        folded = str(column).strip().lower()
        if folded in seen and seen[folded] not in repeated:
            repeated.append(seen[folded])
        seen.setdefault(folded, str(column))
    if repeated:
        raise InputError(f"{what}: {len(repeated)} column name(s) appear more than once "
                         f"({describe_columns(repeated, known)}); rename the columns so that "
                         "each is unique")


def relation_connection(rel: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyConnection | None:
    """The connection a relation belongs to, or None where DuckDB does not tell."""
    owner = getattr(rel, "_con", None)
    return owner if isinstance(owner, duckdb.DuckDBPyConnection) else None


def drop_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop the view or table ``name`` if it exists, whichever it is."""
    for kind in ("VIEW", "TABLE"):
        try:
            con.execute(f"DROP {kind} IF EXISTS {name}")
        except duckdb.CatalogException:  # the name holds the other kind
            pass


def _in_a_file(con: duckdb.DuckDBPyConnection) -> bool:
    return con.execute("SELECT path IS NOT NULL FROM duckdb_databases() "
                       "WHERE database_name = current_database()").fetchall()[0][0]


def temp_view(rel: duckdb.DuckDBPyRelation, name: str) -> duckdb.DuckDBPyRelation:
    """Create (or replace) the view ``name`` of ``rel`` on its connection, for this session only.

    DuckDB's ``create_view`` makes a persistent view: in a database file (the on-disk option) the
    library's working views would stay in the user's file after the run, and a relation reading
    a Python object (a DataFrame, an Arrow table) is refused there. In a database file this makes
    a ``TEMP VIEW`` over the relation's SQL instead — or, when that SQL reads an in-process
    object which the view could outlive, registers a copy of the rows (also a session view).

    Returns:
        ``rel`` (for chaining).
    """
    con = relation_connection(rel)
    if con is None or not _in_a_file(con):
        rel.create_view(name, replace=True)
        return rel
    sql = rel.sql_query()
    drop_relation(con, f"temp.main.{name}")
    if "__duckdb_source_" in sql:
        con.register(name, to_arrow(rel))  # a session view of a copy (dropped as a view)
    else:
        con.execute(f"CREATE TEMP VIEW {name} AS {sql}")
    return rel


def temp_table(rel: duckdb.DuckDBPyRelation, name: str) -> duckdb.DuckDBPyRelation:
    """Materialise ``rel`` as the session-only table ``name`` on its connection (a working table
    that must not stay in a database file), and return that table."""
    con = relation_connection(rel)
    if con is None:
        rel.to_table(name)
        return rel
    view = f"{name}_src"
    temp_view(rel, view)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {view}")
    con.execute(f"DROP VIEW IF EXISTS {view}")
    return con.table(name)


def to_arrow(rel: duckdb.DuckDBPyRelation) -> pa.Table:
    """Materialise a relation as a pyarrow Table."""
    result = rel.arrow()
    # DuckDB >= 1.4 may return a RecordBatchReader; normalise to a Table.
    if isinstance(result, pa.RecordBatchReader):
        result = result.read_all()
    return result
