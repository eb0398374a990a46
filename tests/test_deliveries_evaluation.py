"""Deliveries: the evaluation dataset grows (new trials, outcomes newly observed), earlier trials
keep their values but for what the newer extract itself says."""

from __future__ import annotations

import json
import re

import pyarrow.parquet as pq

from appariement.config import config_from_dict
from appariement.deliveries import run_delivery
from appariement.synth.deliveries import write_deliveries

#: what a later extract may legitimately change in an earlier trial: the hire and processing of
#: a candidature pending at the previous extraction, and outcomes observed over a longer
#: follow-up (a spell then open has ended since)
_MAY_CHANGE = re.compile(r"^(arm|treated|etat_t0|motif_refus_t0|refusal_class_t0|"
                         r"exclusion_reason|ever_hired|hire_date|days_to_hire|later_hire_date|"
                         r"(hired_later_by|observed|employed|employed_excl_iae|durable|"
                         r"months_employed|earnings)_\d+m)$")


def test_the_evaluation_dataset_grows_and_earlier_trials_keep_their_covariates(tmp_path):
    series = write_deliveries(tmp_path / "data", 2, n_candidates=200, seed=4, source_ratio=2)
    for d in series.deliveries:
        run_delivery(config_from_dict({
            "project": {"name": "grow", "as_of": d.source_date.isoformat()},
            "inputs": {"platform": f"data/{d.name}/platform", "source": f"data/{d.name}/source"},
            "backend": {"threads": 1}, "quality": {"enabled": False},
            "counterfactual": {"n_boot": 0, "outcomes": ["employed_12m"],
                               "sensitivity_thresholds": [0.5]},
            "outputs": {"dir": "results"}, "delivery": {"name": d.name}}, base_dir=tmp_path),
            progress=False)
    folder = tmp_path / "results" / "deliveries"
    before = pq.read_table(folder / "d1" / "counterfactual" / "evaluation.parquet")
    after = pq.read_table(folder / "d2" / "counterfactual" / "evaluation.parquet")
    growth = json.loads((folder / "d2" / "evaluation_growth.json").read_text())
    assert growth["earlier_trials"] == before.num_rows and growth["missing_trials"] == 0
    assert growth["new_trials"] == after.num_rows - before.num_rows > 0
    new_candidates = (series.deliveries[1].platform["candidats"].num_rows
                      - series.deliveries[0].platform["candidats"].num_rows)
    assert growth["new_trials"] <= new_candidates
    unexpected = [c for c in growth["changed_columns"] if not _MAY_CHANGE.match(c)]
    assert not unexpected, unexpected
    assert growth["outcomes_filled"] + growth["values_changed"] > 0  # the follow-up is longer
