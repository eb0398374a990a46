"""load_tables / validate_tables: one test per kind of bad input, rejects and cascades."""

from __future__ import annotations

import datetime as dt
import logging

import pandas as pd
import pyarrow.parquet as pq
import pytest

from appariement.errors import (ConfigError, InputError, InvalidValueError, KeyUniquenessError,
                                ReferentialIntegrityError, SchemaError)
from appariement.io import RejectPolicy, load_tables, read_table, validate_tables

from conftest import AS_OF, SECRET_NIR


def _load(con, frames, **kw):
    kw.setdefault("as_of", AS_OF)
    return load_tables(con, frames, **kw)


def _assert_no_secret(text: str) -> None:
    assert SECRET_NIR not in text
    for name in ("MARTIN", "Jean", "Zoé", "1985-05-01"):
        assert name not in text


def test_valid_extract_loads_without_problems(con, frames, caplog):
    with caplog.at_level(logging.INFO, logger="appariement"):
        ds = _load(con, frames, side="all")
    assert ds.problems == []
    assert set(ds.tables) == set(frames)
    for name, df in frames.items():
        assert ds.counts[name] == {"read": len(df), "kept": len(df), "rejected": 0}
    assert ds.rejects.fetchall() == []
    assert con.execute("SELECT count(*) FROM in_candidats").fetchall()[0][0] == 3
    assert "candidats: 3 rows read, 3 kept, 0 rejected" in caplog.text


@pytest.mark.parametrize("table,column,values,error,reason,n,examples", [
    # a candidate needs its names or a key (nir, hash_nir): c3 has no name but a NIR, so only
    # c2 (blank name, no NIR) is rejected
    ("candidats", "nom", ["A", " ", None], InvalidValueError, "null", 1, ("c2",)),
    # null in a non-nullable column
    ("candidatures", "etat", ["new", " ", None, "new"], InvalidValueError, "null", 2,
     ("k2", "k3")),
    # code outside the allowed list (after normalisation "Accepted " would pass)
    ("candidatures", "etat", ["Accepted ", "embauché", "new", "??"], InvalidValueError,
     "not_allowed", 2, ("k2", "k4")),
    # duplicated key: every row sharing it is reported
    ("structures", "structure_id", ["s1", "s1"], KeyUniquenessError, "duplicate_key", 2,
     ("s1",)),
    # null key: reported by input row number
    ("organisations", "organisation_id", [None], KeyUniquenessError, "null_key", 1,
     ("#row 1",)),
    # date before the platform existed / in the future
    ("candidatures", "date_candidature", ["2014-12-31", "2021-05-02", "2030-01-01", "2024-02-01"],
     InvalidValueError, "date_range", 2, ("k1", "k3")),
    # uncastable value
    ("candidats", "critere_rsa", ["peut-être", "oui", "non"], InvalidValueError, "uncastable", 1,
     ("c1",)),
])
def test_each_bad_input_raises_its_error(con, frames, table, column, values, error, reason, n,
                                         examples):
    frames[table][column] = values
    if reason == "duplicate_key":  # candidatures/fiches refer to s2; keep them valid
        for child in ("candidatures", "fiches_de_poste", "pass_agrements"):
            frames[child]["structure_id"] = "s1"
    if reason == "null_key":
        frames["candidatures"]["organisation_id"] = None
    with pytest.raises(error) as info:
        _load(con, frames)
    err = info.value
    assert (err.table, err.column, err.n_rows) == (table, column, n)
    assert tuple(err.examples) == examples
    assert table in str(err) and column in str(err) and f"{n} row" in str(err)
    _assert_no_secret(str(err))
    # validate_tables reports the same problem on read tables (except conversions, raised by
    # read_table itself)
    if reason != "uncastable":
        rels = {t: read_table(con, df, t) for t, df in frames.items()}
        problems = validate_tables(con, rels, as_of=AS_OF)
        assert [(p.table, p.column, p.reason, p.n_rows) for p in problems] == [
            (table, column, reason, n)]


