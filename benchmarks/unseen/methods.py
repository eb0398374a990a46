"""The runs of ``bench_unseen.py``; each is called in its own process by ``bench_linkage.measure``.

Every run reads a dataset directory written by :meth:`.datasets.Dataset.write`
(``platform/candidats.parquet``, ``source/personnes.parquet``, ``truth/links.parquet``,
``meta.json``) and returns precision / recall / F1 against the truth, the error count (false +
missed links) and its own seconds. A failure is returned as ``error_type`` and the first line of
its message (the library's failures are results here, not crashes of the benchmark).
"""

from __future__ import annotations

import functools
import json
import sys
import time
import traceback
from pathlib import Path

import duckdb

_BENCH = str(Path(__file__).resolve().parent.parent)
if _BENCH not in sys.path:
    sys.path.insert(0, _BENCH)
from bench_linkage import _score  # noqa: E402

if __package__:
    from .datasets import iso_date_sql
else:  # pragma: no cover
    from unseen.datasets import iso_date_sql  # type: ignore


def prepare_dataset(name: str, world_dir: str | None, out_dir: str, n_persons: int = 0,
                    n_candidates: int = 0, seed: int = 7) -> dict:
    """Generate the world if needed and write dataset ``name`` (run in a child process: the
    benchmark's parent stays small, so the children's peak RSS is their own — a forked child
    starts with its parent's RSS as high-water mark)."""
    if __package__:
        from . import datasets as D, world as W
    else:  # pragma: no cover
        from unseen import datasets as D, world as W  # type: ignore
    info: dict = {}
    if world_dir and not Path(world_dir, "truth.parquet").exists():
        t0 = time.perf_counter()
        prof = W.write_world(world_dir, n_persons, n_candidates, seed=seed)
        W.print_profile(prof)
        info["world_seconds"] = round(time.perf_counter() - t0, 1)
        info["world_peak_rss_mb"] = prof["peak_rss_mb"]
    if not Path(out_dir, "meta.json").exists():
        t0 = time.perf_counter()
        D.build(name, world_dir).write(out_dir)
        info["dataset_seconds"] = round(time.perf_counter() - t0, 1)
    return info


def _meta(data_dir: str) -> dict:
    return json.loads(Path(data_dir, "meta.json").read_text())


def _scores(con, links_sql: str, data_dir: str) -> dict:
    s = _score(con, links_sql, f"{data_dir}/truth/links.parquet")
    s["false_links"] = s["links"] - s["true_positives"]
    s["missed"] = s["true_links"] - s["true_positives"]
    s["errors"] = s["false_links"] + s["missed"]
    return s


