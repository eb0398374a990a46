"""Faults and bad arguments on the command line: nothing lost, nothing half-written, no traceback.

Every case runs the CLI in-process and checks three things: the exit code is the documented one
(never 1, the code of a bug) with a one-line message; the inputs' bytes are unchanged (SHA-256
of every file before and after); a refused command wrote nothing.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from appariement import pipeline
from appariement.cli import EXIT_SYSTEM, main
from appariement.config import config_from_dict, example_config
from appariement.errors import ConfigError

N = 60


# ------------------------------------------------------------------------------ helpers

def _digest(*roots: Path) -> dict[str, str]:
    """SHA-256 of every file below ``roots`` (a file root is hashed itself)."""
    out = {}
    for root in roots:
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for p in paths:
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")} if root.exists() else set()


def _cli(capsys, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["--quiet", *argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def _refused(capsys, expected: int, *argv: str) -> str:
    """Run a command that must be refused: its code, one error line; returns the message."""
    code, err = _cli(capsys, *argv)
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == expected, err
    assert len(errors) == 1, err
    return errors[0]


def _config_text(out: str = "out", **replace: str) -> str:
    text = example_config(name="faults", platform="data/platform", source="data/source",
                          out=out, mode="none", rejects="set_aside", n_boot=0,
                          as_of="2026-01-01", outcomes=("employed_12m",),
                          sensitivity_thresholds=(0.9,))
    text = text.replace("# threads = 4", "threads = 1")
    text = text.replace("[counterfactual]\nenabled = true", "[counterfactual]\nenabled = false")
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    from appariement.synth import write_synthetic

    root = tmp_path_factory.mktemp("data")
    write_synthetic(root / "data", n_candidates=N, seed=4, source_ratio=2)
    return root / "data"


@pytest.fixture(scope="module")
def completed(tmp_path_factory, data_dir) -> Path:
    """A project with one complete run (inputs .. report) in ``out/``."""
    root = tmp_path_factory.mktemp("completed")
    shutil.copytree(data_dir, root / "data")
    (root / "config.toml").write_text(_config_text(), encoding="utf-8")
    assert main(["--quiet", "run", str(root / "config.toml")]) == 0
    return root


def _project(tmp_path: Path, data_dir: Path, text: str | None = None,
             data_at: str = "data") -> Path:
    shutil.copytree(data_dir, tmp_path / data_at)
    config = tmp_path / "config.toml"
    config.write_text(text or _config_text(), encoding="utf-8")
    return config


def _copy_completed(completed: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "p"
    shutil.copytree(completed, dst, symlinks=True)
    return dst


# ------------------------------------------------------------------------------ 1. data loss

OWNED = [*pipeline.STAGES, ".inputs.partial", ".link.partial", ".report.old"]


@pytest.mark.parametrize("name", OWNED)
def test_an_input_folder_named_like_a_stage_is_refused_not_deleted(tmp_path, data_dir, capsys,
                                                                   name):
    data_at = f"out/{name}/data"
    config = _project(tmp_path, data_dir, _config_text(**{
        'platform = "data/platform"': f'platform = "{data_at}/platform"',
        'source = "data/source"': f'source = "{data_at}/source"'}), data_at=data_at)
    before, tree = _digest(tmp_path / data_at), _tree(tmp_path)
    message = _refused(capsys, 2, "run", str(config))
    assert "inputs.platform" in message and "lies inside" in message
    assert _digest(tmp_path / data_at) == before
    assert _tree(tmp_path) == tree  # nothing written: no run.log, no manifest, no stage


@pytest.mark.parametrize("stage", ["link", "report"])
def test_an_input_inside_a_stage_folder_is_refused_with_stage_too(tmp_path, data_dir, capsys,
                                                                  stage):
    data_at = f"out/{stage}/data"
    config = _project(tmp_path, data_dir, _config_text(**{
        'platform = "data/platform"': f'platform = "{data_at}/platform"'}), data_at=data_at)
    shutil.copytree(data_dir / "source", tmp_path / "data" / "source")
    before, tree = _digest(tmp_path), _tree(tmp_path)
    _refused(capsys, 2, "run", str(config), "--stage", stage)
    assert _digest(tmp_path) == before and _tree(tmp_path) == tree


@pytest.mark.parametrize("role, edit, place", [
    ("keys.pseudonym", ('# pseudonym = "keys/project.key"', 'pseudonym = "out/link/k.key"'),
     "out/link/k.key"),
    ("backend.database", ('database = ":memory:"', 'database = "out/report/work.duckdb"'),
     "out/report/work.duckdb"),
    ("backend.temp_dir", ('# temp_dir = "tmp"', 'temp_dir = "out/standardise/tmp"'),
     "out/standardise/tmp/x"),
    ("identity.first_name_variants", ('# first_name_variants = "prenoms.csv"',
                                      'first_name_variants = "out/pivot/prenoms.csv"'),
     "out/pivot/prenoms.csv"),
    ("the candidats input file", ("# platform_files = {", "platform_files = { candidats = "
                                  '"out/.inputs.old/c.parquet" }\n# x = {'),
     "out/.inputs.old/c.parquet"),
])
def test_keys_database_and_other_inputs_inside_owned_folders_are_refused(
        tmp_path, data_dir, capsys, role, edit, place):
    config = _project(tmp_path, data_dir, _config_text(**{edit[0]: edit[1]}))
    target = tmp_path / place
    target.parent.mkdir(parents=True)
    shutil.copy(data_dir / "platform" / "candidats.parquet", target)
    before, tree = _digest(tmp_path), _tree(tmp_path)
    message = _refused(capsys, 2, "run", str(config))
    assert role in message
    assert _digest(tmp_path) == before and _tree(tmp_path) == tree


def test_the_config_file_inside_a_stage_folder_is_refused(tmp_path, data_dir, capsys):
    shutil.copytree(data_dir, tmp_path / "data")
    config = tmp_path / "out" / "inputs" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(_config_text(out="..", **{'platform = "data/platform"':
                                                'platform = "../../data/platform"',
                                                'source = "data/source"':
                                                'source = "../../data/source"'}))
    before = _digest(tmp_path)
    assert "the config file" in _refused(capsys, 2, "run", str(config))
    assert _digest(tmp_path) == before


def test_outputs_inside_an_input_folder_are_refused(tmp_path, data_dir, capsys):
    config = _project(tmp_path, data_dir, _config_text(out="data/platform/out"))
    before = _digest(tmp_path)
    assert "inside the input folder inputs.platform" in _refused(capsys, 2, "run", str(config))
    assert _digest(tmp_path) == before and not (tmp_path / "data/platform/out").exists()


@pytest.mark.parametrize("kind", ["folder", "file", "symlink"])
def test_a_stage_folder_appariement_did_not_write_is_never_replaced(tmp_path, data_dir, capsys,
                                                                    kind):
    config = _project(tmp_path, data_dir)
    mine = tmp_path / "out" / "link"
    mine.parent.mkdir()
    if kind == "folder":
        mine.mkdir()
        (mine / "my_notes.csv").write_text("precious\n")
    elif kind == "file":
        mine.write_text("precious\n")
    else:
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "elsewhere" / "my_notes.csv").write_text("precious\n")
        mine.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    before, tree = _digest(tmp_path), _tree(tmp_path)
    assert "was not written by appariement" in _refused(capsys, 2, "run", str(config))
    assert _digest(tmp_path) == before and _tree(tmp_path) == tree


def test_a_rerun_deletes_only_its_own_leftovers(completed, tmp_path, capsys):
    root = _copy_completed(completed, tmp_path)
    mine = root / "out" / ".mine.partial"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine\n")
    (root / "out" / ".link.partial").mkdir()  # a crashed stage's leftover: ours
    code, _ = _cli(capsys, "run", str(root / "config.toml"))
    assert code == 0
    assert (mine / "keep.txt").read_text() == "mine\n"
    assert not (root / "out" / ".link.partial").exists()


# keygen: every check before the first byte

def _keygen(tmp_path: Path, capsys, *extra: str) -> int:
    return _cli(capsys, "keygen", *extra)[0]


@pytest.mark.parametrize("existing", ["private", "public", "both"])
def test_keygen_refuses_before_writing_either_key(tmp_path, capsys, existing):
    out, pub = tmp_path / "x.key", tmp_path / "x.key.pub"
    if existing in ("private", "both"):
        out.write_text("old private\n")
    if existing in ("public", "both"):
        pub.write_text("old public\n")
    before, tree = _digest(tmp_path), _tree(tmp_path)
    assert "already exists" in _refused(capsys, 4, "keygen", "--type", "x25519", "--out",
                                        str(out))
    assert _digest(tmp_path) == before and _tree(tmp_path) == tree


def test_keygen_secret_refuses_to_overwrite(tmp_path, capsys):
    (tmp_path / "k.key").write_text("old\n")
    before = _digest(tmp_path)
    _refused(capsys, 4, "keygen", "--out", str(tmp_path / "k.key"))
    assert _digest(tmp_path) == before


@pytest.mark.parametrize("case", ["same", "dotdot", "symlink", "folder", "under_a_file"])
def test_keygen_refuses_bad_targets_and_writes_nothing(tmp_path, capsys, case):
    out = tmp_path / "x.key"
    argv = ["keygen", "--type", "x25519", "--out", str(out)]
    if case == "same":
        argv += ["--public-out", str(out)]
    elif case == "dotdot":
        (tmp_path / "sub").mkdir()
        argv += ["--public-out", str(tmp_path / "sub" / ".." / "x.key")]
    elif case == "symlink":
        (tmp_path / "link.pub").symlink_to(out)  # dangling: points at the key to be written
        argv += ["--public-out", str(tmp_path / "link.pub")]
    elif case == "folder":
        out.mkdir()
    else:
        (tmp_path / "afile").write_text("x")
        argv[argv.index(str(out))] = str(tmp_path / "afile" / "x.key")
    tree = _tree(tmp_path)
    _refused(capsys, 2, *argv)
    assert _tree(tmp_path) == tree


def test_keygen_force_replaces_both_keys(tmp_path, capsys):
    out = tmp_path / "x.key"
    assert _keygen(tmp_path, capsys, "--type", "x25519", "--out", str(out)) == 0
    before = _digest(tmp_path)
    assert _keygen(tmp_path, capsys, "--type", "x25519", "--out", str(out), "--force") == 0
    after = _digest(tmp_path)
    assert set(after) == set(before) and all(after[k] != before[k] for k in before)


# pseudonymise: an output over its input is refused

@pytest.fixture
def table_and_key(tmp_path, capsys):
    key = tmp_path / "k.key"
    assert main(["--quiet", "keygen", "--out", str(key)]) == 0
    src = tmp_path / "in" / "t.csv"
    src.parent.mkdir()
    src.write_text("id,nir\n1,185057800608491\n2,285057800608436\n", encoding="utf-8")
    return src, key


@pytest.mark.parametrize("case", ["same", "dot", "dotdot", "symlink", "hardlink", "key",
                                  "parquet_same"])
def test_pseudonymise_refuses_an_output_over_an_input(tmp_path, table_and_key, capsys, case):
    src, key = table_and_key
    out = {"same": str(src), "dot": str(src.parent / "." / src.name),
           "dotdot": str(src.parent / ".." / "in" / src.name), "key": str(key)}.get(case)
    if case == "symlink":
        (tmp_path / "alias.csv").symlink_to(src)
        out = str(tmp_path / "alias.csv")
    elif case == "hardlink":
        os.link(src, tmp_path / "hard.csv")
        out = str(tmp_path / "hard.csv")
    elif case == "parquet_same":
        pq.write_table(pa.table({"id": ["1"], "nir": ["185057800608491"]}),
                       tmp_path / "t.parquet")
        src = tmp_path / "t.parquet"
        out = str(src)
    before, tree = _digest(tmp_path), _tree(tmp_path)
    message = _refused(capsys, 2, "pseudonymise", "--key", str(key), "--project", "p",
                       "--in", str(src), "--column", "nir", "--out", out)
    assert "refusing to overwrite an input" in message
    assert "185057800608491" not in message
    assert _digest(tmp_path) == before and _tree(tmp_path) == tree


@pytest.mark.parametrize("case, expected", [
    ("missing_in", "no such file"), ("in_folder", "is a folder"),
    ("out_folder", "is a folder"), ("key_in_project", "looks like key material"),
    ("bad_project", "--project (project.name)"), ("out_enc", "ends in .enc"),
])
def test_pseudonymise_bad_arguments_are_refused_before_writing(tmp_path, table_and_key, capsys,
                                                               case, expected):
    src, key = table_and_key
    args = {"--in": str(src), "--out": str(tmp_path / "o.csv"), "--project": "p"}
    if case == "missing_in":
        args["--in"] = str(tmp_path / "absent.csv")
    elif case == "in_folder":
        args["--in"] = str(src.parent)
    elif case == "out_folder":
        args["--out"] = str(src.parent)
    elif case == "key_in_project":
        args["--project"] = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU="
    elif case == "out_enc":
        args["--out"] = str(tmp_path / "o.enc")
    else:
        args["--project"] = "mon projet"
    before, tree = _digest(tmp_path), _tree(tmp_path)
    message = _refused(capsys, 2, "pseudonymise", "--key", str(key), "--column", "nir",
                       *[x for kv in args.items() for x in kv])
    assert expected in message and "QUJDREVG" not in message
    assert _digest(tmp_path) == before and _tree(tmp_path) == tree


# ------------------------------------------------------------------------------ 2. integrity

def _truncate_rows(path: Path) -> None:
    table = pq.read_table(path)
    pq.write_table(table.slice(0, table.num_rows // 2), path)  # a valid file, half the rows


def _append_byte(path: Path) -> None:
    with open(path, "ab") as fh:
        fh.write(b"\0")


TAMPER = {"truncate_rows": _truncate_rows, "append_byte": _append_byte,
          "delete": lambda p: p.unlink()}


@pytest.mark.parametrize("stage, upstream, name", [
    ("link", "pivot", "features_platform.parquet"),
    ("link", "pivot", "features_source.parquet"),
    ("pivot", "standardise", "features_source.parquet"),
    ("report", "link", "links.parquet"),
    ("report", "pivot", "features_platform.parquet"),
])
@pytest.mark.parametrize("how", sorted(TAMPER))
def test_stage_refuses_upstream_files_that_differ_from_their_marker(
        completed, tmp_path, capsys, stage, upstream, name, how):
    root = _copy_completed(completed, tmp_path)
    out = root / "out"
    TAMPER[how](out / upstream / name)
    before = _digest(out / stage)
    message = _refused(capsys, 3, "run", str(root / "config.toml"), "--stage", stage)
    assert f"stage {upstream!r}" in message and f"--stage {upstream}" in message
    assert name in message
    assert _digest(out / stage) == before  # the downstream stage kept its earlier outputs


def test_a_full_run_reruns_a_tampered_stage_and_the_result_does_not_persist(completed,
                                                                             tmp_path, capsys):
    """The issue's scenario: a truncated upstream stage, then --stage link, then a full run."""
    root = _copy_completed(completed, tmp_path)
    out = root / "out"
    _truncate_rows(out / "pivot" / "features_platform.parquet")
    _refused(capsys, 3, "run", str(root / "config.toml"), "--stage", "link")
    code, _ = _cli(capsys, "run", str(root / "config.toml"))
    assert code == 0
    for stage, name in (("pivot", "features_platform.parquet"), ("link", "links.parquet")):
        assert (out / stage / name).read_bytes() == \
            (completed / "out" / stage / name).read_bytes()
    log = [json.loads(line) for line in (out / "run.log").read_text().splitlines()]
    assert any(e.get("event") == "changed" and e.get("stage") == "pivot" for e in log)


