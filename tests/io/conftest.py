"""Small hand-built extracts that satisfy the data contract (no dependency on the generator)."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

AS_OF = "2025-06-30"
#: a syntactically plausible NIR used to check that identifying values never leak
SECRET_NIR = "185057800608491"


def valid_frames() -> dict[str, pd.DataFrame]:
    """One small, fully valid extract (platform and source sides)."""
    return {
        "candidats": pd.DataFrame({
            "candidat_id": ["c1", "c2", "c3"],
            "nir": [SECRET_NIR, None, "290017500012345"],
            "nom": ["MARTIN", "Dupont", "Nguyen"],
            "prenoms": ["Jean Pierre", "Zoé", "Anh"],
            "sexe": ["1", "2", "2"],
            "date_naissance": ["1985-05-01", "1990", "2001-01-00"],
            "date_inscription": ["2021-03-01", "2022-07-15", "2024-01-02"],
            "type_inscription": ["autonome", "tiers", None],
            "critere_rsa": [True, False, None],
        }),
        "structures": pd.DataFrame({"structure_id": ["s1", "s2"], "type": ["ACI", "EI"],
                                    "siret": ["12345678900011", None]}),
        "organisations": pd.DataFrame({"organisation_id": ["o1"], "type": ["FT"]}),
        "candidatures": pd.DataFrame({
            "candidature_id": ["k1", "k2", "k3", "k4"],
            "candidat_id": ["c1", "c1", "c2", "c3"],
            "structure_id": ["s1", "s2", "s1", "s2"],
            "organisation_id": ["o1", None, "o1", None],
            "date_candidature": ["2021-04-01", "2021-05-02", "2023-01-10", "2024-02-01"],
            "etat": ["accepted", "obsolete", "refused", "new"],
            "motif_refus": [None, None, "no_position", None],
        }),
        "fiches_de_poste": pd.DataFrame({"fiche_id": ["f1"], "structure_id": ["s1"]}),
        "fiches_de_poste_par_candidature": pd.DataFrame({"candidature_id": ["k1"],
                                                         "fiche_id": ["f1"]}),
        "pass_agrements": pd.DataFrame({
            "numero": ["999992100001"], "candidat_id": ["c1"], "structure_id": ["s1"],
            "date_debut": ["2021-04-15"], "date_fin": ["2023-04-14"]}),
        "personnes": pd.DataFrame({
            "person_id": ["p1", "p2"], "nir": [SECRET_NIR, None],
            "nom_naissance": ["MARTIN", "DURAND"], "prenoms": ["Jean", "Luc"]}),
        "periodes_emploi": pd.DataFrame({
            "person_id": ["p1", "p1", "p2"],
            "date_debut": ["2021-04-15", "2023-05-01", "2019-01-01"],
            "siret": ["12345678900011", "98765432100019", "11111111100011"],
            "date_fin": ["2023-04-14", None, "2019-06-30"],
            "type_contrat": ["CDDI", "CDI", "CDD"],
            "heures": ["151,67", "151.67", None]}),
    }


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


@pytest.fixture
def frames():
    return valid_frames()
