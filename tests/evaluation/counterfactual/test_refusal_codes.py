"""Refusal codes given by the user reach the SQL as escaped literals, never pasted."""

from __future__ import annotations

import datetime as dt

from appariement.evaluation.counterfactual import CounterfactualDesign

from .test_dataset_estimators import _build

D = dt.date


def test_a_refusal_code_with_a_quote_is_classed_not_parsed():
    code = "refus d'ordre économique"
    apps = [("a1", "p1", D(2022, 3, 1), "accepted", None, D(2022, 4, 10), "sB"),
            ("a2", "p2", D(2022, 3, 1), "refused", code, None, "sA"),
            ("a3", "p4", D(2022, 6, 1), "refused", "x'); DROP TABLE t; --", None, "sA")]
    design = CounterfactualDesign(comparison_classes=None, study_start=D(2022, 1, 1),
                                  follow_up_end=D(2025, 12, 31),
                                  refusal_classes={code: "employer_side",
                                                   "x'); DROP TABLE t; --": "person_side"})
    _, df = _build(design, apps=apps)
    assert df.loc["p2", "refusal_class_t0"] == "employer_side"
    assert df.loc["p4", "refusal_class_t0"] == "person_side"