def test_orphan_foreign_key_names_both_tables(con, frames):
    frames["candidatures"].loc[2, "candidat_id"] = "c404"
    with pytest.raises(ReferentialIntegrityError) as info:
        _load(con, frames)
    err = info.value
    assert (err.table, err.column, err.n_rows, err.examples) == (
        "candidatures", "candidat_id", 1, ["k3"])
    assert "'candidats'" in str(err) and "'candidatures'" in str(err)


def test_end_before_start(con, frames):
    frames["periodes_emploi"].loc[0, "date_fin"] = "2020-01-01"
    with pytest.raises(InvalidValueError) as info:
        _load(con, frames)
    assert (info.value.column, info.value.n_rows) == ("date_fin", 1)
    assert info.value.examples == ["p1|2021-04-15|12345678900011"]


def test_future_relative_to_as_of(con, frames):
    frames["candidats"].loc[0, "date_inscription"] = "2025-07-01"
    with pytest.raises(InvalidValueError, match="date_inscription"):
        _load(con, frames)
    ds = _load(con, frames, as_of="2025-07-01")
    assert ds.problems == []


def test_raise_lists_other_problems(con, frames):
    frames["structures"]["type"] = ["ACI", "XX"]
    frames["candidats"].loc[1, "nom"] = None
    with pytest.raises(InputError) as info:
        _load(con, frames)
    message = str(info.value)
    assert "Other problems" in message
    assert "structures.type" in message or "candidats.nom" in message


def test_set_aside_cascades_and_counts_add_up(con, frames, tmp_path):
    frames["candidats"].loc[0, "nom"] = None            # c1 (no name, no key) rejected ...
    frames["candidats"].loc[0, "nir"] = None
    frames["candidatures"].loc[3, "etat"] = "bogus"     # k4 rejected on its own
    ds = _load(con, frames, rejects=RejectPolicy.SET_ASIDE, rejects_dir=tmp_path)
    rejected = {(t, k, r) for t, k, _, _, r, _ in ds.rejects.fetchall()}
    # ... so k1, k2 (candidatures of c1), the PASS of c1 and the fiche link of k1 follow it
    assert rejected == {
        ("candidats", "c1", "null"),
        ("candidatures", "k1", "orphan"), ("candidatures", "k2", "orphan"),
        ("candidatures", "k4", "not_allowed"),
        ("pass_agrements", "999992100001", "orphan"),
        ("fiches_de_poste_par_candidature", "k1|f1", "orphan"),
    }
    for name, c in ds.counts.items():
        assert c["read"] == c["kept"] + c["rejected"] == len(frames[name])
        assert len(ds.tables[name].fetchall()) == c["kept"]
    assert ds.counts["candidatures"] == {"read": 4, "kept": 1, "rejected": 3}
    assert ds.tables["candidatures"].select("candidature_id").fetchall() == [("k3",)]
    orphan = [p for p in ds.problems if p.reason == "orphan" and p.table == "candidatures"][0]
    assert "rejected" in orphan.message
    written = pq.read_table(tmp_path / "rejects.parquet")
    assert written.num_rows == 6
    assert written.column_names == ["table", "key", "row", "column", "reason", "detail"]
    _assert_no_secret(written.to_pandas().to_csv())
    assert [p.name for p in tmp_path.iterdir()] == ["rejects.parquet"]


def test_set_aside_counts_a_row_with_two_reasons_once(con, frames):
    frames["candidatures"].loc[0, "etat"] = "bogus"
    frames["candidatures"].loc[0, "date_candidature"] = "2001-01-01"
    ds = _load(con, frames, rejects="set_aside")
    reasons = sorted(r for t, k, _, _, r, _ in ds.rejects.fetchall() if k == "k1")
    assert reasons == ["date_range", "not_allowed"]
    assert ds.counts["candidatures"] == {"read": 4, "kept": 3, "rejected": 1}
    # fiche link of k1 is a cascaded orphan
    assert ds.counts["fiches_de_poste_par_candidature"] == {"read": 1, "kept": 0, "rejected": 1}


def test_set_aside_rejects_uncastable_rows(con, frames):
    frames["candidatures"]["date_candidature"] = ["2021-04-01", "31/31/2021", "2023-01-10",
                                                  "2024-02-01"]
    ds = _load(con, frames, rejects=RejectPolicy.SET_ASIDE)
    assert ds.rejects.select("key, \"column\", reason").fetchall() == [
        ("k2", "date_candidature", "uncastable")]


