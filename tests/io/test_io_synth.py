"""The synthetic generator's output follows the data contract."""

from __future__ import annotations

import duckdb
import pytest

from appariement.io import RejectPolicy, load_tables
from appariement.synth import SynthConfig, write_synthetic


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synth")
    write_synthetic(folder, n_candidates=500, seed=11)
    return folder


def test_generated_platform_extract_loads_with_zero_problems(synth_dir):
    con = duckdb.connect()
    as_of = SynthConfig().last_date  # the extraction date of the synthetic world
    ds = load_tables(con, synth_dir, side="platform", rejects=RejectPolicy.RAISE, as_of=as_of)
    assert ds.problems == []
    assert ds.counts["candidats"]["read"] == 500
    for name in ("candidatures", "structures", "organisations", "pass_agrements"):
        assert ds.counts[name]["kept"] == ds.counts[name]["read"] > 0


def test_generated_source_keys_and_references_hold(synth_dir):
    con = duckdb.connect()
    ds = load_tables(con, synth_dir, side="source", rejects=RejectPolicy.RAISE,
                     as_of=SynthConfig().source_date)  # the source's own extraction date
    # keys, types, codes, person references and dates are clean: the source is cut at its
    # extraction date (spells simulated past it are left out, or left open)
    assert ds.problems == []
    for counts in ds.counts.values():
        assert counts["read"] == counts["kept"] > 0


def test_source_spells_stop_at_the_source_date(synth_dir):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    spells = pq.read_table(synth_dir / "source" / "periodes_emploi.parquet")
    cut = SynthConfig().source_date
    assert pc.max(spells.column("date_debut")).as_py() <= cut
    assert pc.max(spells.column("date_fin")).as_py() <= cut
    assert spells.column("date_fin").null_count > 0  # still running on the extraction day
