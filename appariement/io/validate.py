"""Row-level checks of the data contract, run as DuckDB SQL.

Every check yields *issues*: (table, row, key, column, reason, detail), one per offending row and
rule. Issues are grouped into :class:`Problem` objects (table, column, reason, number of rows,
example row keys) that become errors, or — when rows are set aside — into the rejects table.
Neither messages nor ``detail`` ever carry a value of an ``identifying`` column: only keys,
column names, rules and counts.

Reason codes and the rules behind them:

============== ============================================================ =====================
reason         rule                                                         error raised
============== ============================================================ =====================
uncastable     a non-blank value cannot be converted to the column's type   InvalidValueError
null           a non-nullable column is null or blank                       InvalidValueError
not_allowed    a coded column holds a value outside the contract's codes    InvalidValueError
null_key       a key column is null                                         KeyUniquenessError
duplicate_key  several rows share a key (all of them are reported)          KeyUniquenessError
date_range     a date is outside its plausible window (:data:`DATE_RULES`)  InvalidValueError
date_order     ``date_fin`` is before ``date_debut``                        InvalidValueError
orphan         a foreign key is not found among the referenced table's     ReferentialIntegrity-
               (kept) rows                                                  Error
============== ============================================================ =====================

Date windows are relative to ``as_of`` (default: today): platform events (inscription,
candidature, diagnostic, traitement) lie between 2015-01-01 and ``as_of``; a hiring date may be
planned up to one year after ``as_of``; PASS IAE / IAE contract dates lie between 2000-01-01 and
five years after ``as_of`` (end dates are planned); employment spells start between 1950-01-01
and ``as_of`` and may end up to five years after it. References to a table that is absent from
the dataset are not checked (a warning says so).
"""

from __future__ import annotations

import datetime as dt
import graphlib
from dataclasses import dataclass, field
from typing import Mapping

import duckdb

from .._log import get_logger
from .._tables import temp_view
from ..errors import (InputError, InvalidValueError, KeyUniquenessError,
                      ReferentialIntegrityError)
from .contract import ALL_TABLES, TableSpec, table_spec
from .._tables import sql_list, sql_literal
from .read import _CAST_FAIL, _ROW, _key_sql, _quote

__all__ = ["Problem", "validate_tables", "DATE_RULES", "DATE_ORDER_RULES", "REASONS"]

_log = get_logger(__name__)

REASONS: dict[str, type[InputError]] = {
    "uncastable": InvalidValueError,
    "null": InvalidValueError,
    "not_allowed": InvalidValueError,
    "null_key": KeyUniquenessError,
    "duplicate_key": KeyUniquenessError,
    "date_range": InvalidValueError,
    "date_order": InvalidValueError,
    "orphan": ReferentialIntegrityError,
}
#: order in which problems are reported (the first one is raised)
_SEVERITY = ("null_key", "duplicate_key", "uncastable", "null", "not_allowed", "date_range",
             "date_order", "orphan")

_PLATFORM_START = dt.date(2015, 1, 1)
_PASS_START = dt.date(2000, 1, 1)
_CAREER_START = dt.date(1950, 1, 1)

#: (table, column) -> (earliest date, days allowed after ``as_of``)
DATE_RULES: dict[tuple[str, str], tuple[dt.date, int]] = {
    ("candidats", "date_inscription"): (_PLATFORM_START, 0),
    ("candidats", "date_diagnostic"): (_PLATFORM_START, 0),
    ("diagnostics", "date_diagnostic"): (_PLATFORM_START, 0),
    ("candidatures", "date_candidature"): (_PLATFORM_START, 0),
    ("candidatures", "date_traitement"): (_PLATFORM_START, 0),
    ("candidatures", "date_embauche"): (_PLATFORM_START, 366),
    ("pass_agrements", "date_debut"): (_PASS_START, 5 * 366),
    ("pass_agrements", "date_fin"): (_PASS_START, 5 * 366),
    ("flux_iae_salarie", "date_debut"): (_PASS_START, 5 * 366),
    ("flux_iae_salarie", "date_fin"): (_PASS_START, 5 * 366),
    ("periodes_emploi", "date_debut"): (_CAREER_START, 0),
    ("periodes_emploi", "date_fin"): (_CAREER_START, 5 * 366),
}
#: table -> (start column, end column): the end may not precede the start
DATE_ORDER_RULES: dict[str, tuple[str, str]] = {
    "pass_agrements": ("date_debut", "date_fin"),
    "flux_iae_salarie": ("date_debut", "date_fin"),
    "periodes_emploi": ("date_debut", "date_fin"),
}

_ISSUES_COLUMNS = ("\"table\" VARCHAR, \"row\" BIGINT, \"key\" VARCHAR, \"column\" VARCHAR, "
                   "reason VARCHAR, detail VARCHAR")


