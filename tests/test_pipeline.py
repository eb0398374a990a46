"""The command line end to end: demo = init --synthetic + run; link; exit codes on bad input."""

from __future__ import annotations

import json

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from appariement.cli import main
from appariement.pipeline import DEMO_OUTPUTS as R

N, SEED = 400, 3


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["--quiet", "demo", "--out", str(out), "--candidates", str(N),
                 "--seed", str(SEED)]) == 0
    return out


def test_demo_runs_every_stage_with_the_pivot_protocol(demo_dir):
    # inputs beside the outputs folder, never inside it
    assert sorted(p.name for p in demo_dir.iterdir()) == ["config.toml", "data", "keys", R]
    assert not (demo_dir / "manifest.json").exists()
    manifest = json.loads((demo_dir / R / "manifest.json").read_text())
    assert manifest["command"] == "demo"
    assert manifest["seeds"]["synth"] == SEED and manifest["seeds"]["project"] == SEED
    assert set(manifest["counts"]) == {"inputs", "standardise", "pivot", "link", "report",
                                       "counterfactual"}
    link = manifest["counts"]["link"]
    assert link["platform_records"] == N
    assert link["links_match"] + link["links_review"] + link["unlinked_platform"] == N
    assert manifest["counts"]["pivot"]["mode"] == "pivot"
    assert all(v.startswith("sha256:") for v in manifest["inputs"].values())
    links = pq.read_table(demo_dir / R / "link" / "links.parquet")
    assert {"candidat_id", "person_id", "method", "match_weight", "match_probability",
            "decision", "why"} <= set(links.column_names)
    assert "nir" not in links.column_names
    assert (demo_dir / R / "report" / "report.html").is_file()
    assert (demo_dir / R / "counterfactual" / "counterfactual.json").is_file()
    for key in (demo_dir / "keys").iterdir():
        assert key.stat().st_mode & 0o077 == 0


def test_init_synthetic_plus_run_reproduces_demo(demo_dir, tmp_path):
    config = tmp_path / "config.toml"
    assert main(["--quiet", "init", "--synthetic", "--out", str(config), "--candidates",
                 str(N), "--seed", str(SEED)]) == 0
    assert main(["--quiet", "run", str(config)]) == 0
    for name in ("candidats.parquet", "candidatures.parquet"):
        assert (tmp_path / "data" / "platform" / name).read_bytes() == \
            (demo_dir / "data" / "platform" / name).read_bytes()
    a = pq.read_table(demo_dir / R / "link" / "links.parquet")
    b = pq.read_table(tmp_path / R / "link" / "links.parquet")
    for col in ("candidat_id", "person_id", "method", "decision", "why"):
        assert a.column(col).equals(b.column(col)), col
    # multi-threaded DuckDB sums floats in any order: equal to the last bits, not bit for bit
    diff = pc.max(pc.abs(pc.subtract(a.column("match_weight"), b.column("match_weight"))))
    assert diff.as_py() < 1e-9
    ra = json.loads((demo_dir / R / "counterfactual" / "counterfactual.json").read_text())
    rb = json.loads((tmp_path / R / "counterfactual" / "counterfactual.json").read_text())
    assert ra["arms_and_linkage"] == rb["arms_and_linkage"]


def test_link_command_traits_only(demo_dir, tmp_path, capsys):
    code = main(["--quiet", "link", "--platform", str(demo_dir / "data" / "platform"),
                 "--source", str(demo_dir / "data" / "source"), "--out", str(tmp_path),
                 "--key", "none", "--rejects", "set_aside"])
    assert code == 0
    assert "matches (0 exact" in capsys.readouterr().out
    counts = json.loads((tmp_path / "linkage_counts.json").read_text())
    assert counts["config"]["key_column"] is None


def test_link_command_missing_input_exit_code(tmp_path, capsys):
    code = main(["--quiet", "link", "--platform", str(tmp_path), "--source", str(tmp_path),
                 "--out", str(tmp_path / "o")])
    assert code == 2
    assert "no candidats.parquet or candidats.csv" in capsys.readouterr().err


def test_the_link_stage_keys_on_hash_nir_when_the_platform_has_no_nir():
    import duckdb

    from appariement.pipeline import _link_key
    con = duckdb.connect()
    with_nir = con.sql("SELECT '185057800608436' AS nir, 'ab' AS hash_nir")
    no_nir = con.sql("SELECT NULL::VARCHAR AS nir, 'ab' AS hash_nir")
    no_hash = con.sql("SELECT NULL::VARCHAR AS nir, NULL::VARCHAR AS hash_nir")
    assert _link_key(with_nir, with_nir) == "nir"
    assert _link_key(no_nir, with_nir) == "hash_nir"
    assert _link_key(no_nir, no_hash) == "nir"  # nothing to key on: the NIR stage finds nothing
    assert _link_key(con.sql("SELECT NULL::VARCHAR AS nir"), with_nir) == "nir"


def test_pivot_mode_links_the_warehouse_hash_nir_through_the_pivot(tmp_path):
    """The warehouse's candidates carry only the producers' ``hash_nir``: in pivot mode the pivot
    re-keys both sides' hashes into project codes (quality ``opaque_key``), the exact stage links
    on them, and no hash reaches the statistician's features."""
    import hashlib
    import tomllib

    import pyarrow as pa

    from appariement.pipeline import write_synthetic_project

    config = write_synthetic_project(tmp_path / "p", n_candidates=150, seed=SEED)
    data = tmp_path / "p" / "data"

    def hashed(table):
        nir = table.column("nir").to_pylist()
        return pa.array([None if v is None else hashlib.sha256(("salt" + v).encode()).hexdigest()
                         for v in nir])
    cand = pq.read_table(data / "platform" / "candidats.parquet")
    with_hash = cand.num_rows - cand.column("nir").null_count
    identity = {"nom", "nom_naissance", "nom_usage", "prenoms", "date_naissance", "sexe",
                "commune_naissance", "pays_naissance", "code_postal", "nir", "adresse",
                "commune_residence"}
    kept = [c for c in cand.column_names if c not in identity]
    pq.write_table(cand.select(kept).append_column("hash_nir", hashed(cand)),
                   data / "platform" / "candidats.parquet")
    pers = pq.read_table(data / "source" / "personnes.parquet")
    pq.write_table(pers.append_column("hash_nir", hashed(pers)),
                   data / "source" / "personnes.parquet")
    text = config.read_text(encoding="utf-8").replace("[quality]\nenabled = true",
                                                      "[quality]\nenabled = false")
    config.write_text(text.replace("[counterfactual]\nenabled = true",
                                   "[counterfactual]\nenabled = false"), encoding="utf-8")
    assert main(["--quiet", "run", str(config)]) == 0
    outputs = config.parent / tomllib.loads(text)["outputs"]["dir"]
    manifest = json.loads((outputs / "manifest.json").read_text())
    assert manifest["counts"]["pivot"]["platform_quality"].get("opaque_key") == with_hash
    link = manifest["counts"]["link"]
    assert link["stage1_links"] >= 0.9 * with_hash
    features = (outputs / "pivot" / "features_platform.parquet").read_bytes()
    for value in hashed(cand).to_pylist()[:20]:
        assert value is None or value.encode() not in features
