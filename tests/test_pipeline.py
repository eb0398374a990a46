"""The command line end to end: demo, link; exit codes on bad input."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from appariement.cli import main


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["--quiet", "demo", "--out", str(out), "--candidates", "400", "--seed", "3"]) == 0
    return out


def test_demo_writes_manifest_and_links(demo_dir):
    manifest = json.loads((demo_dir / "manifest.json").read_text())
    assert manifest["command"] == "demo"
    assert manifest["seeds"] == {"synth": 3}
    link = manifest["counts"]["link"]
    assert link["platform_records"] == 400
    assert link["links_match"] + link["unlinked_platform"] == 400
    assert all(v.startswith("sha256:") for v in manifest["inputs"].values())
    links = pq.read_table(demo_dir / "link" / "links.parquet")
    assert {"candidat_id", "person_id", "method", "match_weight", "match_probability",
            "decision", "why"} <= set(links.column_names)
    assert "nir" not in links.column_names


def test_link_command_traits_only(demo_dir, tmp_path, capsys):
    code = main(["--quiet", "link", "--platform", str(demo_dir / "data" / "platform"),
                 "--source", str(demo_dir / "data" / "source"), "--out", str(tmp_path),
                 "--key", "none"])
    assert code == 0
    assert "matches (0 exact" in capsys.readouterr().out
    counts = json.loads((tmp_path / "linkage_counts.json").read_text())
    assert counts["config"]["key_column"] is None


def test_link_command_missing_input_exit_code(tmp_path, capsys):
    code = main(["--quiet", "link", "--platform", str(tmp_path), "--source", str(tmp_path),
                 "--out", str(tmp_path / "o")])
    assert code == 2
    assert "no candidats.parquet or candidats.csv" in capsys.readouterr().err
