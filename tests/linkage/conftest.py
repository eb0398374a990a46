"""Shared synthetic data for the linkage tests: generated and standardised once per session."""

from __future__ import annotations

import duckdb
import pytest

from appariement.identity import standardise_identities
from appariement.synth import SynthConfig, generate


@pytest.fixture(scope="session")
def linkage_data(tmp_path_factory):
    """Paths of standardised platform/source features and the truth links (1,500 candidates)."""
    folder = tmp_path_factory.mktemp("linkage_data")
    data = generate(SynthConfig(n_candidates=1500, seed=11))
    con = duckdb.connect()
    con.register("cand", data.platform["candidats"])
    con.register("pers", data.source["personnes"])
    con.register("truth", data.truth["links"])
    standardise_identities(con, con.table("cand"), "platform").write_parquet(
        str(folder / "platform.parquet"))
    standardise_identities(con, con.table("pers"), "source").write_parquet(
        str(folder / "source.parquet"))
    con.table("truth").write_parquet(str(folder / "truth.parquet"))
    return {"platform": str(folder / "platform.parquet"), "source": str(folder / "source.parquet"),
            "truth": str(folder / "truth.parquet"), "n_true": data.truth["links"].num_rows}


def load_features(con: duckdb.DuckDBPyConnection, linkage_data) -> None:
    """Create tables pf, sf, truth on ``con``."""
    con.execute(f"CREATE TABLE pf AS SELECT * FROM read_parquet('{linkage_data['platform']}')")
    con.execute(f"CREATE TABLE sf AS SELECT * FROM read_parquet('{linkage_data['source']}')")
    con.execute(f"CREATE TABLE truth AS SELECT * FROM read_parquet('{linkage_data['truth']}')")


def precision_recall(con: duckdb.DuckDBPyConnection, links_table: str = "links") -> tuple:
    tp, n = con.execute(f"""
        SELECT count(t.person_id), count(*) FROM {links_table} l
        LEFT JOIN truth t USING (candidat_id, person_id) WHERE l.decision = 'match'
    """).fetchall()[0]
    n_true = con.execute("SELECT count(*) FROM truth").fetchall()[0][0]
    precision, recall = tp / n, tp / n_true
    return precision, recall, 2 * precision * recall / (precision + recall)


def one_edit(a: str, b: str, edit: str, i: int, digit: str) -> str:
    """``b``, or ``a`` with one edit at ``i``: "substitute" (``digit``), "transpose" (``i`` and
    ``i + 1``), "none" (``a`` itself); "other" keeps the unrelated ``b`` (property tests of the
    one-edit levels)."""
    if edit == "substitute":
        return a[:i] + digit + a[i + 1:]
    if edit == "transpose":
        return a[:i] + a[i + 1] + a[i] + a[i + 2:]
    return a if edit == "none" else b
