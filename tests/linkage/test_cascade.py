"""The cascade on synthetic data with known truth: quality floors, guards, accounting."""

from __future__ import annotations

import duckdb
import pytest

from appariement.errors import ConfigError, LinkageError
from appariement.linkage import Linkage, LinkageConfig, Thresholds, link

from .conftest import load_features, precision_recall

# Floors sit under what was measured on this data (cascade F1 0.998, traits-only 0.997 at
# 1,500-2,000 candidates; see benchmarks/bench_linkage.py for the larger runs).
CASCADE_F1_FLOOR = 0.99
TRAITS_F1_FLOOR = 0.985


@pytest.fixture(scope="module")
def cascade(linkage_data):
    con = duckdb.connect()
    load_features(con, linkage_data)
    result = link(con.table("pf"), con.table("sf"), con=con, keep_tables=True)
    return con, result


def test_cascade_quality_floor(cascade):
    con, result = cascade
    precision, recall, f1 = precision_recall(con)
    assert f1 >= CASCADE_F1_FLOOR, (precision, recall)
    assert precision >= 0.995
    assert result.counts["links_match_pivot_exact"] > 0
    assert result.counts["links_match_probabilistic"] > 0


def test_exact_links_are_true_and_explained(cascade):
    con, _ = cascade
    wrong, n, unexplained = con.execute("""
        SELECT count(*) FILTER (WHERE t.person_id IS NULL), count(*),
               count(*) FILTER (WHERE l.why IS NULL OR l.match_weight IS NULL)
        FROM links l LEFT JOIN truth t USING (candidat_id, person_id)
        WHERE l.method = 'pivot_exact' AND l.decision = 'match'""").fetchall()[0]
    assert n > 0 and wrong == 0 and unexplained == 0
    why = con.execute("SELECT why FROM links LIMIT 1").fetchall()[0][0]
    assert why.startswith("surname: ") and "birth_date: " in why


def test_every_record_is_accounted_for(cascade):
    con, result = cascade
    c = result.counts
    assert c["links_match"] + c["unlinked_platform"] == c["platform_records"]
    matched_persons = con.execute("SELECT count(DISTINCT person_id) FROM links "
                                  "WHERE decision = 'match'").fetchall()[0][0]
    assert matched_persons + c["unlinked_source"] == c["source_records"]
    reasons = {r for (r,) in con.execute("SELECT DISTINCT reason FROM unlinked_platform").fetchall()}
    assert reasons <= {"review", "tie", "conflict_lost", "below_threshold", "no_candidate_pair",
                       "exact_key_ambiguous", "exact_key_traits_disagree"}
    # one-to-one: no person twice, no candidate twice
    dup = con.execute("""SELECT (SELECT count(*) - count(DISTINCT person_id) FROM links),
                                (SELECT count(*) - count(DISTINCT candidat_id) FROM links)""")
    assert dup.fetchall()[0] == (0, 0)


def test_traits_only_quality_floor(linkage_data):
    con = duckdb.connect()
    load_features(con, linkage_data)
    result = link(con.table("pf"), con.table("sf"), con=con, key_column=None, keep_tables=True)
    precision, recall, f1 = precision_recall(con)
    assert f1 >= TRAITS_F1_FLOOR, (precision, recall)
    assert result.counts["links_match_pivot_exact"] == 0


def _one_stage1_pair(con):
    """A true pair both of whose NIRs are trusted, and another source person's NIR."""
    return con.execute("""
        SELECT p.record_id, s.record_id, other.nir, other.record_id
        FROM pf p JOIN truth t ON t.candidat_id = p.record_id
        JOIN sf s ON s.record_id = t.person_id AND s.nir = p.nir
        JOIN sf other ON other.record_id <> s.record_id AND other.nir_valid
             AND other.nir_consistency = 'consistent'
             AND other.birth_year <> p.birth_year AND other.birth_name <> p.birth_name
        WHERE p.nir_consistency = 'consistent'
        ORDER BY p.record_id, other.record_id LIMIT 1""").fetchall()[0]


