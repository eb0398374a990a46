"""Shared fixtures for the identity tests: one DuckDB connection with the app_ functions."""

from __future__ import annotations

import duckdb
import pytest

from appariement.identity import register_sql_functions


@pytest.fixture(scope="session")
def con():
    connection = duckdb.connect()
    register_sql_functions(connection)
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def sql(con):
    """Evaluate one SQL expression (with ``?`` parameters) and return its value."""
    def evaluate(expression: str, *params):
        return con.execute(f"SELECT {expression}", list(params)).fetchall()[0][0]
    return evaluate
