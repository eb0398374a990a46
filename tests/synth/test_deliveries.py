"""Synthetic deliveries: one world, successive extracts, planted identity changes."""

from __future__ import annotations

import pytest

from appariement.errors import ConfigError
from appariement.synth.deliveries import CHANGE_KINDS, generate_deliveries, write_deliveries

_IDENTITY = ("nir", "nom", "nom_naissance", "prenoms", "sexe", "date_naissance")


@pytest.fixture(scope="module")
def series():
    return generate_deliveries(3, n_candidates=400, seed=5, source_ratio=3, change_rate=0.05)


def _rows(table, key):
    return {r[key]: r for r in table.to_pylist()}


def test_sizes_grow_and_records_persist(series):
    d1, d2, d3 = series.deliveries
    sizes = [d.platform["candidats"].num_rows for d in series.deliveries]
    assert sizes == [400, 440, 484]
    for a, b in ((d1, d2), (d2, d3)):
        ids_a = set(a.platform["candidats"].column("candidat_id").to_pylist())
        ids_b = set(b.platform["candidats"].column("candidat_id").to_pylist())
        assert ids_a < ids_b
        cand_a = set(a.platform["candidatures"].column("candidature_id").to_pylist())
        cand_b = set(b.platform["candidatures"].column("candidature_id").to_pylist())
        assert cand_a < cand_b
        assert a.extraction_date < b.extraction_date and a.source_date < b.source_date
        pers_a = set(a.source["personnes"].column("person_id").to_pylist())
        pers_b = set(b.source["personnes"].column("person_id").to_pylist())
        assert pers_a <= pers_b
        # a longer follow-up: more spells, none after the source date
        assert a.source["periodes_emploi"].num_rows < b.source["periodes_emploi"].num_rows
    for d in series.deliveries:
        starts = d.source["periodes_emploi"].column("date_debut").to_pylist()
        assert max(starts) <= d.source_date
        assert max(d.platform["candidatures"].column("date_candidature").to_pylist()) \
            <= d.extraction_date
    # the last delivery is the generator's own output
    assert d3.platform["candidats"].equals(series.world.platform["candidats"])
    assert d3.source["personnes"].equals(series.world.source["personnes"])


def test_changes_are_exactly_the_identity_differences(series):
    for prev, cur in zip(series.deliveries, series.deliveries[1:]):
        before = _rows(prev.platform["candidats"], "candidat_id")
        after = _rows(cur.platform["candidats"], "candidat_id")
        differ = {cid for cid, row in before.items()
                  if any(row[c] != after[cid][c] for c in _IDENTITY)}
        changes = cur.truth["changes"].to_pylist()
        planted = {c["record_id"] for c in changes if c["kind"] != "source_moved"}
        assert planted and differ == planted
        for c in changes:
            assert c["kind"] in CHANGE_KINDS and c["delivery"] == cur.index
            if c["kind"] == "nir_found_later":
                assert before[c["record_id"]]["nir"] is None
                assert after[c["record_id"]]["nir"] is not None
            elif c["kind"] == "married_name":
                assert before[c["record_id"]]["nom"] == after[c["record_id"]]["nom_naissance"]
        moved = {c["record_id"] for c in changes if c["kind"] == "source_moved"}
        pb = _rows(prev.source["personnes"], "person_id")
        pa_ = _rows(cur.source["personnes"], "person_id")
        assert moved and {p for p in pb if pb[p]["code_postal"] != pa_[p]["code_postal"]} \
            <= moved


def test_truth_follows_each_delivery(series):
    for d in series.deliveries:
        cands = set(d.platform["candidats"].column("candidat_id").to_pylist())
        persons = set(d.source["personnes"].column("person_id").to_pylist())
        links = d.truth["links"].to_pylist()
        assert links and all(r["candidat_id"] in cands and r["person_id"] in persons
                             for r in links)
        assert d.truth["candidats"].num_rows == len(cands)
    n_links = [d.truth["links"].num_rows for d in series.deliveries]
    assert n_links == sorted(n_links) and n_links[0] < n_links[-1]


def test_deterministic_and_written(tmp_path):
    a = write_deliveries(tmp_path / "a", 2, n_candidates=60, seed=9, source_ratio=2)
    b = write_deliveries(tmp_path / "b", 2, n_candidates=60, seed=9, source_ratio=2)
    for name in a.names:
        for sub in ("platform/candidats.parquet", "source/personnes.parquet",
                    "truth/changes.parquet", "truth/config.json"):
            assert (tmp_path / "a" / name / sub).read_bytes() == \
                (tmp_path / "b" / name / sub).read_bytes()
    assert (tmp_path / "a" / "deliveries.json").is_file()


@pytest.mark.parametrize("kwargs", [dict(n_deliveries=0), dict(n_deliveries=2, growth=-1),
                                    dict(n_deliveries=2, names=["x", "x"]),
                                    dict(n_deliveries=2, change_rate=0.9)])
def test_bad_parameters(kwargs):
    with pytest.raises(ConfigError):
        generate_deliveries(n_candidates=50, **kwargs)
