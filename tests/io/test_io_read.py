"""read_table: CSV dialects, conversions, mapping and schema errors."""

from __future__ import annotations

import datetime as dt
import gzip

import pandas as pd
import pytest

from appariement.errors import ConfigError, InputError, InvalidValueError, SchemaError
from appariement.io import detect_encoding, detect_separator, read_table

HEADER = "candidature_id{s}candidat_id{s}structure_id{s}date_candidature{s}etat{s}Commentaire\n"
ROWS = ["k1{s}c1{s}s1{s}01/02/2021{s}Accepted {s}Reçu à l'œil",
        "k2{s}c2{s}s1{s}2021-03-04{s}REFUSED{s}déjà vu"]


def _write_csv(path, sep, encoding, bom=False, gz=False):
    text = HEADER.format(s=sep) + "\n".join(r.format(s=sep) for r in ROWS) + "\n"
    data = ("\ufeff" if bom else "").encode("utf-8") + text.encode(encoding)
    if gz:
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize("sep,encoding,bom,gz", [
    (";", "utf-8", False, False),
    (",", "utf-8", True, False),
    (";", "cp1252", False, False),     # Windows-1252: 'œ' is byte 0x9C
    (",", "cp1252", False, True),
    ("\t", "utf-8", False, True),
])
def test_csv_dialects_are_detected(con, tmp_path, sep, encoding, bom, gz):
    name = "c.csv.gz" if gz else "c.csv"
    path = _write_csv(tmp_path / name, sep, encoding, bom=bom, gz=gz)
    rel = read_table(con, path, "candidatures")
    rows = rel.select("candidature_id, date_candidature, etat, Commentaire").fetchall()
    assert rows == [("k1", dt.date(2021, 2, 1), "accepted", "Reçu à l'œil"),
                    ("k2", dt.date(2021, 3, 4), "refused", "déjà vu")]


