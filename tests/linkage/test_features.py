"""The model is built from the features at hand: files without postcode, birth place, usage
names, names or a NIR link without error, above a quality floor; a missing or all-null column
never raises anything but an AppariementError."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appariement.errors import AppariementError
from appariement.identity import register_sql_functions, standardise_identities
from appariement.linkage import link
from appariement.linkage.features import profile_features
from appariement.synth import SynthConfig, generate


@pytest.fixture(scope="module")
def raw():
    data = generate(SynthConfig(n_candidates=1200, seed=23))
    return {"cand": data.platform["candidats"], "pers": data.source["personnes"],
            "truth": data.truth["links"]}


def _keep(table: pa.Table, columns) -> pa.Table:
    return table.select([c for c in columns if c in table.column_names])


def _run(raw, cand_cols, pers_cols, key_column, transform=None):
    con = duckdb.connect()
    cand, pers = _keep(raw["cand"], cand_cols), _keep(raw["pers"], pers_cols)
    if transform is not None:
        cand, pers = transform(cand), transform(pers)
    pf = standardise_identities(con, cand, "platform")
    sf = standardise_identities(con, pers, "source")
    result = link(pf, sf, con=con, key_column=key_column, keep_tables=True)
    con.register("truth", raw["truth"])
    tp, n = con.execute("""SELECT count(t.person_id), count(*) FROM links l
        LEFT JOIN truth t USING (candidat_id, person_id) WHERE l.decision = 'match'""").fetchall()[0]
    n_true = raw["truth"].num_rows
    precision, recall = tp / n, tp / n_true
    return result, 2 * precision * recall / (precision + recall), precision


CAND_ALL = ("candidat_id", "nir", "nom", "nom_naissance", "prenoms", "sexe", "date_naissance",
            "commune_naissance", "pays_naissance", "code_postal")
PERS_ALL = ("person_id", "nir", "nom_naissance", "nom_usage", "prenoms", "sexe",
            "date_naissance", "commune_naissance", "pays_naissance", "code_postal")
NO_PLACES = ("commune_naissance", "pays_naissance", "code_postal")


def _without(columns, dropped):
    return tuple(c for c in columns if c not in dropped)


# (shape, platform columns, source columns, key, F1 floor)
SHAPES = [
    ("traits without postcode or birth place", _without(CAND_ALL, ("nir", *NO_PLACES)),
     _without(PERS_ALL, ("nir", *NO_PLACES)), None, 0.97),
    ("id + surname + first name + birth date",
     ("candidat_id", "nom", "prenoms", "date_naissance"),
     ("person_id", "nom_naissance", "prenoms", "date_naissance"), None, 0.95),
    ("without usage names", _without(CAND_ALL, ("nir", "nom_naissance")),
     _without(PERS_ALL, ("nir", "nom_usage")), None, 0.95),
    ("with usage names, NIR", CAND_ALL, PERS_ALL, "nir", 0.99),
    ("NIR and traits, no places", _without(CAND_ALL, NO_PLACES), _without(PERS_ALL, NO_PLACES),
     "nir", 0.99),
]


@pytest.mark.parametrize("shape, cand_cols, pers_cols, key, floor", SHAPES,
                         ids=[s[0] for s in SHAPES])
def test_shapes_link_above_a_floor(raw, shape, cand_cols, pers_cols, key, floor):
    result, f1, precision = _run(raw, cand_cols, pers_cols, key)
    assert f1 >= floor, (shape, f1)
    assert precision >= 0.98, (shape, precision)
    # the plan says what was absent and what was chosen
    plan = {step["step"]: step for step in result.model.plan_log_}
    absent = set(plan["features"]["absent"])
    if "code_postal" not in cand_cols:
        assert {"postcode", "residence_dept"} <= absent
        assert "residence" not in plan["comparisons"]["chosen"]
        assert not any("postcode" in r for r in plan["blocking_rules"]["chosen"]
                       if "-postcode" not in r)
    assert plan["training_rules"]["chosen"] or key is not None
    assert result.model.to_dict()["plan"] == result.model.plan_log_


def test_dares_request_shape_no_names(raw):
    """NIR, sex, birth year and month, postcode: no names (the shape of the DARES request)."""
    def year_month(t: pa.Table) -> pa.Table:
        con = register_sql_functions(duckdb.connect())
        con.register("t", t)
        return con.sql("""SELECT * REPLACE (CASE WHEN d.month IS NULL THEN CAST(d.year AS VARCHAR)
                              ELSE printf('%04d-%02d', d.year, d.month) END AS date_naissance)
                          FROM (SELECT *, app_parse_date(date_naissance) AS d FROM t)""").to_arrow_table().drop(["d"])
    cols = ("nir", "sexe", "date_naissance", "code_postal")
    result, f1, precision = _run(raw, ("candidat_id", *cols), ("person_id", *cols), "nir",
                                 transform=year_month)
    assert f1 >= 0.9 and precision >= 0.98
    chosen = result.model.plan_log_[1]["chosen"]
    assert "surname" not in chosen and "key" in chosen


def test_no_usable_feature_is_a_clear_error(raw):
    with pytest.raises(AppariementError, match="minimum input"):
        cand = raw["cand"].select(["candidat_id", "nom", "prenoms"])
        cand = cand.set_column(1, "nom", pa.nulls(cand.num_rows, pa.string()))
        cand = cand.set_column(2, "prenoms", pa.nulls(cand.num_rows, pa.string()))
        con = duckdb.connect()
        link(standardise_identities(con, cand, "platform"),
             standardise_identities(con, raw["pers"].drop(["nir"]), "source"),
             con=con, key_column=None)


def test_profile_counts_blank_and_empty_values_as_missing():
    con = duckdb.connect()
    left = con.sql("SELECT * FROM (VALUES ('a', ' ', [1]), ('b', NULL, []), ('c', 'x', [])) "
                   "t(record_id, postcode, first_names)")
    right = con.sql("SELECT 'z' AS record_id, '75001' AS postcode, [2] AS first_names")
    p = profile_features(con, left, right, min_fill=0.5)
    assert p.fill["postcode"] == (pytest.approx(1 / 3), 1.0)
    assert p.fill["first_names"] == (pytest.approx(1 / 3), 1.0)
    assert not p.present("postcode")
    assert p.to_dict()["absent"] == ["first_names", "postcode"]


_OPTIONAL_CAND = ("nom_naissance", "sexe", "date_naissance", "commune_naissance",
                  "pays_naissance", "code_postal", "nir", "prenoms")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dropped=st.sets(st.sampled_from(_OPTIONAL_CAND)),
       nulled=st.sets(st.sampled_from(_OPTIONAL_CAND)),
       key=st.sampled_from([None, "nir"]))
def test_missing_or_null_columns_give_a_result_or_an_appariement_error(small, dropped, nulled,
                                                                       key):
    cand, pers = small
    cand = cand.drop([c for c in dropped if c in cand.column_names])
    for c in nulled:
        if c in cand.column_names:
            i = cand.column_names.index(c)
            cand = cand.set_column(i, c, pa.nulls(cand.num_rows, cand.schema.field(c).type))
    con = duckdb.connect()
    try:
        result = link(standardise_identities(con, cand, "platform"),
                      standardise_identities(con, pers, "source"), con=con, key_column=key,
                      keep_tables=True)
    except AppariementError:
        return
    counts = result.counts
    assert counts["links_match"] + counts["unlinked_platform"] == counts["platform_records"]


@pytest.fixture(scope="module")
def small():
    data = generate(SynthConfig(n_candidates=300, seed=5))
    return data.platform["candidats"], data.source["personnes"]
