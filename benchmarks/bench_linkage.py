"""Linkage benchmark: the cascade, traits-only, and a plain Splink baseline, on synthetic data.

For each size, in the same run and on the same data:

- ``cascade``: appariement's exact-key stage then probabilistic stage (default config);
- ``traits_only``: the same with the NIR removed on both sides (``key_column=None``);
- ``baseline``: plain Splink written the way its documentation suggests (simple cleaning, library
  comparisons, ``block_on`` rules, u by sampling, EM), pairs at probability >= 0.9;
  ``baseline_1to1`` keeps each candidate's best pair among them.

Precision / recall / F1 are measured against the generator's truth (``truth/links``), counting
links with decision ``match``. Wall time and peak memory (RSS high-water mark of a child process per
method) are reported; ``--repeat N`` runs each method N times and reports the median time (the
quality figures do not change between runs).

Usage::

    python benchmarks/bench_linkage.py --sizes 20000 --source-ratio 10 --out out/bench_linkage.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb


def _score(con, links_sql: str, truth_path: str) -> dict:
    con.execute(f"CREATE OR REPLACE TEMP TABLE _truth AS SELECT candidat_id, person_id "
                f"FROM read_parquet('{truth_path}')")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _found AS SELECT DISTINCT candidat_id, person_id "
                f"FROM ({links_sql})")
    tp, n_found = con.execute("""SELECT count(*) FILTER (WHERE t.person_id IS NOT NULL), count(*)
        FROM _found f LEFT JOIN _truth t USING (candidat_id, person_id)""").fetchall()[0]
    n_true = con.execute("SELECT count(*) FROM _truth").fetchall()[0][0]
    precision = tp / n_found if n_found else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"true_positives": tp, "links": n_found, "true_links": n_true,
            "precision": round(precision, 5), "recall": round(recall, 5), "f1": round(f1, 5)}


def run_appariement(data_dir: str, traits_only: bool) -> dict:
    from appariement.identity import standardise_identities
    from appariement.linkage import link

    con = duckdb.connect()
    start = time.perf_counter()
    pf = standardise_identities(con, f"{data_dir}/platform/candidats.parquet", "platform")
    pf.to_table("pf")
    sf = standardise_identities(con, f"{data_dir}/source/personnes.parquet", "source")
    sf.to_table("sf")
    result = link(con.table("pf"), con.table("sf"), con=con,
                  key_column=None if traits_only else "nir", keep_tables=True)
    seconds = time.perf_counter() - start
    scores = _score(con, "SELECT candidat_id, person_id FROM links WHERE decision = 'match'",
                    f"{data_dir}/truth/links.parquet")
    return {**scores, "seconds": round(seconds, 1), "counts": result.counts}


def _baseline_inputs(con, data_dir: str) -> None:
    # "Clean your data first": upper case, accents stripped, a parsed ISO birth date.
    def dob(col):
        return (f"strftime(coalesce(try_strptime({col}, '%d/%m/%Y'), try_strptime({col}, '%Y-%m-%d'),"
                f" try_strptime({col}, '%Y%m%d')), '%Y-%m-%d')")

    def clean(col):
        return f"nullif(trim(upper(strip_accents({col}))), '')"

    con.execute(f"""CREATE OR REPLACE TABLE bl AS SELECT candidat_id AS unique_id,
        {clean("split_part(trim(prenoms), ' ', 1)")} AS first_name, {clean('nom')} AS surname,
        {dob('date_naissance')} AS dob, upper(left(trim(sexe), 1)) AS sex,
        code_postal AS postcode, commune_naissance AS birth_place
        FROM read_parquet('{data_dir}/platform/candidats.parquet')""")
    con.execute(f"""CREATE OR REPLACE TABLE br AS SELECT person_id AS unique_id,
        {clean("split_part(trim(prenoms), ' ', 1)")} AS first_name,
        {clean('coalesce(nom_usage, nom_naissance)')} AS surname,
        {dob('date_naissance')} AS dob, upper(left(trim(sexe), 1)) AS sex,
        code_postal AS postcode, commune_naissance AS birth_place
        FROM read_parquet('{data_dir}/source/personnes.parquet')""")
    # sex codes 1/2, M/F, H/F → M/F as a user would
    for t in ("bl", "br"):
        con.execute(f"UPDATE {t} SET sex = CASE sex WHEN '1' THEN 'M' WHEN 'H' THEN 'M' "
                    "WHEN '2' THEN 'F' ELSE sex END")


def run_baseline(data_dir: str) -> dict:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    con = duckdb.connect()
    start = time.perf_counter()
    _baseline_inputs(con, data_dir)
    db_api = DuckDBAPI(connection=con)
    left = db_api.register("bl", dataset_display_name="a_platform")
    right = db_api.register("br", dataset_display_name="b_source")
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=[
            cl.NameComparison("first_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.ExactMatch("sex"),
            cl.ExactMatch("postcode"),
            cl.ExactMatch("birth_place"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("first_name", "surname"),
            block_on("dob"),
            block_on("surname", "substr(dob, 1, 4)"),
            block_on("first_name", "substr(dob, 1, 7)"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker([left, right], settings, log_level=None)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name", "surname", "dob")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    for rule in (block_on("dob"), block_on("first_name", "surname")):
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(rule)
        except ValueError as exc:  # Splink 5 on clean data; keep going as a user would
            print(f"baseline EM pass skipped: {exc}", file=sys.stderr)
    preds = linker.inference.predict(threshold_match_probability=0.9)
    con.execute(f"CREATE OR REPLACE TABLE bp AS SELECT unique_id_l AS candidat_id, "
                f"unique_id_r AS person_id, match_weight FROM {preds.physical_name}")
    seconds = time.perf_counter() - start
    truth = f"{data_dir}/truth/links.parquet"
    raw = _score(con, "SELECT candidat_id, person_id FROM bp", truth)
    best = _score(con, "SELECT candidat_id, arg_max(person_id, match_weight) AS person_id "
                       "FROM bp GROUP BY 1", truth)
    return {"pairs_at_0.9": raw, "best_per_candidate": best, "seconds": round(seconds, 1)}


def _child(target, args, queue):
    try:
        out = target(*args)
    except Exception as exc:  # report, don't hang the parent
        out = {"error": repr(exc)}
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    queue.put(out)


def measure(target, *args) -> dict:
    """Run ``target`` in a fresh process to get its own wall time and peak memory."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    start = time.perf_counter()
    proc = ctx.Process(target=_child, args=(target, args, queue))
    proc.start()
    out = queue.get()
    proc.join()
    out["wall_seconds_process"] = round(time.perf_counter() - start, 1)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000])
    parser.add_argument("--source-ratio", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--methods", nargs="+", default=["cascade", "traits_only", "baseline"])
    parser.add_argument("--data-dir", help="reuse generated data in DIR/<size>/ if present")
    parser.add_argument("--out", default="out/bench_linkage.json")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each method N times (fresh process each) and report the "
                             "median seconds: at 20k the run-to-run spread (~0.5 s) is as "
                             "large as the differences measured")
    args = parser.parse_args(argv)
    from appariement.synth import write_synthetic

    results = {}
    base = Path(args.data_dir or tempfile.mkdtemp(prefix="bench-linkage-"))
    for size in args.sizes:
        data_dir = base / str(size)
        if not (data_dir / "truth" / "links.parquet").exists():
            t0 = time.perf_counter()
            write_synthetic(data_dir, n_candidates=size, seed=args.seed,
                            source_ratio=args.source_ratio)
            print(f"[{size}] synthetic data in {time.perf_counter() - t0:.1f} s", flush=True)
        res = {}
        for method in args.methods:
            runs = []
            for _ in range(max(1, args.repeat)):
                if method == "baseline":
                    runs.append(measure(run_baseline, str(data_dir)))
                else:
                    runs.append(measure(run_appariement, str(data_dir), method == "traits_only"))
            res[method] = runs[0]
            if len(runs) > 1:
                res[method]["seconds_runs"] = [r.get("seconds") for r in runs]
                res[method]["seconds"] = statistics.median(res[method]["seconds_runs"])
                res[method]["peak_rss_mb"] = max(r.get("peak_rss_mb", 0) for r in runs)
            summary = {k: v for k, v in res[method].items() if k != "counts"}
            print(f"[{size}] {method}: {json.dumps(summary)}", flush=True)
        results[str(size)] = res
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, default=str))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