@dataclass(frozen=True)
class Problem:
    """One broken rule in one table column, with its extent.

    Attributes:
        table: canonical table name.
        column: column (or ``"a, b"`` for a composite key).
        reason: reason code (see :data:`REASONS`).
        n_rows: number of offending rows.
        examples: up to five row keys (never identifying values).
        message: what is wrong, where, and what to do.
    """

    table: str
    column: str
    reason: str
    n_rows: int
    examples: tuple[str, ...]
    message: str

    @property
    def error_class(self) -> type[InputError]:
        return REASONS[self.reason]

    def to_error(self, others: list["Problem"] | None = None) -> InputError:
        """The exception for this problem; ``others`` are summarised at the end."""
        message = self.message
        if others:
            listed = "; ".join(f"{p.table}.{p.column}: {p.reason} ({p.n_rows} rows)"
                               for p in others[:5])
            more = f" and {len(others) - 5} more" if len(others) > 5 else ""
            message += f". Other problems: {listed}{more}"
        return self.error_class(message, table=self.table, column=self.column,
                                n_rows=self.n_rows, examples=list(self.examples))


@dataclass
class _Target:
    """A table to check: its spec and the DuckDB table/view holding it with internal columns."""

    spec: TableSpec
    name: str


def _own_issue_queries(target: _Target, as_of: dt.date, columns=(), absent=()) -> list[str]:
    """SELECTs of (row, key, column, reason, detail) for rules about a row alone.

    ``columns``: the columns of the checked table; ``absent``: the contract columns the input
    did not have (filled with NULL). Both matter for ``names_or_key``: a row without its names
    and without a key is rejected when the input has name columns; a source that has none (the
    warehouse's ``candidats_v0``) keeps its rows without a key — candidates nobody can link,
    who still belong to the evaluation (as unlinked)."""
    spec, src = target.spec, target.name
    key = _key_sql(spec)

    def q(where: str, column: str, reason: str, detail: str, frm: str = src) -> str:
        return (f"SELECT {_ROW} AS \"row\", {key} AS \"key\", {sql_literal(column)} AS \"column\", "
                f"{sql_literal(reason)} AS reason, {sql_literal(detail)} AS detail FROM {frm} "
                f"WHERE {where}")

    def not_failed(col: str) -> str:
        return f"NOT list_contains({_CAST_FAIL}, {sql_literal(col)})"

    queries = [
        f"SELECT {_ROW}, {key}, c, 'uncastable', 'value cannot be converted to the column type' "
        f"FROM (SELECT *, unnest({_CAST_FAIL}) AS c FROM {src})"
    ]
    for column in spec.columns:
        name = _quote(column.name)
        if column.name in spec.key:
            queries.append(q(f"{name} IS NULL AND {not_failed(column.name)}", column.name,
                             "null_key", "key column is null"))
        elif not column.nullable:
            queries.append(q(f"{name} IS NULL AND {not_failed(column.name)}", column.name,
                             "null", "column may not be null"))
        if column.allowed:
            codes = sql_list(column.allowed)
            queries.append(q(f"{name} IS NOT NULL AND {name} NOT IN ({codes})", column.name,
                             "not_allowed", f"not one of the codes allowed for {column.name}"))
        rule = DATE_RULES.get((spec.name, column.name))
        if rule is not None:
            lo, days_after = rule
            hi = as_of + dt.timedelta(days=days_after)
            queries.append(q(f"{name} < DATE '{lo.isoformat()}' OR {name} > DATE '{hi.isoformat()}'",
                             column.name, "date_range",
                             f"outside {lo.isoformat()} .. {hi.isoformat()}"))
    if spec.names_or_key is not None and not set(spec.names_or_key[0]) <= set(absent):
        # a row needs all its names, or a key: a name is "null" only on a row without a key
        names, keys = spec.names_or_key
        present = [k for k in keys if k in columns]
        no_key = " AND ".join(f"{_quote(k)} IS NULL" for k in present) or "TRUE"
        for name in names:
            queries.append(q(f"{_quote(name)} IS NULL AND {not_failed(name)} AND {no_key}",
                             name, "null", f"no name and no key ({', '.join(keys)})"))
    keys_sql = ", ".join(_quote(k) for k in spec.key)
    all_keys = " AND ".join(f"{_quote(k)} IS NOT NULL" for k in spec.key)
    dup_src = (f"(SELECT *, count(*) OVER (PARTITION BY {keys_sql}) AS _app_n FROM {src} "
               f"WHERE {all_keys})")
    queries.append(q("_app_n > 1", ", ".join(spec.key), "duplicate_key",
                     "several rows share this key", frm=dup_src))
    order = DATE_ORDER_RULES.get(spec.name)
    if order is not None:
        start, end = order
        queries.append(q(f"{_quote(end)} < {_quote(start)}", end, "date_order",
                         f"{end} is before {start}"))
    return queries


