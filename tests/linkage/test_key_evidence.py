"""The shared key is evidence, not only a gate: a shared NIR with a one-year birth-date error is
linked (stage 2 scores every pair sharing a key), a valid NIR that belongs to someone else is
refused by the traits, and exact ties between identical source persons are reported as ties."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appariement.identity import register_sql_functions, standardise_identities
from appariement.linkage import link
from appariement.synth import SynthConfig, generate

from .conftest import one_edit

N_CASES = 30


@pytest.fixture(scope="module")
def world():
    data = generate(SynthConfig(n_candidates=1200, seed=31))
    con = register_sql_functions(duckdb.connect())
    con.register("cand0", data.platform["candidats"])
    con.register("pers0", data.source["personnes"])
    con.register("truth", data.truth["links"])
    # true pairs sharing a valid NIR and the same parsed birth date: the clean exact cases
    con.execute(f"""
        CREATE TABLE clean AS
        SELECT t.candidat_id, t.person_id, p.nir AS person_nir
        FROM truth t JOIN cand0 c USING (candidat_id) JOIN pers0 p USING (person_id)
        WHERE c.nir = p.nir AND app_nir_is_valid(app_nir_compact(c.nir))
          AND app_parse_date(c.date_naissance) = app_parse_date(p.date_naissance)
          AND app_parse_date(c.date_naissance).day IS NOT NULL
        ORDER BY hash(t.candidat_id) LIMIT {3 * N_CASES}""")
    return con


def _link(con, cand_sql: str, pers_sql: str = "SELECT * FROM pers0", key="nir"):
    cand = con.sql(cand_sql).to_arrow_table()
    pers = con.sql(pers_sql).to_arrow_table()
    lc = duckdb.connect()
    result = link(standardise_identities(lc, cand, "platform"),
                  standardise_identities(lc, pers, "source"), con=lc, key_column=key,
                  keep_tables=True)
    return lc, result


def test_shared_nir_with_a_one_year_birth_date_error_is_linked(world):
    con = world
    con.execute(f"CREATE OR REPLACE TEMP TABLE shifted AS SELECT * FROM clean LIMIT {N_CASES}")
    lc, result = _link(con, """
        SELECT c.* REPLACE (CASE WHEN s.candidat_id IS NULL THEN c.date_naissance ELSE
               printf('%02d/%02d/%04d', d.day, d.month, d.year + 1) END AS date_naissance)
        FROM (SELECT *, app_parse_date(date_naissance) AS d FROM cand0) c
        LEFT JOIN shifted s USING (candidat_id)""".replace("c.* REPLACE", "c.* EXCLUDE (d) REPLACE"))
    lc.register("shifted", con.table("shifted").to_arrow_table())
    # the birth year now contradicts the NIR: no longer a clean exact case...
    s1 = lc.execute("""SELECT count(*) FROM links l JOIN shifted s USING (candidat_id, person_id)
                       WHERE l.method = 'pivot_exact'""").fetchall()[0][0]
    assert s1 == 0
    # ...but the shared NIR is evidence in stage 2: every such pair is linked
    linked = lc.execute("""SELECT count(*) FROM links l JOIN shifted s USING (candidat_id, person_id)
                           WHERE l.decision = 'match'""").fetchall()[0][0]
    assert linked == N_CASES
    why = lc.execute("""SELECT any_value(why) FROM links JOIN shifted USING (candidat_id, person_id)
                        """).fetchall()[0][0]
    assert "key: same NIR" in why
    # the links say which side's declared traits disagree with its NIR
    statuses = lc.execute("""SELECT DISTINCT nir_consistency_platform, nir_consistency_source
        FROM links JOIN shifted USING (candidat_id, person_id)""").fetchall()
    assert statuses == [("inconsistent", "consistent")]


def test_a_valid_nir_of_someone_else_is_refused_by_the_traits(world):
    con = world
    # candidates of clean pairs get the NIR of another clean pair's person (valid, foreign)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE swapped AS
        WITH a AS (SELECT *, row_number() OVER (ORDER BY candidat_id) AS i FROM clean
                   LIMIT {N_CASES})
        SELECT a.candidat_id, a.person_id AS true_person, b.person_id AS foreign_person,
               b.person_nir AS foreign_nir
        FROM a JOIN a b ON b.i = a.i % {N_CASES} + 1""")
    lc, result = _link(con, """
        SELECT c.* REPLACE (coalesce(s.foreign_nir, c.nir) AS nir)
        FROM cand0 c LEFT JOIN swapped s USING (candidat_id)""")
    lc.register("swapped", con.table("swapped").to_arrow_table())
    wrong = lc.execute("""SELECT count(*) FROM links l JOIN swapped s
                          ON l.candidat_id = s.candidat_id AND l.person_id = s.foreign_person
                          WHERE l.decision = 'match'""").fetchall()[0][0]
    assert wrong == 0
    # the traits still find most of them their own person
    right = lc.execute("""SELECT count(*) FROM links l JOIN swapped s
                          ON l.candidat_id = s.candidat_id AND l.person_id = s.true_person
                          WHERE l.decision = 'match'""").fetchall()[0][0]
    assert right >= 0.8 * N_CASES


