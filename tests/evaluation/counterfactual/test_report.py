"""`appariement counterfactual`: outputs written, estimand stated, small counts suppressed."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq

from appariement.cli import main


def test_counterfactual_command_writes_every_output(tmp_path, capsys):
    from appariement.synth import write_synthetic
    data = write_synthetic(tmp_path / "data", n_candidates=600, seed=8, source_ratio=2)
    (tmp_path / "links").mkdir()
    pq.write_table(data.truth["links"], tmp_path / "links" / "links.parquet")
    out = tmp_path / "cf"
    code = main(["--quiet", "counterfactual", "--platform", str(tmp_path / "data" / "platform"),
                 "--source", str(tmp_path / "data" / "source"), "--links",
                 str(tmp_path / "links"), "--out", str(out), "--outcomes", "employed_12m",
                 "--n-boot", "20", "--thresholds", "0.5", "--comparison-classes", "all"])
    assert code == 0
    assert {p.name for p in out.iterdir()} >= {"evaluation.parquet", "codebook.json",
                                              "codebook.md", "counterfactual.json",
                                              "counterfactual.html"}
    result = json.loads((out / "counterfactual.json").read_text())
    assert result["design"]["later_hires"] == "censor"          # the command's default
    assert "versus never being hired" in result["estimand"]
    html = (out / "counterfactual.html").read_text()
    # the page is in French by default (--language en for English); the JSON keeps English
    assert "face à l&#x27;absence d&#x27;embauche" in html and "Abadie" in html
    est = pd.DataFrame(result["estimates"])
    assert {"se_ai", "ci_low_ai", "ci_high_ai"} <= set(est.columns)
    ipw = est[(est.method == "ipw")].iloc[0]
    assert ipw["ci_low"] < ipw["estimate"] < ipw["ci_high"] and ipw["n_boot"] == 20
    # every published count is either suppressed (None) or at least the threshold
    for table in ("arms_and_linkage", "exclusions"):
        for row in result[table]:
            for k, v in row.items():
                if k != "arm" and k != "reason" and v is not None:
                    assert v == 0 or v >= 11, (table, row)
    book = json.loads((out / "codebook.json").read_text())
    dataset = pq.read_table(out / "evaluation.parquet")
    assert {c["column"] for c in book} == set(dataset.column_names)
    assert "employed_12m" in capsys.readouterr().out