def test_a_stage_run_refuses_input_files_changed_since_stage_inputs(completed, tmp_path,
                                                                    capsys):
    root = _copy_completed(completed, tmp_path)
    _truncate_rows(root / "data" / "platform" / "candidats.parquet")
    stages = [root / "out" / s for s in ("inputs", "standardise", "pivot", "link", "report")]
    before = _digest(*stages)
    message = _refused(capsys, 3, "run", str(root / "config.toml"), "--stage", "report")
    assert "input files" in message and "whole pipeline" in message
    assert _digest(*stages) == before  # the failed run's manifest and log only


def test_a_marker_that_no_longer_parses_means_the_stage_is_rerun(completed, tmp_path, capsys):
    root = _copy_completed(completed, tmp_path)
    (root / "out" / "pivot" / "_SUCCESS.json").write_text("{not json")
    assert "needs the outputs of stage 'pivot'" in _refused(
        capsys, 2, "run", str(root / "config.toml"), "--stage", "link")
    assert _cli(capsys, "run", str(root / "config.toml"))[0] == 0
    marker = json.loads((root / "out" / "pivot" / "_SUCCESS.json").read_text())
    assert marker["stage"] == "pivot"


# ------------------------------------------------------------------------------ 3. faults

def _gzip_corrupt(folder: Path) -> None:
    (folder / "candidats.parquet").unlink()
    (folder / "candidats.csv.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"garbage" * 20)


def _gzip_truncated(folder: Path) -> None:
    import gzip

    import pyarrow.csv as pacsv

    table = pq.read_table(folder / "candidats.parquet")
    (folder / "candidats.parquet").unlink()
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink)
    data = gzip.compress(sink.getvalue().to_pybytes())
    (folder / "candidats.csv.gz").write_bytes(data[: len(data) // 2])


RUN_FAULTS = {
    # name: (config replacements, setup(project root), exit code, words in the message)
    "missing_input_folder": ({'source = "data/source"': 'source = "data/nowhere"'}, None, 2,
                             "does not exist"),
    "missing_input_file": ({"# platform_files = {": 'platform_files = { candidats = '
                            '"data/absent.csv" }\n# x = {'}, None, 2, "does not exist"),
    "corrupt_csv_gz": ({}, lambda r: _gzip_corrupt(r / "data" / "platform"), 3,
                       "candidats.csv.gz is not a valid gzip file"),
    "truncated_csv_gz": ({}, lambda r: _gzip_truncated(r / "data" / "platform"), 3,
                         "candidats.csv.gz is not a valid gzip file"),
    "corrupt_parquet": ({}, lambda r: (r / "data/platform/candidats.parquet").write_bytes(
        b"PAR1 not really"), 3, "candidats"),
    "database_folder_missing": ({'database = ":memory:"': 'database = "nodir/w.duckdb"'}, None,
                                2, "does not exist"),
    "database_is_a_folder": ({'database = ":memory:"': 'database = "dbdir"'},
                             lambda r: (r / "dbdir").mkdir(), 2, "is a folder"),
    "database_under_a_file": ({'database = ":memory:"': 'database = "afile/w.duckdb"'},
                              lambda r: (r / "afile").write_text("x"), 2, "is a file"),
    "database_not_duckdb": ({'database = ":memory:"': 'database = "w.duckdb"'},
                            lambda r: (r / "w.duckdb").write_bytes(b"hello" * 100), 2,
                            "not a DuckDB database"),
    "outputs_is_a_file": ({}, lambda r: (r / "out").write_text("x"), 2, "is a file"),
    "outputs_under_a_file": ({'dir = "out"': 'dir = "afile/out"'},
                             lambda r: (r / "afile").write_text("x"), 2, "is a file"),
    "manifest_is_a_folder": ({}, lambda r: (r / "out" / "manifest.json").mkdir(parents=True),
                             2, "is a folder"),
}


@pytest.mark.parametrize("fault", sorted(RUN_FAULTS))
@pytest.mark.parametrize("dry_run", [False, True])
def test_run_faults_give_a_clear_error_and_write_nothing(tmp_path, data_dir, capsys, fault,
                                                         dry_run):
    edits, setup, code, words = RUN_FAULTS[fault]
    config = _project(tmp_path, data_dir, _config_text(**edits))
    if setup:
        setup(tmp_path)
    before, tree = _digest(tmp_path / "data", config), _tree(tmp_path)
    argv = ["run", str(config)] + (["--dry-run"] if dry_run else [])
    message = _refused(capsys, code, *argv)
    assert words in message
    assert _digest(tmp_path / "data", config) == before
    if code == 2 or dry_run:  # refused up front (or a dry run): not even a log file
        assert _tree(tmp_path) == tree
    else:  # failed while reading: the failure's manifest and log, no stage output
        assert not any((tmp_path / "out" / s).exists() for s in pipeline.STAGES)


def test_a_read_only_outputs_folder_is_refused_up_front(tmp_path, data_dir, capsys,
                                                        monkeypatch):
    """(The tests may run as root, for whom nothing is read-only: the permission check is
    simulated at os.access, the writes are simulated below with EACCES.)"""
    config = _project(tmp_path, data_dir)
    (tmp_path / "out").mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False
                        if Path(p) == tmp_path / "out" else real(p, mode, **kw))
    before, tree = _digest(tmp_path), _tree(tmp_path)
    assert "read-only" in _refused(capsys, 2, "run", str(config))
    assert _digest(tmp_path) == before and _tree(tmp_path) == tree


@pytest.mark.parametrize("where", ["a_folder", "under_a_file"])
def test_a_log_file_that_cannot_be_created_is_refused(tmp_path, capsys, where):
    (tmp_path / "afile").write_text("x")
    log = tmp_path if where == "a_folder" else tmp_path / "afile" / "run.log"
    tree = _tree(tmp_path)
    code, err = _cli(capsys, "--log-file", str(log), "keygen", "--out", str(tmp_path / "k"))
    assert code == 2 and err.count("error: ") == 1 and "--log-file" in err
    assert _tree(tmp_path) == tree


def test_a_read_only_database_is_refused_up_front(tmp_path, data_dir, capsys, monkeypatch):
    config = _project(tmp_path, data_dir, _config_text(**{'database = ":memory:"':
                                                         'database = "db/w.duckdb"'}))
    (tmp_path / "db").mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False
                        if Path(p) == tmp_path / "db" else real(p, mode, **kw))
    tree = _tree(tmp_path)
    assert "backend.database" in _refused(capsys, 2, "run", str(config))
    assert _tree(tmp_path) == tree


