"""``write_profile_shaped``: synthetic tables in a real source's shape, read back by the profile.

For every profile, the profile-shaped files read with ``load_tables(..., profile=)`` give the
canonical tables (minus what the source cannot carry), value for value.
"""

from __future__ import annotations

import csv
import hashlib

import duckdb
import pytest

from appariement.identity.sex import normalise_sex
from appariement.io import load_tables
from appariement.io.contract import table_spec
from appariement.io.profiles import get_profile
from appariement.synth import SynthConfig, generate
from appariement.synth.profiles import SYNTHETIC_SALT, restricted_to, write_profile_shaped

AS_OF = "2030-01-01"  # the generator's spells run into the future: dates are not the point here


@pytest.fixture(scope="module")
def data():
    return generate(SynthConfig(n_candidates=120, source_ratio=2, seed=5))


def _rows(ds, table: str, columns: list[str]) -> list[tuple]:
    spec = table_spec(table)
    rows = ds[table].select(", ".join(f'"{c}"' for c in columns)).order(
        ", ".join(f'"{k}"' for k in spec.key)).fetchall()
    if "sexe" in columns:  # the title field holds M / MME: compared as 1 / 2
        i = columns.index("sexe")
        rows = [r[:i] + (normalise_sex(r[i]) if r[i] is not None else None,) + r[i + 1:]
                for r in rows]
    return rows


@pytest.mark.parametrize("profile", [["les_emplois_extract", "flux_iae"],
                                     ["les_emplois_warehouse"]])
def test_profile_shaped_files_read_back_as_the_canonical_tables(data, tmp_path, profile):
    out = write_profile_shaped(data, tmp_path / "shaped", profile)
    restricted = restricted_to(data, profile)
    restricted.write(tmp_path / "canonical")
    con = duckdb.connect()
    got = load_tables(con, out / "platform", profile=profile, side="platform", as_of=AS_OF)
    con2 = duckdb.connect()
    ref = load_tables(con2, tmp_path / "canonical" / "platform", side="platform", as_of=AS_OF)
    prof = get_profile(profile)
    assert set(prof.tables) <= set(got.tables)
    for table, tp in prof.tables.items():
        assert got.counts[table] == ref.counts[table], table
        columns = [c for c in (*table_spec(table).column_names, "hash_nir")
                   if c in restricted.platform[table].column_names]
        if table == "candidats" and "les_emplois_warehouse" in profile:
            # the warehouse has no label for the coarse code 'tiers': kept as the code
            assert got["candidats"].filter("type_inscription = 'tiers'").count(
                "*").fetchall()[0][0] > 0
        assert _rows(got, table, columns) == _rows(ref, table, columns), table


def test_extract_shape_uses_the_real_names_and_labels(data, tmp_path):
    out = write_profile_shaped(data, tmp_path, "les_emplois_extract") / "platform"
    with open(out / "job_seekers.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {"id", "last_name", "first_name", "title", "birthdate", "nir"} <= set(rows[0])
    # nothing the platform does not store: no birth name, no diagnosis on the person
    assert not {"nom", "nom_naissance", "critere_rsa", "date_diagnostic"} & set(rows[0])
    assert {r["title"] for r in rows} <= {"M", "MME", ""}
    with open(out / "prescriber_organizations.csv", encoding="utf-8") as fh:
        orgs = list(csv.DictReader(fh))
    assert {o["authorization_status"] for o in orgs} <= {"VALIDATED", "NOT_SET"}
    assert (out / "diagnostics.parquet").exists()  # not a table of the profile: canonical


def test_warehouse_hashes_the_nir_alike_on_both_sides(data, tmp_path):
    out = write_profile_shaped(data, tmp_path, "les_emplois_warehouse")
    with open(out / "platform" / "candidats_v0.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert "nir" not in rows[0] and "last_name" not in rows[0] and "nom" not in rows[0]
    nirs = dict(zip(data.platform["candidats"].column("candidat_id").to_pylist(),
                    data.platform["candidats"].column("nir").to_pylist()))
    first = next(r for r in rows if nirs[r["id"]])
    expected = hashlib.sha256((nirs[first["id"]] + SYNTHETIC_SALT).encode()).hexdigest()
    assert first["hash_nir"] == expected
    import pyarrow.parquet as pq
    personnes = pq.read_table(out / "source" / "personnes.parquet")
    assert expected in set(personnes.column("hash_nir").to_pylist())
    with open(out / "platform" / "candidatures.csv", encoding="utf-8") as fh:
        states = {r["état"] for r in csv.DictReader(fh)}
    assert states and all(s[0].isupper() for s in states)  # labels, not codes
