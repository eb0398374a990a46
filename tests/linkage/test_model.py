"""LinkageModel: JSON round trip gives identical predictions; early parameter errors."""

from __future__ import annotations

import json

import duckdb
import pytest

from appariement.errors import ConfigError, LinkageError
from appariement.linkage import LinkageModel

from .conftest import load_features


def test_model_json_round_trip_identical_predictions(linkage_data, tmp_path):
    con = duckdb.connect()
    load_features(con, linkage_data)
    model = LinkageModel(u_max_pairs=2e5).fit(con.table("pf"), con.table("sf"), con=con)
    path = model.save(tmp_path / "model.json")
    saved = json.loads(path.read_text())
    assert saved["format"].startswith("appariement.linkage_model/")
    assert saved["params"]["blocking_rules"][0] == "dob"
    first = model.predict(con.table("pf"), con.table("sf"), con=con, table_name="p1")
    again = LinkageModel.load(path).predict(con.table("pf"), con.table("sf"), con=con,
                                            table_name="p2")
    cols = "record_id_l, record_id_r, match_weight, match_probability"
    a = con.execute(f"SELECT {cols} FROM p1 ORDER BY 1, 2").fetchall()
    b = con.execute(f"SELECT {cols} FROM p2 ORDER BY 1, 2").fetchall()
    assert len(a) > 1000 and a == b
    chunked = model.predict(con.table("pf"), con.table("sf"), con=con, table_name="p3",
                            num_chunks=3)
    assert con.execute(f"SELECT {cols} FROM p3 ORDER BY 1, 2").fetchall() == a
    assert chunked.count("*").fetchall()[0][0] == len(a)
    params = model.parameters()
    assert all(p["m_probability"] is None or p["m_probability"] >= model.m_floor * 0.5
               for p in params)


def test_unfitted_and_bad_parameters():
    with pytest.raises(LinkageError, match="not fitted"):
        LinkageModel().level_labels()
    with pytest.raises(ConfigError, match="u_max_pairs"):
        LinkageModel(u_max_pairs=0)
    with pytest.raises(ConfigError, match="not an appariement linkage model"):
        LinkageModel.from_dict({"format": "something else"})


def test_missing_feature_columns_are_named(linkage_data):
    con = duckdb.connect()
    load_features(con, linkage_data)
    con.execute("ALTER TABLE pf DROP COLUMN first_names")
    with pytest.raises(LinkageError, match="first_names"):
        LinkageModel().fit(con.table("pf"), con.table("sf"), con=con)
