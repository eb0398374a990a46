"""Load a whole extract: read every table, check the contract, raise or set rows aside.

:func:`load_tables` is the entry point the rest of the library uses. It reads each table with
:func:`appariement.io.read._stage_table`, runs the checks of :mod:`appariement.io.validate` across
tables (keys, references, dates...), then either raises the first problem
(:attr:`RejectPolicy.RAISE`) or moves offending rows to a rejects table with a reason code
(:attr:`RejectPolicy.SET_ASIDE`). Nothing is dropped silently: for every table
``read == kept + rejected``, and a row whose parent was rejected is rejected in turn as an
``orphan`` (cascade).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import duckdb

from .._atomic import atomic_path
from .._log import get_logger
from ..errors import ConfigError, SchemaError
from .contract import ALL_TABLES, table_spec
from .._tables import sql_literal
from .read import _ROW, _quote, _public_columns_sql, _stage_table
from .validate import Problem, _as_date, _run_checks

__all__ = ["RejectPolicy", "Dataset", "load_tables", "find_table_files", "REJECTS_TABLE"]

_log = get_logger(__name__)

#: name of the DuckDB table holding the rejects; loaded tables are ``in_<table>``
REJECTS_TABLE = "in__rejects"
_SIDES = ("platform", "source", "all")
_EXTENSIONS = (".parquet", ".pq", ".csv", ".csv.gz", ".tsv", ".txt")


class RejectPolicy(str, enum.Enum):
    """What to do with rows that break the contract.

    ``RAISE``: stop with an :class:`~appariement.errors.InputError` subclass naming the table,
    column, row count and example keys. ``SET_ASIDE``: move the rows to the rejects table with a
    reason code and go on with the others.
    """

    RAISE = "raise"
    SET_ASIDE = "set_aside"


@dataclass
class Dataset:
    """Tables loaded and checked against the contract.

    Attributes:
        tables: canonical name -> relation on the DuckDB table ``in_<name>`` (kept rows only).
        rejects: relation on ``in__rejects``: one row per (rejected row, reason) with columns
            ``table, key, row, column, reason, detail`` (``row`` is the 1-based input position).
        counts: table -> ``{"read": n, "kept": k, "rejected": r}`` with ``n == k + r``.
        problems: every problem found (empty when the input was clean).
        as_of: the reference date used for date windows.
        profile: what the import profile did (name, version, columns it cannot supply...;
            :class:`~appariement.io.profiles.ProfileInfo`), None without a profile.
    """

    tables: dict[str, duckdb.DuckDBPyRelation]
    rejects: duckdb.DuckDBPyRelation
    counts: dict[str, dict[str, int]]
    problems: list[Problem] = field(default_factory=list)
    as_of: dt.date | None = None
    profile: Any = None

    def __getitem__(self, name: str) -> duckdb.DuckDBPyRelation:
        try:
            return self.tables[name]
        except KeyError:
            raise ConfigError(f"table {name!r} was not loaded; loaded: "
                              f"{', '.join(sorted(self.tables))}") from None

    def __contains__(self, name: str) -> bool:
        return name in self.tables


def _table_name_of(path: Path) -> str | None:
    name = path.name
    for ext in _EXTENSIONS:
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return None


def find_table_files(folder: str | Path, side: str = "all") -> dict[str, Path]:
    """Find ``<table>.<ext>`` files of the contract in a folder.

    Looks in ``folder/platform`` and ``folder/source`` (the layout written by the synthetic
    generator) and in ``folder`` itself. Files that are not contract tables are ignored.

    Args:
        folder: the extract folder.
        side: ``"platform"``, ``"source"`` or ``"all"``: which tables to look for.

    Returns:
        canonical table name -> file path.

    Raises:
        ConfigError: the folder does not exist, or one table has two files.

    Examples:
        >>> import pathlib, tempfile
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "structures.csv").write_text("structure_id,type\\ns1,EI\\n")
        >>> sorted(find_table_files(d))
        ['structures']
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"input folder {str(folder)!r} does not exist")
    found: dict[str, Path] = {}
    for sub in (folder, folder / "platform", folder / "source"):
        if not sub.is_dir():
            continue
        for path in sorted(sub.iterdir()):
            table = _table_name_of(path)
            if table is None or table not in ALL_TABLES or not path.is_file():
                continue
            if not _side_matches(table, side):
                continue
            if table in found:
                raise ConfigError(f"table {table!r} has two input files: {found[table]} and "
                                  f"{path}; keep one")
            found[table] = path
    return found


