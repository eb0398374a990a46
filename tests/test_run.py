"""``appariement init`` / ``run``: exit codes, dry run, manifest, resume, interruption and
byte-for-byte reproducibility (backend.threads = 1, see the README)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from appariement import pipeline
from appariement.cli import main
from appariement.config import load_config

N = 400
#: the outputs folder of an `init --synthetic` project (beside data/ and keys/)
R = pipeline.DEMO_OUTPUTS


def _make_project(folder: Path, seed: int = 5) -> Path:
    assert main(["--quiet", "init", "--synthetic", "--out", str(folder / "config.toml"),
                 "--candidates", str(N), "--seed", str(seed)]) == 0
    path = folder / "config.toml"
    text = path.read_text(encoding="utf-8")
    # single-threaded DuckDB: bit-for-bit identical floating-point sums (see README)
    text = text.replace("# threads = 4", "threads = 1")
    text = text.replace("[counterfactual]\nenabled = true", "[counterfactual]\nenabled = false")
    path.write_text(text, encoding="utf-8")
    return path


def _copy_project(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for name in ("data", "keys"):
        shutil.copytree(src / name, dst / name)
    shutil.copy2(src / "config.toml", dst / "config.toml")
    return dst / "config.toml"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A synthetic project (pivot mode, encrypted exchanges) and one complete run of it."""
    root = tmp_path_factory.mktemp("project")
    config = _make_project(root)
    pristine = tmp_path_factory.mktemp("pristine")
    _copy_project(root, pristine / "p")
    assert main(["--quiet", "run", str(config)]) == 0
    return {"root": root, "config": config, "pristine": pristine / "p"}


def _stage_files(out: Path, stage: str) -> dict[str, bytes]:
    return {p.relative_to(out / stage).as_posix(): p.read_bytes()
            for p in sorted((out / stage).rglob("*")) if p.is_file()}


def test_run_writes_every_stage_with_markers_and_a_manifest(project):
    root = project["root"]
    out = root / R
    for stage in ("inputs", "standardise", "pivot", "link", "report"):
        marker = json.loads((out / stage / "_SUCCESS.json").read_text())
        assert marker["stage"] == stage
        assert set(marker["outputs"]) == set(_stage_files(out, stage)) - {"_SUCCESS.json"}
    assert not (out / "counterfactual").exists()  # disabled in this config
    m = json.loads((out / "manifest.json").read_text())
    assert {"appariement", "splink", "duckdb", "python"} <= set(m["versions"])
    assert m["config"]["hash"] == load_config(project["config"]).hash()
    assert m["seeds"]["project"] == 5
    assert all(v.startswith("sha256:") for v in m["inputs"].values())
    assert set(m["keys"]) == {"pivot", "pivot_exchange", "statistician"}
    assert m["keys"]["pivot"].startswith("sk:")
    assert m["counts"]["link"]["platform_records"] == N
    assert m["counts"]["inputs"]["candidats"]["read"] == N
    assert {"stage inputs", "stage link", "stage report"} <= set(m["timings_seconds"])
    # the protected mode never writes a plaintext NIR, and no key material is written
    feats = pq.read_table(out / "standardise" / "features_platform.parquet")
    assert feats.column("nir").null_count == feats.num_rows
    nirs = set(pq.read_table(root / "data" / "platform" / "candidats.parquet")
               .column("nir").drop_null().to_pylist())
    codes = set(pq.read_table(out / "pivot" / "features_platform.parquet")
                .column("nir").drop_null().to_pylist())
    assert codes and not (codes & nirs)
    log = (out / "run.log").read_text(encoding="utf-8")
    assert all(json.loads(line)["level"] for line in log.splitlines())
    for key_file in (root / "keys").iterdir():
        body = "".join(key_file.read_text().splitlines()[1:-1])
        for text in (log, (out / "manifest.json").read_text()):
            assert body[:24] not in text


