"""What each comparison level costs to evaluate, on blocked pairs of a real-sized file.

Scoring is most of a large linkage's time (40 of 72 s at 1M x 200k with the NIR), and a pair
that matches no level runs through every level's condition. This script standardises both sides
of a ``bench_unseen`` dataset, plans the default model, forms up to ``--pairs`` pairs on the
same full birth date (the largest default blocking rule) and times, for every comparison, its
whole CASE expression (what scoring pays) and each level's condition alone.

Usage::

    python benchmarks/bench_comparison_cost.py out/unseen/datasets/unseen_nir/1000000x200000 \\
        --pairs 2000000

Measured (2-core machine, busy; bae8686 against its parent, 2M same-date pairs each): the default
comparisons' CASE expressions on 2M pairs 12.1 s -> 7.5 s with the pre-tests in front of the
name/first-name inversion (8 Jaro-Winkler calls) and of the NIR and written-date edit distances.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import duckdb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", help="a bench_unseen dataset folder (platform/, source/, meta.json)")
    ap.add_argument("--pairs", type=int, default=2_000_000)
    args = ap.parse_args()

    from appariement.identity import standardise_identities
    from appariement.linkage import LinkageModel

    d = Path(args.data_dir)
    key = json.loads((d / "meta.json").read_text())["key_column"]
    con = duckdb.connect()
    standardise_identities(con, str(d / "platform/candidats.parquet"), "platform").to_table("pf")
    standardise_identities(con, str(d / "source/personnes.parquet"), "source").to_table("sf")
    model = LinkageModel(key_column=key)
    model.plan(con.table("pf"), con.table("sf"), con=con)
    sel = ", ".join(f'l."{c}" AS "{c}_l", r."{c}" AS "{c}_r"'
                    for c in model.columns_ if c != "record_id")
    con.execute(f"""CREATE TABLE pairs AS SELECT {sel} FROM pf l JOIN sf r
                    ON l.birth_year = r.birth_year AND l.birth_month = r.birth_month
                    AND l.birth_day = r.birth_day LIMIT {args.pairs}""")
    n = con.execute("SELECT count(*) FROM pairs").fetchall()[0][0]
    print(f"{n} pairs on the same birth date")
    total = 0.0
    for comparison in model.comparisons_:
        spec = comparison.get_comparison("duckdb").as_dict()
        levels = [lv for lv in spec["comparison_levels"] if lv["sql_condition"] != "ELSE"]
        case = "CASE " + " ".join(f"WHEN {lv['sql_condition']} THEN {i}"
                                  for i, lv in enumerate(levels)) + " ELSE 99 END"
        start = time.perf_counter()
        con.execute(f"SELECT count(*) FILTER (WHERE g > 0) FROM (SELECT {case} AS g FROM pairs)"
                    ).fetchall()
        seconds = time.perf_counter() - start
        total += seconds
        print(f"{spec['output_column_name']:<16} {seconds:6.2f} s")
        for lv in levels:
            start = time.perf_counter()
            con.execute(f"SELECT count(*) FILTER (WHERE {lv['sql_condition']}) FROM pairs"
                        ).fetchall()
            print(f"    {time.perf_counter() - start:6.2f} s  {lv.get('label_for_charts')}")
    print(f"all comparisons  {total:6.2f} s")


if __name__ == "__main__":
    main()