@pytest.mark.parametrize("table", ["candidats", "personnes"])
def test_a_one_row_input_runs_or_gives_a_documented_error(tmp_path, data_dir, capsys, table):
    config = _project(tmp_path, data_dir, _config_text(**{"[quality]\nenabled = true":
                                                         "[quality]\nenabled = false"}))
    side = "platform" if table == "candidats" else "source"
    path = tmp_path / "data" / side / f"{table}.parquet"
    pq.write_table(pq.read_table(path).slice(0, 1), path)
    before = _digest(tmp_path / "data")
    code, err = _cli(capsys, "run", str(config))
    assert code in (0, 3, 5), err  # linked, or refused as bad input / linkage failure
    if code == 0:
        m = json.loads((tmp_path / "out" / "manifest.json").read_text())
        assert m["counts"]["inputs"][table]["read"] == 1
    assert _digest(tmp_path / "data") == before


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "features_platform.parquet")


def _denied(*args, **kwargs):
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), "features_platform.parquet")


@pytest.mark.parametrize("fault", [_disk_full, _denied], ids=["ENOSPC", "EACCES"])
@pytest.mark.parametrize("where", ["write_parquet", "write_json"])
def test_disk_full_or_denied_while_writing_a_stage(tmp_path, data_dir, capsys, monkeypatch,
                                                   fault, where):
    config = _project(tmp_path, data_dir)
    before = _digest(tmp_path / "data")
    if where == "write_parquet":  # the standardise stage writes its features
        monkeypatch.setattr(pipeline, "_write_parquet", fault)
        failed, kept = "standardise", ["inputs"]
    else:  # the inputs stage writes its counts
        monkeypatch.setattr(pipeline, "write_json", fault)
        failed, kept = "inputs", []
    message = _refused(capsys, EXIT_SYSTEM, "run", str(config))
    assert os.strerror(errno.ENOSPC if fault is _disk_full else errno.EACCES) in message
    assert "features_platform.parquet" in message  # the path the system refused
    out = tmp_path / "out"
    assert not (out / failed).exists()
    assert all((out / s / "_SUCCESS.json").is_file() for s in kept)
    log = [json.loads(line) for line in (out / "run.log").read_text().splitlines()]
    mine = [e["message"] for e in log if e.get("stage") == failed]
    assert any("failed" in m for m in mine) and not any("done" in m for m in mine)
    assert not any(m["message"].startswith(f"stage {failed} done") for m in log)
    assert _digest(tmp_path / "data") == before
    if fault is _disk_full and where == "write_parquet":
        monkeypatch.undo()  # space freed: the rerun completes from where it stopped
        inputs_marker = (out / "inputs" / "_SUCCESS.json").stat().st_mtime_ns
        assert _cli(capsys, "run", str(config))[0] == 0
        assert (out / "report" / "_SUCCESS.json").is_file()
        assert (out / "inputs" / "_SUCCESS.json").stat().st_mtime_ns == inputs_marker