def _orphan_queries(target: _Target, parents: Mapping[str, tuple[str, str]]) -> list[str]:
    """SELECTs of orphan rows. ``parents``: table -> (kept keys relation, all keys relation)."""
    spec = target.spec
    queries = []
    for fk, (parent, parent_key) in spec.references.items():
        if parent not in parents:
            continue
        kept, every = parents[parent]
        f, pk = _quote(fk), _quote(parent_key)
        queries.append(
            f"SELECT {_ROW}, {_key_sql(spec)}, {sql_literal(fk)}, "
            f"'orphan', CASE WHEN t.{f} IN (SELECT {pk} FROM {every}) "
            f"THEN {sql_literal(f'refers to a rejected row of {parent}')} "
            f"ELSE {sql_literal(f'{fk} not found in {parent}.{parent_key}')} END "
            f"FROM {target.name} AS t WHERE t.{f} IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM {kept} AS p WHERE p.{pk} = t.{f})")
    return queries


def _dependency_order(tables: list[str]) -> list[str]:
    """Tables ordered so that referenced tables come before the tables that refer to them."""
    present = set(tables)
    sorter = graphlib.TopologicalSorter()
    for name in sorted(tables):
        parents = {p for p, _ in table_spec(name).references.values() if p in present}
        sorter.add(name, *sorted(parents - {name}))
    return list(sorter.static_order())


def _run_checks(con: duckdb.DuckDBPyConnection, targets: Mapping[str, str], *,
               as_of: dt.date | None = None, set_aside: bool = False,
               issues_table: str = "_app_issues",
               absent: Mapping[str, tuple[str, ...]] | None = None
               ) -> tuple[str, list[Problem]]:
    """Check staged tables and collect every issue in ``issues_table`` (internal engine).

    Args:
        con: connection holding the tables.
        targets: canonical table name -> DuckDB table/view with ``_app_row`` and
            ``_app_cast_fail`` columns.
        as_of: reference date for date windows (default today).
        set_aside: when True, references are checked against the *kept* rows of the referenced
            table, so rows referring to rejected rows are rejected too (cascade).
        issues_table: name of the DuckDB table that receives the issues.
        absent: table -> contract columns the input did not have (filled with NULL).

    Returns:
        (issues table name, problems ordered by table dependency then severity).
    """
    as_of = as_of or dt.date.today()
    con.execute(f"CREATE OR REPLACE TEMP TABLE {issues_table} ({_ISSUES_COLUMNS})")
    parents: dict[str, tuple[str, str]] = {}
    order = _dependency_order(list(targets))
    for name in order:
        target = _Target(table_spec(name), targets[name])
        columns = con.table(targets[name]).columns
        for query in _own_issue_queries(target, as_of, columns, (absent or {}).get(name, ())):
            con.execute(f"INSERT INTO {issues_table} SELECT {sql_literal(name)}, * FROM ({query})")
        for fk, (parent, _) in target.spec.references.items():
            if parent not in targets:
                _log.warning("table %s: reference %s -> %s not checked (%s absent)", name, fk,
                             parent, parent)
        for query in _orphan_queries(target, parents):
            con.execute(f"INSERT INTO {issues_table} SELECT {sql_literal(name)}, * FROM ({query})")
        key_cols = ", ".join(_quote(k) for k in target.spec.key)
        every = f"(SELECT {key_cols} FROM {target.name})"
        if set_aside:
            kept = (f"(SELECT {key_cols} FROM {target.name} WHERE {_ROW} NOT IN "
                    f"(SELECT \"row\" FROM {issues_table} WHERE \"table\" = {sql_literal(name)}))")
        else:
            kept = every
        parents[name] = (kept, every)
    return issues_table, _problems(con, issues_table, order)


def _problems(con: duckdb.DuckDBPyConnection, issues_table: str, order: list[str]
              ) -> list[Problem]:
    rows = con.execute(
        f"SELECT \"table\", \"column\", reason, count(DISTINCT \"row\"), "
        f"list(DISTINCT \"key\" ORDER BY \"key\")[1:5], count(DISTINCT \"row\") FILTER "
        f"(detail LIKE 'refers to a rejected row%'), min(detail) "
        f"FROM {issues_table} GROUP BY ALL").fetchall()
    problems = []
    for table, column, reason, n, examples, n_cascade, detail in rows:
        examples = tuple(sorted(str(e) for e in examples))[:5]
        problems.append(Problem(table, column, reason, n, examples,
                                _message(table, column, reason, n, examples, n_cascade, detail)))
    rank = {name: i for i, name in enumerate(order)}
    problems.sort(key=lambda p: (rank.get(p.table, 99), _SEVERITY.index(p.reason), p.column))
    return problems


