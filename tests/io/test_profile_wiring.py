"""Import profiles through the Python API, the pipeline's file finding and the commands.

The fixtures are the hand-written real-shaped files of ``tests/io/fixtures/`` (see
test_profiles.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from appariement import pipeline
from appariement.cli import main
from appariement.config import config_from_dict
from appariement.errors import ConfigError

from conftest import SECRET_NIR, valid_frames

FIXTURES = Path(__file__).parent / "fixtures"
EXTRACT = FIXTURES / "les_emplois_extract"
FLUX = FIXTURES / "flux_iae"
AS_OF = "2026-08-01"


def _source_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "source"
    folder.mkdir()
    frames = valid_frames()
    for table in ("personnes", "periodes_emploi"):
        frames[table].to_csv(folder / f"{table}.csv", index=False)
    return folder


def _platform_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "platform"
    shutil.copytree(EXTRACT, folder)
    for path in FLUX.iterdir():
        shutil.copy2(path, folder / path.name)
    return folder


def test_load_inputs_reads_a_profile_folder_and_keeps_what_it_did(con, tmp_path):
    platform, source = _platform_folder(tmp_path), _source_folder(tmp_path)
    inputs = pipeline.load_inputs(con, platform, source, as_of=AS_OF,
                                  profile=["les_emplois_extract", "flux_iae"],
                                  recode={"candidats": {"sexe": {"X": ""}}})
    assert {"candidats", "candidatures", "flux_iae_salarie", "personnes"} <= set(inputs.tables)
    assert inputs.profile.label == "les_emplois_extract+flux_iae@1+1"
    assert inputs.profile.sources["candidats"] == ("job_seekers",)
    assert inputs.profile.user_recode == {"candidats": ("sexe",)}
    # without the profile, the same folder holds no platform table of the contract
    plain = pipeline.load_inputs(con, platform, source, as_of=AS_OF)
    assert set(plain.tables) == {"personnes", "periodes_emploi"} and plain.profile is None


def test_the_run_finds_the_files_of_its_profile(tmp_path):
    platform, source = _platform_folder(tmp_path), _source_folder(tmp_path)
    cfg = config_from_dict({"inputs": {"platform": str(platform), "source": str(source),
                                       "profile": ["les_emplois_extract", "flux_iae"]}})
    files = pipeline._Run.find_input_files(cfg)
    assert files["job_seekers"] == platform / "job_seekers.csv"
    assert any(n.startswith("fluxIAE_Structure_") for n in files)
    assert files["personnes"] == source / "personnes.csv"
    # a per-table file under the profile's name replaces the folder's
    other = tmp_path / "js.csv"
    shutil.copy2(platform / "job_seekers.csv", other)
    cfg = config_from_dict({"inputs": {"platform": str(platform), "source": str(source),
                                       "profile": "les_emplois_extract",
                                       "platform_files": {"job_seekers": str(other)}}})
    assert pipeline._Run.find_input_files(cfg)["job_seekers"] == other
    # without the profile, no candidats table is found
    plain = config_from_dict({"inputs": {"platform": str(platform), "source": str(source)}})
    with pytest.raises(ConfigError, match="no candidats table found"):
        pipeline._Run.find_input_files(plain)
    with pytest.raises(ConfigError, match="neither a table of the contract nor a source table "
                                          "of profile les_emplois_extract"):
        pipeline._Run.find_input_files(config_from_dict({"inputs": {
            "platform": str(platform), "source": str(source), "profile": "les_emplois_extract",
            "platform_files": {"jobseekers2": str(other)}}}))


def test_input_table_of_knows_profile_and_contract_names():
    assert pipeline.input_table_of("candidats_v0", ["les_emplois_warehouse"]) == "candidats"
    assert pipeline.input_table_of("personnes", ["les_emplois_warehouse"]) == "personnes"
    assert pipeline.input_table_of("candidats_v0") is None


def test_unknown_profile_on_the_command_line_names_the_known_ones(tmp_path, capsys):
    code = main(["--quiet", "link", "--profile", "les_emplois", "--platform", str(EXTRACT),
                 "--source", str(tmp_path), "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 2 and "les_emplois_extract" in err and "--profile" in err
    assert not (tmp_path / "s").exists()


def test_init_profile_writes_a_config_that_loads_with_it(tmp_path, capsys):
    out = tmp_path / "c.toml"
    assert main(["--quiet", "init", "--profile", "les_emplois_warehouse", "--out", str(out)]) == 0
    from appariement.config import load_config
    assert load_config(out).inputs.profile == ("les_emplois_warehouse",)
    assert main(["--quiet", "init", "--profile", "x", "--out", str(tmp_path / "d.toml")]) == 2
    assert not (tmp_path / "d.toml").exists()


def test_pprl_encode_reads_through_a_profile_and_refuses_its_input_as_output(tmp_path, capsys):
    key = tmp_path / "k.key"
    assert main(["--quiet", "keygen", "--out", str(key)]) == 0
    platform = _platform_folder(tmp_path)
    out = tmp_path / "enc.parquet"
    assert main(["--quiet", "pprl", "encode", "--in", str(platform), "--side", "platform",
                 "--project", "p", "--key", str(key), "--out", str(out),
                 "--profile", "les_emplois_extract"]) == 0
    manifest = json.loads((tmp_path / "enc.manifest.json").read_text(encoding="utf-8"))
    assert manifest["config"]["profile"]["label"].startswith("les_emplois_extract@")
    assert "job_seekers" in manifest["inputs"]
    assert pd.read_parquet(out).shape[0] == 3
    capsys.readouterr()
    # the input file as --out: refused before anything is read or written
    target = platform / "job_seekers.csv"
    before = target.read_bytes()
    code = main(["--quiet", "pprl", "encode", "--in", str(target), "--side", "platform",
                 "--project", "p", "--key", str(key), "--out", str(target),
                 "--profile", "les_emplois_extract"])
    err = capsys.readouterr().err
    assert code == 2 and "same path" in err and target.read_bytes() == before
    assert SECRET_NIR not in err


def test_warehouse_candidates_reach_the_features_with_their_opaque_key(con):
    """candidats_v0 (no names, hash_nir) -> contract -> identity features carrying hash_nir."""
    from appariement.identity import FEATURE_COLUMNS, standardise_identities

    warehouse = FIXTURES / "les_emplois_warehouse"
    ds = pipeline.load_inputs(con, {"candidats_v0": warehouse / "candidats_v0.csv"}, {},
                              as_of=AS_OF, profile="les_emplois_warehouse")
    features = standardise_identities(con, ds.tables["candidats"], "platform")
    assert list(features.columns) == [*FEATURE_COLUMNS, "hash_nir"]
    rows = dict(features.select("record_id, hash_nir").fetchall())
    raw = pd.read_csv(warehouse / "candidats_v0.csv", dtype=str, keep_default_na=False)
    assert rows["101"] == raw.loc[0, "hash_nir"].lower() and rows["103"] is None
    # no NIR: nothing is parsed or checked as one
    assert features.filter("nir IS NOT NULL OR nir_valid").count("*").fetchall()[0][0] == 0
    # a canonical table without opaque key keeps exactly the canonical features
    plain = standardise_identities(con, valid_frames()["candidats"], "platform")
    assert list(plain.columns) == list(FEATURE_COLUMNS)


# ------------------------------------------------------------------------ the PASS IAE join

def test_pass_join_on_clear_numbers_keeps_france_travail_agrements_apart(con):
    from appariement.io.pass_join import pass_join_report

    approvals = con.from_df(pd.DataFrame({"numero": [
        "999991234567", "999992100001", "999992100002", "XXXXX2100001", "999992100003"]}))
    flux = con.from_df(pd.DataFrame({"salarie_id": ["a", "b", "c", "d"], "numero_pass": [
        "999991234567", "999992100001", None, "999990000000"]}))
    report = pass_join_report(con, approvals, flux, min_cell=1)
    assert report["key"] == "numero"
    assert report["approvals"] == {"records": 5, "matched": 2, "unmatched": {
        "agrement_ft": 1, "not_in_flux_iae": 2}}
    assert report["flux_iae"] == {"records": 4, "matched": 2, "unmatched": {
        "no_number": 1, "not_in_platform": 1}}
    assert report["join_rate"] == 0.5  # 2 of the 4 PASS IAE
    # small counts are not published
    small = pass_join_report(con, approvals, flux, min_cell=3)
    assert small["approvals"]["matched"] is None and small["join_rate"] is None
    assert small["approvals"]["records"] == 5 and small["suppressed"] is True


def test_pass_join_through_the_profiles_uses_the_hash(con, tmp_path):
    """Warehouse PASS (hashed numbers) against fluxIAE (hash_numéro_pass_iae): joined on the
    hash; the clear numbers of one side are never compared with hashes of the other."""
    from appariement.io.pass_join import pass_join_report
    from appariement.io import load_tables

    # as written by hand from the real code: PASS 401 and salarié 700001 share their hash
    warehouse = FIXTURES / "les_emplois_warehouse"
    files = {"pass_agréments": warehouse / "pass_agréments.csv"}
    files.update({path.stem: path for path in FLUX.iterdir()})
    ds = load_tables(con, files, profile=["les_emplois_warehouse", "flux_iae"], as_of=AS_OF)
    report = pass_join_report(con, ds["pass_agrements"], ds["flux_iae_salarie"], min_cell=1)
    assert report["key"] == "hash_numero_pass"
    assert report["approvals"]["matched"] == 1
    # the PASS whose type says France Travail agrément is kept apart
    assert report["approvals"]["unmatched"] == {"agrement_ft": 1}
    assert report["flux_iae"]["matched"] == 1