@pytest.mark.parametrize("command", ["keygen", "pseudonymise"])
def test_disk_full_in_a_command_leaves_no_partial_file(tmp_path, table_and_key, capsys,
                                                       monkeypatch, command):
    import appariement._atomic as atomic

    src, key = table_and_key
    real_fsync = os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: _disk_full())
    monkeypatch.setattr(pq, "write_table", _disk_full)
    before, tree = _digest(tmp_path), _tree(tmp_path)
    if command == "keygen":
        argv = ["keygen", "--type", "x25519", "--out", str(tmp_path / "new.key")]
    else:
        argv = ["pseudonymise", "--key", str(key), "--project", "p", "--in", str(src),
                "--column", "nir", "--out", str(tmp_path / "o.parquet")]
    assert "No space left" in _refused(capsys, EXIT_SYSTEM, *argv)
    monkeypatch.setattr(atomic.os, "fsync", real_fsync)
    assert _digest(tmp_path) == before and _tree(tmp_path) == tree  # no .tmp-*, no key


# CLI options: the config's rules, the config's messages

def _config_message(dotted: str, value) -> str:
    section, key = dotted.split(".")
    with pytest.raises(ConfigError) as err:
        config_from_dict({section: {key: value}})
    return str(err.value)


REPORT_OPTIONS = [  # option, value on the command line, config key, value as the config has it
    ("--min-cell", "0", "quality.min_cell", 0),
    ("--min-cell", "-5", "quality.min_cell", -5),
    ("--rounding", "0", "quality.rounding", 0),
    ("--target", "1.5", "quality.target", 1.5),
    ("--target", "-0.1", "quality.target", -0.1),
    ("--seed", "-1", "project.seed", -1),
]
CF_OPTIONS = [
    ("--grace-days", "0", "counterfactual.grace_days", 0),
    ("--grace-days", "400", "counterfactual.grace_days", 400),
    ("--n-boot", "-1", "counterfactual.n_boot", -1),
    ("--n-boot", "100001", "counterfactual.n_boot", 100001),
    ("--outcomes", "employed_36m", "counterfactual.outcomes", ["employed_36m"]),
    ("--outcomes", "employed_12m,salary", "counterfactual.outcomes", ["employed_12m", "salary"]),
    ("--comparison-classes", "nobody", "counterfactual.comparison_classes", ["nobody"]),
    ("--thresholds", "0.5,1.5", "counterfactual.sensitivity_thresholds", [0.5, 1.5]),
    ("--thresholds", "-0.2", "counterfactual.sensitivity_thresholds", [-0.2]),
    ("--min-cell", "0", "quality.min_cell", 0),
    ("--seed", "-3", "project.seed", -3),
]
LINK_OPTIONS = [
    ("--match-threshold", "1.5", "linkage.match_threshold", 1.5),
    ("--review-threshold", "-1", "linkage.review_threshold", -1.0),
    ("--budget", "0", "linkage.comparison_budget", 0),
    ("--blocking-rules", "dob,zodiac", "linkage.blocking_rules", ["dob", "zodiac"]),
]


