"""Register the identity macros and UDFs on a DuckDB connection (idempotent)."""

from __future__ import annotations

import duckdb

from . import consistency, dates, names, nir, places, sex
from .phonetic import register_phonetic_udf

__all__ = ["register_sql_functions", "SQL_FUNCTION_NAMES"]

# Order matters: a macro may only use macros defined before it.
_MACRO_GROUPS = (names.SQL_MACROS, nir.SQL_MACROS, sex.SQL_MACROS, places.SQL_MACROS,
                 dates.SQL_MACROS, consistency.SQL_MACROS)

#: every SQL function this subpackage registers (all prefixed ``app_``)
SQL_FUNCTION_NAMES = (tuple(name for group in _MACRO_GROUPS for name in group)
                      + ("app_nfkc", "app_soundex_word", "app_phonetic"))


def register_sql_functions(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Register the ``app_`` macros and the phonetic UDF on ``con``; safe to call twice.

    Macros and the variants table are temporary (they live with the connection, never in a
    database file). Names: ``app_clean_text``, ``app_name_norm``, ``app_name_forms``,
    ``app_first_names``, ``app_first_name_canon``, ``app_first_name_head`` (these two read the
    session table ``app_first_name_variants`` of bundled first-name variants, created here);
    NIR ``app_nir_compact``, ``app_nir_is_valid``, ``app_nir_class``,
    ``app_nir_sex``/``_year``/``_month``/``_dept``/``_place``; ``app_sex``; places
    ``app_commune``, ``app_dept_of_commune``, ``app_postcode``, ``app_dept_of_postcode``,
    ``app_country``; dates ``app_parse_date(x [, year_pivot])``; consistency
    ``app_nir_sex_ok``, ``app_nir_year_ok``, ``app_nir_month_ok``, ``app_nir_place_ok``,
    ``app_nir_consistency``; phonetic ``app_phonetic``.

    Args:
        con: the connection.

    Returns:
        ``con``, for chaining.

    Examples:
        >>> import duckdb
        >>> con = register_sql_functions(duckdb.connect())
        >>> con.sql("SELECT app_name_norm('de la Fontaine'), app_sex('Féminin')").fetchall()[0]
        ('DELAFONTAINE', '2')
    """
    # Registering ~40 macros costs ~0.1 s: skip when this connection already has all of them
    # (the last one registered is checked, so an interrupted registration is redone).
    # The first-name macros read the session table of bundled variants: it is checked too.
    present = con.execute(
        "SELECT (SELECT count(*) FROM duckdb_functions() WHERE function_name = ? "
        "AND function_type = 'macro') > 0 AND (SELECT count(*) FROM duckdb_tables() "
        "WHERE temporary AND table_name = ?) > 0",
        [SQL_FUNCTION_NAMES[-1], names.VARIANTS_TABLE]).fetchall()
    if present[0][0]:
        return con
    names.create_variants_table(con, names.VARIANTS_TABLE, names.FIRST_NAME_VARIANTS)
    names.register_nfkc_udf(con)
    for group in _MACRO_GROUPS:
        for name, (params, body) in group.items():
            con.execute(f"CREATE OR REPLACE TEMP MACRO {name}({params}) AS ({body})")
    register_phonetic_udf(con)
    return con