def guarded(fn):
    """Return failures as data: ``{"error_type", "error", "traceback_tail"}``."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # the library's failures are results
            msg = str(exc).strip().splitlines()
            tb = traceback.extract_tb(exc.__traceback__)
            return {"error_type": type(exc).__name__, "error": msg[0] if msg else "",
                    "where": f"{Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else "",
                    "seconds": round(time.perf_counter() - start, 1)}
    return run


def _standardise(con, data_dir: str) -> None:
    from appariement.identity import standardise_identities
    standardise_identities(con, f"{data_dir}/platform/candidats.parquet", "platform").to_table("pf")
    standardise_identities(con, f"{data_dir}/source/personnes.parquet", "source").to_table("sf")


@guarded
def run_appariement(data_dir: str) -> dict:
    """standardise_identities on both sides, then ``link`` (key from the dataset's meta)."""
    from appariement.linkage import link

    key = _meta(data_dir)["key_column"]
    con = duckdb.connect()
    start = time.perf_counter()
    _standardise(con, data_dir)
    result = link(con.table("pf"), con.table("sf"), con=con, key_column=key, keep_tables=True)
    seconds = time.perf_counter() - start
    out = _scores(con, "SELECT candidat_id, person_id FROM links WHERE decision = 'match'",
                  data_dir)
    return {**out, "seconds": round(seconds, 1), "key_column": key,
            "counts": getattr(result, "counts", None)}


@guarded
def run_pprl(data_dir: str, large_rules: bool | None = None) -> dict:
    """Both sides encoded (``encode_for_pprl``), linked on the encodings (``link_encoded``)."""
    from appariement.crypto import generate_key
    from appariement.linkage import encode_for_pprl, link_encoded, pprl_blocking_rules

    meta = _meta(data_dir)
    if large_rules is None:  # the large rules are meant for large files (bench_pprl)
        large_rules = meta["platform_rows"] >= 100_000
    con = duckdb.connect()
    start = time.perf_counter()
    _standardise(con, data_dir)
    key = generate_key()
    t0 = time.perf_counter()
    enc_p = encode_for_pprl(con, con.table("pf"), key, project="bench", side="platform")
    enc_s = encode_for_pprl(con, con.table("sf"), key, project="bench", side="source")
    encode_seconds = time.perf_counter() - t0
    con.execute("DROP TABLE pf")
    con.execute("DROP TABLE sf")
    result = link_encoded(enc_p, enc_s, con=con,
                          blocking_rules=pprl_blocking_rules(large=large_rules))
    seconds = time.perf_counter() - start
    out = _scores(con, "SELECT candidat_id, person_id FROM pprl_links WHERE decision = 'match'",
                  data_dir)
    return {**out, "seconds": round(seconds, 1), "encode_seconds": round(encode_seconds, 1),
            "large_rules": large_rules, "counts": getattr(result, "counts", None)}


# --------------------------------------------------------------------------- plain Splink 5

def _clean(col: str) -> str:
    return f"nullif(trim(upper(strip_accents(CAST({col} AS VARCHAR)))), '')"


def _splink_inputs(con, data_dir: str) -> list[str]:
    """Clean both files as the Splink tutorials do; return the feature columns on both sides."""
    feats = {}
    for side, path, id_col in (("l", "platform/candidats", "candidat_id"),
                               ("r", "source/personnes", "person_id")):
        rel = con.sql(f"SELECT * FROM read_parquet('{data_dir}/{path}.parquet')")
        cols = set(rel.columns)
        sel = {"unique_id": f"CAST({id_col} AS VARCHAR)"}
        if "prenoms" in cols:
            sel["first_name"] = f"regexp_extract({_clean('prenoms')}, '^[^ ,]+')"
        # the name in use: platform nom, source usage name else birth name (as bench_linkage)
        if side == "l" and "nom" in cols:
            sel["surname"] = _clean("nom")
        elif side == "r" and "nom_naissance" in cols:
            sel["surname"] = _clean("coalesce(nom_usage, nom_naissance)" if "nom_usage" in cols
                                    else "nom_naissance")
        if "date_naissance" in cols:
            if side == "l" and _is_year_month(con, data_dir):
                sel["birth_ym"] = "CAST(date_naissance AS VARCHAR)"
            else:
                sel["dob"] = iso_date_sql("date_naissance")
                sel["birth_ym"] = f"substr({iso_date_sql('date_naissance')}, 1, 7)"
        if "sexe" in cols:
            sel["sex"] = (f"CASE upper(left(trim(CAST(sexe AS VARCHAR)), 1)) WHEN '1' THEN 'M' "
                          f"WHEN 'H' THEN 'M' WHEN 'M' THEN 'M' WHEN '2' THEN 'F' WHEN 'F' "
                          f"THEN 'F' END")
        if "code_postal" in cols:
            sel["postcode"] = f"lpad(nullif(trim(CAST(code_postal AS VARCHAR)), ''), 5, '0')"
        if "commune_naissance" in cols:
            sel["birth_place"] = _clean("commune_naissance")
        if "adresse" in cols:
            sel["address"] = _clean("adresse")
        if "commune_residence" in cols:
            sel["city"] = _clean("commune_residence")
        if "nir" in cols:
            sel["nir"] = f"nullif(replace(CAST(nir AS VARCHAR), ' ', ''), '')"
        con.execute(f"CREATE OR REPLACE TABLE b{side} AS SELECT "
                    + ", ".join(f"{v} AS {k}" for k, v in sel.items())
                    + f" FROM read_parquet('{data_dir}/{path}.parquet')")
        feats[side] = set(sel) - {"unique_id"}
    common = feats["l"] & feats["r"]
    if "dob" in common:
        common.discard("birth_ym")
    for side in ("l", "r"):  # drop what the other side lacks (Splink needs the same columns)
        for c in feats[side] - common:
            con.execute(f"ALTER TABLE b{side} DROP COLUMN {c}")
    return sorted(common)


def _is_year_month(con, data_dir: str) -> bool:
    return bool(con.sql(f"""SELECT coalesce(avg(regexp_full_match(CAST(date_naissance AS VARCHAR),
        '\\d{{4}}-\\d\\d')::INT), 0) > 0.5
        FROM read_parquet('{data_dir}/platform/candidats.parquet')""").fetchall()[0][0])


@guarded
def run_splink(data_dir: str) -> dict:
    """A plain Splink 5 job on the columns present, written as its documentation suggests."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    con = duckdb.connect()
    start = time.perf_counter()
    feats = _splink_inputs(con, data_dir)
    has = set(feats)
    comparisons, deterministic, em_rules = [], [], []
    rules, labels = [], []

    def rule(*cols):
        rules.append(block_on(*cols))
        labels.append(" & ".join(cols))
    if "first_name" in has:
        comparisons.append(cl.NameComparison("first_name")
                           .configure(term_frequency_adjustments=True))
    if "surname" in has:
        comparisons.append(cl.NameComparison("surname").configure(term_frequency_adjustments=True))
    if "dob" in has:
        comparisons.append(cl.DateOfBirthComparison("dob", input_is_string=True))
    elif "birth_ym" in has:
        comparisons.append(cl.ExactMatch("birth_ym"))
    for c in ("sex", "postcode", "birth_place"):
        if c in has:
            comparisons.append(cl.ExactMatch(c))
    if "address" in has:  # as Splink's FEBRL examples do: fuzzy address, exact town
        comparisons.append(cl.LevenshteinAtThresholds("address", [1, 3]))
    if "city" in has:
        comparisons.append(cl.ExactMatch("city").configure(term_frequency_adjustments=True))
    if "nir" in has:
        comparisons.append(cl.LevenshteinAtThresholds("nir", [1, 2]))
        rule("nir")
        deterministic.append(block_on("nir"))
    names = {"first_name", "surname"} <= has
    if names:
        rule("first_name", "surname")
    if "dob" in has:
        rule("dob")
        em_rules.append(block_on("dob"))
        if "surname" in has:
            rule("surname", "substr(dob, 1, 4)")
        if "first_name" in has:
            rule("first_name", "substr(dob, 1, 7)")
        if names:
            deterministic.append(block_on("first_name", "surname", "dob"))
    if names:
        em_rules.append(block_on("first_name", "surname"))
    if "postcode" in has and "surname" in has:
        rule("postcode", "surname")
    if not names and "birth_ym" in has:  # a request file without names
        keys = [c for c in ("birth_ym", "sex", "postcode") if c in has]
        rule(*keys)
        em_rules.append(block_on(*keys[:2]))
    if "nir" in has and not em_rules:
        em_rules.append(block_on("nir"))
    if not rules:
        raise ValueError(f"no blocking rule possible on the common columns {feats}")
    db_api = DuckDBAPI(connection=con)
    left = db_api.register("bl", dataset_display_name="a_platform")
    right = db_api.register("br", dataset_display_name="b_source")
    settings = SettingsCreator(link_type="link_only", comparisons=comparisons,
                               blocking_rules_to_generate_predictions=rules,
                               retain_intermediate_calculation_columns=False)
    linker = Linker([left, right], settings, log_level=None)
    skipped = []
    linker.training.estimate_probability_two_random_records_match(
        deterministic or rules[:1], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    for rule in em_rules:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(rule)
        except Exception as exc:  # Splink 5 raises on m -> 0; a user keeps going
            skipped.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
    preds = linker.inference.predict(threshold_match_probability=0.9)
    con.execute(f"CREATE OR REPLACE TABLE bp AS SELECT unique_id_l AS candidat_id, "
                f"unique_id_r AS person_id, match_weight FROM {preds.physical_name}")
    seconds = time.perf_counter() - start
    raw = _scores(con, "SELECT candidat_id, person_id FROM bp", data_dir)
    best = _scores(con, "SELECT candidat_id, arg_max(person_id, match_weight) AS person_id "
                        "FROM bp GROUP BY 1", data_dir)
    return {**best, "pairs_at_0.9": raw, "seconds": round(seconds, 1), "features": feats,
            "blocking_rules": labels,
            "em_skipped": skipped}
