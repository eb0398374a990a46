"""Issue 13, "Done when": ``appariement synth --profile NAME`` then ``appariement run`` with that
profile gives the same links and evaluation dataset as the canonical path on the same seed.

The canonical twin is the same synthetic data set without what the profile's source cannot
carry (:func:`appariement.synth.profiles.restricted_to`): a raw platform extract has no birth
name, no diagnosis columns on the person and no hiring date. The profile path reads CSV files
under the real names (``job_seekers.csv``, ``fluxIAE_Salarie_<date>.csv``) and labels (``MME``,
``VALIDATED``, ``prescriber``), through the real code path (config, CLI, pipeline).

``les_emplois_warehouse`` is run the same way (with ``flux_iae``): its candidates have no identity
traits, only a salted ``hash_nir``, and the canonical twin has what the warehouse carries; the link
stage then keys on the hash on both paths (see
test_pipeline.test_the_link_stage_keys_on_hash_nir_when_the_platform_has_no_nir).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from appariement.cli import main
from appariement.synth import SynthConfig, generate
from appariement.synth.profiles import restricted_to

N, SEED, RATIO = 160, 11, 2
PROFILES = ["les_emplois_extract", "flux_iae"]
#: a raw extract has no hiring date, only the planned contract start (hiring_start_at); the
#: user's mapping, on top of the profile, takes it as the hire date (the generator's hire date
#: is the contract start)
MAPPING = {"candidatures": {"hiring_start_at": "date_embauche"}}


def _configure(path: Path, platform: Path, source: Path, out: Path, mapping=None) -> None:
    text = path.read_text(encoding="utf-8")
    text = (text.replace('platform = "data/platform"', f'platform = "{platform.as_posix()}"')
            .replace('source = "data/source"', f'source = "{source.as_posix()}"')
            .replace('dir = "out/run"', f'dir = "{out.as_posix()}"')
            .replace('rejects = "raise"', 'rejects = "set_aside"')
            .replace("# as_of = \"2026-01-01\"", "as_of = \"2026-01-01\"")
            .replace("# threads = 4", "threads = 1")
            .replace("[quality]\nenabled = true", "[quality]\nenabled = false")
            .replace("n_boot = 200", "n_boot = 0")
            .replace("seed = 42 ", f"seed = {SEED} "))
    for table, columns in (mapping or {}).items():
        block = "".join(f'{user} = "{canonical}"\n' for user, canonical in columns.items())
        text = text.replace("[keys]", f"[inputs.mapping.{table}]\n{block}\n[keys]", 1)
    path.write_text(text, encoding="utf-8")


def _table(path: Path, order: str):
    return pq.read_table(path).sort_by(order)


def _runs(tmp_path_factory, profiles: list[str]) -> dict:
    root = tmp_path_factory.mktemp("profiles_e2e")
    # the profile-shaped files, written by the command
    shaped = root / "shaped"
    argv = ["--quiet", "synth", "--candidates", str(N), "--seed", str(SEED), "--source-ratio",
            str(RATIO), "--out", str(shaped)]
    for name in profiles:
        argv += ["--profile", name]
    assert main(argv) == 0
    # the canonical twin: same seed, what the profile can carry, the contract's own names
    canonical = root / "canonical"
    restricted_to(generate(SynthConfig(n_candidates=N, seed=SEED, source_ratio=RATIO)),
                  profiles, MAPPING).write(canonical)
    # configs: `init --profile` for the profile path, the plain example for the other
    init_argv = ["--quiet", "init", "--out", str(root / "profile.toml")]
    for name in profiles:
        init_argv += ["--profile", name]
    assert main(init_argv) == 0
    assert main(["--quiet", "init", "--out", str(root / "canonical.toml")]) == 0
    _configure(root / "profile.toml", shaped / "platform", shaped / "source", root / "out_p",
               MAPPING)
    _configure(root / "canonical.toml", canonical / "platform", canonical / "source",
               root / "out_c")
    assert main(["--quiet", "run", str(root / "canonical.toml")]) == 0
    assert main(["--quiet", "run", str(root / "profile.toml")]) == 0
    return {"root": root, "shaped": shaped, "p": root / "out_p", "c": root / "out_c"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return _runs(tmp_path_factory, PROFILES)


@pytest.fixture(scope="module")
def warehouse_runs(tmp_path_factory):
    """The warehouse's candidats_v0 (no traits, a salted hash_nir) and the ASP's fluxIAE."""
    return _runs(tmp_path_factory, ["les_emplois_warehouse", "flux_iae"])


def test_synth_profile_writes_the_real_names_and_labels(runs):
    platform = runs["shaped"] / "platform"
    names = sorted(p.name for p in platform.iterdir())
    assert "job_seekers.csv" in names and "job_applications.csv" in names
    assert any(n.startswith("fluxIAE_Salarie_") for n in names)
    assert "candidats.parquet" not in names and "flux_iae_salarie.parquet" not in names
    header = (platform / "job_seekers.csv").read_text(encoding="utf-8").splitlines()[0]
    assert "last_name" in header.split(",") and "nom_naissance" not in header
    applications = (platform / "job_applications.csv").read_text(encoding="utf-8")
    assert "sender_kind" in applications.splitlines()[0]
    # SenderKind values, not the contract's codes
    kinds = {line.split(",")[applications.splitlines()[0].split(",").index("sender_kind")]
             for line in applications.splitlines()[1:]}
    assert kinds <= {"job_seeker", "prescriber", "employer"} and "prescriber" in kinds


@pytest.mark.parametrize("which", ["runs", "warehouse_runs"])
def test_profile_run_gives_the_same_links_as_the_canonical_path(which, request):
    runs = request.getfixturevalue(which)
    links_p = _table(runs["p"] / "link" / "links.parquet", "candidat_id")
    links_c = _table(runs["c"] / "link" / "links.parquet", "candidat_id")
    assert links_p.num_rows > 0.5 * N
    assert links_p.equals(links_c)


@pytest.mark.parametrize("which", ["runs", "warehouse_runs"])
def test_profile_run_gives_the_same_evaluation_dataset(which, request):
    runs = request.getfixturevalue(which)
    counts = [json.loads((runs[k] / "manifest.json").read_text(encoding="utf-8"))["counts"]
              for k in ("p", "c")]
    assert counts[0]["counterfactual"] == counts[1]["counterfactual"]
    # treated and comparison arms both present: the hire dates went through the mapping
    arms = counts[0]["counterfactual"]["arms"]
    assert sum(1 for n in arms.values() if n) >= 2, arms
    files_p = sorted(p.name for p in (runs["p"] / "counterfactual").glob("*.parquet"))
    files_c = sorted(p.name for p in (runs["c"] / "counterfactual").glob("*.parquet"))
    assert files_p == files_c and files_p
    for name in files_p:
        a = pq.read_table(runs["p"] / "counterfactual" / name)
        b = pq.read_table(runs["c"] / "counterfactual" / name)
        assert a.num_rows == b.num_rows and a.num_rows > 0, name
        assert a.sort_by(a.column_names[0]).equals(b.sort_by(b.column_names[0])), name


def test_the_manifest_names_the_profile_and_its_version(runs):
    manifest = json.loads((runs["p"] / "manifest.json").read_text(encoding="utf-8"))
    profile = manifest["config"]["profile"]
    assert profile["label"] == "les_emplois_extract+flux_iae@1+1"
    assert profile["sources"]["candidats"] == ["job_seekers"]
    assert "nom_naissance" in profile["not_supplied"]["candidats"]
    assert manifest["config"]["resolved"]["inputs"]["profile"] == PROFILES
    canonical = json.loads((runs["c"] / "manifest.json").read_text(encoding="utf-8"))
    assert "profile" not in canonical["config"]
    # every file read is fingerprinted under its own name
    assert any(name.startswith("fluxIAE_ContratMission_") for name in manifest["inputs"])


def test_the_pass_join_report_is_in_the_outputs(runs):
    reports = [json.loads((runs[k] / "inputs" / "pass_join.json").read_text(encoding="utf-8"))
               for k in ("p", "c")]
    assert reports[0] == reports[1]  # the ASP's three tables joined back give the same join
    report = reports[0]
    assert report["key"] == "numero" and report["suppressed_below"] == 11
    # every synthetic fluxIAE record carries the PASS of a platform approval
    assert report["flux_iae"]["unmatched"].get("not_in_platform") in (0, None)
    assert report["join_rate"] is None or 0 < report["join_rate"] <= 1
