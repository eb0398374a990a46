"""Time load_tables on a generated CSV/Parquet extract (candidats + structures + candidatures).

Usage:
    .venv/bin/python benchmarks/io_load.py --rows 1000000 --format csv
Prints rows/s for reading, converting and checking, and verifies that the input order is kept
(``in_candidatures`` rows come out in file order).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb

from appariement.io import RejectPolicy, load_tables


def _write(con: duckdb.DuckDBPyConnection, folder: Path, rows: int, fmt: str) -> None:
    n_cand = max(1, rows // 3)
    opts = "(FORMAT csv, DELIMITER ';', HEADER)" if fmt == "csv" else "(FORMAT parquet)"
    ext = "csv" if fmt == "csv" else "parquet"
    con.execute(f"""COPY (SELECT 'c' || i AS candidat_id, 'NOM' || i AS nom, 'P' AS prenoms,
        strftime(DATE '2020-01-01' + CAST(i % 1000 AS INTEGER), '%d/%m/%Y') AS date_inscription,
        CASE WHEN i % 2 = 0 THEN 'oui' ELSE 'non' END AS critere_rsa
        FROM range({n_cand}) t(i)) TO '{folder}/candidats.{ext}' {opts}""")
    con.execute(f"""COPY (SELECT 's' || i AS structure_id, 'ACI' AS type FROM range(100) t(i))
        TO '{folder}/structures.{ext}' {opts}""")
    con.execute(f"""COPY (SELECT 'k' || i AS candidature_id, 'c' || (i % {n_cand}) AS candidat_id,
        's' || (i % 100) AS structure_id, '2021-03-04' AS date_candidature,
        CASE WHEN i % 7 = 0 THEN 'Accepted ' ELSE 'new' END AS etat, i AS position
        FROM range({rows}) t(i)) TO '{folder}/candidatures.{ext}' {opts}""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="candidatures rows")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _write(con, folder, args.rows, args.format)
        start = time.perf_counter()
        ds = load_tables(con, folder, rejects=RejectPolicy.SET_ASIDE, as_of="2025-06-30")
        seconds = time.perf_counter() - start
    total = sum(c["read"] for c in ds.counts.values())
    out_of_order = con.execute(
        "SELECT count(*) FROM (SELECT CAST(position AS BIGINT) AS p, "
        "row_number() OVER () - 1 AS r FROM in_candidatures) WHERE p <> r").fetchall()[0][0]
    print(f"{args.format}: {total} rows in {seconds:.2f} s ({total / seconds:,.0f} rows/s); "
          f"rejected {sum(c['rejected'] for c in ds.counts.values())}; "
          f"rows out of input order: {out_of_order}")


if __name__ == "__main__":
    main()