def test_ties_between_identical_source_persons_are_reported_as_ties(world):
    con = world
    con.execute("CREATE OR REPLACE TEMP TABLE twins AS SELECT * FROM clean LIMIT 10")
    # each of these persons gets an identical copy under another id; no NIR anywhere
    lc, result = _link(con, "SELECT * EXCLUDE (nir) FROM cand0", """
        SELECT * EXCLUDE (nir) FROM pers0
        UNION ALL
        SELECT p.* EXCLUDE (nir) REPLACE ('TWIN' || p.person_id AS person_id)
        FROM pers0 p JOIN twins USING (person_id)""", key=None)
    lc.register("twins", con.table("twins").to_arrow_table())
    reasons = dict(lc.execute("""SELECT u.reason, count(*) FROM unlinked_platform u
                                 JOIN twins USING (candidat_id) GROUP BY 1""").fetchall())
    assert reasons.get("tie", 0) >= 8, reasons
    matched = lc.execute("""SELECT count(*) FROM links JOIN twins USING (candidat_id)
                            WHERE decision = 'match'""").fetchall()[0][0]
    assert matched + sum(reasons.values()) == 10
    # and the run gives the same answer twice (never broken at random)
    lc2, _ = _link(con, "SELECT * EXCLUDE (nir) FROM cand0", """
        SELECT * EXCLUDE (nir) FROM pers0
        UNION ALL
        SELECT p.* EXCLUDE (nir) REPLACE ('TWIN' || p.person_id AS person_id)
        FROM pers0 p JOIN twins USING (person_id)""", key=None)
    q = "SELECT candidat_id, person_id, decision FROM links ORDER BY ALL"
    assert lc.execute(q).fetchall() == lc2.execute(q).fetchall()


@settings(max_examples=300, deadline=None)
@given(a=st.text("0123456789", min_size=15, max_size=15),
       b=st.text("0123456789", min_size=15, max_size=15),
       edit=st.sampled_from(["none", "substitute", "transpose", "other"]),
       i=st.integers(0, 11), digit=st.sampled_from("0123456789"))
def test_nir_one_edit_level_equals_the_plain_edit_distance(a, b, edit, i, digit):
    """The level's cheap pre-test (first or last five digits of the body intact) never changes
    what the edit distance alone decides."""
    from appariement.linkage.comparisons import key_comparison
    cond = key_comparison("nir").get_comparison("duckdb").as_dict()[
        "comparison_levels"][2]["sql_condition"]
    b = one_edit(a, b, edit, i, digit)
    con = duckdb.connect()
    got, plain = con.execute(
        f"SELECT {cond}, damerau_levenshtein(substr(nir_l, 1, 13), substr(nir_r, 1, 13)) <= 1 "
        "FROM (SELECT ? AS nir_l, ? AS nir_r, 'invalid' AS nir_consistency_l, "
        "'consistent' AS nir_consistency_r)", [a, b]).fetchone()
    assert got == plain


def test_an_opaque_pre_hashed_key_links_in_the_exact_stage_without_nir_checks(world):
    """``hash_nir`` (SHA-256 of NIR + salt, as the warehouse exports it): no NIR to check, the
    shared key is trusted in stage 1 (the traits guard still applies)."""
    con = world
    hashed = ("SELECT * EXCLUDE (nir), CASE WHEN nir IS NOT NULL THEN "
              "sha256('salt' || nir) END AS hash_nir FROM {}")
    lc, result = _link(con, hashed.format("cand0"), hashed.format("pers0"), key="hash_nir")
    assert result.counts["stage1_links"] > 0
    exact = lc.execute("SELECT count(*) FROM links WHERE method = 'pivot_exact'").fetchall()[0][0]
    assert exact == result.counts["stage1_links"]
    # the exact links are true links
    lc.register("truth", con.table("truth").to_arrow_table())
    wrong = lc.execute("""SELECT count(*) FROM links l WHERE method = 'pivot_exact'
                          AND decision = 'match' AND NOT EXISTS (SELECT 1 FROM truth t
                          WHERE t.candidat_id = l.candidat_id AND t.person_id = l.person_id)
                       """).fetchall()[0][0]
    assert wrong <= 0.01 * exact


def _with_key(body: str) -> str:
    return body + f"{97 - int(body) % 97:02d}"


@settings(max_examples=300, deadline=None)
@given(body=st.text("0123456789", min_size=13, max_size=13),
       edit=st.sampled_from(["substitute", "transpose"]), i=st.integers(0, 11),
       digit=st.sampled_from("0123456789"))
def test_the_check_key_catches_every_one_edit_typo_of_the_body(body, edit, i, digit):
    """Why "one edit" needs a wrong check key: a substitution of one digit or a transposition
    of two adjacent digits of the body always changes the key (97 is prime)."""
    typo = one_edit(body, body, edit, i, digit)
    if typo != body:
        assert _with_key(typo)[13:] != _with_key(body)[13:]


def test_two_nirs_with_valid_keys_one_edit_apart_are_not_a_typo():
    """Neighbouring order numbers (two people born the same month in the same commune) fall in
    "all other"; the same edit with a wrong check key on one side is the typo level."""
    from appariement.linkage.comparisons import key_comparison
    levels = key_comparison("nir").get_comparison("duckdb").as_dict()["comparison_levels"]
    a, b = _with_key("1810299350331"), _with_key("1810299350332")
    con = duckdb.connect()

    def level(nir_r, consistency_r):
        row = {"nir_l": a, "nir_r": nir_r, "nir_consistency_l": "consistent",
               "nir_consistency_r": consistency_r}
        sel = ", ".join(f"'{v}' AS {k}" for k, v in row.items())
        for lv in levels:
            cond = lv["sql_condition"]
            if cond == "ELSE" or con.execute(f"SELECT {cond} FROM (SELECT {sel})").fetchone()[0]:
                return lv["label_for_charts"]

    assert level(b, "consistent") == "all other"
    assert level(b[:13] + "00", "invalid") == "NIR one edit or transposition, one check key wrong"
    assert level(a, "consistent") == "same NIR"