def test_identical_inputs_config_and_seed_give_identical_outputs(project, tmp_path):
    config = _copy_project(project["pristine"], tmp_path / "again")
    assert main(["--quiet", "run", str(config)]) == 0
    a, b = project["root"] / R, tmp_path / "again" / R
    for stage in ("inputs", "standardise", "pivot", "link", "report"):
        fa, fb = _stage_files(a, stage), _stage_files(b, stage)
        assert set(fa) == set(fb)
        for name in fa:
            if name.endswith(".enc"):
                continue  # envelope encryption uses fresh random nonces, by design
            if name == "_SUCCESS.json" and stage not in ("inputs", "standardise"):
                continue  # markers chain the SHA-256 of the .enc files and of model.json
            if name == "model.json":
                ma, mb = json.loads(fa[name]), json.loads(fb[name])
                # Splink stamps each linker with a random linker_uid: the only difference
                ma["splink_settings"].pop("linker_uid", None), mb["splink_settings"].pop("linker_uid", None)
                assert ma == mb
                continue
            assert fa[name] == fb[name], f"{stage}/{name} differs"


def test_rerun_resumes_and_a_changed_setting_reruns_only_what_depends_on_it(project):
    root, config = project["root"] / R, project["config"]
    before = {s: (root / s / "_SUCCESS.json").stat().st_mtime_ns
              for s in ("inputs", "standardise", "pivot", "link", "report")}
    assert main(["--quiet", "run", str(config)]) == 0
    m = json.loads((root / "manifest.json").read_text())
    assert not any(k.startswith("stage ") for k in m["timings_seconds"])  # all skipped
    assert m["counts"]["link"]["platform_records"] == N  # counts restored from markers
    text = config.read_text()
    config.write_text(text.replace("match_threshold = 0.9 ", "match_threshold = 0.95 "))
    try:
        assert main(["--quiet", "run", str(config)]) == 0
        after = {s: (root / s / "_SUCCESS.json").stat().st_mtime_ns for s in before}
        assert [s for s in before if before[s] != after[s]] == ["link", "report"]
        th = json.loads((root / "link" / "linkage_counts.json").read_text())["config"]
        assert th["thresholds"]["match"] == 0.95
    finally:
        config.write_text(text)
        assert main(["--quiet", "run", str(config)]) == 0


def test_interrupted_stage_leaves_no_complete_looking_output_and_rerun_matches(
        project, tmp_path, monkeypatch):
    config = _copy_project(project["pristine"], tmp_path / "crash")
    out = tmp_path / "crash" / R
    real_link = pipeline._STAGE_FUNCTIONS["link"]

    def crashing_link(run, partial):
        real_link(run, partial)  # every link output written...
        (partial / "links.parquet").write_bytes(b"PAR1 truncated")  # ...one of them half
        raise RuntimeError("simulated crash in the middle of the link stage")

    monkeypatch.setitem(pipeline._STAGE_FUNCTIONS, "link", crashing_link)
    with pytest.raises(RuntimeError, match="simulated crash"):
        pipeline.run_pipeline(config, progress=False)
    monkeypatch.setitem(pipeline._STAGE_FUNCTIONS, "link", real_link)
    # every stage folder present has its marker; the crashed stage left only a .partial folder
    for folder in out.iterdir():
        if folder.is_dir() and folder.name in pipeline.STAGES:
            assert (folder / "_SUCCESS.json").is_file(), folder
    assert not (out / "link").exists() and (out / ".link.partial" / "links.parquet").exists()
    assert "failed in stage link: RuntimeError" in json.loads(
        (out / "manifest.json").read_text())["notes"]
    pivot_marker = (out / "pivot" / "_SUCCESS.json").stat().st_mtime_ns
    manifest = pipeline.run_pipeline(config, progress=False)
    assert not (out / ".link.partial").exists()
    assert (out / "pivot" / "_SUCCESS.json").stat().st_mtime_ns == pivot_marker  # resumed
    assert "stage link" in manifest.timings and "stage pivot" not in manifest.timings
    for name in ("links.parquet", "pairs.parquet", "unlinked_platform.parquet"):
        assert (out / "link" / name).read_bytes() == (project["root"] / R / "link" / name
                                                       ).read_bytes()


