"""Pivot authority: quality indicators and codes checked against the synthetic ground truth."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from appariement.crypto import (QUALITIES, PivotAuthority, Pseudonymiser, encrypt_identities,
                                encrypt_pivot_codes, generate_key, generate_keypair,
                                read_identities, read_pivot_codes)
from appariement.crypto.envelope import encrypt_table
from appariement.crypto.pivot import pivot_codes_context
from appariement.errors import ConfigError, DisclosureError
from appariement.synth import SynthConfig, generate

KEY = generate_key()
#: one connection for the small cases (registering the identity SQL functions takes a while)
CON = duckdb.connect()


@pytest.fixture(scope="module")
def synthetic():
    data = generate(SynthConfig(n_candidates=1000, seed=3))
    pivot = PivotAuthority(KEY, project="test", reference=data.source["personnes"])
    out = pivot.transcode(data.platform["candidats"])
    truth = data.truth["candidats"]
    expected = Pseudonymiser(KEY, project="test", purpose="pivot").pseudonymise(
        truth.column("true_nir"))
    con = duckdb.connect()
    con.register("o", out)
    con.register("t", truth.append_column("expected_code", expected))
    joined = con.sql("SELECT * FROM o JOIN t ON o.row_id = CAST(t.candidat_id AS VARCHAR)"
                     ).to_arrow_table()
    return data, out, joined


def _rows(joined: pa.Table, where: str) -> list[dict]:
    con = duckdb.connect()
    con.register("j", joined)
    return con.sql(f"SELECT * FROM j WHERE {where}").to_arrow_table().to_pylist()


def test_one_row_per_input_row_and_allowed_values(synthetic):
    data, out, joined = synthetic
    assert out.column_names == ["row_id", "pivot_code", "quality", "score"]
    assert out.num_rows == data.platform["candidats"].num_rows == joined.num_rows
    assert set(out.column("quality").to_pylist()) <= set(QUALITIES)
    assert not _rows(joined, "quality IN ('not_found', 'nir_inconsistent') "
                             "AND pivot_code IS NOT NULL")
    assert not _rows(joined, "quality <> 'traits_probable' AND score IS NOT NULL")
    assert not _rows(joined, "quality IN ('nir_exact', 'traits_exact') AND pivot_code IS NULL")


def test_every_code_given_is_the_code_of_the_true_person(synthetic):
    _, _, joined = synthetic
    wrong = _rows(joined, "pivot_code IS NOT NULL AND pivot_code <> expected_code")
    assert wrong == []
    # the same person gets the same code through their NIR or through their traits
    assert _rows(joined, "quality = 'traits_exact'")
    assert not _rows(joined, "quality = 'traits_exact' AND NOT in_source")


def test_quality_follows_the_nir_status(synthetic):
    _, _, joined = synthetic
    assert not _rows(joined, "nir_status IN ('missing', 'mistyped', 'temporary') "
                             "AND quality = 'nir_exact'")
    assert not _rows(joined, "nir_status = 'valid' AND quality NOT IN ('nir_exact', "
                             "'nir_inconsistent')")
    # a valid NIR is only flagged when a declared trait it encodes is wrong
    assert not _rows(joined, "nir_status = 'valid' AND quality = 'nir_inconsistent' AND NOT "
                             "(sex_error OR year_error OR dob_swapped)")
    # someone else's NIR never passes as an exact NIR of this person
    assert not _rows(joined, "nir_status = 'other_person' AND quality = 'nir_exact'")


def test_traits_find_most_people_without_a_usable_nir(synthetic):
    _, _, joined = synthetic
    lookups = _rows(joined, "nir_status IN ('missing', 'mistyped', 'temporary') AND in_source")
    found = [r for r in lookups if r["quality"] == "traits_exact"]
    assert len(lookups) > 50
    assert len(found) / len(lookups) > 0.6


# --- small hand-made cases ---------------------------------------------------------------------

def _nir(first13: str) -> str:
    number = int(first13.replace("2A", "19").replace("2B", "18"))
    return f"{first13}{97 - number % 97:02d}"


NIR_A, NIR_B, NIR_C = _nir("1840575123456"), _nir("2900169123001"), _nir("1750213055123")
REFERENCE = pa.table({
    "person_id": ["pa", "pb", "pc", "pd"],
    "nir": [NIR_A, NIR_B, NIR_C, None],
    "nom_naissance": ["MARTIN", "DURAND", "PETIT", "PETIT"],
    "nom_usage": [None, "LEROY", None, None],
    "prenoms": ["JEAN", "MARIE", "LUC", "LUC"],
    "sexe": ["1", "2", "1", "1"],
    "date_naissance": ["1984-05-02", "1990-01-15", "1975-02-20", "1975-02-20"],
})
ROWS = pa.table({
    "candidat_id": ["c1", "c2", "c3", "c4", "c5"],
    "nir": [NIR_A, None, None, NIR_A, None],
    "nom": ["Martin", "Leroy", "Petit", "Martin", "Durant"],
    "prenoms": ["Jean", "Marie", "Luc", "Jean", "Marie"],
    "sexe": ["M", "F", "M", "F", "F"],
    "date_naissance": ["02/05/1984", "15/01/1990", "20/02/1975", "02/05/1984", "15/01/1990"],
    "etat": ["accepted"] * 5,
})


@pytest.fixture(scope="module")
def small():
    calls = []

    def matcher(con, unresolved, reference):
        ids = sorted(r[0] for r in unresolved.select("record_id").fetchall())
        calls.append(ids)
        # c5 (typo in the name) -> pb with 0.95; c3 ambiguous (two PETIT LUC) -> a tie
        return pa.table({"record_id": ["c5", "c3", "c3"], "person_id": ["pb", "pc", "pd"],
                         "score": [0.95, 0.97, 0.97]})

    pivot = PivotAuthority(KEY, project="small", reference=REFERENCE, matcher=matcher, con=CON)
    out = {r["row_id"]: r for r in pivot.transcode(ROWS).to_pylist()}
    return pivot, out, calls


def test_small_cases_and_matcher_hook(small):
    pivot, out, calls = small
    code = Pseudonymiser(KEY, project="small", purpose="pivot").pseudonymise
    a, b = code([NIR_A, NIR_B])
    assert (out["c1"]["quality"], out["c1"]["pivot_code"]) == ("nir_exact", a)
    assert (out["c2"]["quality"], out["c2"]["pivot_code"]) == ("traits_exact", b)  # usage name
    assert out["c3"]["quality"] == "not_found" and out["c3"]["pivot_code"] is None  # ambiguous
    assert out["c4"]["quality"] == "nir_inconsistent" and out["c4"]["pivot_code"] is None
    assert (out["c5"]["quality"], out["c5"]["pivot_code"], out["c5"]["score"]) == (
        "traits_probable", b, pytest.approx(0.95))
    assert calls == [["c3", "c4", "c5"]]  # only rows left unresolved reach the matcher


def test_min_score_inconsistent_codes_and_bad_matchers():
    def matcher(con, unresolved, reference):
        return pa.table({"record_id": ["c5"], "person_id": ["pb"], "score": [0.5]})

    pivot = PivotAuthority(KEY, project="small", reference=REFERENCE, matcher=matcher,
                           codes_for_inconsistent=True, con=CON)
    out = {r["row_id"]: r for r in pivot.transcode(ROWS).to_pylist()}
    assert out["c5"]["quality"] == "not_found"
    assert out["c4"]["quality"] == "nir_inconsistent"
    assert out["c4"]["pivot_code"] == out["c1"]["pivot_code"]
    bad = PivotAuthority(KEY, project="small", reference=REFERENCE, con=CON,
                         matcher=lambda con, u, r: pa.table({"record_id": ["c5"]}))
    with pytest.raises(ConfigError, match="matcher"):
        bad.transcode(ROWS)
    with pytest.raises(ConfigError):
        PivotAuthority(KEY, project="small", reference=REFERENCE, min_score=2)


def test_projects_give_unrelated_codes(small):
    _, out, _ = small
    other = PivotAuthority(KEY, project="other", reference=REFERENCE,
                           con=CON).transcode(ROWS)
    mine = {r["pivot_code"] for r in out.values()} - {None}
    theirs = set(other.column("pivot_code").to_pylist()) - {None}
    assert mine and theirs and not mine & theirs


def test_roles_on_files(tmp_path, small):
    pivot, out, _ = small
    pivot_pair, stat_pair = generate_keypair(), generate_keypair()
    ids = encrypt_identities(ROWS, tmp_path / "ids.enc", pivot_pair.public_key(),
                             project="small")
    decrypted = read_identities(ids, pivot_pair, project="small", side="platform")
    assert "etat" not in decrypted.column_names and "nir" in decrypted.column_names
    with pytest.raises(ConfigError, match="encrypted"):
        read_identities(ids)
    codes_path = pivot.transcode_file(ids, tmp_path / "codes.enc", private_key=pivot_pair,
                                      recipient=stat_pair.public_key())
    codes = read_pivot_codes(codes_path, stat_pair, project="small", side="platform")
    assert {r["row_id"]: r["pivot_code"] for r in codes.to_pylist()} == {
        k: v["pivot_code"] for k, v in out.items()}
    # defence in depth: even an authentic pivot-code envelope carrying an identity column is
    # refused (the pivot's writer refuses to make one; build it with the raw envelope)
    leaky = encrypt_table(ROWS.select(["candidat_id", "nir"]), tmp_path / "leaky.enc",
                          stat_pair.public_key(), context=pivot_codes_context("small", "platform"))
    with pytest.raises(DisclosureError):
        read_pivot_codes(leaky, stat_pair, project="small", side="platform")
    with pytest.raises(DisclosureError):
        encrypt_pivot_codes(ROWS.select(["candidat_id", "nir"]), tmp_path / "leaky2.enc",
                            stat_pair.public_key(), project="small", side="platform")
    assert not (tmp_path / "leaky2.enc").exists()
    assert pc.all(pc.equal(codes.column("row_id"), pa.array(sorted(out)))).as_py()


def test_trusted_statuses_are_the_configured_ones():
    """[identity] trusted_consistency reaches the pivot: trusting 'inconsistent' codes c4's NIR
    as nir_exact (same code as c1's); an unknown status is refused."""
    pivot = PivotAuthority(KEY, project="small", reference=REFERENCE, con=CON,
                           trusted_consistency=("consistent", "unverifiable", "inconsistent"))
    out = {r["row_id"]: r for r in pivot.transcode(ROWS).to_pylist()}
    assert out["c4"]["quality"] == "nir_exact"
    assert out["c4"]["pivot_code"] == out["c1"]["pivot_code"] is not None
    with pytest.raises(ConfigError, match="trusted_consistency"):
        PivotAuthority(KEY, project="small", reference=REFERENCE, trusted_consistency=("x",))
