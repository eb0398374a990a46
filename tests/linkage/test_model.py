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
    order = "SELECT current_setting('preserve_insertion_order')"
    first = model.predict(con.table("pf"), con.table("sf"), con=con, table_name="p1")
    # scoring lifts DuckDB's insertion order (memory) and gives the user's setting back
    assert con.execute(order).fetchall()[0][0] is True
    con.execute("SET preserve_insertion_order = false")
    again = LinkageModel.load(path).predict(con.table("pf"), con.table("sf"), con=con,
                                            table_name="p2")
    assert con.execute(order).fetchall()[0][0] is False
    con.execute("SET preserve_insertion_order = true")
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


def _u_values(model, con, settings):
    return [lv.get("u_probability") for c in settings["comparisons"]
            for lv in c["comparison_levels"] if not lv.get("is_null_level")]


def _shares_by_splink_scoring(model, backend, left_rel, right_rel, settings, pairs):
    """Reference: score ``pairs`` with Splink's predict and take the share of each level, with
    the same 0.5 pseudo-count as the library."""
    import copy

    from appariement.linkage.model import _PSEUDO
    vector_settings = copy.deepcopy(settings)
    vector_settings["retain_intermediate_calculation_columns"] = True
    vector_settings["retain_matching_columns"] = True
    linker, _ = model._explicit_pairs_linker(backend, left_rel, right_rel, vector_settings, pairs)
    vectors = backend.to_duckdb(linker.inference.predict(), "_ref_vectors")
    n = vectors.count("*").fetchall()[0][0]
    shares = []
    for comp in settings["comparisons"]:
        levels = [lv for lv in comp["comparison_levels"] if not lv.get("is_null_level")]
        k = len(levels)
        counts = dict(backend.con.execute(f'SELECT "gamma_{comp["output_column_name"]}", '
                                          "count(*) FROM _ref_vectors GROUP BY 1").fetchall())
        observed = sum(counts.get(k - 1 - i, 0) for i in range(k))
        shares.extend((counts.get(k - 1 - i, 0) + _PSEUDO) / (observed + _PSEUDO * k)
                      for i in range(k))
    return shares, n


def _parameters(settings, key):
    return [lv[key] for comp in settings["comparisons"] for lv in comp["comparison_levels"]
            if not lv.get("is_null_level")]


def test_sql_u_and_m_equal_splink_scoring_of_the_same_pairs(linkage_data):
    """u from random pairs (here the sample covers every pair) and m from labelled pairs are
    computed in DuckDB SQL from the levels' conditions; they must equal the shares of levels
    that Splink's own scoring (predict on explicit pairs) gives for the same pairs."""
    from appariement.linkage._backend import make_backend
    from appariement.linkage.model import PLATFORM, SOURCE
    con = duckdb.connect()
    load_features(con, linkage_data)
    left = con.sql("SELECT * FROM pf ORDER BY record_id LIMIT 40")
    right = con.sql("SELECT * FROM sf ORDER BY record_id LIMIT 400")
    model = LinkageModel(u_max_pairs=1e9).plan(con.table("pf"), con.table("sf"), con=con)
    backend = make_backend("duckdb", con)
    left_rel, right_rel = (model.splink_input(con, left, PLATFORM),
                           model.splink_input(con, right, SOURCE))
    settings = model._settings(1e-3)
    ours, n_pairs = model._u_from_sampling_sql(con, left_rel, right_rel, settings, 40, 400)
    assert n_pairs == 40 * 400
    every_pair = con.sql("SELECT l.record_id AS record_id_l, r.record_id AS record_id_r "
                         "FROM (SELECT * FROM pf ORDER BY record_id LIMIT 40) l, "
                         "(SELECT * FROM sf ORDER BY record_id LIMIT 400) r")
    shares, n_scored = _shares_by_splink_scoring(model, backend, left_rel, right_rel, settings,
                                                 every_pair)
    assert n_scored == n_pairs
    assert _parameters(ours, "u_probability") == pytest.approx(shares, rel=1e-12)
    # labelled pairs: the SQL path and the Splink-predict path give identical m
    labels = con.sql("SELECT candidat_id AS record_id_l, person_id AS record_id_r FROM truth")
    full_l, full_r = (model.splink_input(con, con.table("pf"), PLATFORM),
                      model.splink_input(con, con.table("sf"), SOURCE))
    by_sql, n_sql, _ = model._m_from_labels_sql(con, full_l, full_r, settings, labels)
    shares, n_splink = _shares_by_splink_scoring(model, backend, full_l, full_r, settings,
                                                 labels)
    assert n_sql == n_splink > 1000
    assert _parameters(by_sql, "m_probability") == pytest.approx(shares, rel=1e-12)


def test_u_sample_is_seeded(linkage_data):
    from appariement.linkage.model import PLATFORM, SOURCE
    con = duckdb.connect()
    load_features(con, linkage_data)
    runs = []
    for seed in (1, 1, 2):
        model = LinkageModel(u_max_pairs=5e4, seed=seed).plan(con.table("pf"), con.table("sf"),
                                                              con=con)
        left_rel, right_rel = (model.splink_input(con, con.table("pf"), PLATFORM),
                               model.splink_input(con, con.table("sf"), SOURCE))
        n_l, n_r = left_rel.count("*").fetchall()[0][0], right_rel.count("*").fetchall()[0][0]
        settings, n = model._u_from_sampling_sql(con, left_rel, right_rel, model._settings(1e-3),
                                                 n_l, n_r)
        assert 4.9e4 <= n <= 5.1e4
        runs.append(_u_values(model, con, settings))
    assert runs[0] == runs[1] and runs[0] != runs[2]
