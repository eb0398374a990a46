"""The PASS IAE join: the platform's approvals against the ASP's fluxIAE (DARES request, s. 9).

A PASS IAE number has 12 characters: ``99999`` and 7 digits, or (older scheme) ``99999``, a
two-digit year and 5 digits — both are 12 digits starting with ``99999``. Any other number is a
France Travail *agrément*, kept apart in the report (``itou/approvals/models.py``). The join
uses the clear number when both sides have it (a raw extract, the ASP's own files), else the
salted hash both producers computed alike (``hash_numéro_pass_iae``: the warehouse and the
pilotage pipeline), never a mix of the two.

:func:`pass_join_report` counts, for each side, the records that join and those that do not,
by reason; counts below ``min_cell`` are suppressed (published as null, with the rule), so the
report can leave the secure environment with the other outputs.

Examples:
    >>> import duckdb, pandas as pd
    >>> con = duckdb.connect()
    >>> p = con.from_df(pd.DataFrame({"numero": ["999991234567", "999992100001", "1234567890"]}))
    >>> f = con.from_df(pd.DataFrame({"salarie_id": ["a", "b"],
    ...                               "numero_pass": ["999991234567", None]}))
    >>> r = pass_join_report(con, p, f, min_cell=1)
    >>> r["key"], r["approvals"]["matched"], r["approvals"]["unmatched"]
    ('numero', 1, {'agrement_ft': 1, 'not_in_flux_iae': 1})
"""

from __future__ import annotations

from typing import Any

import duckdb

from .._tables import quote_identifier as _quote, temp_view

__all__ = ["pass_join_report", "iae_spells", "PASS_IAE_PATTERN"]

#: both numbering schemes of a PASS IAE (99999 + 7 digits, or 99999 + yy + 5 digits)
PASS_IAE_PATTERN = r"99999\d{7}"
_counter = iter(range(1, 1 << 62))


def _key(columns, clear: str, hashed: str) -> str | None:
    return clear if clear in columns else (hashed if hashed in columns else None)


def pass_join_report(con: duckdb.DuckDBPyConnection, approvals, flux, *,
                     min_cell: int = 11) -> dict[str, Any]:
    """Join rate and unmatched records by reason of approvals (``pass_agrements``) against
    ``flux_iae_salarie``.

    Args:
        con: the connection holding both relations.
        approvals: ``pass_agrements`` (``numero``; ``hash_numero_pass`` and ``type_agrement``
            when an import profile supplied them).
        flux: ``flux_iae_salarie`` (``numero_pass`` and/or ``hash_numero_pass``).
        min_cell: smallest published count; smaller non-zero counts are published as null.

    Returns:
        ``{"key": "numero" | "hash_numero_pass" | None, "approvals": {...}, "flux_iae": {...},
        "join_rate": ..., "suppressed_below": min_cell}``; with ``key`` None (no common key)
        the counts say why nothing could be joined.
    """
    a_cols, f_cols = set(approvals.columns), set(flux.columns)
    a_view, f_view = f"_app_pj_a_{next(_counter)}", f"_app_pj_f_{next(_counter)}"
    temp_view(approvals, a_view)
    temp_view(flux, f_view)
    try:
        return _report(con, a_view, f_view, a_cols, f_cols, min_cell)
    finally:
        con.execute(f"DROP VIEW IF EXISTS {a_view}")
        con.execute(f"DROP VIEW IF EXISTS {f_view}")


def _join_key(con, a_view: str, f_view: str, a_cols, f_cols) -> tuple:
    """(key, approvals' column, flux's column): the clear number when both sides have it, else
    the hash both producers computed, else (None, None, None); never a mix of the two."""
    # the approvals' numero is the clear number unless a profile made it an opaque hash
    a_clear = _clear_numbers(con, a_view, "numero") if "numero" in a_cols else False
    f_clear = "numero_pass" in f_cols and _has_values(con, f_view, "numero_pass")
    if a_clear and f_clear:
        return "numero", "numero", "numero_pass"
    if "hash_numero_pass" in a_cols and "hash_numero_pass" in f_cols:
        return "hash_numero_pass", "hash_numero_pass", "hash_numero_pass"
    return None, None, None