def _message(table: str, column: str, reason: str, n: int, examples: tuple[str, ...],
             n_cascade: int, detail: str) -> str:
    spec = ALL_TABLES[table]
    where = f"table {table!r}, column {column!r}: {n} row(s)"
    ex = f"; example row keys: {', '.join(examples)}"
    if reason == "uncastable":
        what = (f"{where} hold a value that cannot be converted to "
                f"{spec.column(column).type}{ex}. Fix the values (dates: YYYY-MM-DD or "
                "DD/MM/YYYY; booleans: true/false, 1/0, oui/non)")
    elif reason == "null" and detail.startswith("no name and no key"):
        keys = " or ".join(spec.names_or_key[1])
        what = (f"{where} are null or blank on rows that have no key ({keys}) either{ex}. A "
                "row needs its names or a key: fill one in")
    elif reason == "null":
        what = f"{where} are null or blank, which the contract forbids{ex}. Fill them in"
    elif reason == "not_allowed":
        allowed = ", ".join(spec.column(column).allowed or ())
        what = f"{where} hold a code outside the allowed list ({allowed}){ex}. Recode them"
    elif reason == "null_key":
        what = (f"{where} have a null key{ex}. Every row needs a key")
    elif reason == "duplicate_key":
        what = (f"table {table!r}: {n} row(s) share a key ({column}) with another row{ex}. "
                "Keys must be unique: remove duplicates or fix the extract")
    elif reason == "date_range":
        what = f"{where} have an implausible date ({detail}){ex}. Check the date format and year"
    elif reason == "date_order":
        what = f"{where}: {detail}{ex}. Fix or blank the end date"
    else:  # orphan
        parent, parent_key = spec.references[column]
        cascade = (f" ({n_cascade} of them refer to rows of {parent!r} that were rejected)"
                   if n_cascade else "")
        what = (f"table {table!r}, column {column!r}: {n} row(s) refer to a {parent_key} not "
                f"found in table {parent!r}{cascade}{ex}. Provide the missing {parent} rows or "
                "fix the references")
    return what


def validate_tables(con: duckdb.DuckDBPyConnection,
                    tables: Mapping[str, duckdb.DuckDBPyRelation], *,
                    as_of: dt.date | str | None = None, raise_errors: bool = False
                    ) -> list[Problem]:
    """Check typed tables (as returned by :func:`read_table`) against the data contract.

    Checks nulls, allowed codes, key uniqueness, date windows and order, and references between
    the given tables (references to an absent table are skipped with a warning).

    Args:
        con: the connection the relations are bound to.
        tables: canonical table name -> relation with canonical column names.
        as_of: reference date of the date windows (``date`` or ISO string; default today).
        raise_errors: raise the first problem as its :class:`~appariement.errors.InputError`
            subclass (other problems summarised in the message) instead of returning them.

    Returns:
        The problems found, referenced tables first, most severe first; empty when valid.

    Examples:
        >>> import duckdb, pandas as pd
        >>> from appariement.io import read_table
        >>> con = duckdb.connect()
        >>> s = read_table(con, pd.DataFrame({"structure_id": ["s1", "s1"], "type": ["EI", "AI"]}),
        ...                "structures")
        >>> [(p.reason, p.n_rows) for p in validate_tables(con, {"structures": s})]
        [('duplicate_key', 2)]
    """
    as_of = _as_date(as_of)
    targets, views = {}, []
    for name, rel in tables.items():
        spec = table_spec(name)
        missing = [c for c in spec.column_names if c not in rel.columns]
        if missing:
            from ..errors import SchemaError
            raise SchemaError(f"table {name!r}: column(s) {', '.join(missing)} missing; read the "
                              "table with read_table() first", table=name, column=missing[0])
        view = f"_app_val_{name}"
        temp_view(rel, f"{view}_src")
        con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT row_number() OVER () AS {_ROW},"
                    f" *, CAST([] AS VARCHAR[]) AS {_CAST_FAIL} FROM {view}_src")
        targets[name] = view
        views += [view, f"{view}_src"]
    try:
        _, problems = _run_checks(con, targets, as_of=as_of, issues_table="_app_val_issues")
    finally:
        con.execute("DROP TABLE IF EXISTS _app_val_issues")
        for view in views:
            con.execute(f"DROP VIEW IF EXISTS {view}")
    if problems and raise_errors:
        raise problems[0].to_error(problems[1:])
    return problems


def _as_date(value: dt.date | str | None) -> dt.date:
    if value is None:
        return dt.date.today()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        from ..errors import ConfigError
        raise ConfigError(f"as_of {value!r} is not an ISO date (YYYY-MM-DD)") from None
