"""Authenticated exchange in the pivot protocol: every file that is not the one expected is
refused with a CryptoError (exit code 4 on the CLI), names the mismatch, leaks nothing, and
writes nothing.

The genuine files are made once by the CLI (producer encrypt, pivot transcode); each bad file is
derived from them — a flipped byte, a cut, a plain file renamed, an authentic file of another
project, side, content or role, another key, an empty file, a format-1 envelope — and handed to
``pivot decrypt`` or ``pivot transcode``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import re
import shutil
import struct
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appariement import cli
from appariement.crypto import (encrypt_identities, encrypt_pivot_codes, generate_key,
                                generate_keypair, load_key, project_fingerprint,
                                read_identities, read_pivot_codes, save_key)
from appariement.crypto.envelope import _read_header, decrypt_table, encrypt_table
from appariement.crypto.pivot import identities_context, pivot_codes_context
from appariement.errors import ConfigError, CryptoError, DecryptionError

from ._leakscan import assert_no_leak

PROJECT, OTHER_PROJECT = "projet-alpha", "projet-beta"


def _nir(first13: str) -> str:
    number = int(first13)
    return f"{first13}{97 - number % 97:02d}"


NIRS = [_nir("1840575123456"), _nir("2900169123001"), _nir("1750213055123")]
CANDIDATS = pa.table({
    "candidat_id": ["c1", "c2", "c3"],
    "nir": [NIRS[0], None, NIRS[2]],
    "nom": ["Martin", "Leroy", "Petit"],
    "prenoms": ["Jean", "Marie", "Luc"],
    "sexe": ["M", "F", "M"],
    "date_naissance": ["02/05/1984", "15/01/1990", "20/02/1975"],
})
PERSONNES = pa.table({
    "person_id": ["pa", "pb", "pc"],
    "nir": NIRS,
    "nom_naissance": ["MARTIN", "DURAND", "PETIT"],
    "nom_usage": [None, "LEROY", None],
    "prenoms": ["JEAN", "MARIE", "LUC"],
    "sexe": ["1", "2", "1"],
    "date_naissance": ["1984-05-02", "1990-01-15", "1975-02-20"],
})


@contextlib.contextmanager
def _restored_logging():
    """cli.main adds log handlers bound to the current stderr: drop them afterwards."""
    logger = logging.getLogger("appariement")
    handlers, level = list(logger.handlers), logger.level
    try:
        yield
    finally:
        for handler in logger.handlers[len(handlers):]:
            handler.close()
        logger.handlers[:] = handlers
        logger.setLevel(level)


@pytest.fixture(autouse=True)
def restore_logging():
    with _restored_logging():
        yield


def _cli(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Keys, inputs and the genuine files of the protocol, made by the CLI."""
    root = tmp_path_factory.mktemp("authenticity")
    keys, files = root / "keys", root / "files"
    keys.mkdir(), files.mkdir()
    save_key(generate_key(), keys / "pivot.key")
    for name in ("pivot_x", "stat", "intruder"):
        pair = generate_keypair()
        save_key(pair, keys / f"{name}.key")
        save_key(pair.public_key(), keys / f"{name}.key.pub")
    pq.write_table(CANDIDATS, files / "candidats.parquet")
    pq.write_table(PERSONNES, files / "personnes.parquet")

    def run(*argv: str) -> int:
        with _restored_logging():
            return cli.main(list(argv))

    assert run("pivot", "encrypt", "--recipient", str(keys / "pivot_x.key.pub"),
               "--project", PROJECT, "--in", str(files / "candidats.parquet"),
               "--out", str(files / "platform.ids.enc")) == 0
    assert run("pivot", "encrypt", "--recipient", str(keys / "pivot_x.key.pub"),
               "--project", PROJECT, "--side", "source", "--in", str(files / "personnes.parquet"),
               "--out", str(files / "source.ids.enc")) == 0
    # the pivot's own register as plain Parquet: the reference needs no envelope
    assert run("pivot", "transcode", "--key", str(keys / "pivot.key"), "--project", PROJECT,
               "--private-key", str(keys / "pivot_x.key"),
               "--reference", str(files / "personnes.parquet"),
               "--in", str(files / "platform.ids.enc"), "--out", str(files / "platform.codes.enc"),
               "--encrypt-for", str(keys / "stat.key.pub")) == 0
    stat, pivot_x = load_key(keys / "stat.key"), load_key(keys / "pivot_x.key")
    codes = read_pivot_codes(files / "platform.codes.enc", stat, project=PROJECT,
                             side="platform")
    return {"root": root, "keys": keys, "files": files, "codes": codes, "stat": stat,
            "pivot_x": pivot_x, "intruder": load_key(keys / "intruder.key")}


