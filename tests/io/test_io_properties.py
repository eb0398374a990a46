"""Property: random small extracts with injected faults are never silently truncated."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appariement.errors import (InputError, InvalidValueError, KeyUniquenessError,
                                ReferentialIntegrityError)
from appariement.io import RejectPolicy, load_tables, validate_tables

AS_OF = "2025-06-30"
FAULT_CLASS = {
    "duplicate_candidat": KeyUniquenessError,
    "duplicate_candidature": KeyUniquenessError,
    "orphan_candidat": ReferentialIntegrityError,
    "orphan_structure": ReferentialIntegrityError,
    "date_too_early": InvalidValueError,
    "date_in_future": InvalidValueError,
    "date_uncastable": InvalidValueError,
    "etat_unknown": InvalidValueError,
    "nom_null": InvalidValueError,
}


@st.composite
def extracts(draw):
    n_cand = draw(st.integers(1, 6))
    n_struct = draw(st.integers(1, 3))
    n_app = draw(st.integers(1, 8))
    candidats = pd.DataFrame({
        "candidat_id": [f"c{i}" for i in range(n_cand)],
        "nom": [f"N{i}" for i in range(n_cand)], "prenoms": ["P"] * n_cand,
        "date_inscription": ["2020-01-01"] * n_cand})
    structures = pd.DataFrame({"structure_id": [f"s{i}" for i in range(n_struct)],
                               "type": ["ACI"] * n_struct})
    candidatures = pd.DataFrame({
        "candidature_id": [f"k{i}" for i in range(n_app)],
        "candidat_id": [f"c{draw(st.integers(0, n_cand - 1))}" for _ in range(n_app)],
        "structure_id": [f"s{draw(st.integers(0, n_struct - 1))}" for _ in range(n_app)],
        "date_candidature": draw(st.lists(st.sampled_from(["2021-03-04", "04/03/2021",
                                                           "2024-12-31"]),
                                          min_size=n_app, max_size=n_app)),
        "etat": draw(st.lists(st.sampled_from(["new", "Accepted", " refused "]),
                              min_size=n_app, max_size=n_app))})
    faults = draw(st.lists(st.tuples(st.sampled_from(sorted(FAULT_CLASS)), st.integers(0, 99)),
                           max_size=4))
    for kind, i in faults:
        c, a = i % n_cand, i % n_app
        if kind == "duplicate_candidat":
            candidats = pd.concat([candidats, candidats.iloc[[c]]], ignore_index=True)
        elif kind == "duplicate_candidature":
            candidatures = pd.concat([candidatures, candidatures.iloc[[a]]], ignore_index=True)
        elif kind == "orphan_candidat":
            candidatures.loc[a, "candidat_id"] = f"missing{i}"
        elif kind == "orphan_structure":
            candidatures.loc[a, "structure_id"] = f"missing{i}"
        elif kind == "date_too_early":
            candidatures.loc[a, "date_candidature"] = "2012-06-01"
        elif kind == "date_in_future":
            candidatures.loc[a, "date_candidature"] = "2031-01-01"
        elif kind == "date_uncastable":
            candidatures.loc[a, "date_candidature"] = "32/01/2021"
        elif kind == "etat_unknown":
            candidatures.loc[a, "etat"] = "embauchée"
        else:
            candidats.loc[c, "nom"] = None
    frames = {"candidats": candidats, "structures": structures, "candidatures": candidatures}
    return frames, {kind for kind, _ in faults}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(extracts())
def test_set_aside_keeps_every_row_accounted_for_and_raise_picks_the_right_error(extract):
    frames, kinds = extract
    con = duckdb.connect()
    try:
        ds = load_tables(con, frames, rejects=RejectPolicy.SET_ASIDE, as_of=AS_OF)
        for name, df in frames.items():
            counts = ds.counts[name]
            assert counts["read"] == len(df) == counts["kept"] + counts["rejected"]
            rejected_rows = {r for t, _, r, *_ in ds.rejects.fetchall() if t == name}
            assert len(rejected_rows) == counts["rejected"]
        # what is kept is clean: checking it again finds nothing (cascades were applied)
        assert validate_tables(con, ds.tables, as_of=AS_OF) == []
        if not kinds:
            assert ds.problems == [] and ds.rejects.fetchall() == []
            return
        assert ds.problems, f"faults {kinds} were not detected"
        with pytest.raises(InputError) as info:
            load_tables(con, frames, rejects=RejectPolicy.RAISE, as_of=AS_OF)
        assert type(info.value) in {FAULT_CLASS[k] for k in kinds}
        assert type(info.value) is ds.problems[0].error_class
        assert info.value.n_rows >= 1 and info.value.examples
    finally:
        con.close()