def _side_matches(table: str, side: str | None) -> bool:
    return side in (None, "all") or ALL_TABLES[table].side == side


def load_tables(con: duckdb.DuckDBPyConnection, sources: Mapping[str, Any] | str | Path, *,
                side: str | None = None,
                mapping: Mapping[str, Mapping[str, str]] | None = None,
                rejects: RejectPolicy | str = RejectPolicy.RAISE,
                rejects_dir: str | Path | None = None,
                as_of: dt.date | str | None = None,
                encoding: str | None = None, sep: str | None = None,
                profile: Any = None,
                recode: Mapping[str, Mapping[str, Mapping[str, str]]] | None = None,
                on_mixed_encoding: str = "error", on_nir_scientific: str = "error") -> Dataset:
    """Read, check and materialise the tables of an extract.

    Args:
        con: DuckDB connection; tables are created on it as ``in_<table>``.
        sources: ``{table: path | DataFrame | Arrow table | relation}`` or a folder (see
            :func:`find_table_files`).
        side: ``"platform"``, ``"source"`` or ``"all"``: only tables of that side are loaded and
            every non-optional table of it must be present. None (default): load what is given
            and require nothing more.
        mapping: ``{table: {user_column: canonical_column}}``.
        rejects: :class:`RejectPolicy` (or its value ``"raise"`` / ``"set_aside"``).
        rejects_dir: when given, the rejects table is also written (atomically) to
            ``rejects_dir/rejects.parquet``.
        as_of: reference date for the date windows (default today).
        encoding: CSV encoding for every file (None: detect per file).
        sep: CSV separator for every file (None: detect per file).
        profile: an import profile name (``"les_emplois_warehouse"``...) or object: the
            sources are in a real source's names and labels (see :mod:`appariement.io.profiles`);
            ``mapping`` then applies on top of it. None: the contract's own names.
        recode: ``{table: {column: {label: code}}}``, the user's value recoding (on top of the
            profile's, or alone).
        on_mixed_encoding: ``"error"`` (default) or ``"warn"``: a CSV file mixing UTF-8 and
            other lines (see :func:`appariement.io.read_table`).
        on_nir_scientific: ``"error"`` (default) or ``"null"``: NIRs in scientific notation.

    Returns:
        A :class:`Dataset`.

    Raises:
        ConfigError: bad options, mapping or folder.
        SchemaError: a required table or column is missing.
        InputError: with ``RAISE``, the first problem found (subclass per kind: see
            :mod:`appariement.io.validate`), other problems summarised in its message.

    Examples:
        >>> import duckdb, pandas as pd
        >>> con = duckdb.connect()
        >>> s = pd.DataFrame({"structure_id": ["s1", "s2"], "type": ["EI", "??"]})
        >>> ds = load_tables(con, {"structures": s}, rejects="set_aside")
        >>> ds.counts["structures"]
        {'read': 2, 'kept': 1, 'rejected': 1}
        >>> ds.rejects.select("key, reason").fetchall()
        [('s2', 'not_allowed')]
    """
    policy = _policy(rejects)
    if side is not None and side not in _SIDES:
        raise ConfigError(f"side {side!r} is not allowed; use one of {', '.join(_SIDES)}")
    as_of = _as_date(as_of)
    # --- import profile: real table/column names and labels -> the contract's (io.profiles)
    prepared = None
    if profile is not None or recode:
        from .profiles import prepare_inputs
        prepared = prepare_inputs(con, sources, profile, mapping=mapping, recode=recode,
                                  side=side, encoding=encoding, sep=sep)
        sources, mapping = prepared.sources, prepared.mapping
    # --- end of import profile
    if isinstance(sources, (str, Path)):
        chosen: dict[str, Any] = dict(find_table_files(sources, side or "all"))
    else:
        chosen = {}
        for table, source in sources.items():
            table_spec(table)  # unknown table -> ConfigError
            if _side_matches(table, side):
                chosen[table] = source
            else:
                _log.info("table %s ignored: not a %s table", table, side)
    mapping = dict(mapping or {})
    for table in mapping:
        table_spec(table)
    if side is not None:
        required = [t for t, spec in ALL_TABLES.items()
                    if _side_matches(t, side) and not spec.optional]
        absent = [t for t in required if t not in chosen]
        if absent:
            raise SchemaError(f"required table(s) {', '.join(absent)} missing from the input "
                              f"(side {side!r}); found: {', '.join(sorted(chosen)) or 'none'}",
                              table=absent[0])
    if not chosen:
        raise ConfigError("no input table found; give {table: source} or a folder holding "
                          "<table>.parquet / <table>.csv files")

    staged = {}
    try:
        for table in sorted(chosen):
            staged[table] = _stage_table(con, chosen[table], table, mapping.get(table),
                                        encoding=encoding, sep=sep,
                                        on_mixed_encoding=on_mixed_encoding,
                                        on_nir_scientific=on_nir_scientific)
            _check_names_or_key(staged[table])
        issues, problems = _run_checks(con, {t: s.name for t, s in staged.items()}, as_of=as_of,
                                      set_aside=policy is RejectPolicy.SET_ASIDE,
                                      absent={t: s.filled_missing for t, s in staged.items()})
        if problems and policy is RejectPolicy.RAISE:
            raise problems[0].to_error(problems[1:])
        for problem in problems:
            _log.warning("%s [set aside]", problem.message)
        dataset = _materialise(con, staged, issues, problems, as_of)
    finally:
        for stage in staged.values():
            con.execute(f"DROP TABLE IF EXISTS {stage.name}")
        con.execute("DROP TABLE IF EXISTS _app_issues")
        if prepared is not None:  # import profile: its temporary tables
            prepared.drop(con)
    if prepared is not None:
        dataset.profile = prepared.info
    if rejects_dir is not None:
        _write_rejects(dataset.rejects, Path(rejects_dir))
    return dataset