def _command_argv(command: str, tmp_path: Path) -> list[str]:
    out = str(tmp_path / "o")
    if command == "report":
        return ["report", "--links", str(tmp_path), "--platform", str(tmp_path), "--out", out]
    if command == "counterfactual":
        return ["counterfactual", "--platform", str(tmp_path), "--source", str(tmp_path),
                "--links", str(tmp_path), "--out", out]
    return ["link", "--platform", str(tmp_path), "--source", str(tmp_path), "--out", out]


@pytest.mark.parametrize("command, option, text, dotted, value",
                         [("report", *o) for o in REPORT_OPTIONS]
                         + [("counterfactual", *o) for o in CF_OPTIONS]
                         + [("link", *o) for o in LINK_OPTIONS])
def test_cli_options_are_refused_by_the_config_rules(tmp_path, capsys, command, option, text,
                                                     dotted, value):
    expected = _config_message(dotted, value)
    tree = _tree(tmp_path)
    message = _refused(capsys, 2, *_command_argv(command, tmp_path), f"{option}={text}")
    # the config's own message, the option named next to the key: "--min-cell (quality.min_cell)"
    assert re.sub(rf"{re.escape(option)} \(({re.escape(dotted)}(\[\d+\])?)\)", r"\1",
                  message, count=1) == f"error: {expected}"
    assert option in message
    assert _tree(tmp_path) == tree


