"""Quarterly deliveries: frozen model, only what changed scored, stable links, explained diff."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from appariement.cli import main
from appariement.config import config_from_dict
from appariement.deliveries import plan_delivery, read_series, run_delivery
from appariement.errors import ConfigError, DeliveryError
from appariement.linkage.incremental import CHANGES, REASONS
from appariement.synth.deliveries import write_deliveries

_LINK_TABLES = ("links", "unlinked_platform", "unlinked_source", "set_aside", "pairs",
                "delivery_diff", "fingerprints_platform", "fingerprints_source")


def _config(root: Path, d, outputs: str = "results", **sections):
    data = {"project": {"name": "dtest", "as_of": d.source_date.isoformat()},
            "inputs": {"platform": f"data/{d.name}/platform", "source": f"data/{d.name}/source"},
            "backend": {"threads": 1}, "quality": {"enabled": False},
            "counterfactual": {"enabled": False}, "outputs": {"dir": outputs},
            "delivery": {"name": d.name}}
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return config_from_dict(data, base_dir=root)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Three deliveries run in order; a copy of the outputs taken after the second."""
    root = tmp_path_factory.mktemp("deliveries")
    series = write_deliveries(root / "data", 3, n_candidates=150, seed=11, source_ratio=2,
                              change_rate=0.06)
    d1, d2, d3 = series.deliveries
    run_delivery(_config(root, d1), progress=False)
    run_delivery(_config(root, d2), progress=False)
    shutil.copytree(root / "results", root / "after_d2")
    run_delivery(_config(root, d3), progress=False)
    return root, series


def _link(root: Path, name: str, outputs: str = "results") -> Path:
    return root / outputs / "deliveries" / name / "link"


def _rows(path: Path, key: str) -> dict:
    return {r[key]: r for r in pq.read_table(path).to_pylist()}


def test_first_delivery_freezes_the_model_and_later_ones_reuse_it(project):
    root, series = project
    model = (_link(root, "d1") / "model.json").read_bytes()
    for name in ("d2", "d3"):
        assert (_link(root, name) / "model.json").read_bytes() == model
        info = json.loads((_link(root, name) / "delivery.json").read_text())
        assert info["previous"] == {"d2": "d1", "d3": "d2"}[name]
        assert info["project"] == "dtest" and not info["retrained"]
    assert [e["name"] for e in read_series(_config(root, series.deliveries[0]))] == \
        ["d1", "d2", "d3"]
    # every delivery's outputs in its own folder, a full run's layout
    for name in ("d1", "d2", "d3"):
        folder = root / "results" / "deliveries" / name
        assert (folder / "manifest.json").is_file()
        assert {"inputs", "standardise", "pivot", "link"} <= {p.name for p in folder.iterdir()}


def test_unchanged_records_keep_their_links_byte_for_byte(project):
    root, _ = project
    for before, after in (("d1", "d2"), ("d2", "d3")):
        fp_old = {**_rows(_link(root, before) / "fingerprints_platform.parquet", "record_id")}
        fp_new = _rows(_link(root, after) / "fingerprints_platform.parquet", "record_id")
        sp_old = _rows(_link(root, before) / "fingerprints_source.parquet", "record_id")
        sp_new = _rows(_link(root, after) / "fingerprints_source.parquet", "record_id")
        old = _rows(_link(root, before) / "links.parquet", "candidat_id")
        new = _rows(_link(root, after) / "links.parquet", "candidat_id")
        checked = 0
        for cid, row in old.items():
            same_c = cid in fp_new and fp_new[cid]["fingerprint"] == fp_old[cid]["fingerprint"]
            pid = row["person_id"]
            same_p = pid in sp_new and sp_new[pid]["fingerprint"] == sp_old[pid]["fingerprint"]
            if same_c and same_p and row["decision"] == "match":
                assert new[cid] == row
                checked += 1
        assert checked > 0.8 * len(old)


