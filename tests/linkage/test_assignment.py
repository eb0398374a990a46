"""One-to-one and many-to-one assignment: greedy by weight, ties set aside, conflicts reported."""

from __future__ import annotations

import duckdb
import pandas as pd
from hypothesis import given, settings, strategies as st

from appariement.linkage.assignment import assign

PAIRS = pd.DataFrame({"record_id_l": ["a", "a", "b", "b", "c", "d", "d"],
                      "record_id_r": ["x", "y", "x", "z", "y", "w", "v"],
                      "match_weight": [10.0, 5, 9, 3, 4, 7, 7],
                      "match_probability": [.99, .9, .98, .6, .8, .95, .95]})


def test_one_to_one():
    con = duckdb.connect()
    acc, aside = assign(con, con.from_df(PAIRS))
    assert sorted(acc.project("record_id_l, record_id_r").fetchall()) == [
        ("a", "x"), ("b", "z"), ("c", "y")]
    reasons = dict(((l, r), reason) for l, r, reason in
                   aside.project("record_id_l, record_id_r, reason").fetchall())
    assert reasons[("d", "w")] == reasons[("d", "v")] == "tie"
    assert reasons[("b", "x")] == "conflict_lost"


def test_many_to_one_keeps_each_candidates_best():
    con = duckdb.connect()
    acc, _ = assign(con, con.from_df(PAIRS), mode="many_to_one", prefix="m")
    assert sorted(acc.project("record_id_l, record_id_r").fetchall()) == [
        ("a", "x"), ("b", "x"), ("c", "y")]


weights = st.lists(st.tuples(st.sampled_from("abcde"), st.sampled_from("vwxyz"),
                             st.integers(0, 50)), min_size=1, max_size=20,
                   unique_by=lambda t: (t[0], t[1]))


@settings(max_examples=60, deadline=None)
@given(weights)
def test_one_to_one_invariants(rows):
    con = duckdb.connect()
    df = pd.DataFrame(rows, columns=["record_id_l", "record_id_r", "match_weight"])
    df["match_weight"] = df["match_weight"].astype(float)
    df["match_probability"] = 0.9
    acc, aside = assign(con, con.from_df(df))
    got = acc.project("record_id_l, record_id_r, match_weight").fetchall()
    lefts = [g[0] for g in got]
    rights = [g[1] for g in got]
    assert len(set(lefts)) == len(lefts) and len(set(rights)) == len(rights)
    # nothing lost: every input pair is assigned or set aside with a reason
    n_aside = aside.count("*").fetchall()[0][0]
    assert len(got) + n_aside == len(df)
    # an assigned pair is the heaviest remaining pair of both its records (greedy property):
    # no set-aside pair between two unassigned records outweighs nothing — i.e. any pair whose
    # two records are both unassigned must be a tie
    assigned_l, assigned_r = set(lefts), set(rights)
    for l, r, reason in aside.project("record_id_l, record_id_r, reason").fetchall():
        if l not in assigned_l and r not in assigned_r:
            assert reason == "tie"