def _check_names_or_key(stage) -> None:
    """A table identified by its names or a key (``candidats``) must hold one or the other."""
    spec = table_spec(stage.table)
    present = (set(spec.column_names) - set(stage.filled_missing)) | set(stage.extras)
    problem = spec.missing_identity(present)
    if problem is not None:
        names = spec.names_or_key[0]
        raise SchemaError(problem, table=stage.table,
                          column=next(n for n in names if n not in present))


def _policy(value: RejectPolicy | str) -> RejectPolicy:
    try:
        return RejectPolicy(value)
    except ValueError:
        raise ConfigError(f"rejects={value!r} is not allowed; use 'raise' or 'set_aside'"
                          ) from None


def _materialise(con: duckdb.DuckDBPyConnection, staged: dict, issues: str,
                 problems: list[Problem], as_of: dt.date) -> Dataset:
    con.execute(f"CREATE OR REPLACE TABLE {REJECTS_TABLE} AS SELECT \"table\", \"key\", "
                f"\"row\", \"column\", reason, detail FROM {issues} "
                f"ORDER BY \"table\", \"row\", reason, \"column\"")
    tables, counts = {}, {}
    for table, stage in staged.items():
        spec = table_spec(table)
        out = f"in_{table}"
        con.execute(
            f"CREATE OR REPLACE TABLE {_quote(out)} AS SELECT {_public_columns_sql(spec, stage)} "
            f"FROM {stage.name} WHERE {_ROW} NOT IN (SELECT \"row\" FROM {REJECTS_TABLE} "
            f"WHERE \"table\" = {sql_literal(table)}) ORDER BY {_ROW}")
        kept = con.execute(f"SELECT count(*) FROM {_quote(out)}").fetchall()[0][0]
        rejected = con.execute(f"SELECT count(DISTINCT \"row\") FROM {REJECTS_TABLE} "
                               f"WHERE \"table\" = {sql_literal(table)}").fetchall()[0][0]
        counts[table] = {"read": stage.n_rows, "kept": kept, "rejected": rejected}
        if stage.n_rows != kept + rejected:  # pragma: no cover - guards the invariant
            raise AssertionError(f"table {table}: read {stage.n_rows} != kept {kept} + "
                                 f"rejected {rejected}")
        _log.info("table %s: %d rows read, %d kept, %d rejected", table, stage.n_rows, kept,
                  rejected)
        tables[table] = con.table(out)
    return Dataset(tables, con.table(REJECTS_TABLE), counts, problems, as_of)


def _write_rejects(rejects: duckdb.DuckDBPyRelation, folder: Path) -> Path:
    target = folder / "rejects.parquet"
    with atomic_path(target) as tmp:
        rejects.write_parquet(str(tmp))
    _log.info("rejects written to %s", target)
    return target