@pytest.mark.parametrize("consistency", ["inconsistent", "consistent"])
def test_someone_elses_nir_is_not_an_exact_link(linkage_data, consistency):
    """A candidate carrying another person's valid NIR is never linked to that person by the
    exact stage: flagged inconsistent, it is not trusted; declared consistent (the traits check
    of its own record missed it), the pair's traits disagree and it is set aside for review."""
    con = duckdb.connect()
    load_features(con, linkage_data)
    cand, _, other_nir, other_person = _one_stage1_pair(con)
    con.execute("UPDATE pf SET nir = ?, nir_consistency = ? WHERE record_id = ?",
                [other_nir, consistency, cand])
    link(con.table("pf"), con.table("sf"), con=con, keep_tables=True)
    wrong = con.execute("SELECT count(*) FROM links WHERE candidat_id = ? AND person_id = ? "
                        "AND method = 'pivot_exact'", [cand, other_person]).fetchall()[0][0]
    assert wrong == 0
    if consistency == "consistent":
        reason = con.execute("SELECT reason FROM set_aside WHERE candidat_id = ? AND person_id = ?",
                             [cand, other_person]).fetchall()
        assert reason == [("exact_key_traits_disagree",)]


def test_shared_key_is_ambiguous_not_linked(linkage_data):
    con = duckdb.connect()
    load_features(con, linkage_data)
    cand, person, _, other_person = _one_stage1_pair(con)
    nir = con.execute("SELECT nir FROM sf WHERE record_id = ?", [person]).fetchall()[0][0]
    con.execute("UPDATE sf SET nir = ? WHERE record_id = ?", [nir, other_person])
    link(con.table("pf"), con.table("sf"), con=con, keep_tables=True)
    reasons = con.execute("SELECT DISTINCT reason FROM set_aside WHERE candidat_id = ?",
                          [cand]).fetchall()
    assert ("exact_key_ambiguous",) in reasons
    method = con.execute("SELECT method FROM links WHERE candidat_id = ? AND decision = 'match'",
                         [cand]).fetchall()
    assert method in ([], [("probabilistic",)])


def test_duplicate_record_ids_are_refused(linkage_data):
    con = duckdb.connect()
    load_features(con, linkage_data)
    con.execute("INSERT INTO pf SELECT * FROM pf LIMIT 1")
    with pytest.raises(LinkageError, match="1 duplicated or null record_id"):
        link(con.table("pf"), con.table("sf"), con=con)


def test_config_is_validated_early():
    with pytest.raises(ConfigError, match="review <= match"):
        Thresholds(match=0.5, review=0.9)
    with pytest.raises(ConfigError, match="assignment must be one of"):
        LinkageConfig(assignment="greedy")
    with pytest.raises(ConfigError, match="unknown blocking rule"):
        LinkageConfig(blocking_rules=("dob", "soundex"))
    with pytest.raises(ConfigError, match="trusted_consistency"):
        LinkageConfig(trusted_consistency=("consistent", "maybe"))
    assert Linkage().config.assignment == "one_to_one"


def test_user_comparisons_replace_the_defaults(linkage_data):
    """A user-built comparison set (here: the defaults minus residence, birth date made exact
    only) is trained by the cascade and is what the links are explained with."""
    import splink.comparison_library as cl

    from appariement.linkage import LinkageModel
    from appariement.linkage.comparisons import (birth_place_comparison, first_name_comparison,
                                                 sex_comparison, surname_comparison)

    con = duckdb.connect()
    load_features(con, linkage_data)
    comparisons = [surname_comparison(), first_name_comparison(), sex_comparison(),
                   birth_place_comparison(), cl.ExactMatch("birth_date")]
    model = LinkageModel(comparisons=comparisons, u_max_pairs=2e5)
    result = Linkage(LinkageConfig(), con=con, model=model).run(con.table("pf"), con.table("sf"),
                                                                keep_tables=True)
    names = [c["output_column_name"] for c in result.model.settings_["comparisons"]]
    assert names == ["surname", "first_name", "sex", "birth_place", "birth_date"]
    why = con.execute("SELECT why FROM links LIMIT 1").fetchall()[0][0]
    assert "residence" not in why
    _, _, f1 = precision_recall(con)
    assert f1 > 0.95


def test_large_file_rules_keep_quality_with_fewer_pairs(linkage_data):
    from appariement.blocking import LARGE_FILE_RULES
    from appariement.commands.link import _rules

    assert _rules("large") == LARGE_FILE_RULES and _rules("dob, inverted") == ("dob", "inverted")
    con = duckdb.connect()
    load_features(con, linkage_data)
    default = link(con.table("pf"), con.table("sf"), con=con, key_column=None, keep_tables=True)
    n_default = default.counts["blocking_pairs_stage2"]
    large = link(con.table("pf"), con.table("sf"), con=con, key_column=None,
                 blocking_rules=LARGE_FILE_RULES, keep_tables=True)
    # fewer pairs even at 1,500 x 15,000; the saving grows with the square of the file size
    assert large.counts["blocking_pairs_stage2"] < n_default
    _, _, f1 = precision_recall(con)
    assert f1 >= TRAITS_F1_FLOOR


