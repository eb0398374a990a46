import pandas as pd
from hypothesis import given, settings, strategies as st

from appariement.evaluation.disclosure import suppress

counts = st.integers(min_value=0, max_value=40)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 6), st.integers(1, 3), st.data(), st.integers(2, 15))
def test_no_small_cell_and_no_recomputable_cell(n_rows, n_parts, data, threshold):
    parts = {f"c{j}": data.draw(st.lists(counts, min_size=n_rows, max_size=n_rows))
             for j in range(n_parts)}
    table = pd.DataFrame(parts)
    table["total"] = table.sum(axis=1)
    cols = ["total", *parts]
    out = suppress(table, cols, threshold, row_groups=[("total", list(parts))])
    pub = out.table
    for c in cols:
        for v in pub[c]:
            assert v is None or v == 0 or v >= threshold
    # each line with a published total: never exactly one hidden cell
    for i in range(n_rows):
        assert sum(pub.loc[i, c] is None for c in cols) != 1
    for c in cols:
        hidden = sum(v is None for v in pub[c])
        assert hidden != 1 or c in out.unsafe_totals


def test_rates_follow_their_counts_and_rule_is_stated():
    t = pd.DataFrame({"n": [100, 30], "k": [95, 5], "rate": [0.95, 5 / 30]})
    out = suppress(t, ["n", "k"], rate_columns={"rate": ("k", "n")})
    assert out.table["k"].tolist() == [None, None]
    assert out.table["rate"].tolist() == [None, None]
    assert "11" in out.rule and "Secondary" in out.rule


def test_rounding_never_publishes_a_small_value():
    t = pd.DataFrame({"n": [11, 12, 200]})
    out = suppress(t, ["n"], 11, rounding=5)
    assert out.table["n"].tolist()[2] == 200
    assert all(v is None or v >= 11 for v in out.table["n"])