def test_only_new_or_changed_records_are_scored(project):
    root, series = project
    for name in ("d2", "d3"):
        counts = json.loads((_link(root, name) / "linkage_counts.json").read_text())["counts"]
        changed = counts.get("platform_new", 0) + counts.get("platform_changed", 0)
        assert changed > 0
        # pass A: the new and changed candidates, plus those whose person changed
        assert changed <= counts["pass_a_platform"] < 0.5 * counts["platform_records"]
        # pass B: only the new and changed source persons
        assert counts.get("pass_b_source", 0) <= \
            counts.get("source_new", 0) + counts.get("source_changed", 0)
        assert counts["links_kept"] + counts["pass_a_platform"] >= counts["links_match"] - \
            counts.get("pass_b_platform", 0)
    # a planted identity change makes its candidate 'changed'
    d2 = series.deliveries[1]
    status = {r["candidat_id"]: r for r in pq.read_table(
        _link(root, "d2") / "delivery_diff.parquet").to_pylist()}
    fp1 = _rows(_link(root, "d1") / "fingerprints_platform.parquet", "record_id")
    fp2 = _rows(_link(root, "d2") / "fingerprints_platform.parquet", "record_id")
    planted = [c["record_id"] for c in d2.truth["changes"].to_pylist()
               if c["kind"] != "source_moved"]
    assert planted
    assert all(fp1[c]["fingerprint"] != fp2[c]["fingerprint"] for c in planted)
    for cid, row in status.items():
        if row["reason"] == "new_candidate":
            assert cid not in fp1


def test_diff_explains_every_change_and_the_summary_is_disclosure_controlled(project):
    root, _ = project
    for name in ("d2", "d3"):
        diff = pq.read_table(_link(root, name) / "delivery_diff.parquet").to_pylist()
        old = _rows(_link(root, {"d2": "d1", "d3": "d2"}[name]) / "links.parquet", "candidat_id")
        new = _rows(_link(root, name) / "links.parquet", "candidat_id")
        expected = {c for c in set(old) | set(new)
                    if (old.get(c) or {}).get("person_id") != (new.get(c) or {}).get("person_id")
                    or (old.get(c) or {}).get("decision") != (new.get(c) or {}).get("decision")}
        assert {r["candidat_id"] for r in diff} == expected
        assert all(r["change"] in CHANGES and r["reason"] in REASONS
                   and r["reason"] != "unexplained" for r in diff)
        summary = json.loads((_link(root, name) / "delivery_summary.json").read_text())
        text = json.dumps(summary)
        assert "C0" not in text and "P0" not in text  # no record id leaves the enclave
        for row in summary["rows"]:
            assert row["n"] is None or row["n"] >= 11
        published = sum(r["n"] or 0 for r in summary["rows"])
        assert published <= len(diff)
        check = json.loads((root / "results" / "deliveries" / name /
                            "output_check.json").read_text())
        assert "delivery/changes" in json.dumps(check)


def test_union_of_deliveries_matches_a_full_run(project):
    root, series = project
    from appariement.linkage import Linkage

    d3 = series.deliveries[2]
    cfg = _config(root, d3)
    con = duckdb.connect()
    pivot = root / "results" / "deliveries" / "d3" / "pivot"
    pf = con.read_parquet(str(pivot / "features_platform.parquet"))
    sf = con.read_parquet(str(pivot / "features_source.parquet"))
    full = Linkage(cfg.linkage_config("nir"), con=con).run(pf, sf)
    truth = {(r["candidat_id"], r["person_id"]) for r in d3.truth["links"].to_pylist()}

    def f1(pairs):
        tp = len(pairs & truth)
        return 2 * tp / (len(pairs) + len(truth))

    full_pairs = set(full.links.filter("decision = 'match'")
                     .project("candidat_id, person_id").fetchall())
    delivered = {(r["candidat_id"], r["person_id"]) for r in pq.read_table(
        _link(root, "d3") / "links.parquet").to_pylist() if r["decision"] == "match"}
    assert f1(delivered) > 0.9
    assert abs(f1(delivered) - f1(full_pairs)) <= 0.01


def test_rerunning_the_last_delivery_changes_nothing(project):
    root, series = project
    before = {n: (_link(root, "d3") / f"{n}.parquet").read_bytes() for n in _LINK_TABLES}
    marker = (_link(root, "d3") / "_SUCCESS.json").read_bytes()
    manifest = run_delivery(_config(root, series.deliveries[2]), progress=False)
    assert manifest.counts["link"]["links_match"] > 0
    assert (_link(root, "d3") / "_SUCCESS.json").read_bytes() == marker
    assert before == {n: (_link(root, "d3") / f"{n}.parquet").read_bytes()
                      for n in _LINK_TABLES}


