import json

import pandas as pd

from appariement.cli import main


def test_report_command_gold_standard_and_review_round_trip(world, tmp_path):
    world.result.write(tmp_path / "linkage")
    world.data.write(tmp_path / "synth")
    base = ["-q", "report", "--links", str(tmp_path / "linkage"), "--platform",
            str(tmp_path / "synth" / "platform"), "--source", str(tmp_path / "synth" / "source")]
    code = main([*base, "--out", str(tmp_path / "rep"), "--min-cell", "15",
                 "--review-sample", "60"])
    assert code == 0
    figures = json.loads((tmp_path / "rep" / "report.json").read_text(encoding="utf-8"))
    assert figures["disclosure"]["threshold"] == 15
    assert figures["gold_standard"]["recall"] > 0.9
    assert (tmp_path / "rep" / "report.html").stat().st_size > 500_000  # vega inlined
    sample_file = tmp_path / "rep" / "review_sample.csv"
    text = sample_file.read_text(encoding="utf-8")
    nirs = [n for n in world.data.platform["candidats"]["nir"].to_pylist() if n]
    nirs += [n for n in world.data.source["personnes"]["nir"].to_pylist() if n][:5000]
    assert not any(n in text for n in nirs)
    sample = pd.read_csv(sample_file, sep=";", dtype=str)
    assert len(sample) == 60 and "birth_name_platform" in sample.columns
    assert not any("nir" in c for c in sample.columns)
    # reviewers label the pairs (here: same birth year and sex -> match) and hand it back
    same = ((sample.birth_year_platform == sample.birth_year_source)
            & (sample.sex_platform == sample.sex_source))
    sample["label"] = same.map({True: "match", False: "non_match"})
    sample.to_csv(tmp_path / "labelled.csv", sep=";", index=False)
    code = main([*base, "--out", str(tmp_path / "rep2"), "--review-labels",
                 str(tmp_path / "labelled.csv")])
    assert code == 0
    figures = json.loads((tmp_path / "rep2" / "report.json").read_text(encoding="utf-8"))
    assert figures["clerical_review"]["estimates"]["n_labelled"] == 60
    assert "recommended_threshold_review_labels" in figures


def test_report_command_missing_folder_is_a_config_error(tmp_path):
    assert main(["-q", "report", "--links", str(tmp_path / "none"), "--platform",
                 str(tmp_path), "--out", str(tmp_path / "o")]) == 2


def test_review_sample_needs_the_source(tmp_path):
    assert main(["-q", "report", "--links", str(tmp_path), "--platform", str(tmp_path),
                 "--out", str(tmp_path / "o"), "--review-sample", "10"]) == 2
