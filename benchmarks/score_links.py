"""Score a written linkage against the synthetic truth: precision, recall, F1 of the ``match`` links.

Usage::

    python benchmarks/score_links.py out/link1m out/benchdata/1000000

(the first folder is what ``appariement link --out`` or ``appariement pprl link --out`` wrote, the
second what ``appariement synth --out`` wrote). Prints the scores and the links per method and
decision.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_linkage import _score  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("links_dir", help="folder holding links.parquet")
    parser.add_argument("data_dir", help="synthetic data folder holding truth/links.parquet")
    args = parser.parse_args(argv)
    links = str(Path(args.links_dir) / "links.parquet")
    con = duckdb.connect()
    scores = _score(con, f"SELECT candidat_id, person_id FROM read_parquet('{links}') "
                         "WHERE decision = 'match'",
                    str(Path(args.data_dir) / "truth" / "links.parquet"))
    print(json.dumps(scores))
    for method, decision, n in con.execute(
            f"SELECT method, decision, count(*) FROM read_parquet('{links}') "
            "GROUP BY ALL ORDER BY ALL").fetchall():
        print(f"{method:15s} {decision:10s} {n:>10,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
