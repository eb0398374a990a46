"""Import profiles: real names and labels of the platform and the ASP reach the contract.

The fixtures under ``tests/io/fixtures/`` are written by hand with the column names and labels of
the real code (les-emplois ``itou/metabase/tables/*.py``, ``itou/*/enums.py``; pilotage-airflow
``dags/common/flux_iae.py``), not produced by the generator. The expected codes below are read
off those files and the enums, row by row.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from appariement.errors import ConfigError, InvalidValueError, SchemaError
from appariement.io import load_tables
from appariement.io.contract import CANDIDATURE_STATES, ORGANISATION_TYPES, table_spec
from appariement.io.profiles import (UnknownLabelError, find_profile_files, fold, get_profile,
                                     list_profiles, prepare_inputs)

from conftest import SECRET_NIR, valid_frames

FIXTURES = Path(__file__).parent / "fixtures"
WAREHOUSE = FIXTURES / "les_emplois_warehouse"
EXTRACT = FIXTURES / "les_emplois_extract"
FLUX = FIXTURES / "flux_iae"
AS_OF = "2026-08-01"
K = "5a0c6a1e-0001-4c1e-9a55-00000000000"  # warehouse candidature ids: K + "1" .. K + "9"


def _rows(ds, table, columns):
    return dict(ds[table].select(columns).fetchall())


def _warehouse_files(without=("candidats_v0",)):
    files = find_profile_files(WAREHOUSE, "les_emplois_warehouse")
    return {name: path for name, path in files.items() if name not in without}


def _read(path, sep=None):
    if sep is None:
        sep = ";" if Path(path).name == "pass_agréments.csv" else ","
    return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)


def test_three_profiles_are_shipped_with_a_version():
    assert list_profiles() == ["flux_iae", "les_emplois_extract", "les_emplois_warehouse"]
    for name in list_profiles():
        profile = get_profile(name)
        assert profile.name == name and profile.version and profile.based_on
        assert profile.label == f"{name}@{profile.version}"


def test_unknown_profile_names_the_known_ones():
    with pytest.raises(ConfigError, match="les_emplois_warehouse"):
        get_profile("les_emplois")


# ------------------------------------------------------------------------ les_emplois_warehouse

def test_warehouse_fixture_loads_without_edits(con):
    ds = load_tables(con, _warehouse_files(), profile="les_emplois_warehouse", as_of=AS_OF)
    for table, c in ds.counts.items():
        assert c["read"] == c["kept"] and c["rejected"] == 0, table
    # JobApplicationState labels -> codes, one per row of candidatures.csv
    assert _rows(ds, "candidatures", "candidature_id, etat") == {
        K + "1": "accepted", K + "2": "obsolete", K + "3": "refused", K + "4": "new",
        K + "5": "processing", K + "6": "postponed", K + "7": "prior_to_hire",
        K + "8": "cancelled", K + "9": "pool"}
    # get_job_application_origin: habilité and orienteur are both prescribers, told apart
    got = ds["candidatures"].select("candidature_id, origine, prescripteur_habilite").fetchall()
    assert {k: (o, h) for k, o, h in got} == {
        K + "1": ("prescripteur", True), K + "2": ("candidat", None),
        K + "3": ("prescripteur", False), K + "4": ("employeur", None),
        K + "5": ("prescripteur", True), K + "6": ("candidat", None),
        K + "7": ("prescripteur", False), K + "8": ("prescripteur", True),
        K + "9": ("candidat", None)}
    assert _rows(ds, "candidatures", "candidature_id, motif_refus")[K + "3"] == "auto"
    assert _rows(ds, "candidatures", "candidature_id, CAST(date_debut_contrat AS VARCHAR)")[
        K + "1"] == "2021-04-01"
    # PE (before 2025-02-06) -> FT, Autre -> OTHER, Orienteur -> ORIENTEUR
    assert _rows(ds, "organisations", "organisation_id, type") == {
        "301": "FT", "302": "PLIE", "303": "ML", "304": "OTHER", "305": "ORIENTEUR"}
    assert _rows(ds, "organisations", "organisation_id, habilitee")["301"] is True
    assert _rows(ds, "pass_agrements", "candidat_id, type_agrement") == {
        "101": "pass_iae", "102": "agrement_pe"}
    numero, hashed = ds["pass_agrements"].select("numero, hash_numero_pass").fetchall()[0]
    assert numero == hashed and len(numero) == 64
    assert _rows(ds, "structures", "structure_id, type") == {"201": "ACI", "202": "EI",
                                                             "203": "GEIQ"}
    assert _rows(ds, "fiches_de_poste", "fiche_id, active") == {"501": True, "502": False}
    assert ds["fiches_de_poste_par_candidature"].count("*").fetchall()[0][0] == 3


def test_warehouse_profile_info_for_the_manifest(con):
    ds = load_tables(con, _warehouse_files(), profile="les_emplois_warehouse", as_of=AS_OF)
    info = ds.profile
    assert (info.name, info.version) == ("les_emplois_warehouse", get_profile(
        "les_emplois_warehouse").version)
    manifest = info.as_manifest()
    assert manifest["sources"]["organisations"] == ["organisations_v0"]
    assert manifest["sources"]["pass_agrements"] == ["pass_agréments"]
    assert manifest["not_supplied"]["pass_agrements"] == ["origine"]
    assert set(manifest["opaque_keys"]["pass_agrements"]) == {"numero", "hash_numero_pass"}
    assert "candidats" not in manifest["sources"]


def test_warehouse_candidats_load_with_hash_nir_as_their_key(con):
    """candidats_v0 has no names: its salted hash_nir identifies a candidate instead."""
    ds = load_tables(con, _warehouse_files(without=()), profile="les_emplois_warehouse",
                     as_of=AS_OF)
    assert ds.counts["candidats"] == {"read": 3, "kept": 3, "rejected": 0}
    df = _read(WAREHOUSE / "candidats_v0.csv")
    got = dict(ds["candidats"].select("candidat_id, hash_nir").fetchall())
    assert got["101"] == df.loc[0, "hash_nir"]
    # a candidate without NIR (no hash) is kept: nobody can link them, they stay in the
    # evaluation as unlinked
    assert got["103"] is None
    assert ds["candidats"].filter("nom IS NOT NULL OR prenoms IS NOT NULL").count(
        "*").fetchall()[0][0] == 0
    assert ds.profile.opaque_keys["candidats"] == ("hash_nir",)


def test_warehouse_candidats_without_their_key_cannot_be_identified(con):
    df = _read(WAREHOUSE / "candidats_v0.csv").drop(columns=["hash_nir"])
    with pytest.raises(SchemaError) as info:
        load_tables(con, {"candidats_v0": df}, profile="les_emplois_warehouse", as_of=AS_OF)
    message = str(info.value)
    assert "neither its name column(s) nom, prenoms nor a key (nir or hash_nir)" in message
    assert "this source cannot supply nom, prenoms" in message
    assert info.value.table == "candidats"
    leftovers = con.sql("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE "
                        "'_app_prof%'").fetchall()[0][0]
    assert leftovers == 0


def test_warehouse_candidats_recoded_once_names_are_joined_in(con):
    """candidats_v0 plus names (as a producer could join them): labels and criteria columns."""
    df = _read(WAREHOUSE / "candidats_v0.csv")
    df["nom"], df["prenoms"] = "X", "Y"
    ds = load_tables(con, {"candidats_v0": df}, profile="les_emplois_warehouse", as_of=AS_OF)
    got = ds["candidats"].select(
        "candidat_id, sexe, type_inscription, auteur_diagnostic, critere_rsa, critere_cap_bep, "
        "critere_jeune, critere_zrr, critere_qpv, critere_pm, hash_nir").fetchall()
    by_id = {r[0]: r[1:] for r in got}
    assert by_id["101"][:9] == ("1", "autonome", "prescripteur", True, False, False, False,
                                False, False)
    assert by_id["102"][:9] == ("2", "par_professionnel", "employeur", False, True, True, False,
                                True, True)
    assert by_id["103"][:9] == (None, "par_administrateur", None, None, None, None, None, None,
                                None)
    assert by_id["101"][9] == df.loc[0, "hash_nir"] and by_id["103"][9] is None
    assert "date_diagnostic" in ds.profile.measured_at_export["candidats"]
    assert "critere_rsa" in ds.profile.measured_at_export["candidats"]
    assert "nir" in ds.profile.not_supplied["candidats"]


# ------------------------------------------------------------------------ les_emplois_extract

def test_extract_fixture_loads_without_edits(con, caplog):
    caplog.set_level(logging.DEBUG, logger="appariement")
    ds = load_tables(con, EXTRACT, profile="les_emplois_extract", as_of=AS_OF, side="platform")
    for table, c in ds.counts.items():
        assert c["read"] == c["kept"] and c["rejected"] == 0, table
    cand = {r[0]: r[1:] for r in ds["candidats"].select(
        "candidat_id, sexe, type_inscription, lack_of_nir_reason, nom, prenoms, "
        "commune_naissance, pays_naissance").fetchall()}
    # Title M / MME / blank; created_by_id blank -> autonome
    assert cand["1001"] == ("1", "autonome", None, "MARTIN", "Jean Pierre", "78006", "100")
    assert cand["1002"] == ("2", "tiers", "NO_NIR", "EL AMRANI", "Fatima", None, "350")
    assert cand["1003"][:3] == (None, "tiers", None)
    assert _rows(ds, "candidats", "candidat_id, nir")["1001"] == SECRET_NIR
    # SenderKind; "siae_staff" is the employer before 2023-10-13
    assert [r[0] for r in ds["candidatures"].order("candidature_id").select(
        "origine").fetchall()] == ["prescripteur", "candidat", "prescripteur", "employeur",
                                   "employeur"]
    assert _rows(ds, "organisations", "organisation_id, type") == {"301": "FT", "302": "PLIE"}
    assert _rows(ds, "organisations", "organisation_id, habilitee") == {"301": True,
                                                                        "302": False}
    assert "nom_naissance" in ds.profile.not_supplied["candidats"]
    # identifying fields the linkage does not use are not carried along
    assert not {"email", "phone", "asp_uid"} & set(ds["candidats"].columns)
    assert SECRET_NIR not in caplog.text


# ------------------------------------------------------------------------ flux_iae

def test_flux_iae_three_tables_are_joined_into_flux_iae_salarie(con):
    ds = load_tables(con, FLUX, profile="flux_iae", as_of=AS_OF)
    assert ds.counts["flux_iae_salarie"] == {"read": 3, "kept": 3, "rejected": 0}
    got = {r[0]: r[1:] for r in ds["flux_iae_salarie"].select(
        "salarie_id, CAST(date_debut AS VARCHAR), CAST(date_fin AS VARCHAR), siret, "
        "id_structure_asp, sexe, annee_naissance").fetchall()}
    # two contracts: first hire 01/02/2022, the second has no definitive exit (still open);
    # the SIRET is that of the latest contract's structure (9002)
    assert got["700001"] == ("2022-02-01", None, "98765432100019", "9002", "1", 1985)
    assert got["700002"] == ("2023-01-16", "2023-07-15", "98765432100019", "9002", "2", 1999)
    assert got["700003"] == (None, None, None, None, "2", 1970)
    columns = ds["flux_iae_salarie"].columns
    assert "nir_chiffré" not in columns and "salarie_PII_hashes" not in columns
    assert ds.profile.absent["flux_iae_salarie"] == ("numero_pass",)  # hashed by the pipeline
    assert set(ds.profile.opaque_keys["flux_iae_salarie"]) == {"hash_nir", "hash_numero_pass"}


def test_flux_iae_missing_part_is_named(con, tmp_path):
    for path in FLUX.iterdir():
        if "Structure" not in path.name:
            shutil.copy(path, tmp_path / path.name)
    with pytest.raises(SchemaError, match="structure"):
        load_tables(con, tmp_path, profile="flux_iae", as_of=AS_OF)


def test_malformed_pre_hashed_key_is_refused_without_its_value(con):
    salarie = _read(FLUX / "fluxIAE_Salarie_29032021_090124.csv", sep="|")
    salarie.loc[0, "hash_nir"] = SECRET_NIR
    files = {p.name.split("_2")[0]: p for p in FLUX.iterdir()}
    files["fluxIAE_Salarie"] = salarie
    with pytest.raises(InvalidValueError) as info:
        load_tables(con, files, profile="flux_iae", as_of=AS_OF)
    assert "hash_nir" in str(info.value) and info.value.n_rows == 1
    assert SECRET_NIR not in str(info.value)


# ------------------------------------------------------------------------ names and labels

def _shout(name: str) -> str:
    """Upper case, accents removed: how a spreadsheet re-export may rename a column."""
    return fold(name).upper()


def test_table_and_column_names_ignore_accents_and_case(con, tmp_path):
    reference = load_tables(con, _warehouse_files(), profile="les_emplois_warehouse",
                            as_of=AS_OF)
    expected = {t: sorted(reference[t].select(", ".join(table_spec(t).column_names)).fetchall(),
                          key=str) for t in reference.tables}
    for name, path in _warehouse_files().items():
        df = _read(path)
        df.columns = [_shout(c) for c in df.columns]
        df.to_csv(tmp_path / f"{_shout(name)}.csv", index=False)  # PASS_AGREMENTS.csv ...
    con2 = duckdb.connect()
    ds = load_tables(con2, tmp_path, profile="les_emplois_warehouse", as_of=AS_OF)
    assert set(ds.tables) == set(expected)
    for table, rows in expected.items():
        got = ds[table].select(", ".join(table_spec(table).column_names)).fetchall()
        assert sorted(got, key=str) == rows, table


def _candidatures_with(labels: list[str]) -> pd.DataFrame:
    df = _read(WAREHOUSE / "candidatures.csv")
    extra = df.iloc[[0] * len(labels)].copy()
    extra["id"] = [f"extra-{i}" for i in range(len(labels))]
    extra["état"] = labels
    return pd.concat([df, extra], ignore_index=True)


def test_unknown_label_is_rejected_with_its_count(con):
    df = _candidatures_with(["Candidature transférée", "Candidature transférée", "Bizarre"])
    for rejects in ("raise", "set_aside"):
        with pytest.raises(UnknownLabelError) as info:
            load_tables(con, {"candidatures": df}, profile="les_emplois_warehouse",
                        as_of=AS_OF, rejects=rejects)
        err = info.value
        assert err.labels == {"Candidature transférée": 2, "Bizarre": 1}
        assert (err.table, err.column, err.n_rows) == ("candidatures", "etat", 3)
        assert "'Candidature transférée': 2 row(s)" in str(err)
        assert "extra-" not in str(err)  # row keys are not needed to fix a vocabulary


def test_user_recode_applies_on_top_of_the_profile(con):
    df = _candidatures_with(["Candidature transférée"])
    ds = load_tables(con, {"candidatures": df}, profile="les_emplois_warehouse", as_of=AS_OF,
                     recode={"candidatures": {"etat": {"Candidature transférée": "new"},
                                              "origine": {"Orienteur": "candidat"}}})
    assert _rows(ds, "candidatures", "candidature_id, etat")["extra-0"] == "new"
    assert _rows(ds, "candidatures", "candidature_id, etat")[K + "3"] == "refused"
    assert _rows(ds, "candidatures", "candidature_id, origine")[K + "3"] == "candidat"
    assert ds.profile.user_recode == {"candidatures": ("etat", "origine")}


def test_user_mapping_applies_on_top_of_the_profile_and_keeps_its_recode(con):
    df = _read(WAREHOUSE / "candidatures.csv").rename(columns={"état": "statut"})
    ds = load_tables(con, {"candidatures": df}, profile="les_emplois_warehouse", as_of=AS_OF,
                     mapping={"candidatures": {"statut": "etat"}})
    assert _rows(ds, "candidatures", "candidature_id, etat")[K + "3"] == "refused"
    assert "statut" not in ds["candidatures"].columns
    assert ds.profile.user_mapping == {"candidatures": {"statut": "etat"}}


def test_user_recode_without_a_profile(con):
    frames = valid_frames()
    frames["candidatures"]["etat"] = ["Acceptée", "Obsolète", "Refusée", "new"]
    ds = load_tables(con, frames, as_of="2025-06-30", recode={"candidatures": {"etat": {
        "acceptee": "accepted", "Obsolète": "obsolete", "REFUSEE": "refused"}}})
    assert _rows(ds, "candidatures", "candidature_id, etat") == {
        "k1": "accepted", "k2": "obsolete", "k3": "refused", "k4": "new"}
    assert ds.profile is None
    assert ds.counts["candidats"]["kept"] == 3  # tables without recode are read as before


@pytest.mark.parametrize("recode, match", [
    ({"candidatures": {"etat": {"Transférée": "transferred"}}}, "not a code"),
    ({"candidats": {"nom": {"X": "Y"}}}, "identifying"),
    ({"candidatures": {"no_such_column": {"X": "Y"}}}, "not a column"),
    ({"no_such_table": {"etat": {"X": "Y"}}}, "unknown table"),
])
def test_bad_user_recode_is_a_config_error(con, recode, match):
    with pytest.raises(ConfigError, match=match):
        load_tables(con, valid_frames(), recode=recode)


def test_profile_temp_tables_are_dropped(con):
    load_tables(con, _warehouse_files(), profile="les_emplois_warehouse", as_of=AS_OF)
    with pytest.raises(UnknownLabelError):
        load_tables(con, {"candidatures": _candidatures_with(["?"])},
                    profile="les_emplois_warehouse", as_of=AS_OF)
    names = [r[0] for r in con.sql("SELECT table_name FROM duckdb_tables() UNION ALL "
                                   "SELECT view_name FROM duckdb_views() WHERE NOT internal"
                                   ).fetchall()]
    assert not [n for n in names if n.startswith("_app_prof")]


def test_a_table_given_twice_is_refused(con, tmp_path):
    shutil.copy(WAREHOUSE / "structures_v0.csv", tmp_path / "structures_v0.csv")
    shutil.copy(WAREHOUSE / "structures_v0.csv", tmp_path / "Structures.csv")
    with pytest.raises(ConfigError, match="two input files"):
        find_profile_files(tmp_path, "les_emplois_warehouse")


def test_contract_tables_outside_the_profile_are_left_as_they_are(con):
    frames = valid_frames()
    sources = {**_warehouse_files(), "personnes": frames["personnes"],
               "periodes_emploi": frames["periodes_emploi"]}
    prepared = prepare_inputs(con, sources, "les_emplois_warehouse",
                              mapping={"personnes": {"x": "nom_usage"}})
    try:
        assert prepared.sources["personnes"] is frames["personnes"]
        assert prepared.mapping == {"personnes": {"x": "nom_usage"}}
        assert set(prepared.info.sources) == {"candidatures", "fiches_de_poste",
                                              "fiches_de_poste_par_candidature",
                                              "organisations", "pass_agrements", "structures"}
    finally:
        prepared.drop(con)


# ------------------------------------------------------------------------ properties

_ACCENTS = {"a": "àâä", "e": "éèêë", "i": "îï", "o": "ôö", "u": "ùûü", "c": "ç"}


@st.composite
def _variant(draw, name: str) -> tuple[str, str]:
    """``name`` with random case and accents (on letters that can carry one)."""
    out = []
    for ch in name:
        if ch in _ACCENTS and draw(st.booleans()):
            ch = draw(st.sampled_from(_ACCENTS[ch]))
        out.append(ch.upper() if draw(st.booleans()) else ch)
    return name, "".join(out)


_NAMES = st.text(alphabet="abcdeiouz_ ", min_size=1, max_size=20).filter(str.strip)


@given(_NAMES.flatmap(_variant))
def test_fold_ignores_case_and_accents(pair):
    name, variant = pair
    assert fold(variant) == fold(name)


@given(st.text(min_size=1, max_size=30))
def test_fold_is_idempotent(text):
    assert fold(fold(text)) == fold(text)


def _all_rules():
    for name in list_profiles():
        for table, tp in get_profile(name).tables.items():
            for rule in tp.columns:
                if rule.recode:
                    yield name, table, rule


@pytest.mark.parametrize("name, table, rule", [r for r in _all_rules() if r[2].one_to_one],
                         ids=lambda v: getattr(v, "target", v))
def test_one_to_one_recodes_are_bijections(name, table, rule):
    folded = {fold(label): code for label, code in rule.recode.items()}
    codes = [c for c in folded.values() if c is not None]
    assert len(codes) == len(set(codes)) == len(rule.recode)
    allowed = table_spec(table).any_column(rule.target).allowed
    if allowed:
        assert set(codes) <= set(allowed)


def test_state_labels_cover_every_state_once():
    rule = get_profile("les_emplois_warehouse").tables["candidatures"].rule("etat")
    assert sorted(rule.recode.values()) == sorted(CANDIDATURE_STATES)


def test_origin_and_authorisation_together_tell_every_label_apart():
    tp = get_profile("les_emplois_warehouse").tables["candidatures"]
    origine, habilite = tp.rule("origine").recode, tp.rule("prescripteur_habilite").recode
    assert set(origine) == set(habilite)
    pairs = [(origine[label], habilite[label]) for label in origine]
    assert len(set(pairs)) == len(pairs)


def test_organisation_kinds_of_both_platform_profiles_cover_the_contract():
    for name, source in (("les_emplois_warehouse", "type"), ("les_emplois_extract", "type")):
        rule = get_profile(name).tables["organisations"].rule(source)
        assert set(rule.recode.values()) == set(ORGANISATION_TYPES)
        assert rule.recode["PE"] == rule.recode["FT"] == "FT"
    assert len(ORGANISATION_TYPES) == len(set(ORGANISATION_TYPES)) == 34


@settings(max_examples=15, deadline=None)
@given(st.lists(st.sampled_from(sorted(get_profile("les_emplois_warehouse").tables[
    "candidatures"].rule("etat").recode)).flatmap(_variant), min_size=1, max_size=6))
def test_labels_recode_whatever_their_case_and_accents(pairs):
    recode = get_profile("les_emplois_warehouse").tables["candidatures"].rule("etat").recode
    df = _read(WAREHOUSE / "candidatures.csv").iloc[[0] * len(pairs)].copy()
    df["id"] = [f"k{i}" for i in range(len(pairs))]
    df["état"] = [variant for _, variant in pairs]
    con = duckdb.connect()
    ds = load_tables(con, {"candidatures": df}, profile="les_emplois_warehouse", as_of=AS_OF)
    got = _rows(ds, "candidatures", "candidature_id, etat")
    assert got == {f"k{i}": recode[label] for i, (label, _) in enumerate(pairs)}
    con.close()


def test_a_contract_named_table_is_not_read_with_the_profile_rules(con):
    """candidats in the contract's names next to a raw-extract profile: its sexe is already a
    code and must not go through the profile's title recode; the user's recode still applies."""
    frames = valid_frames()
    ds = load_tables(con, {"candidats": frames["candidats"]}, profile="les_emplois_extract",
                     as_of="2025-06-30",
                     recode={"candidats": {"type_inscription": {"tiers": "par_professionnel"}}})
    assert _rows(ds, "candidats", "candidat_id, sexe") == {"c1": "1", "c2": "2", "c3": "2"}
    assert _rows(ds, "candidats", "candidat_id, type_inscription") == {
        "c1": "autonome", "c2": "par_professionnel", "c3": None}
    assert ds.profile.sources == {}


def test_missing_required_table_is_reported_before_anything_is_materialised(con, tmp_path):
    for path in EXTRACT.iterdir():
        if path.name != "companies.csv":
            shutil.copy(path, tmp_path / path.name)
    with pytest.raises(SchemaError, match="structures"):
        load_tables(con, tmp_path, profile="les_emplois_extract", side="platform", as_of=AS_OF)
    left = con.sql("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_app_prof%'"
                   ).fetchall()[0][0]
    assert left == 0


def test_columns_only_profiles_supply_are_converted_and_checked(con):
    """Extension columns (TableSpec.extensions) are not seen by the reader: checked here."""
    df = _read(WAREHOUSE / "candidatures.csv")
    df.loc[0, "date_début_contrat"] = "bientôt"
    with pytest.raises(InvalidValueError) as info:
        load_tables(con, {"candidatures": df}, profile="les_emplois_warehouse", as_of=AS_OF)
    assert (info.value.column, info.value.n_rows) == ("date_debut_contrat", 1)
    people = _read(EXTRACT / "job_seekers.csv")
    people.loc[1, "lack_of_nir_reason"] = "FORGOTTEN"
    with pytest.raises(UnknownLabelError) as info:
        load_tables(con, {"job_seekers": people}, profile="les_emplois_extract", as_of=AS_OF)
    assert info.value.labels == {"FORGOTTEN": 1}
    assert SECRET_NIR not in str(info.value)


def test_profiles_of_different_tables_combine(con, tmp_path):
    for folder in (EXTRACT, FLUX):
        for path in folder.iterdir():
            shutil.copy(path, tmp_path / path.name)
    ds = load_tables(con, tmp_path, profile=["les_emplois_extract", "flux_iae"], as_of=AS_OF)
    assert {"candidats", "flux_iae_salarie"} <= set(ds.tables)
    assert ds.profile.label == "les_emplois_extract+flux_iae@1+1"
    assert ds.profile.sources["flux_iae_salarie"] == (
        "fluxIAE_ContratMission_29032021_090124", "fluxIAE_Salarie_29032021_090124",
        "fluxIAE_Structure_29032021_090124")
    with pytest.raises(ConfigError, match="both describe"):
        get_profile(["les_emplois_extract", "les_emplois_warehouse"])


def test_a_required_column_missing_names_what_was_looked_for(con):
    df = _read(WAREHOUSE / "candidatures.csv").drop(columns=["id_candidat"])
    with pytest.raises(SchemaError) as info:
        load_tables(con, {"candidatures": df}, profile="les_emplois_warehouse", as_of=AS_OF)
    assert "candidat_id: id_candidat" in str(info.value) and info.value.column == "candidat_id"


def test_flux_iae_as_the_asp_sends_it_keeps_the_pass_number_and_drops_identities(con):
    """The ASP's own Salarie file still has the PASS number, NIR, names and birth date."""
    salarie = _read(FLUX / "fluxIAE_Salarie_29032021_090124.csv", sep="|")
    salarie = salarie.drop(columns=["hash_nir", "hash_numéro_pass_iae", "nir_chiffré",
                                    "salarie_PII_hashes"])
    salarie["salarie_agrement"] = ["999992100001", "999992200007", ""]
    salarie["salarie_nir"] = [SECRET_NIR, "", ""]
    salarie["salarie_nom_usage"], salarie["salarie_prenom"] = "MARTIN", "Jean"
    salarie["salarie_date_naissance"] = "12/05/1985"
    salarie["salarie_courriel_pro"] = "x@example.org"
    files = {p.name.split("_2")[0]: p for p in FLUX.iterdir()}
    files["fluxIAE_Salarie"] = salarie
    ds = load_tables(con, files, profile="flux_iae", as_of=AS_OF)
    assert _rows(ds, "flux_iae_salarie", "salarie_id, numero_pass") == {
        "700001": "999992100001", "700002": "999992200007", "700003": None}
    kept = set(ds["flux_iae_salarie"].columns)
    assert {"salarie_code_postal", "salarie_brsa"} <= kept  # other columns pass through
    for column in ("salarie_nir", "salarie_nom_usage", "salarie_prenom",
                   "salarie_date_naissance", "salarie_courriel_pro", "salarie_agrement"):
        assert column not in kept
    assert SECRET_NIR not in str(ds["flux_iae_salarie"].fetchall())
    assert set(ds.profile.absent["flux_iae_salarie"]) == {"hash_nir", "hash_numero_pass"}