def test_single_stage_reads_earlier_outputs_and_refuses_without_them(project, tmp_path,
                                                                     capsys):
    root = project["root"] / R
    before = (root / "pivot" / "_SUCCESS.json").stat().st_mtime_ns
    assert main(["--quiet", "run", str(project["config"]), "--stage", "report"]) == 0
    assert (root / "report" / "report.json").is_file()
    assert (root / "pivot" / "_SUCCESS.json").stat().st_mtime_ns == before
    config = _copy_project(project["pristine"], tmp_path / "fresh")
    assert main(["--quiet", "run", str(config), "--stage", "link"]) == 2
    assert "needs the outputs of stage 'pivot'" in capsys.readouterr().err


def test_dry_run_prints_the_blocking_budget_and_writes_nothing(project, tmp_path, capsys):
    config = _copy_project(project["pristine"], tmp_path / "dry")
    capsys.readouterr()
    assert main(["--quiet", "run", str(config), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "cumulative" in out and "dob" in out and "within the budget" in out
    assert "input candidats: 400 read" in out
    assert sorted(p.name for p in (tmp_path / "dry").iterdir()) == ["config.toml", "data",
                                                                     "keys"]


def test_exit_codes_bad_config_input_and_crypto(project, tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[linkage]\nassignment = 'greedy'\n", encoding="utf-8")
    assert main(["--quiet", "run", str(bad)]) == 2
    assert "linkage.assignment = 'greedy' is not allowed" in capsys.readouterr().err
    assert main(["--quiet", "run", str(tmp_path / "missing.toml")]) == 2

    config = _copy_project(project["pristine"], tmp_path / "badinput")
    cand = tmp_path / "badinput" / "data" / "platform" / "candidats.parquet"
    table = pq.read_table(cand)
    pq.write_table(table.drop_columns(["candidat_id"]), cand)
    assert main(["--quiet", "run", str(config), "--dry-run"]) == 3
    assert "candidat_id" in capsys.readouterr().err

    config = _copy_project(project["pristine"], tmp_path / "badkey")
    key = tmp_path / "badkey" / "keys" / "pivot.key"
    if os.name == "posix":
        os.chmod(key, 0o644)
        assert main(["--quiet", "run", str(config)]) == 4
        assert "chmod 600" in capsys.readouterr().err
    key.unlink()
    assert main(["--quiet", "run", str(config)]) == 4
    assert "does not exist" in capsys.readouterr().err


def test_init_writes_a_commented_config_and_refuses_to_overwrite(tmp_path, capsys):
    target = tmp_path / "projet.toml"
    assert main(["init", "--out", str(target)]) == 0
    text = target.read_text(encoding="utf-8")
    assert text.count("#") > 30 and "[counterfactual]" in text
    assert load_config(target).project.name == "mon_projet"
    assert main(["--quiet", "init", "--out", str(target)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_help_documents_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for line in ("0 ", "2 ", "3 ", "4 "):
        assert f"\n  {line}" in text
    assert "bad configuration" in text and "crypto" in text


def test_database_file_gives_the_same_outputs_and_keeps_no_working_objects(project, tmp_path):
    """[backend] database = a file: same links and report as in memory, and the file holds the
    loaded inputs and features only (no working view or table of the library or of
    Splink left behind)."""
    import duckdb

    config = _copy_project(project["pristine"], tmp_path / "ondisk")
    text = config.read_text(encoding="utf-8")
    assert 'database = ":memory:"' in text
    config.write_text(text.replace('database = ":memory:"', 'database = "work.duckdb"'),
                      encoding="utf-8")
    assert main(["--quiet", "run", str(config)]) == 0
    a, b = project["root"], tmp_path / "ondisk"
    for name in ("link/links.parquet", "link/pairs.parquet", "link/unlinked_platform.parquet",
                 "report/report.json"):
        assert (a / R / name).read_bytes() == (b / R / name).read_bytes(), name
    con = duckdb.connect(str(b / "work.duckdb"), read_only=True)
    names = [n for (n,) in con.execute("SELECT table_name FROM duckdb_tables() UNION ALL "
                                       "SELECT view_name FROM duckdb_views() "
                                       "WHERE NOT internal").fetchall()]
    # the linkage writes nothing permanent into the connection (its outputs are the Parquet
    # files compared above)
    assert "features_platform" in names and "links" not in names
    assert not [n for n in names if n.startswith(("_app_", "_blk_", "__splink__"))], names