def test_an_interrupted_delivery_resumes_and_gives_the_same_files(project, monkeypatch):
    root, series = project
    d3 = series.deliveries[2]
    import appariement.linkage.incremental as incremental

    real = incremental.link_incremental

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(incremental, "link_incremental", interrupted)
    shutil.copytree(root / "after_d2", root / "resume")  # the other tests' copy stays as it is
    cfg = _config(root, d3, outputs="resume")
    with pytest.raises(KeyboardInterrupt):
        run_delivery(cfg, progress=False)
    folder = root / "resume" / "deliveries" / "d3"
    assert (folder / "pivot" / "_SUCCESS.json").is_file()
    assert not (folder / "link").exists()
    assert [e["name"] for e in read_series(cfg)] == ["d1", "d2"]  # not recorded
    pivot_marker = (folder / "pivot" / "_SUCCESS.json").read_bytes()
    monkeypatch.setattr(incremental, "link_incremental", real)
    run_delivery(cfg, progress=False)
    assert (folder / "pivot" / "_SUCCESS.json").read_bytes() == pivot_marker  # not re-run
    for name in _LINK_TABLES:
        assert (folder / "link" / f"{name}.parquet").read_bytes() == \
            (_link(root, "d3") / f"{name}.parquet").read_bytes(), name
    assert [e["name"] for e in read_series(cfg)] == ["d1", "d2", "d3"]
    shutil.rmtree(root / "resume")


def test_retraining_writes_the_drift_check(project, tmp_path):
    root, series = project
    shutil.copytree(root / "after_d2", root / "retrain")
    try:
        cfg = _config(root, series.deliveries[2], outputs="retrain")
        run_delivery(cfg, retrain=True, progress=False)
        link = _link(root, "d3", "retrain")
        drift = json.loads((link / "drift.json").read_text())
        levels = drift["parameters"]["levels"]
        assert levels and all(r["m_frozen"] is not None for r in levels)
        assert drift["match_weight"]["pairs"] > 0
        diff = pq.read_table(link / "delivery_diff.parquet").to_pylist()
        retrained = sum(r["reason"] == "model_retrained" for r in diff)
        assert drift["links"]["changed_for_unchanged_records"] == retrained
        assert str(retrained) in drift["verdict"] or retrained == 0
        assert json.loads((link / "delivery.json").read_text())["retrained"] is True
    finally:
        shutil.rmtree(root / "retrain")


# ------------------------------------------------------------------------------ refusals

def _copy(root: Path, name: str) -> Path:
    shutil.copytree(root / "after_d2", root / name)
    return root / name


def test_a_tampered_or_missing_previous_delivery_is_refused(project):
    root, series = project
    d3 = series.deliveries[2]
    out = _copy(root, "tamper")
    try:
        model = out / "deliveries" / "d2" / "link" / "model.json"
        model.write_bytes(model.read_bytes().replace(b'"m_probability"', b'"m_probability" ', 1))
        with pytest.raises(DeliveryError, match="differ from the SHA-256"):
            plan_delivery(_config(root, d3, outputs="tamper"))
        shutil.rmtree(out / "deliveries" / "d2")
        with pytest.raises(DeliveryError, match="missing or incomplete"):
            plan_delivery(_config(root, d3, outputs="tamper"))
    finally:
        shutil.rmtree(out)


def test_a_delivery_from_another_project_or_other_settings_is_refused(project):
    root, series = project
    d3 = series.deliveries[2]
    out = _copy(root, "foreign")
    try:
        with pytest.raises(DeliveryError, match="another project"):
            plan_delivery(_config(root, d3, outputs="foreign", project={"name": "other"}))
        with pytest.raises(DeliveryError, match="retrain"):
            plan_delivery(_config(root, d3, outputs="foreign",
                                  linkage={"match_threshold": 0.95}))
        # an earlier delivery's link stage swapped in under the last one's name
        d2 = out / "deliveries" / "d2"
        shutil.rmtree(d2)
        shutil.copytree(out / "deliveries" / "d1", d2)
        with pytest.raises(DeliveryError):
            plan_delivery(_config(root, d3, outputs="foreign"))
    finally:
        shutil.rmtree(out)