@pytest.mark.parametrize("command, extra, words", [
    ("counterfactual", ["--thresholds", "0.5,abc"], "'abc' is not a number"),
    ("counterfactual", ["--outcomes", ","], "--outcomes (counterfactual.outcomes) is empty"),
    ("report", ["--review-sample", "0", "--source", "."], "--review-sample = 0 is out of range"),
])
def test_cli_list_options_that_do_not_parse(tmp_path, capsys, command, extra, words):
    tree = _tree(tmp_path)
    assert words in _refused(capsys, 2, *_command_argv(command, tmp_path), *extra)
    assert _tree(tmp_path) == tree


@pytest.mark.parametrize("command, out, role", [
    ("report", "lk", "--links"), ("report", "plat", "--platform"),
    ("report", "src", "--source"), ("counterfactual", "plat", "--platform"),
    ("counterfactual", "lk", "--links"), ("counterfactual", "src", "--source"),
    ("link", "plat", "--platform"), ("link", "src/personnes.parquet", "--source"),
])
def test_folder_commands_refuse_an_output_over_an_input(tmp_path, data_dir, capsys, command,
                                                        out, role):
    shutil.copytree(data_dir / "platform", tmp_path / "plat")
    shutil.copytree(data_dir / "source", tmp_path / "src")
    (tmp_path / "lk").mkdir()
    (tmp_path / "lk" / "links.parquet").write_bytes(b"never read")
    plat, src, lk = (str(tmp_path / d) for d in ("plat", "src", "lk"))
    argv = {"report": ["report", "--links", lk, "--platform", plat, "--source", src],
            "counterfactual": ["counterfactual", "--platform", plat, "--source", src,
                               "--links", lk],
            "link": ["link", "--platform", plat, "--source", src]}[command]
    before, tree = _digest(tmp_path), _tree(tmp_path)
    message = _refused(capsys, 2, *argv, "--out", str(tmp_path / out))
    assert "refusing to overwrite an input" in message and role in message
    assert _digest(tmp_path) == before and _tree(tmp_path) == tree