def test_plain_latin1_without_c1_bytes(con, tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes("structure_id;type;departement\nsé1;EI;2A\n".encode("latin-1"))
    assert detect_encoding(path) == "latin-1"
    assert detect_separator(path, "latin-1") == ";"
    assert read_table(con, path, "structures").select("structure_id").fetchall() == [("sé1",)]


def test_explicit_encoding_and_separator(con, tmp_path):
    path = _write_csv(tmp_path / "c.csv", ",", "cp1252")
    rel = read_table(con, path, "candidatures", encoding="latin-1", sep=",")
    assert rel.select("Commentaire").fetchall()[0] == ("Reçu à l'œil",)
    with pytest.raises(ConfigError, match="encoding"):
        read_table(con, path, "candidatures", encoding="utf-16")


def test_conversions_dates_booleans_doubles_codes(con):
    df = pd.DataFrame({
        "candidat_id": ["a", "b", "c"], "nom": ["x", "y", "z"], "prenoms": [" Zoé ", "y", "z"],
        "date_inscription": ["2021-01-05", "5/1/2021", "2021-01-05 10:00:00"],
        "critere_rsa": ["oui", "N", " TRUE "], "critere_ass": ["1", "0", ""],
        "type_inscription": ["Autonome", " TIERS", "  "],
        "date_naissance": ["01/02/1990", "1990", None],
    })
    rows = read_table(con, df, "candidats").select(
        "date_inscription, critere_rsa, critere_ass, type_inscription, prenoms, date_naissance"
    ).fetchall()
    jan5 = dt.date(2021, 1, 5)
    assert rows == [(jan5, True, True, "autonome", " Zoé ", "01/02/1990"),
                    (jan5, False, False, "tiers", "y", "1990"),
                    (jan5, True, None, None, "z", None)]


def test_french_decimal_comma(con):
    df = pd.DataFrame({"person_id": ["p"], "date_debut": ["2020-01-01"], "siret": ["1"],
                       "heures": ["151,67"], "salaire": ["1 800"]})
    with pytest.raises(InvalidValueError) as info:
        read_table(con, df, "periodes_emploi")
    assert info.value.column == "salaire" and info.value.n_rows == 1
    df["salaire"] = ["1800.5"]
    assert read_table(con, df, "periodes_emploi").select("heures, salaire").fetchall() == [
        (151.67, 1800.5)]


def test_typed_parquet_is_kept(con, tmp_path, frames):
    df = frames["candidatures"].assign(date_candidature=pd.to_datetime(
        frames["candidatures"]["date_candidature"]))
    path = tmp_path / "candidatures.parquet"
    df.to_parquet(path)
    rel = read_table(con, path, "candidatures")
    assert dict(zip(rel.columns, map(str, rel.types)))["date_candidature"] == "DATE"
    assert len(rel.fetchall()) == 4


def test_uncastable_values_are_counted_with_keys(con):
    df = pd.DataFrame({"candidature_id": ["k1", "k2", "k3"], "candidat_id": ["c"] * 3,
                       "structure_id": ["s"] * 3, "etat": ["new"] * 3,
                       "date_candidature": ["2021-02-30", "2021-01-01", "hier"]})
    with pytest.raises(InvalidValueError) as info:
        read_table(con, df, "candidatures")
    err = info.value
    assert (err.table, err.column, err.n_rows, err.examples) == (
        "candidatures", "date_candidature", 2, ["k1", "k3"])
    assert "candidatures" in str(err) and "date_candidature" in str(err) and "2 " in str(err)


def test_mapping_renames_and_keeps_extra_columns(con):
    df = pd.DataFrame({"ID": ["s1"], "Type SIAE": ["aci"], "other": [1]})
    rel = read_table(con, df, "structures", mapping={"Type SIAE": "type", "ID": "structure_id"})
    assert rel.columns == ["structure_id", "siret", "type", "departement", "other"]
    assert rel.fetchall() == [("s1", None, "ACI", None, 1)]


def test_column_names_match_ignoring_case(con):
    df = pd.DataFrame({" Structure_ID ": ["s1"], "TYPE": ["EI"]})
    assert read_table(con, df, "structures").select("structure_id, type").fetchall() == [
        ("s1", "EI")]


def test_missing_required_column_names_it_and_the_mapping(con):
    df = pd.DataFrame({"id_structure": ["s1"], "type": ["EI"]})
    with pytest.raises(SchemaError) as info:
        read_table(con, df, "structures")
    assert info.value.column == "structure_id" and info.value.table == "structures"
    assert "mapping" in str(info.value) and "id_structure" in str(info.value)
    with pytest.raises(SchemaError, match="'idStructure'"):
        read_table(con, df, "structures", mapping={"idStructure": "structure_id"})


def test_mapping_to_unknown_canonical_is_config_error(con):
    df = pd.DataFrame({"structure_id": ["s1"], "type": ["EI"], "x": [1]})
    with pytest.raises(ConfigError, match="not a column"):
        read_table(con, df, "structures", mapping={"x": "siren"})


def test_mapping_two_columns_to_one_is_config_error(con):
    df = pd.DataFrame({"a": ["s1"], "b": ["s2"], "type": ["EI"]})
    with pytest.raises(ConfigError, match="both"):
        read_table(con, df, "structures", mapping={"a": "structure_id", "b": "structure_id"})
    df = pd.DataFrame({"structure_id": ["s1"], "id": ["s2"], "type": ["EI"]})
    with pytest.raises(ConfigError, match="both provide"):
        read_table(con, df, "structures", mapping={"id": "structure_id"})


def test_unknown_table_missing_file_and_bad_csv(con, tmp_path):
    with pytest.raises(ConfigError, match="unknown table"):
        read_table(con, pd.DataFrame({"a": [1]}), "clients")
    with pytest.raises(ConfigError, match="cannot read a source"):
        read_table(con, {"structure_id": "s1"}, "structures")
    with pytest.raises(InputError, match="does not exist"):
        read_table(con, tmp_path / "nope.csv", "structures")
    empty = tmp_path / "e.csv"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_table(con, empty, "structures")
    header_only = tmp_path / "h.csv"
    header_only.write_text("structure_id;type\n")
    assert read_table(con, header_only, "structures").fetchall() == []
    bad = tmp_path / "s.csv"
    bad.write_text('structure_id,type\n"s1,EI\ns2,"A"I",x,y,z\n')
    with pytest.raises(InputError, match="could not be parsed"):
        read_table(con, bad, "structures")