def test_the_series_has_one_line(project):
    root, series = project
    d1, _, d3 = series.deliveries
    with pytest.raises(DeliveryError, match="followed by"):
        plan_delivery(_config(root, d1))
    with pytest.raises(DeliveryError, match="not a completed delivery"):
        plan_delivery(_config(root, d3, delivery={"name": "d4", "previous": "d9"}))
    with pytest.raises(DeliveryError, match="must follow the last"):
        plan_delivery(_config(root, d3, delivery={"name": "d4", "previous": "d1"}))


def test_delivery_config_is_validated(tmp_path):
    for bad in ({"name": "../up"}, {"name": "x", "previous": "x"}, {"retrain": "yes"},
                {"nom": "x"}):
        with pytest.raises(ConfigError, match="delivery"):
            config_from_dict({"delivery": bad})
    with pytest.raises(ConfigError, match="delivery name"):
        plan_delivery(config_from_dict({"outputs": {"dir": str(tmp_path / "o")}}))
    config = tmp_path / "c.toml"
    config.write_text('[inputs]\nplatform = "p"\nsource = "s"\n', encoding="utf-8")
    assert main(["run", str(config), "--retrain"]) == 2


def test_compare_evaluation_counts_growth_and_separates_explained_changes():
    import pyarrow as pa

    from appariement.deliveries import compare_evaluation

    before = pa.table({"trial_id": ["t1", "t2", "t3"], "candidat_id": ["c1", "c2", "c3"],
                       "arm": ["treated", "control", "control"],
                       "employed_24m": [None, 1.0, None]})
    after = pa.table({"trial_id": ["t1", "t2", "t3", "t4"],
                      "candidat_id": ["c1", "c2", "c3", "c4"],
                      "arm": ["treated", "treated", "control", "control"],
                      "employed_24m": [1.0, 0.0, None, None]})
    growth = compare_evaluation(before, after)
    assert growth["new_trials"] == 1 and growth["missing_trials"] == 0
    assert growth["outcomes_filled"] == 1
    assert growth["values_changed"] == 2
    assert growth["changed_columns"] == {"arm": 1, "employed_24m": 1}
    explained = compare_evaluation(before, after, explained={"c2"})
    assert explained["values_changed"] == 0 and explained["values_changed_explained"] == 2
    assert compare_evaluation(before, before)["values_changed"] == 0


def test_command_line_and_facade(project, tmp_path, capsys):
    from appariement import Project

    root, series = project
    d3 = series.deliveries[2]
    config = root / "d3.toml"
    config.write_text(f'''[project]
name = "dtest"
as_of = "{d3.source_date.isoformat()}"
[inputs]
platform = "data/d3/platform"
source = "data/d3/source"
[backend]
threads = 1
[quality]
enabled = false
[counterfactual]
enabled = false
[outputs]
dir = "results"
''', encoding="utf-8")
    marker = (_link(root, "d3") / "_SUCCESS.json").read_bytes()
    # the last delivery again: every stage up to date, nothing rewritten
    assert main(["-q", "run", str(config), "--delivery", "d3"]) == 0
    assert "deliveries/d3" in capsys.readouterr().out
    assert (_link(root, "d3") / "_SUCCESS.json").read_bytes() == marker
    # an earlier delivery: refused before anything is written (bad input, exit 3)
    assert main(["-q", "run", str(config), "--delivery", "d1"]) == 3
    assert not (root / "results" / "run.log").exists()
    assert Project.from_toml(config).deliveries.series == [
        {"name": "d1", "previous": None, "retrained": False},
        {"name": "d2", "previous": "d1", "retrained": False},
        {"name": "d3", "previous": "d2", "retrained": False}]


def test_an_unchanged_extract_changes_no_link(project):
    root, series = project
    d2 = series.deliveries[1]
    out = _copy(root, "same")
    try:
        cfg = _config(root, d2, outputs="same", delivery={"name": "d2_again"})
        manifest = run_delivery(cfg, progress=False)
        counts = manifest.counts["link"]
        assert counts["pass_a_platform"] == 0 and counts.get("platform_changed", 0) == 0
        link = out / "deliveries" / "d2_again" / "link"
        for name in ("links", "unlinked_platform", "unlinked_source", "pairs", "set_aside"):
            assert pq.read_table(link / f"{name}.parquet").equals(
                pq.read_table(out / "deliveries" / "d2" / "link" / f"{name}.parquet")), name
        assert pq.read_table(link / "delivery_diff.parquet").num_rows == 0
        assert json.loads((link / "delivery_summary.json").read_text())["rows"] == []
    finally:
        shutil.rmtree(out)
