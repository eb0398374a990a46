"""The outputs folder belongs to the command: it may not hold an input, nor lie inside one.

Every case runs the CLI in-process and checks that the refusal comes up front: the documented
exit code, one line naming the roles of the paths (never a field value), and not one byte
written or changed anywhere in the project (the outputs folder included).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from appariement.cli import main
from appariement.config import example_config, load_config
from appariement.synth import SynthConfig

from test_faults import data_dir  # noqa: E402,F401  (the same synthetic project, N = 60)

N = 60


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def _refused(capsys, expected: int, *argv: str) -> str:
    capsys.readouterr()
    code = main(["--quiet", *argv])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == expected, err
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def _unchanged(capsys, root: Path, expected: int, *argv: str) -> str:
    """The command is refused and the project (the outputs folder too) is byte for byte as it
    was: no file written, changed or deleted, no folder created."""
    before, tree = _digest(root), _tree(root)
    message = _refused(capsys, expected, *argv)
    assert _digest(root) == before
    assert _tree(root) == tree
    return message


@pytest.fixture(scope="module")
def nirs(data_dir) -> list[str]:
    """Field values that must never appear in a message."""
    table = pq.read_table(data_dir / "platform" / "candidats.parquet")
    return [v for v in table.column("nir").to_pylist() if v][:20]


def _config_text(out: str = "out", mode: str = "none", keys: dict | None = None,
                 **replace: str) -> str:
    text = example_config(name="strict", platform="data/platform", source="data/source",
                          out=out, mode=mode, keys=keys, rejects="set_aside", n_boot=0,
                          as_of="2026-01-01", outcomes=("employed_12m",),
                          sensitivity_thresholds=(0.9,))
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def _project(tmp_path: Path, data_dir: Path, text: str) -> Path:
    shutil.copytree(data_dir, tmp_path / "data")
    # the outputs folder exists and holds something of the user's: it must stay as it is
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine\n", encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(text, encoding="utf-8")
    return config


# ------------------------------------------------------------------------------ run

def _move(tmp_path: Path, src: str, dst: str) -> None:
    (tmp_path / dst).parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(tmp_path / src), str(tmp_path / dst))


INSIDE = {  # input kind -> (config edits, files to move, role named in the message)
    "platform folder": ({'platform = "data/platform"': 'platform = "out/data/platform"'},
                        {"data/platform": "out/data/platform"}, "inputs.platform"),
    "source folder": ({'source = "data/source"': 'source = "out/source"'},
                      {"data/source": "out/source"}, "inputs.source"),
    "platform file": ({"# platform_files = {": 'platform_files = { candidats = '
                       '"out/extract/candidats.parquet" }\n# x = {'},
                      {"data/platform/candidats.parquet": "out/extract/candidats.parquet"},
                      "the candidats input file"),
    "source file": ({"# source_files = {": 'source_files = { personnes = '
                     '"out/personnes.parquet" }\n# x = {'},
                    {"data/source/personnes.parquet": "out/personnes.parquet"},
                    "the personnes input file"),
    "key file": ({'# pseudonym = "keys/project.key"': 'pseudonym = "out/keys/project.key"'},
                 {}, "keys.pseudonym"),
    "first-name variants": ({'# first_name_variants = "prenoms.csv"':
                             'first_name_variants = "out/prenoms.csv"'}, {},
                            "identity.first_name_variants"),
}


@pytest.mark.parametrize("kind", sorted(INSIDE))
def test_run_refuses_every_input_kind_inside_the_outputs_folder(tmp_path, data_dir, nirs,
                                                                capsys, kind):
    edits, moves, role = INSIDE[kind]
    config = _project(tmp_path, data_dir, _config_text(**edits))
    for src, dst in moves.items():
        _move(tmp_path, src, dst)
    if kind == "key file":
        from appariement.crypto import generate_key, save_key
        save_key(generate_key(), tmp_path / "out" / "keys" / "project.key")
    if kind == "first-name variants":
        (tmp_path / "out" / "prenoms.csv").write_text("canonical,variant,group\n")
    for argv in (["run", str(config)], ["run", str(config), "--dry-run"],
                 ["run", str(config), "--stage", "link"]):
        message = _unchanged(capsys, tmp_path, 2, *argv)
        assert role in message and "inside the outputs folder outputs.dir" in message
        assert not any(nir in message for nir in nirs)


def test_run_refuses_a_key_of_the_mode_inside_the_outputs_folder(tmp_path, data_dir, capsys):
    from appariement.crypto import generate_key, save_key

    config = _project(tmp_path, data_dir, _config_text(
        mode="pseudonymise", keys={"pseudonym": "out/project.key"}))
    save_key(generate_key(), tmp_path / "out" / "project.key")
    message = _unchanged(capsys, tmp_path, 2, "run", str(config))
    assert "keys.pseudonym" in message and "lies inside the outputs folder" in message


def test_run_refuses_a_config_file_inside_the_outputs_folder(tmp_path, data_dir, capsys):
    _project(tmp_path, data_dir, "")
    config = tmp_path / "out" / "config.toml"
    config.write_text(_config_text(out=".", **{
        'platform = "data/platform"': 'platform = "../data/platform"',
        'source = "data/source"': 'source = "../data/source"'}), encoding="utf-8")
    message = _unchanged(capsys, tmp_path, 2, "run", str(config))
    assert "the config file" in message and "inside the outputs folder" in message


def test_run_refuses_an_input_folder_that_is_the_outputs_folder(tmp_path, data_dir, capsys):
    config = _project(tmp_path, data_dir, _config_text(out="data/source"))
    message = _unchanged(capsys, tmp_path, 2, "run", str(config))
    assert "inputs.source" in message and "is the outputs folder outputs.dir" in message


def test_run_refuses_outputs_holding_every_input(tmp_path, data_dir, capsys):
    """The old demo layout (data/ and keys/ inside the outputs folder) is refused now."""
    config = _project(tmp_path, data_dir, _config_text(out="."))
    message = _unchanged(capsys, tmp_path, 2, "run", str(config))
    assert "lies inside the outputs folder outputs.dir" in message


def test_run_refuses_outputs_inside_an_input_folder(tmp_path, data_dir, capsys):
    config = _project(tmp_path, data_dir, _config_text(out="data/source/results"))
    message = _unchanged(capsys, tmp_path, 2, "run", str(config))
    assert "inside the input folder inputs.source" in message


# ------------------------------------------------------------------------------ commands

def test_link_refuses_an_input_inside_its_out(tmp_path, data_dir, capsys):
    shutil.copytree(data_dir, tmp_path / "out" / "data")
    message = _unchanged(capsys, tmp_path, 2, "link",
                         "--platform", str(tmp_path / "out" / "data" / "platform"),
                         "--source", str(tmp_path / "out" / "data" / "source"),
                         "--out", str(tmp_path / "out"))
    assert "--platform" in message and "inside the outputs folder --out" in message
    message = _unchanged(capsys, tmp_path, 2, "link",
                         "--platform", str(tmp_path / "out" / "data" / "platform"),
                         "--source", str(tmp_path / "out" / "data" / "source"),
                         "--out", str(tmp_path / "out" / "data" / "platform" / "links"))
    assert "inside the input folder --platform" in message


def _linkage_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "links.parquet").write_bytes(b"PAR1 stands for a links file")
    return folder


def test_report_refuses_an_input_inside_its_out(tmp_path, data_dir, capsys):
    shutil.copytree(data_dir, tmp_path / "data")
    links = _linkage_folder(tmp_path / "out" / "link")
    message = _unchanged(capsys, tmp_path, 2, "report", "--links", str(links),
                         "--platform", str(tmp_path / "data" / "platform"),
                         "--out", str(tmp_path / "out"))
    assert "--links" in message and "inside the outputs folder --out" in message
    message = _unchanged(capsys, tmp_path, 2, "report", "--links", str(links),
                         "--platform", str(tmp_path / "data" / "platform"),
                         "--out", str(links / "report"))
    assert "inside the input folder --links" in message


def test_counterfactual_refuses_an_input_inside_its_out(tmp_path, data_dir, capsys):
    shutil.copytree(data_dir, tmp_path / "out" / "data")
    links = _linkage_folder(tmp_path / "link")
    message = _unchanged(capsys, tmp_path, 2, "counterfactual",
                         "--platform", str(tmp_path / "out" / "data" / "platform"),
                         "--source", str(tmp_path / "out" / "data" / "source"),
                         "--links", str(links), "--out", str(tmp_path / "out"), "--n-boot", "0")
    assert "--platform" in message and "inside the outputs folder --out" in message


def test_pprl_link_checks_its_paths_before_writing(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    for name in ("out/platform.enc.parquet", "source.enc.parquet"):
        (tmp_path / name).write_bytes(b"PAR1 stands for an encodings file")
    message = _unchanged(capsys, tmp_path, 2, "pprl", "link",
                         "--platform", str(tmp_path / "out" / "platform.enc.parquet"),
                         "--source", str(tmp_path / "source.enc.parquet"),
                         "--out", str(tmp_path / "out"))
    assert "--platform" in message and "inside the outputs folder --out" in message
    message = _unchanged(capsys, tmp_path, 2, "pprl", "link",
                         "--platform", str(tmp_path / "absent.parquet"),
                         "--source", str(tmp_path / "source.enc.parquet"),
                         "--out", str(tmp_path / "new"))
    assert "--platform" in message and "does not exist" in message
    message = _unchanged(capsys, tmp_path, 2, "pprl", "link",
                         "--platform", str(tmp_path / "source.enc.parquet"),
                         "--source", str(tmp_path / "source.enc.parquet"),
                         "--out", str(tmp_path / "source.enc.parquet"))
    assert "--out" in message


# ------------------------------------------------------------------------------ leftovers

def test_report_links_given_a_file_says_it_is_a_file(tmp_path, data_dir, capsys):
    links = _linkage_folder(tmp_path / "link") / "links.parquet"
    message = _unchanged(capsys, tmp_path, 2, "report", "--links", str(links),
                         "--platform", str(data_dir / "platform"),
                         "--out", str(tmp_path / "report"))
    assert "--links" in message and "is a file, not a folder" in message
    assert "does not exist" not in message
    message = _unchanged(capsys, tmp_path, 2, "report", "--links", str(tmp_path / "absent"),
                         "--platform", str(data_dir / "platform"),
                         "--out", str(tmp_path / "report"))
    assert "--links" in message and "does not exist" in message


@pytest.mark.parametrize("missing", ["folder", "file"])
def test_a_missing_key_is_named_with_its_config_key_before_anything_is_written(
        tmp_path, data_dir, capsys, missing):
    keys = {"pivot": "keys/pivot.key"}
    config = _project(tmp_path, data_dir, _config_text(mode="pivot", keys=keys))
    if missing == "file":
        (tmp_path / "keys").mkdir()
    for argv in (["run", str(config)], ["run", str(config), "--dry-run"]):
        message = _unchanged(capsys, tmp_path, 4, *argv)  # no run.log, no database
        assert "keys.pivot" in message
        if missing == "folder":
            assert f"folder {tmp_path / 'keys'} " in message and "does not exist" in message
        else:
            assert "key file" in message and "does not exist" in message


def test_synth_then_init_then_run_accepts_every_synthetic_date(tmp_path, capsys):
    """`synth --out data` + `init` (no --as-of) + `run`: the config's as_of is the synthetic
    source's extraction date, so no date of the data set is refused as in the future, whatever
    today is; and the source holds no spell after that date."""
    assert main(["--quiet", "synth", "--candidates", str(N), "--source-ratio", "2",
                 "--out", str(tmp_path / "data")]) == 0
    assert main(["--quiet", "init", "--out", str(tmp_path / "projet.toml")]) == 0
    config = load_config(tmp_path / "projet.toml")
    assert config.project.as_of == SynthConfig().source_date
    assert config.inputs.rejects == "raise"  # a date outside its window would stop the run
    assert main(["--quiet", "run", str(tmp_path / "projet.toml"), "--dry-run"]) == 0
    record = json.loads((tmp_path / "data" / "truth" / "config.json").read_text())
    assert record["source_date"] == SynthConfig().source_date.isoformat()


def test_init_as_of_is_checked_and_written(tmp_path, capsys):
    message = _unchanged(capsys, tmp_path, 2, "init", "--out", str(tmp_path / "p.toml"),
                         "--as-of", "31/12/2025")
    assert "--as-of (project.as_of)" in message
    assert main(["--quiet", "init", "--out", str(tmp_path / "p.toml"),
                 "--as-of", "2025-06-30"]) == 0
    assert str(load_config(tmp_path / "p.toml").project.as_of) == "2025-06-30"
    # without synthetic data beside it, the run's default (today) is left in place
    assert main(["--quiet", "init", "--out", str(tmp_path / "q.toml")]) == 0
    assert load_config(tmp_path / "q.toml").project.as_of is None


@pytest.mark.parametrize("fault", ["malformed", "too_open", "wrong_kind"])
def test_an_unusable_key_fails_before_anything_is_written(tmp_path, data_dir, capsys, fault):
    """A key that exists but cannot be used stops the run before run.log or any output."""
    import os

    from appariement.crypto import generate_key, generate_keypair, save_key

    keys = {"pivot": "keys/pivot.key"}
    config = _project(tmp_path, data_dir, _config_text(mode="pivot", keys=keys))
    (tmp_path / "keys").mkdir()
    path = tmp_path / "keys" / "pivot.key"
    save_key(generate_keypair() if fault == "wrong_kind" else generate_key(), path)
    if fault == "malformed":
        path.write_text("not a key\n", encoding="utf-8")
        os.chmod(path, 0o600)
    elif fault == "too_open":
        os.chmod(path, 0o644)
    message = _unchanged(capsys, tmp_path, 4, "run", str(config))  # no run.log, no database
    assert "key" in message