def test_training_labels_do_not_require_nir_consistency(cascade):
    """m is estimated on every unambiguous valid-NIR pair whose traits do not contradict it,
    consistent or not (the consistency check selects on birth year and month, which would bias
    the birth-date levels); only consistent pairs become exact links."""
    con, result = cascade
    n_labels, n_untrusted = con.execute(f"""
        SELECT count(*), count(*) FILTER (WHERE p.nir_consistency NOT IN ('consistent',
                                                                          'unverifiable')
                                          OR s.nir_consistency NOT IN ('consistent',
                                                                       'unverifiable'))
        FROM {result.training_labels.alias} l JOIN pf p ON p.record_id = l.record_id_l
        JOIN sf s ON s.record_id = l.record_id_r""").fetchall()[0]
    assert n_labels == result.counts["training_labels"]
    assert n_untrusted > 0 and n_labels > result.counts["stage1_links"]
    exact_untrusted = con.execute("""
        SELECT count(*) FROM links l JOIN pf p ON p.record_id = l.candidat_id
        WHERE l.method = 'pivot_exact' AND p.nir_consistency = 'inconsistent'""").fetchall()[0][0]
    assert exact_untrusted == 0
    m_step = [s for s in result.model.training_log_ if s["step"] == "m"]
    assert m_step and m_step[0]["n_pairs"] == n_labels


def test_em_auto_runs_only_without_enough_labels(linkage_data, monkeypatch):
    from appariement.linkage import model as model_module
    con = duckdb.connect()
    load_features(con, linkage_data)
    labels = con.sql("SELECT candidat_id AS record_id_l, person_id AS record_id_r FROM truth "
                     "ORDER BY 1 LIMIT 300")

    def em_steps(**kwargs):
        from appariement.linkage import LinkageModel
        fitted = LinkageModel(u_max_pairs=1e5, **kwargs).fit(con.table("pf"), con.table("sf"),
                                                            labels=labels, con=con)
        return [s.get("status") for s in fitted.training_log_ if s["step"] == "em"]

    assert em_steps() == ["ok", "ok", "ok"]            # 300 labels < 1,000: EM runs
    assert em_steps(em=False) == []
    monkeypatch.setattr(model_module, "MIN_LABELS_WITHOUT_EM", 300)
    assert em_steps() == ["not run"]
    assert em_steps(em=True) == ["ok", "ok", "ok"]
    with pytest.raises(ConfigError, match="em must be"):
        model_module.LinkageModel(em="sometimes")


def test_on_disk_database_keeps_only_the_outputs(linkage_data, cascade, tmp_path):
    """DataFrame inputs work with a database file, and the run leaves its outputs there — no
    working view or table of the library's or Splink's, which would fill the user's file."""
    import pyarrow.parquet as pq

    path = tmp_path / "linkage.duckdb"
    con = duckdb.connect(str(path))
    platform = pq.read_table(linkage_data["platform"]).to_pandas()  # Python objects
    result = link(platform, linkage_data["source"], con=con, keep_tables=True)
    _, in_memory = cascade
    assert result.counts["links_match"] == in_memory.counts["links_match"]
    con.close()
    con = duckdb.connect(str(path), read_only=True)
    tables = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    views = con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    assert tables == {"links", "pairs", "set_aside", "unlinked_platform", "unlinked_source"}
    assert views == []
    assert con.execute("SELECT count(*) FROM links WHERE decision = 'match'").fetchall()[0][0] \
        == result.counts["links_match"]


def test_by_default_nothing_is_written_into_the_database(linkage_data, cascade, tmp_path):
    """Without keep_tables the result's tables are session-only, with fresh names: a database
    file keeps no table of the run, and a table named ``links`` of the caller's is untouched."""
    path = tmp_path / "mine.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE links AS SELECT 'mine' AS owner")
    result = link(linkage_data["platform"], linkage_data["source"], con=con)
    _, in_memory = cascade
    assert result.links.filter("decision = 'match'").count("*").fetchall()[0][0] \
        == result.counts["links_match"] == in_memory.counts["links_match"]
    assert con.execute("SELECT owner FROM main.links").fetchall() == [("mine",)]
    result.drop()
    con.close()
    con = duckdb.connect(str(path), read_only=True)
    tables = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert tables == {"links"}
