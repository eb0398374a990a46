"""Rules adapted to the features at hand and fitted to a per-rule pair cap."""

from __future__ import annotations

import duckdb
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from appariement.blocking.analysis import count_pairs, fit_rules_to_budget
from appariement.blocking.rules import (DEFAULT_PREDICTION_RULES, FRENCH_RULES, adapt_rules,
                                        get_rules, key_rule)

_COLUMNS = sorted({c for r in FRENCH_RULES.values() for k in r.keys for c in k})


@settings(max_examples=60, deadline=None)
@given(present=st.sets(st.sampled_from(_COLUMNS)))
def test_adapted_rules_only_join_present_columns(present):
    rules, changes = adapt_rules(DEFAULT_PREDICTION_RULES, present)
    for r in rules:
        assert all(a in present and b in present for a, b in r.keys), r
    assert len({frozenset(r.keys) for r in rules}) == len(rules)  # no duplicates
    changed = {c["rule"].split("-")[0] for c in changes}
    assert changed | {r.name for r in rules} >= set(DEFAULT_PREDICTION_RULES)  # all accounted


def test_adapt_rules_reduces_drops_and_says_so():
    rules, changes = adapt_rules(["md_postcode_sex", "name_city", "dob", "address_only"],
                                 {"birth_month", "birth_day", "birth_year", "sex", "birth_name"})
    assert [r.name for r in rules] == ["md_postcode_sex-postcode", "name_city-residence_city",
                                       "dob"]
    assert {c["rule"]: c["action"] for c in changes} == {
        "md_postcode_sex-postcode": "reduced", "name_city-residence_city": "reduced",
        "address_only": "dropped"}


def test_fit_rules_to_budget_tightens_a_broad_rule_until_it_fits():
    con = duckdb.connect()
    left = pd.DataFrame({"birth_year": [1980] * 20, "sex": ["1", "2"] * 10,
                         "first_name_phon": [f"F{i % 5}" for i in range(20)]})
    right = pd.concat([left] * 5, ignore_index=True)
    broad = get_rules([key_rule("birth_year")])[0]
    assert count_pairs(con, left, right, broad) == 20 * 100
    rules, changes = fit_rules_to_budget(con, left, right, [broad], max_pairs_per_rule=500,
                                         present={"birth_year", "sex", "first_name_phon"})
    assert [r.name for r in rules] == ["key+first_name_phon"]
    assert count_pairs(con, left, right, rules[0]) <= 500
    assert changes[0]["action"] == "tightened"
    # a rule reduced to a single key is held to a twentieth of the cap
    reduced = adapt_rules(["name_city"], {"birth_year", "birth_name"})[0][0]
    assert reduced.keys == (("birth_name", "birth_name"),)
    con.register("l2", pd.DataFrame({"birth_name": ["A"] * 30, "sex": ["1"] * 15 + ["2"] * 15}))
    con.register("r2", pd.DataFrame({"birth_name": ["A"] * 30, "sex": ["1"] * 15 + ["2"] * 15}))
    rules, _ = fit_rules_to_budget(con, con.table("l2"), con.table("r2"), [reduced],
                                   max_pairs_per_rule=10_000, present={"birth_name", "sex"})
    assert [r.name for r in rules] == ["name_city-residence_city+sex"]  # 900 > 500: tightened
    # a rule that cannot fit is dropped, with the reason
    rules, changes = fit_rules_to_budget(con, left, right, [broad], max_pairs_per_rule=10,
                                         present={"birth_year"})
    assert rules == [] and changes[0]["action"] == "dropped"
