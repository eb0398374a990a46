"""The pivot re-keys a pre-hashed ``hash_nir`` (SHA-256 of NIR + one global salt) into a
project-keyed code (quality ``opaque_key``): both sides' hashes get the same code, a code of a
hash never equals the code of the NIR nor another project's code, and no hash value reaches the
pivot's output, its logs, or the statistician.

A transcode standardises its rows in SQL (seconds even on a few rows): the tests share one pivot
and one transcode of each side where they can.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appariement.crypto import (PivotAuthority, Pseudonymiser, encrypt_identities,
                                encrypt_pivot_codes, generate_key, generate_keypair, load_key,
                                read_identities, read_pivot_codes, save_key)
from appariement.crypto.envelope import encrypt_table
from appariement.crypto.pivot import (HASH_PIVOT_PURPOSE, PIVOT_PURPOSE, QUALITIES,
                                      identity_columns, pivot_codes_context)
from appariement.errors import (ConfigError, CryptoError, DisclosureError, InvalidValueError,
                                KeyFileError)

from ._leakscan import assert_no_leak
from .test_pivot import NIR_A, NIR_B, NIR_C, REFERENCE, _nir
from .test_pivot_authenticity import _cli, _restored_logging

KEY = generate_key()
CON = duckdb.connect()
SALT = "one-global-salt"
PROJECT = "rekey"


def _sha(nir: str) -> str:
    """The warehouse's hash: hex SHA-256 of the NIR and the global salt."""
    return hashlib.sha256((nir + SALT).encode()).hexdigest()


HASH_A, HASH_B, HASH_C = _sha(NIR_A), _sha(NIR_B), _sha(NIR_C)
#: the warehouse's candidats_v0: no name, no NIR, only the salted hash
PLATFORM = pa.table({"candidat_id": ["c1", "c2", "c3", "c4"],
                     "hash_nir": [HASH_A, HASH_B, HASH_A.upper(), None]})
#: the DARES side, hashed alike
SOURCE = pa.table({"person_id": ["pa", "pb", "pc"], "hash_nir": [HASH_A, HASH_B, HASH_C]})


@pytest.fixture(autouse=True)
def restore_logging():
    with _restored_logging():
        yield


def _pivot(project: str = PROJECT, **kwargs) -> PivotAuthority:
    return PivotAuthority(KEY, project=project, reference=REFERENCE, con=CON, **kwargs)


def _by_id(table: pa.Table) -> dict[str, dict]:
    return {r["row_id"]: r for r in table.to_pylist()}


#: the reference register is standardised once per pivot: one pivot for most of the module
PIVOT = _pivot()