def iae_spells(con: duckdb.DuckDBPyConnection, approvals, flux) -> duckdb.DuckDBPyRelation:
    """The IAE spell of each candidate as the ASP records it: the contract dates of fluxIAE
    joined to the platform's approvals by PASS number (or its hash, as the report does).

    Args:
        con: the connection holding both relations.
        approvals: ``pass_agrements`` (``candidat_id``, ``numero`` or ``hash_numero_pass``).
        flux: ``flux_iae_salarie`` (``numero_pass`` or ``hash_numero_pass``, ``date_debut``,
            ``date_fin``).

    Returns:
        A relation ``candidat_id, iae_start, iae_exit`` (one row per candidate with a joined
        contract): the first contract start, and the definitive exit (the last contract end;
        NULL while a contract is still open). Empty when the two sides share no key.

    Examples:
        >>> import duckdb, pandas as pd, datetime as dt
        >>> con = duckdb.connect()
        >>> a = con.from_df(pd.DataFrame({"candidat_id": ["c1"], "numero": ["999991234567"]}))
        >>> f = con.from_df(pd.DataFrame({"salarie_id": ["s1", "s2"],
        ...     "numero_pass": ["999991234567"] * 2,
        ...     "date_debut": [dt.date(2024, 1, 8), dt.date(2024, 7, 1)],
        ...     "date_fin": [dt.date(2024, 6, 30), dt.date(2025, 3, 31)]}))
        >>> iae_spells(con, a, f).fetchall()
        [('c1', datetime.date(2024, 1, 8), datetime.date(2025, 3, 31))]
    """
    a_cols, f_cols = set(approvals.columns), set(flux.columns)
    a_view, f_view = f"_app_pj_a_{next(_counter)}", f"_app_pj_f_{next(_counter)}"
    temp_view(approvals, a_view)
    temp_view(flux, f_view)
    try:
        _, a_key, f_key = _join_key(con, a_view, f_view, a_cols, f_cols)
        name = f"_app_iae_spells_{next(_counter)}"
        if a_key is None:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} (candidat_id VARCHAR, "
                        "iae_start DATE, iae_exit DATE)")
        else:
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE {name} AS
                SELECT CAST(a.candidat_id AS VARCHAR) AS candidat_id,
                       min(CAST(f.date_debut AS DATE)) AS iae_start,
                       CASE WHEN count(*) FILTER (WHERE f.date_fin IS NULL) = 0
                            THEN max(CAST(f.date_fin AS DATE)) END AS iae_exit
                FROM {a_view} a JOIN {f_view} f
                  ON {_text('f.' + _quote(f_key))} = {_text('a.' + _quote(a_key))}
                WHERE a.candidat_id IS NOT NULL AND f.date_debut IS NOT NULL
                GROUP BY 1 ORDER BY 1""")
        return con.table(name)
    finally:
        con.execute(f"DROP VIEW IF EXISTS {a_view}")
        con.execute(f"DROP VIEW IF EXISTS {f_view}")


def _report(con, a_view: str, f_view: str, a_cols, f_cols, min_cell: int) -> dict[str, Any]:
    key, a_key, f_key = _join_key(con, a_view, f_view, a_cols, f_cols)
    n_a = con.execute(f"SELECT count(*) FROM {a_view}").fetchall()[0][0]
    n_f = con.execute(f"SELECT count(*) FROM {f_view}").fetchall()[0][0]
    if key is None:
        return _published({"key": None, "approvals": {"records": n_a, "matched": 0,
                                                      "unmatched": {"no_common_key": n_a}},
                           "flux_iae": {"records": n_f, "matched": 0,
                                        "unmatched": {"no_common_key": n_f}},
                           "join_rate": None}, min_cell)
    ak, fk = _text(_quote(a_key)), _text(_quote(f_key))
    if key == "numero":  # the number says what it is
        kind = (f"CASE WHEN regexp_full_match(upper({ak}), '{PASS_IAE_PATTERN}') "
                "THEN 'pass_iae' ELSE 'agrement_ft' END")
    elif "type_agrement" in a_cols:  # a hash does not: the warehouse's type column does
        kind = "CASE WHEN type_agrement = 'agrement_pe' THEN 'agrement_ft' ELSE 'pass_iae' END"
    else:
        kind = "'pass_iae'"
    rows = con.execute(f"""
        WITH a AS (SELECT {ak} AS k, {kind} AS kind FROM {a_view}),
             f AS (SELECT DISTINCT {fk} AS k FROM {f_view} WHERE {fk} IS NOT NULL)
        SELECT CASE WHEN a.k IS NULL THEN 'no_number'
                    WHEN f.k IS NOT NULL THEN 'matched'
                    WHEN a.kind = 'agrement_ft' THEN 'agrement_ft'
                    ELSE 'not_in_flux_iae' END AS status, count(*)
        FROM a LEFT JOIN f ON f.k = a.k GROUP BY 1""").fetchall()
    a_status = dict(rows)
    f_rows = con.execute(f"""
        WITH a AS (SELECT DISTINCT {ak} AS k FROM {a_view} WHERE {ak} IS NOT NULL)
        SELECT CASE WHEN {fk} IS NULL THEN 'no_number'
                    WHEN a.k IS NOT NULL THEN 'matched' ELSE 'not_in_platform' END, count(*)
        FROM {f_view} LEFT JOIN a ON a.k = {fk} GROUP BY 1""").fetchall()
    f_status = dict(f_rows)
    matched = a_status.pop("matched", 0)
    eligible = n_a - a_status.get("no_number", 0) - a_status.get("agrement_ft", 0)
    report = {
        "key": key,
        "approvals": {"records": n_a, "matched": matched, "unmatched": a_status},
        "flux_iae": {"records": n_f, "matched": f_status.pop("matched", 0),
                     "unmatched": f_status},
        # PASS IAE with a number that found their ASP record (France Travail agréments apart)
        "join_rate": round(matched / eligible, 4) if eligible else None,
    }
    return _published(report, min_cell)


def _text(column: str) -> str:
    return f"NULLIF(trim(CAST({column} AS VARCHAR)), '')"


def _has_values(con, view: str, column: str) -> bool:
    return con.execute(f"SELECT count({_quote(column)}) FROM {view}").fetchall()[0][0] > 0


def _clear_numbers(con, view: str, column: str) -> bool:
    """True unless every number looks like a hex SHA-256 (an opaque key, not a number)."""
    c = _quote(column)
    n, hashed = con.execute(f"SELECT count({c}), count(*) FILTER (regexp_full_match("
                            f"CAST({c} AS VARCHAR), '[0-9a-f]{{64}}')) FROM {view}").fetchall()[0]
    return n > 0 and hashed < n


def _published(report: dict[str, Any], min_cell: int) -> dict[str, Any]:
    """Counts below ``min_cell`` (but not zero) become null; the rate too if its parts are."""
    suppressed = False

    def cell(n):
        nonlocal suppressed
        if isinstance(n, int) and 0 < n < min_cell:
            suppressed = True
            return None
        return n

    for side in ("approvals", "flux_iae"):
        part = report[side]
        part["records"], part["matched"] = cell(part["records"]), cell(part["matched"])
        part["unmatched"] = {k: cell(v) for k, v in sorted(part["unmatched"].items())}
    if report["approvals"]["matched"] is None:
        report["join_rate"] = None
    report["suppressed_below"] = min_cell
    report["suppressed"] = suppressed
    return report