def test_folder_layout_and_side(con, frames, tmp_path):
    for name, df in frames.items():
        side = "source" if name in ("personnes", "periodes_emploi") else "platform"
        (tmp_path / side).mkdir(exist_ok=True)
        if name == "structures":
            df.to_csv(tmp_path / side / f"{name}.csv", sep=";", index=False, encoding="cp1252")
        else:
            df.to_parquet(tmp_path / side / f"{name}.parquet")
    ds = load_tables(con, tmp_path, side="platform", as_of=AS_OF)
    assert "personnes" not in ds and "candidats" in ds
    ds = load_tables(con, tmp_path, side="source", as_of=AS_OF)
    assert set(ds.tables) == {"personnes", "periodes_emploi"}
    (tmp_path / "platform" / "structures.csv").unlink()
    with pytest.raises(SchemaError, match="structures"):
        load_tables(con, tmp_path, side="platform", as_of=AS_OF)


def test_missing_optional_table_is_fine_and_unchecked_reference_is_logged(con, frames, caplog):
    del frames["organisations"]
    with caplog.at_level(logging.WARNING, logger="appariement"):
        ds = _load(con, frames)
    assert "diagnostics" not in ds and ds.problems == []
    assert "organisations absent" in caplog.text


def test_mapping_per_table_and_config_errors(con, frames):
    frames["structures"] = frames["structures"].rename(columns={"type": "kind"})
    ds = _load(con, frames, mapping={"structures": {"kind": "type"}})
    assert ds["structures"].select("type").fetchall() == [("ACI",), ("EI",)]
    with pytest.raises(ConfigError, match="unknown table"):
        _load(con, frames, mapping={"structure": {"kind": "type"}})
    with pytest.raises(ConfigError, match="rejects"):
        _load(con, frames, rejects="drop")
    with pytest.raises(ConfigError, match="side"):
        _load(con, frames, side="both")
    with pytest.raises(ConfigError, match="not loaded"):
        ds["diagnostics"]


def test_as_of_must_be_a_date(con, frames):
    with pytest.raises(ConfigError, match="as_of"):
        load_tables(con, frames, as_of="30/06/2025")
    assert _load(con, frames, as_of=dt.date(2025, 6, 30)).problems == []


# ------------------------------------------------------------------------ names or a key

def test_candidates_without_names_load_when_they_carry_a_key(con, frames):
    hashed = "ab" * 32
    frames["candidats"] = frames["candidats"].drop(columns=["nom", "prenoms"])
    frames["candidats"]["nir"] = [SECRET_NIR, "190017500012399", "290017500012345"]
    ds = _load(con, frames)
    assert ds.counts["candidats"]["rejected"] == 0
    # an opaque pre-hashed key alone is enough too
    only_hash = frames["candidats"].drop(columns=["nir"]).assign(hash_nir=hashed)
    ds = _load(con, {**frames, "candidats": only_hash})
    assert ds["candidats"].select("hash_nir").fetchall()[0][0] == hashed


def test_candidates_with_neither_names_nor_key_are_a_schema_error(con, frames):
    frames["candidats"] = frames["candidats"].drop(columns=["nom", "prenoms", "nir"])
    with pytest.raises(SchemaError) as info:
        _load(con, frames)
    message = str(info.value)
    assert "neither its name column(s) nom, prenoms nor a key (nir or hash_nir)" in message
    assert (info.value.table, info.value.column) == ("candidats", "nom")
    _assert_no_secret(message)


def test_a_row_with_neither_names_nor_key_is_rejected_and_named_so(con, frames):
    frames["candidats"]["prenoms"] = ["Jean", None, None]
    frames["candidats"]["nir"] = [SECRET_NIR, None, None]
    ds = _load(con, frames, rejects="set_aside")
    rejected = ds.rejects.filter("\"table\" = 'candidats'").select("key, reason").fetchall()
    assert sorted(set(rejected)) == [("c2", "null"), ("c3", "null")]
    with pytest.raises(InvalidValueError) as info:
        _load(con, frames)
    assert "no key (nir or hash_nir) either" in str(info.value)
    _assert_no_secret(str(info.value))
