"""Blocking rules: exact pair counts, budget check, rule choice, recall on labelled pairs."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from appariement.blocking import (FRENCH_RULES, analyse_blocking, check_budget, choose_rules,
                                  count_pairs, get_rules, rule)
from appariement.errors import BlockingBudgetError, ConfigError

values = st.sampled_from(["A", "B", "C", None])
years = st.sampled_from([1980, 1981, None])
rows = st.lists(st.tuples(values, years), min_size=0, max_size=25)


def _frame(data, prefix):
    return pd.DataFrame({"record_id": [f"{prefix}{i}" for i in range(len(data))],
                         "birth_name": [d[0] for d in data],
                         "usage_name": [d[0] for d in data],
                         "birth_year": pd.array([d[1] for d in data], dtype="Int64")})


@settings(max_examples=60, deadline=None)
@given(rows, rows)
def test_count_pairs_equals_brute_force(left, right):
    con = duckdb.connect()
    r = rule("name_yob", "birth_name", "birth_year")
    expected = sum(1 for a in left for b in right
                   if a[0] is not None and a[1] is not None and a == b)
    assert count_pairs(con, _frame(left, "l"), _frame(right, "r"), r) == expected


@settings(max_examples=30, deadline=None)
@given(rows, rows)
def test_cumulative_pairs_count_each_pair_once(left, right):
    con = duckdb.connect()
    rules = [rule("name", "birth_name"), rule("yob", "birth_year")]
    report = analyse_blocking(con, _frame(left, "l"), _frame(right, "r"), rules)
    expected = sum(1 for a in left for b in right
                   if (a[0] is not None and a[0] == b[0]) or (a[1] is not None and a[1] == b[1]))
    assert report.total_pairs == expected


def test_recall_on_labels_and_budget():
    con = duckdb.connect()
    left = _frame([("A", 1980), ("B", 1981), ("C", 1980)], "l")
    right = _frame([("A", 1980), ("B", 1980), ("X", 1980)], "r")
    labels = pd.DataFrame({"record_id_l": ["l0", "l1", "l2"], "record_id_r": ["r0", "r1", "r2"]})
    report = analyse_blocking(con, left, right, [rule("name", "birth_name"), rule("yob", "birth_year")],
                              labels=labels)
    # name keeps l0-r0 and l1-r1; year adds l2-r2 (1980 = 1980)
    assert report.table.column("cumulative_recall").to_pylist() == [2 / 3, 1.0]
    assert report.recall == 1.0
    with pytest.raises(BlockingBudgetError, match="over the budget of 3"):
        check_budget(con, left, right, [rule("yob", "birth_year")], budget=3)
    assert check_budget(con, left, right, [rule("name", "birth_name")], budget=3) == 2
    # the same check inside the analysis: same error, or the same report as without it
    with pytest.raises(BlockingBudgetError, match="over the budget of 3"):
        analyse_blocking(con, left, right, [rule("yob", "birth_year")], budget=3)
    checked = analyse_blocking(con, left, right, [rule("name", "birth_name"),
                                                  rule("yob", "birth_year")],
                               labels=labels, budget=100)
    assert checked.table.equals(report.table)


def test_choose_rules_respects_budget_and_prefers_recall():
    con = duckdb.connect()
    left = _frame([("A", 1980), ("B", 1981), ("C", 1980)], "l")
    right = _frame([("A", 1980), ("B", 1980), ("X", 1980)], "r")
    labels = pd.DataFrame({"record_id_l": ["l0", "l1", "l2"], "record_id_r": ["r0", "r1", "r2"]})
    chosen = choose_rules(con, left, right, [rule("yob", "birth_year"), rule("name", "birth_name")],
                          budget=3, labels=labels)
    # yob alone would cost 6 pairs (> budget); name costs 2 and finds 2 of 3
    assert [r.name for r in chosen] == ["name"]


def test_unknown_rule_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown blocking rule 'nope'"):
        get_rules(["dob", "nope"])
    assert all(r.sql.startswith("l.") for r in FRENCH_RULES.values())


def test_recall_on_labels_outside_the_counted_pools():
    con = duckdb.connect()
    full_l = _frame([("A", 1980), ("B", 1981), ("C", 1980)], "l")
    full_r = _frame([("A", 1980), ("B", 1980), ("X", 1980)], "r")
    labels = pd.DataFrame({"record_id_l": ["l0", "l1"], "record_id_r": ["r0", "r1"]})
    # the pools exclude the labelled records; pairs are counted there, recall on the full tables
    report = analyse_blocking(con, full_l.iloc[2:], full_r.iloc[2:], [rule("name", "birth_name")],
                              labels=labels, labels_left=full_l, labels_right=full_r)
    assert report.total_pairs == 0
    assert report.recall == 1.0


def test_marginal_counts_agree_whether_pairs_are_formed_at_once_in_slices_or_rule_by_rule(
        monkeypatch):
    from appariement.blocking import analysis
    con = duckdb.connect()
    left = _frame([("A", 1980), ("B", 1981), ("C", 1980), ("A", 1981)], "l")
    right = _frame([("A", 1980), ("B", 1980), ("X", 1980), ("A", 1981)], "r")
    rules = [rule("name", "birth_name"), rule("yob", "birth_year"),
             rule("name_yob", "birth_name", "birth_year")]
    at_once = analyse_blocking(con, left, right, rules).table
    monkeypatch.setattr(analysis, "_PAIRS_AT_ONCE", 2)  # 15 pairs: 8 slices of the left side
    sliced = analyse_blocking(con, left, right, rules).table
    assert at_once.equals(sliced)
    lv, rv = analysis._view(con, left, "l"), analysis._view(con, right, "r")
    rule_by_rule = [analysis._marginal_count(con, lv, rv, r, rules[:k])
                    for k, r in enumerate(rules)]
    assert at_once.column("marginal_pairs").to_pylist() == rule_by_rule
    # name: A (2 x 2) + B (1 x 1) = 5; year: 1980 (2 x 3) + 1981 (2 x 1) = 8, of which 6 do
    # not share the name; name + year: a subset, nothing new
    assert at_once.column("pairs").to_pylist() == [5, 8, 2]
    assert at_once.column("marginal_pairs").to_pylist() == [5, 6, 0]
    assert at_once.column("cumulative_pairs").to_pylist() == [5, 11, 11]