@pytest.fixture(scope="module")
def transcoded():
    """Both sides transcoded once, with the log lines of the platform's transcode."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("appariement")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        platform = PIVOT.transcode(PLATFORM, side="platform")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    source = PIVOT.transcode(SOURCE, side="source")
    return platform, source, stream.getvalue()


def test_both_sides_identical_hashes_get_the_same_code(transcoded):
    platform, source = _by_id(transcoded[0]), _by_id(transcoded[1])
    assert [platform[c]["quality"] for c in ("c1", "c2", "c3")] == ["opaque_key"] * 3
    assert platform["c1"]["pivot_code"] == source["pa"]["pivot_code"]
    assert platform["c2"]["pivot_code"] == source["pb"]["pivot_code"]
    assert platform["c3"]["pivot_code"] == platform["c1"]["pivot_code"]  # hex case ignored
    assert len({r["pivot_code"] for r in source.values()}) == 3
    assert all(r["score"] is None for r in platform.values())
    # a row with neither NIR nor hash (nor traits) is kept, without a code
    assert (platform["c4"]["quality"], platform["c4"]["pivot_code"]) == ("not_found", None)
    # the code is reproducible by whoever holds the pivot key, under its own purpose
    expected = Pseudonymiser(KEY, project=PROJECT, purpose=HASH_PIVOT_PURPOSE,
                             normalise="none").pseudonymise([HASH_A])[0]
    assert platform["c1"]["pivot_code"] == expected


def test_a_code_of_a_hash_is_not_the_code_of_the_nir_nor_of_another_project(transcoded):
    from_hash = _by_id(transcoded[0])["c1"]["pivot_code"]
    # the pivot's NIR codes (test_pivot checks that this reproduces them)
    from_nir = Pseudonymiser(KEY, project=PROJECT, purpose=PIVOT_PURPOSE).pseudonymise([NIR_A])[0]
    assert from_hash != from_nir
    # distinct purposes, so distinct sub-keys: the NIR sub-key applied to the hash string does
    # not give the hash's code either
    nir_key_on_hash = Pseudonymiser(KEY, project=PROJECT, purpose=PIVOT_PURPOSE,
                                    normalise="none").pseudonymise([HASH_A])[0]
    assert from_hash != nir_key_on_hash
    assert HASH_PIVOT_PURPOSE != PIVOT_PURPOSE
    other = _by_id(_pivot("another-project").transcode(PLATFORM))["c1"]["pivot_code"]
    assert other is not None and other != from_hash
    assert PIVOT.hash_fingerprint not in (None, PIVOT.fingerprint)


def test_routes_fallback_and_prefer():
    temporary = _nir("7840575123456")
    rows = pa.table({
        "candidat_id": ["n1", "n2", "n3", "n4", "n5"],
        # n1 trusted NIR + hash; n2 temporary NIR + hash; n3 no NIR, no hash, traits of pb;
        # n4 NIR contradicting the declared sex + hash; n5 invalid NIR + hash
        "nir": [NIR_A, temporary, None, NIR_A, "123"],
        "hash_nir": [HASH_A, HASH_B, None, HASH_A, HASH_C],
        "nom": ["Martin", "X", "Leroy", "Martin", "Y"],
        "prenoms": ["Jean", "X", "Marie", "Jean", "Y"],
        "sexe": ["M", "F", "F", "F", "M"],
        "date_naissance": ["02/05/1984", "01/01/1990", "15/01/1990", "02/05/1984",
                           "01/01/1970"],
    })
    calls = []

    def matcher(con, unresolved, reference):
        calls.append(sorted(r[0] for r in unresolved.select("record_id").fetchall()))
        return pa.table({"record_id": pa.array([], pa.string()),
                         "person_id": pa.array([], pa.string()),
                         "score": pa.array([], pa.float64())})

    nir_code = Pseudonymiser(KEY, project=PROJECT, purpose=PIVOT_PURPOSE).pseudonymise
    hash_code = Pseudonymiser(KEY, project=PROJECT, purpose=HASH_PIVOT_PURPOSE,
                              normalise="none").pseudonymise
    fallback = _by_id(_pivot(matcher=matcher).transcode(rows))  # its own reference copy
    assert {k: r["quality"] for k, r in fallback.items()} == {
        "n1": "nir_exact", "n2": "opaque_key", "n3": "traits_exact", "n4": "nir_inconsistent",
        "n5": "opaque_key"}
    assert fallback["n1"]["pivot_code"] == nir_code([NIR_A])[0]
    assert fallback["n2"]["pivot_code"] == hash_code([HASH_B])[0]
    assert fallback["n3"]["pivot_code"] == nir_code([NIR_B])[0]  # the reference person's NIR
    assert calls == [["n4"]]  # re-keyed rows never reach the matcher
    prefer = _by_id(_pivot(hash_nir="prefer").transcode(rows))
    assert {k: r["quality"] for k, r in prefer.items()} == {
        "n1": "opaque_key", "n2": "opaque_key", "n3": "traits_exact", "n4": "opaque_key",
        "n5": "opaque_key"}
    assert prefer["n1"]["pivot_code"] == prefer["n4"]["pivot_code"] == hash_code([HASH_A])[0]
    assert "opaque_key" in QUALITIES
    with pytest.raises(ConfigError, match="hash_nir must be one of"):
        _pivot(hash_nir="always")


def test_counts_of_rekeyed_rows_are_logged_never_a_value(transcoded):
    platform, _, log_text = transcoded
    assert "opaque_key=3" in log_text and "not_found=1" in log_text
    assert "3 rows (platform) re-keyed from hash_nir" in log_text
    assert_no_leak([], [HASH_A, HASH_B, HASH_A.upper()], log_text=log_text)
    # nothing is lost: one row per input row, the re-keyed ones counted in the quality column
    assert platform.num_rows == PLATFORM.num_rows
    assert platform.column("quality").to_pylist().count("opaque_key") == 3


def test_a_value_that_is_not_a_hash_is_refused_without_being_shown():
    bad = pa.table({"candidat_id": ["c1", "c2"], "hash_nir": [HASH_A, NIR_A]})
    with pytest.raises(InvalidValueError) as info:
        PIVOT.transcode(bad)
    assert "1 value(s) are not pre-hashed keys" in str(info.value)
    assert info.value.column == "hash_nir" and info.value.n_rows == 1
    assert NIR_A not in str(info.value) and HASH_A not in str(info.value)


def test_a_derived_pivot_key_codes_nirs_but_refuses_to_rekey_a_hash():
    derived = KEY.derive(project=PROJECT, purpose=PIVOT_PURPOSE)
    pivot = PivotAuthority(derived, project=PROJECT, reference=REFERENCE, con=CON)
    assert pivot.hash_fingerprint is None
    codes = pivot.transcode(pa.table({"candidat_id": ["x"], "nir": [NIR_A],
                                      "hash_nir": [None]}))
    assert codes.column("quality").to_pylist() == ["nir_exact"]
    with pytest.raises(KeyFileError, match="master key") as info:
        pivot.transcode(PLATFORM)
    assert HASH_A not in str(info.value)


def test_no_hash_value_in_any_output(tmp_path, caplog, transcoded):
    pivot_pair, stat_pair = generate_keypair(), generate_keypair()
    assert identity_columns(PLATFORM).column_names == ["candidat_id", "hash_nir"]
    ids = encrypt_identities(PLATFORM, tmp_path / "ids.enc", pivot_pair.public_key(),
                             project=PROJECT)
    with caplog.at_level(logging.DEBUG, logger="appariement"):
        plain = PIVOT.transcode_file(ids, tmp_path / "codes.parquet", private_key=pivot_pair)
    table = transcoded[0]
    sealed = encrypt_pivot_codes(table, tmp_path / "codes.enc", stat_pair.public_key(),
                                 project=PROJECT, side="platform")
    secrets = [HASH_A, HASH_B, HASH_C, HASH_A.upper()]
    assert_no_leak([plain, sealed], secrets, log_text=caplog.text + transcoded[2])
    # and in the bytes of the table itself (Arrow IPC)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    assert not [h for h in secrets if h.encode() in sink.getvalue()]
    assert table.column_names == ["row_id", "pivot_code", "quality", "score"]
    codes = read_pivot_codes(sealed, stat_pair, project=PROJECT, side="platform")
    assert codes.column("pivot_code").to_pylist() == pq.read_table(plain).column(
        "pivot_code").to_pylist()


def test_wrong_key_and_tampered_envelopes_are_still_refused(tmp_path, transcoded):
    pivot_pair, stat_pair, intruder = generate_keypair(), generate_keypair(), generate_keypair()
    pivot = PIVOT
    ids = encrypt_identities(PLATFORM, tmp_path / "ids.enc", pivot_pair.public_key(),
                             project=PROJECT)
    with pytest.raises(CryptoError):
        pivot.transcode_file(ids, tmp_path / "a.enc", private_key=intruder,
                             recipient=stat_pair.public_key())
    blob = bytearray(ids.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    (tmp_path / "tampered.enc").write_bytes(bytes(blob))
    with pytest.raises(CryptoError):
        pivot.transcode_file(tmp_path / "tampered.enc", tmp_path / "b.enc",
                             private_key=pivot_pair, recipient=stat_pair.public_key())
    # an authentic file of another project
    other = encrypt_identities(PLATFORM, tmp_path / "other.enc", pivot_pair.public_key(),
                               project="another-project")
    with pytest.raises(CryptoError):
        pivot.transcode_file(other, tmp_path / "c.enc", private_key=pivot_pair,
                             recipient=stat_pair.public_key())
    assert not [p for p in ("a.enc", "b.enc", "c.enc") if (tmp_path / p).exists()]
    codes = encrypt_pivot_codes(transcoded[0], tmp_path / "codes.enc", stat_pair.public_key(),
                                project=PROJECT, side="platform")
    with pytest.raises(CryptoError):
        read_pivot_codes(codes, intruder, project=PROJECT, side="platform")
    # the hash is an identity column: never in a pivot-code file
    with pytest.raises(DisclosureError):
        encrypt_pivot_codes(PLATFORM.rename_columns(["row_id", "hash_nir"]),
                            tmp_path / "leaky.enc", stat_pair.public_key(), project=PROJECT,
                            side="platform")
    leaky = encrypt_table(PLATFORM.rename_columns(["row_id", "hash_nir"]).append_column(
        "pivot_code", pa.array(["X"] * 4)), tmp_path / "leaky2.enc", stat_pair.public_key(),
        context=pivot_codes_context(PROJECT, "platform"))
    with pytest.raises(DisclosureError):
        read_pivot_codes(leaky, stat_pair, project=PROJECT, side="platform")


def test_cli_round_trip_with_a_hash_only_file(tmp_path, capsys):
    keys, files = tmp_path / "keys", tmp_path / "files"
    keys.mkdir(), files.mkdir()
    save_key(KEY, keys / "pivot.key")
    for name in ("pivot_x", "stat"):
        pair = generate_keypair()
        save_key(pair, keys / f"{name}.key")
        save_key(pair.public_key(), keys / f"{name}.key.pub")
    pq.write_table(PLATFORM, files / "candidats.parquet")
    # the DARES side carries its NIRs and the same salted hash
    personnes = REFERENCE.append_column("hash_nir", pa.array([HASH_A, HASH_B, HASH_C, None]))
    pq.write_table(personnes, files / "personnes.parquet")
    out = tmp_path / "out"
    out.mkdir()
    codes = {}
    for side, src in (("platform", "candidats"), ("source", "personnes")):
        code, text = _cli(capsys, "pivot", "encrypt", "--recipient",
                          str(keys / "pivot_x.key.pub"), "--project", PROJECT, "--side", side,
                          "--in", str(files / f"{src}.parquet"),
                          "--out", str(out / f"{side}.ids.enc"))
        assert code == 0, text
        code, text = _cli(capsys, "pivot", "transcode", "--key", str(keys / "pivot.key"),
                          "--project", PROJECT, "--private-key", str(keys / "pivot_x.key"),
                          "--reference", str(files / "personnes.parquet"), "--side", side,
                          "--hash-nir", "prefer", "--in", str(out / f"{side}.ids.enc"),
                          "--out", str(out / f"{side}.codes.enc"),
                          "--encrypt-for", str(keys / "stat.key.pub"),
                          "--manifest", str(out / f"{side}.manifest.json"))
        assert code == 0, text
        assert "opaque_key=3" in text
        assert_no_leak([], [HASH_A, HASH_B, HASH_C], log_text=text)
        code, text = _cli(capsys, "pivot", "decrypt", "--private-key", str(keys / "stat.key"),
                          "--project", PROJECT, "--side", side,
                          "--in", str(out / f"{side}.codes.enc"),
                          "--out", str(out / f"{side}.codes.parquet"))
        assert code == 0, text
        codes[side] = _by_id(pq.read_table(out / f"{side}.codes.parquet"))
        manifest = json.loads((out / f"{side}.manifest.json").read_text())
        assert manifest["keys"]["pivot_hash_nir"] != manifest["keys"]["pivot"]
        assert manifest["config"]["hash_nir"] == "prefer"
    platform, source = codes["platform"], codes["source"]
    assert platform["c1"]["pivot_code"] == platform["c3"]["pivot_code"] == \
        source["pa"]["pivot_code"]
    assert platform["c2"]["pivot_code"] == source["pb"]["pivot_code"]
    assert source["pd"]["quality"] != "opaque_key"  # no hash: the NIR / traits route
    assert_no_leak([out], [HASH_A, HASH_B, HASH_C, HASH_A.upper(), NIR_A, NIR_B, NIR_C,
                           load_key(keys / "pivot.key")._raw()])
    # the statistician's file holds the pivot's columns only
    assert pq.read_table(out / "platform.codes.parquet").column_names == [
        "row_id", "pivot_code", "quality", "score"]
    assert read_identities(out / "platform.ids.enc", load_key(keys / "pivot_x.key"),
                           project=PROJECT).column_names == ["candidat_id", "hash_nir"]


def test_a_hash_only_file_with_a_bad_value_fails_on_the_cli_without_showing_it(tmp_path,
                                                                               capsys):
    save_key(KEY, tmp_path / "pivot.key")
    pair = generate_keypair()
    save_key(pair, tmp_path / "pivot_x.key")
    save_key(pair.public_key(), tmp_path / "pivot_x.key.pub")
    bad = pa.table({"candidat_id": ["c1"], "hash_nir": [NIR_A]})
    pq.write_table(bad, tmp_path / "bad.parquet")
    pq.write_table(REFERENCE, tmp_path / "ref.parquet")
    code, text = _cli(capsys, "pivot", "encrypt", "--recipient", str(tmp_path / "pivot_x.key.pub"),
                      "--project", PROJECT, "--in", str(tmp_path / "bad.parquet"),
                      "--out", str(tmp_path / "bad.ids.enc"))
    assert code == 0, text
    code, text = _cli(capsys, "pivot", "transcode", "--key", str(tmp_path / "pivot.key"),
                      "--project", PROJECT, "--private-key", str(tmp_path / "pivot_x.key"),
                      "--reference", str(tmp_path / "ref.parquet"),
                      "--in", str(tmp_path / "bad.ids.enc"), "--out", str(tmp_path / "c.parquet"))
    assert code == 3 and "hash_nir" in text and NIR_A not in text
    assert not (tmp_path / "c.parquet").exists()


_HASHES = st.lists(st.binary(min_size=32, max_size=32).map(bytes.hex), min_size=1, max_size=60,
                   unique=True)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hashes=_HASHES)
def test_random_hashes_give_deterministic_distinct_codes(hashes):
    n = len(hashes)
    # one transcode (they are slow): each hash twice, the copy upper-case and in reverse order
    table = pa.table({"candidat_id": [f"a{i:03d}" for i in range(n)] +
                                     [f"b{i:03d}" for i in range(n)],
                      "hash_nir": hashes + [h.upper() for h in reversed(hashes)]})
    out = _by_id(PIVOT.transcode(table))
    codes = [out[f"a{i:03d}"]["pivot_code"] for i in range(n)]
    copies = [out[f"b{n - 1 - i:03d}"]["pivot_code"] for i in range(n)]
    assert codes == copies  # deterministic, whatever the row order and the hex case
    assert {r["quality"] for r in out.values()} == {"opaque_key"}
    assert len(set(codes)) == n  # no collision among the inputs
    assert not set(codes) & set(hashes)  # no hash passes through
    expected = Pseudonymiser(KEY, project=PROJECT, purpose=HASH_PIVOT_PURPOSE,
                             normalise="none").pseudonymise(hashes)
    assert codes == expected  # the same code in any later run with the same key
    nir_sub_key = Pseudonymiser(KEY, project=PROJECT, purpose=PIVOT_PURPOSE,
                                normalise="none").pseudonymise(hashes)
    assert not set(codes) & set(nir_sub_key)