def test_link_refuses_a_database_over_an_input(tmp_path, data_dir, capsys):
    shutil.copytree(data_dir, tmp_path / "d")
    cand = tmp_path / "d" / "platform" / "candidats.parquet"
    before, tree = _digest(tmp_path), _tree(tmp_path)
    message = _refused(capsys, 2, "link", "--platform", str(cand.parent), "--source",
                       str(tmp_path / "d" / "source"), "--out", str(tmp_path / "o"),
                       "--database", str(cand))
    assert "--database is the same path as --platform (candidats)" in message
    assert _digest(tmp_path) == before and _tree(tmp_path) == tree


# ------------------------------------------------------------------------------ permissions

def _modes(root: Path, skip: tuple[str, ...] = ()) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_mode & 0o777 for p in
            [root, *root.rglob("*")] if not any(part in skip for part in p.parts)}


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_every_output_of_a_run_is_owner_only(completed):
    modes = _modes(completed / "out")
    assert {"manifest.json", "run.log", "link/links.parquet", "report/report.html"} <= set(modes)
    wrong = {p: oct(m) for p, m in modes.items()
             if m != (0o700 if (completed / "out" / p).is_dir() else 0o600)}
    assert not wrong


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_command_outputs_are_owner_only(tmp_path, table_and_key, capsys, data_dir):
    src, key = table_and_key
    out = tmp_path / "new" / "deep" / "o.csv"
    assert _cli(capsys, "pseudonymise", "--key", str(key), "--project", "p", "--in", str(src),
                "--column", "nir", "--out", str(out))[0] == 0
    assert out.stat().st_mode & 0o777 == 0o600
    assert all((tmp_path / d).stat().st_mode & 0o777 == 0o700 for d in ("new", "new/deep"))
    log = tmp_path / "log.jsonl"
    assert main(["--quiet", "--log-file", str(log), "keygen", "--out",
                 str(tmp_path / "k2.key")]) == 0
    assert log.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("command", ["synth", "demo", "init"])
@pytest.mark.parametrize("where", ["a_file", "under_a_file", "read_only"])
def test_generating_commands_check_their_output_before_writing(tmp_path, capsys, monkeypatch,
                                                               command, where):
    (tmp_path / "afile").write_text("precious\n")
    target = {"a_file": tmp_path / "afile", "under_a_file": tmp_path / "afile" / "x",
              "read_only": tmp_path / "ro" / "x"}[where]
    if where == "read_only":
        (tmp_path / "ro").mkdir()
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False
                            if Path(p) == tmp_path / "ro" else real(p, mode, **kw))
    if command == "init" and where == "a_file":
        target = tmp_path  # a folder where a file is expected
    argv = {"synth": ["synth", "--candidates", "10", "--out", str(target)],
            "demo": ["demo", "--candidates", "10", "--out", str(target)],
            "init": ["init", "--synthetic", "--candidates", "10", "--out", str(target)]}[command]
    before, tree = _digest(tmp_path), _tree(tmp_path)
    _refused(capsys, 2, *argv)
    assert _digest(tmp_path) == before and _tree(tmp_path) == tree