def _genuine(world, name: str) -> bytes:
    return (world["files"] / name).read_bytes()


def _flip(blob: bytes, pos: int) -> bytes:
    out = bytearray(blob)
    out[pos] ^= 0x01
    return bytes(out)


def _to_bytes(write) -> bytes:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "f.enc"
        write(path)
        return path.read_bytes()


def _version1_envelope(table: pa.Table, recipient) -> bytes:
    """A genuine envelope of format 1 (no context), built with raw primitives from the format
    that appariement wrote before the header bound project and side."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    sink = io.BytesIO()
    pq.write_table(table, sink)
    plaintext = sink.getvalue()
    ephemeral_key = X25519PrivateKey.generate()
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    ephemeral = ephemeral_key.public_key().public_bytes(*raw)
    recipient_raw = recipient._key.public_bytes(*raw)
    prefix, chunk = os.urandom(7), 1 << 20
    header = struct.pack(">6sBB16s32s7sI", b"APPENC", 1, 1,
                         bytes.fromhex(recipient.fingerprint[3:]), ephemeral, prefix, chunk)
    key = HKDF(hashes.SHA256(), 32, salt=ephemeral + recipient_raw,
               info=b"appariement/v1/envelope" + header).derive(
        ephemeral_key.exchange(recipient._key))
    nonce = prefix + (0).to_bytes(4, "big") + b"\x01"
    return header + AESGCM(key).encrypt(nonce, plaintext, header)


# --- the statistician: pivot decrypt --------------------------------------------------------

def _context_pos(blob: bytes) -> int:
    return blob.index(b"platform")


def _decrypt_cases():
    stat_pub = lambda w: w["stat"].public_key()  # noqa: E731
    return {
        "tampered header byte (context)": (
            lambda w: _flip(_genuine(w, "platform.codes.enc"),
                            _context_pos(_genuine(w, "platform.codes.enc")) + 1),
            "failed authentication"),
        "tampered header byte (nonce prefix)": (
            lambda w: _flip(_genuine(w, "platform.codes.enc"), 60), "failed authentication"),
        "tampered header byte (chunk size)": (
            lambda w: _flip(_genuine(w, "platform.codes.enc"), 66),
            "failed authentication|corrupted header"),
        "tampered body byte": (
            lambda w: _flip(_genuine(w, "platform.codes.enc"), -1), "failed authentication"),
        "tampered body byte (first chunk)": (
            lambda w: _flip(_genuine(w, "platform.codes.enc"), 150), "failed authentication"),
        "truncated body": (
            lambda w: _genuine(w, "platform.codes.enc")[:-40],
            "failed authentication|truncated"),
        "truncated header": (
            lambda w: _genuine(w, "platform.codes.enc")[:50], "truncated"),
        "plain CSV renamed .enc": (
            lambda w: _to_bytes(lambda p: pacsv.write_csv(w["codes"], p)),
            "not an appariement encrypted file"),
        "plain Parquet renamed .enc": (
            lambda w: _to_bytes(lambda p: pq.write_table(w["codes"], p)),
            "not an appariement encrypted file"),
        "authentic file of another project": (
            lambda w: _to_bytes(lambda p: encrypt_pivot_codes(
                w["codes"], p, stat_pub(w), project=OTHER_PROJECT, side="platform")),
            f'expected project "{project_fingerprint(PROJECT)}", file says '
            f'"{project_fingerprint(OTHER_PROJECT)}"'),
        "the other side's file": (
            lambda w: _to_bytes(lambda p: encrypt_pivot_codes(
                w["codes"], p, stat_pub(w), project=PROJECT, side="source")),
            'expected side "platform", file says "source"'),
        "wrong kind and roles (identities sent to the statistician)": (
            lambda w: _to_bytes(lambda p: encrypt_identities(
                CANDIDATS, p, stat_pub(w), project=PROJECT, side="platform")),
            'expected content "pivot-codes", file says "identities"'),
        "wrong sender role (codes made by a producer)": (
            lambda w: _to_bytes(lambda p: encrypt_table(
                w["codes"], p, stat_pub(w), context=dataclasses.replace(
                    pivot_codes_context(PROJECT, "platform"), sender="producer"))),
            'expected made by "pivot", file says "producer"'),
        "generic envelope without context": (
            lambda w: _to_bytes(lambda p: encrypt_table(w["codes"], p, stat_pub(w))),
            'expected content "pivot-codes", file says "file"'),
        "wrong key": (
            lambda w: _to_bytes(lambda p: encrypt_pivot_codes(
                w["codes"], p, w["intruder"].public_key(), project=PROJECT, side="platform")),
            "encrypted for key"),
        "empty file": (lambda w: b"", "empty"),
        "replayed format-1 envelope": (
            lambda w: _version1_envelope(w["codes"], stat_pub(w)),
            "older version of appariement.*re-create it"),
        "format-1 version byte on a format-2 file": (
            lambda w: bytes(_genuine(w, "platform.codes.enc")[:6] + b"\x01"
                            + _genuine(w, "platform.codes.enc")[7:]),
            "older version of appariement"),
    }


DECRYPT_CASES = _decrypt_cases()


def _secrets(world) -> list:
    keys = [world["stat"], world["pivot_x"], world["intruder"]]
    secrets = [k._key.private_bytes_raw() for k in keys]
    secrets.append(load_key(world["keys"] / "pivot.key")._raw())
    return [*secrets, *NIRS, PROJECT, OTHER_PROJECT, "Martin", "Leroy", "02/05/1984"]


@pytest.mark.parametrize("case", list(DECRYPT_CASES))
def test_pivot_decrypt_refuses_every_file_but_the_expected_one(case, world, tmp_path, capsys):
    make, message = DECRYPT_CASES[case]
    bad = tmp_path / "platform.codes.enc"
    bad.write_bytes(make(world))
    before = sorted(p.name for p in tmp_path.iterdir())
    code, text = _cli(capsys, "pivot", "decrypt", "--private-key", str(world["keys"] / "stat.key"),
                      "--project", PROJECT, "--side", "platform", "--in", str(bad),
                      "--out", str(tmp_path / "codes.parquet"))
    assert code == 4, text
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    assert re.search(message, text), text
    assert "Traceback" not in text
    assert_no_leak([], _secrets(world), log_text=text)
    # the Python function behind the command refuses it in the same way
    with pytest.raises(CryptoError) as err:
        read_pivot_codes(bad, world["stat"], project=PROJECT, side="platform")
    assert err.value.exit_code == 4 and re.search(message, str(err.value))


def test_pivot_decrypt_accepts_the_genuine_file_and_refuses_a_plain_enc_output(world, tmp_path,
                                                                               capsys):
    src = world["files"] / "platform.codes.enc"
    code, text = _cli(capsys, "pivot", "decrypt", "--private-key", str(world["keys"] / "stat.key"),
                      "--project", PROJECT, "--in", str(src), "--out", str(tmp_path / "c.parquet"))
    assert code == 0, text
    got = pq.read_table(tmp_path / "c.parquet")
    assert got.equals(world["codes"])
    assert got.column_names == ["row_id", "pivot_code", "quality", "score"]
    assert got.column("pivot_code").null_count < got.num_rows
    # the same file read for the other side or another project is refused
    for extra in (["--project", PROJECT, "--side", "source"], ["--project", OTHER_PROJECT]):
        code, text = _cli(capsys, "pivot", "decrypt", "--private-key",
                          str(world["keys"] / "stat.key"), *extra, "--in", str(src),
                          "--out", str(tmp_path / "d.parquet"))
        assert code == 4 and "not the file expected here" in text
    assert not (tmp_path / "d.parquet").exists()
    code, text = _cli(capsys, "pivot", "decrypt", "--private-key", str(world["keys"] / "stat.key"),
                      "--project", PROJECT, "--in", str(src), "--out", str(tmp_path / "c2.enc"))
    assert code == 4 and "named like an encrypted file" in text
    assert not (tmp_path / "c2.enc").exists()


# --- the pivot: pivot transcode -------------------------------------------------------------

def _transcode_cases():
    pivot_pub = lambda w: w["pivot_x"].public_key()  # noqa: E731
    genuine = lambda w: _genuine(w, "platform.ids.enc")  # noqa: E731
    return {
        "plain CSV renamed .enc": (
            "in", lambda w: _to_bytes(lambda p: pacsv.write_csv(CANDIDATS, p)),
            "not an appariement encrypted file"),
        "plain Parquet renamed .enc": (
            "in", lambda w: _to_bytes(lambda p: pq.write_table(CANDIDATS, p)),
            "not an appariement encrypted file"),
        "tampered header byte": (
            "in", lambda w: _flip(genuine(w), _context_pos(genuine(w))), "failed authentication"),
        "tampered body byte": ("in", lambda w: _flip(genuine(w), -20), "failed authentication"),
        "truncated": ("in", lambda w: genuine(w)[:len(genuine(w)) // 2],
                      "failed authentication|truncated"),
        "empty file": ("in", lambda w: b"", "empty"),
        "identities of another project": (
            "in", lambda w: _to_bytes(lambda p: encrypt_identities(
                CANDIDATS, p, pivot_pub(w), project=OTHER_PROJECT)), 'expected project "prj:'),
        "the source side's file for the platform": (
            "in", lambda w: _genuine(w, "source.ids.enc"),
            'expected side "platform", file says "source"'),
        "a pivot-code file given as identities": (
            "in", lambda w: _to_bytes(lambda p: encrypt_table(
                w["codes"], p, pivot_pub(w), context=dataclasses.replace(
                    pivot_codes_context(PROJECT, "platform"), recipient="pivot"))),
            'expected content "identities", file says "pivot-codes"'),
        "identities for another recipient role": (
            "in", lambda w: _to_bytes(lambda p: encrypt_table(
                CANDIDATS, p, pivot_pub(w), context=dataclasses.replace(
                    identities_context(PROJECT, "platform"), recipient="statistician"))),
            'expected made for "pivot", file says "statistician"'),
        "wrong key": (
            "in", lambda w: _to_bytes(lambda p: encrypt_identities(
                CANDIDATS, p, w["intruder"].public_key(), project=PROJECT)),
            "encrypted for key"),
        "replayed format-1 envelope": (
            "in", lambda w: _version1_envelope(CANDIDATS, pivot_pub(w)), "older version"),
        "reference: plain Parquet renamed .enc": (
            "reference", lambda w: _to_bytes(lambda p: pq.write_table(PERSONNES, p)),
            "not an appariement encrypted file"),
        "reference: the platform's identities": (
            "reference", lambda w: _genuine(w, "platform.ids.enc"),
            'expected side "source", file says "platform"'),
        "reference: another project's register": (
            "reference", lambda w: _to_bytes(lambda p: encrypt_identities(
                PERSONNES, p, pivot_pub(w), project=OTHER_PROJECT, side="source")),
            'expected project "prj:'),
    }


TRANSCODE_CASES = _transcode_cases()


def _transcode(capsys, world, folder: Path, src: Path, reference: Path, *extra: str):
    return _cli(capsys, "pivot", "transcode", "--key", str(world["keys"] / "pivot.key"),
                "--project", PROJECT, "--private-key", str(world["keys"] / "pivot_x.key"),
                "--reference", str(reference), "--in", str(src),
                "--out", str(folder / "codes.enc"), *extra)


@pytest.mark.parametrize("case", list(TRANSCODE_CASES))
def test_pivot_transcode_refuses_every_file_but_the_expected_one(case, world, tmp_path, capsys):
    which, make, message = TRANSCODE_CASES[case]
    src, reference = tmp_path / "platform.ids.enc", tmp_path / "reference.enc"
    shutil.copy(world["files"] / "platform.ids.enc", src)
    shutil.copy(world["files"] / "source.ids.enc", reference)
    (src if which == "in" else reference).write_bytes(make(world))
    before = sorted(p.name for p in tmp_path.iterdir())
    code, text = _transcode(capsys, world, tmp_path, src, reference,
                            "--encrypt-for", str(world["keys"] / "stat.key.pub"))
    assert code == 4, text
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    assert re.search(message, text), text
    assert "Traceback" not in text
    assert_no_leak([], _secrets(world), log_text=text)
    if which == "in":
        with pytest.raises(CryptoError):
            read_identities(src, world["pivot_x"], project=PROJECT, side="platform")


def test_pivot_transcode_never_writes_plain_codes_under_an_enc_name(world, tmp_path, capsys):
    code, text = _transcode(capsys, world, tmp_path, world["files"] / "platform.ids.enc",
                            world["files"] / "personnes.parquet")
    assert code == 4 and "named like an encrypted file" in text and "--encrypt-for" in text
    assert list(tmp_path.iterdir()) == []


# --- random damage: hypothesis ----------------------------------------------------------------

@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_damaged_envelope_is_refused(world, data):
    """A random set of byte flips anywhere, or a random cut, never yields codes."""
    blob = bytearray(_genuine(world, "platform.codes.enc"))
    if data.draw(st.booleans(), label="cut"):
        blob = blob[:data.draw(st.integers(0, len(blob) - 1), label="length")]
    else:
        for pos in data.draw(st.sets(st.integers(0, len(blob) - 1), min_size=1, max_size=4),
                             label="positions"):
            blob[pos] ^= data.draw(st.integers(1, 255), label="mask")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "codes.enc"
        path.write_bytes(bytes(blob))
        with pytest.raises(CryptoError) as err:
            read_pivot_codes(path, world["stat"], project=PROJECT, side="platform")
    assert err.value.exit_code == 4
    assert not any(nir in str(err.value) for nir in NIRS)


def test_every_header_byte_is_bound(world, tmp_path):
    """Flipping any single byte of the header (fixed part and context) is refused."""
    blob = _genuine(world, "platform.codes.enc")
    size = len(_read_header(io.BytesIO(blob), "x")._raw)
    assert size > 69  # a context follows the fixed part
    path = tmp_path / "c.enc"
    for pos in range(size):
        path.write_bytes(_flip(blob, pos))
        with pytest.raises(DecryptionError):
            decrypt_table(path, world["stat"], expect=pivot_codes_context(PROJECT, "platform"))


def test_expected_project_and_side_are_required(world):
    with pytest.raises(ConfigError, match="project must be given"):
        read_identities(world["files"] / "platform.ids.enc", world["pivot_x"], project=None)
    with pytest.raises(ConfigError, match="side"):
        read_pivot_codes(world["files"] / "platform.codes.enc", world["stat"], project=PROJECT,
                         side="both")
    with pytest.raises(TypeError):
        read_pivot_codes(world["files"] / "platform.codes.enc", world["stat"])
    with pytest.raises(TypeError):
        encrypt_identities(CANDIDATS, world["root"] / "x.enc", world["pivot_x"].public_key())
    assert not (world["root"] / "x.enc").exists()