SECRET_ROW = "DUPONT;Jean;1985-05-12;185057800608491"


@pytest.mark.parametrize("error, code", [
    (lambda: RuntimeError(f"bad row: {SECRET_ROW}"), 1),
    (lambda: ValueError(SECRET_ROW), 1),
    (lambda: OSError(f"an IOError without errno: {SECRET_ROW}"), 1),
    (lambda: __import__("duckdb").IOException(f"IO Error: {SECRET_ROW}"), EXIT_SYSTEM),
    (lambda: __import__("duckdb").OutOfMemoryException(f"OOM at {SECRET_ROW}"), EXIT_SYSTEM),
    (lambda: __import__("zlib").error(f"Error -3 at {SECRET_ROW}"), 3),
], ids=["RuntimeError", "ValueError", "OSError-no-errno", "duckdb-IO", "duckdb-OOM", "zlib"])
def test_a_library_error_never_reaches_the_user_with_its_text(tmp_path, data_dir, capsys,
                                                             monkeypatch, error, code):
    config = _project(tmp_path, data_dir)

    def failing(run, partial):
        raise error()

    monkeypatch.setitem(pipeline._STAGE_FUNCTIONS, "inputs", failing)
    message = _refused(capsys, code, "run", str(config))
    assert "185057800608491" not in message and "DUPONT" not in message
    if code == 1:
        assert "bug" in message and "pipeline.py" in message  # where, not what
    written = "".join(p.read_text(errors="replace") for p in (tmp_path / "out").rglob("*")
                      if p.is_file())
    assert "185057800608491" not in written and "failed" in written


# ------------------------------------------------------------------------------ properties

_SEGMENT = st.text(alphabet="abcdefgh_-", min_size=1, max_size=6)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(_SEGMENT, min_size=1, max_size=4), detours=st.lists(
    st.sampled_from(["./", "{p}/../", "/"]), min_size=1, max_size=4), data=st.data())
def test_any_spelling_of_an_input_path_is_refused_as_an_output(tmp_path, parts, detours, data):
    from appariement._paths import refuse_output_over_input

    target = Path(tmp_path, *parts)
    spelled = str(tmp_path)
    for i, part in enumerate(parts):
        detour = data.draw(st.sampled_from(detours))
        spelled += "/" + detour.format(p=part if i else "x") + part
    with pytest.raises(ConfigError, match="refusing to overwrite an input"):
        refuse_output_over_input({"--out": spelled}, {"--in": target})
    other = Path(tmp_path, *parts[:-1], parts[-1] + "_out")
    refuse_output_over_input({"--out": other}, {"--in": target})  # a different path is fine


@settings(max_examples=40, deadline=None)
@given(min_cell=st.integers(-20, 40), grace=st.integers(-5, 400), n_boot=st.integers(-5, 5),
       threshold=st.floats(-1, 2, allow_nan=False))
def test_the_counterfactual_options_are_refused_exactly_when_the_config_refuses(
        min_cell, grace, n_boot, threshold):
    import argparse

    from appariement.commands.counterfactual import _check_arguments

    args = argparse.Namespace(comparison_classes="employer_side", outcomes="employed_12m",
                              thresholds=repr(threshold), grace_days=grace,
                              later_hires="censor", unit="person", n_boot=n_boot,
                              min_cell=min_cell, seed=0)
    try:
        config_from_dict({"quality": {"min_cell": min_cell},
                          "counterfactual": {"grace_days": grace, "n_boot": n_boot,
                                             "sensitivity_thresholds": [threshold],
                                             "outcomes": ["employed_12m"]}})
        config_ok = True
    except ConfigError:
        config_ok = False
    try:
        _check_arguments(args)
        cli_ok = True
    except ConfigError:
        cli_ok = False
    assert cli_ok == config_ok


@pytest.mark.parametrize("command", ["pseudonymise", "link"])
@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
def test_commands_name_a_corrupt_gzip_input(tmp_path, data_dir, table_and_key, capsys, command,
                                            damage):
    src, key = table_and_key
    plat = tmp_path / "plat"
    shutil.copytree(data_dir / "platform", plat)
    (_gzip_corrupt if damage == "corrupt" else _gzip_truncated)(plat)
    bad = plat / "candidats.csv.gz"
    argv = {"pseudonymise": ["pseudonymise", "--key", str(key), "--project", "p", "--in",
                             str(bad), "--column", "nir", "--out", str(tmp_path / "o.csv")],
            "link": ["link", "--platform", str(bad), "--source", str(data_dir / "source"),
                     "--out", str(tmp_path / "o")]}[command]
    before = _digest(tmp_path)
    message = _refused(capsys, 3, *argv)
    assert "candidats.csv.gz is not a valid gzip file" in message
    assert _digest(tmp_path) == before
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "o").exists()
