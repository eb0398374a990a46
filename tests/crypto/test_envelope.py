"""Envelope encryption: round trips, and every way a file can be wrong raises DecryptionError."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appariement.crypto import (decrypt_bytes, decrypt_file, decrypt_table, encrypt_bytes,
                                encrypt_file, encrypt_table, generate_keypair, is_encrypted,
                                read_header)
from appariement.crypto.envelope import (_HEADER, EnvelopeContext, _read_header,
                                         project_fingerprint)
from appariement.errors import CryptoError, DecryptionError

KEY = generate_keypair()
OTHER = generate_keypair()
CHUNK = 1024


def _header_size(blob: bytes) -> int:
    """Bytes of the header (fixed part + context) at the start of an envelope."""
    import io
    return len(_read_header(io.BytesIO(blob), "test")._raw)


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=5 * CHUNK), st.sampled_from([CHUNK, 2 * CHUNK + 0]))
def test_round_trip(data, chunk):
    blob = encrypt_bytes(data, KEY.public_key(), chunk_size=chunk)
    assert decrypt_bytes(blob, KEY) == data
    if len(data) >= 16:
        assert data not in blob


def test_same_plaintext_encrypts_differently():
    assert encrypt_bytes(b"x" * 100, KEY.public_key()) != encrypt_bytes(b"x" * 100,
                                                                        KEY.public_key())


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_any_flipped_byte_is_detected(data):
    blob = bytearray(encrypt_bytes(b"secret payload " * 200, KEY.public_key(), chunk_size=CHUNK))
    pos = data.draw(st.integers(0, len(blob) - 1))
    blob[pos] ^= data.draw(st.integers(1, 255))
    with pytest.raises(DecryptionError):
        decrypt_bytes(bytes(blob), KEY)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_any_truncation_is_detected(data):
    blob = encrypt_bytes(b"z" * (3 * CHUNK + 10), KEY.public_key(), chunk_size=CHUNK)
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(DecryptionError):
        decrypt_bytes(blob[:cut], KEY)


def test_truncation_at_chunk_boundary_reordering_and_appending_are_detected():
    blob = encrypt_bytes(b"a" * CHUNK + b"b" * CHUNK + b"c" * 5, KEY.public_key(),
                         chunk_size=CHUNK)
    head, block = _header_size(blob), CHUNK + 16
    c0, c1, c2 = (blob[head:head + block], blob[head + block:head + 2 * block],
                  blob[head + 2 * block:])
    assert decrypt_bytes(blob, KEY) == b"a" * CHUNK + b"b" * CHUNK + b"c" * 5
    for bad in (blob[:head] + c0 + c1,           # dropped final chunk, cut on a boundary
                blob[:head] + c1 + c0 + c2,      # reordered
                blob + c2,                       # appended
                blob + b"\0"):
        with pytest.raises(DecryptionError, match="authentication"):
            decrypt_bytes(bad, KEY)


def test_wrong_key_names_the_key_needed():
    blob = encrypt_bytes(b"hello", KEY.public_key())
    with pytest.raises(DecryptionError, match=KEY.fingerprint) as err:
        decrypt_bytes(blob, OTHER)
    assert OTHER.fingerprint in str(err.value)
    assert isinstance(err.value, CryptoError) and err.value.exit_code == 4


def test_swapped_recipient_fingerprint_still_fails():
    # An attacker rewriting the header to name another key gains nothing: the header is AAD.
    blob = bytearray(encrypt_bytes(b"hello", KEY.public_key()))
    fp = bytes.fromhex(OTHER.fingerprint[3:])
    blob[8:24] = fp
    with pytest.raises(DecryptionError):
        decrypt_bytes(bytes(blob), OTHER)


def test_not_an_encrypted_file_and_unknown_version():
    with pytest.raises(DecryptionError, match="not an appariement encrypted file"):
        decrypt_bytes(b"PAR1" + b"\0" * 100, KEY)
    blob = bytearray(encrypt_bytes(b"hello", KEY.public_key()))
    blob[6] = 9
    with pytest.raises(DecryptionError, match="version"):
        decrypt_bytes(bytes(blob), KEY)


def test_files_tampered_leave_no_output(tmp_path):
    src = tmp_path / "plain.bin"
    src.write_bytes(b"row,nir\n" * 1000)
    enc = encrypt_file(src, tmp_path / "plain.bin.enc", KEY.public_key(), chunk_size=CHUNK)
    assert is_encrypted(enc) and not is_encrypted(src)
    assert read_header(enc).recipient_fingerprint == KEY.fingerprint
    assert decrypt_file(enc, tmp_path / "out.bin", KEY).read_bytes() == src.read_bytes()
    blob = bytearray(enc.read_bytes())
    blob[-1] ^= 1
    enc.write_bytes(bytes(blob))
    with pytest.raises(DecryptionError):
        decrypt_file(enc, tmp_path / "out2.bin", KEY)
    assert not (tmp_path / "out2.bin").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin", "plain.bin",
                                                          "plain.bin.enc"]


def test_encrypted_parquet_table_round_trip(tmp_path):
    table = pa.table({"row_id": ["a", "b"], "nir": ["184122A00401234", None]})
    path = encrypt_table(table, tmp_path / "t.enc", KEY.public_key())
    assert b"184122A00401234" not in path.read_bytes()
    assert decrypt_table(path, KEY).equals(table)
    with pytest.raises(DecryptionError):
        decrypt_table(path, OTHER)


def test_format_matches_its_documentation():
    """Decrypt with raw primitives, following only the format described in envelope.py."""
    import struct

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    plaintext = bytes(range(256)) * 9  # 2,304 bytes = 2 full chunks of 1,024 + 256
    context = EnvelopeContext.for_project("doc", kind="pivot-codes", side="source",
                                          sender="pivot", recipient="statistician")
    blob = encrypt_bytes(plaintext, KEY.public_key(), chunk_size=CHUNK, context=context)
    magic, version, suite, recipient, ephemeral, prefix, chunk, n_context = struct.unpack(
        ">6sBB16s32s7sIH", blob[:69])
    assert (magic, version, suite, chunk) == (b"APPENC", 2, 1, CHUNK)
    assert "pk:" + recipient.hex() == KEY.fingerprint
    raw_context, fields, pos = blob[69:69 + n_context], [], 0
    while pos < n_context:
        fields.append(raw_context[pos + 1:pos + 1 + raw_context[pos]].decode("ascii"))
        pos += 1 + raw_context[pos]
    assert fields == [project_fingerprint("doc"), "pivot-codes", "source", "pivot",
                      "statistician"]
    shared = KEY._key.exchange(X25519PublicKey.from_public_bytes(ephemeral))
    recipient_raw = KEY.public_key()._key.public_bytes(serialization.Encoding.Raw,
                                                       serialization.PublicFormat.Raw)
    header = blob[:69 + n_context]
    key = HKDF(hashes.SHA256(), 32, salt=ephemeral + recipient_raw,
               info=b"appariement/v2/envelope" + header).derive(shared)
    body, out, counter = blob[len(header):], b"", 0
    while body:
        piece, body = body[:CHUNK + 16], body[CHUNK + 16:]
        nonce = prefix + counter.to_bytes(4, "big") + (b"\x01" if not body else b"\x00")
        out += AESGCM(key).decrypt(nonce, piece, header)
        counter += 1
    assert out == plaintext and counter == 3


CONTEXT = EnvelopeContext.for_project("p1", kind="pivot-codes", side="platform",
                                      sender="pivot", recipient="statistician")


@pytest.mark.parametrize("field, value, message", [
    ("project", project_fingerprint("p2"), 'expected project "prj:'),
    ("side", "source", 'expected side "platform", file says "source"'),
    ("kind", "identities", 'expected content "pivot-codes", file says "identities"'),
    ("sender", "producer", 'expected made by "pivot", file says "producer"'),
    ("recipient", "pivot", 'expected made for "statistician", file says "pivot"'),
])
def test_context_is_checked_against_what_the_caller_expects(field, value, message):
    import dataclasses

    other = dataclasses.replace(CONTEXT, **{field: value})
    blob = encrypt_bytes(b"payload", KEY.public_key(), context=other)
    assert decrypt_bytes(blob, KEY) == b"payload"  # no expectation: any context
    assert decrypt_bytes(blob, KEY, expect=other) == b"payload"
    with pytest.raises(DecryptionError, match="not the file expected here") as err:
        decrypt_bytes(blob, KEY, expect=CONTEXT)
    assert message in str(err.value) and err.value.exit_code == 4
    assert "p1" not in str(err.value).replace(project_fingerprint("p1"), "")  # no project name


def test_context_is_authenticated_and_read_from_the_header(tmp_path):
    blob = bytearray(encrypt_bytes(b"payload", KEY.public_key(), context=CONTEXT))
    assert read_header_bytes(bytes(blob)).context == CONTEXT
    # rewrite "platform" as "pla-form" in the header: same length, still well-formed
    pos = bytes(blob).index(b"platform")
    blob[pos + 3] = ord("-")
    with pytest.raises(DecryptionError, match="failed authentication"):
        decrypt_bytes(bytes(blob), KEY, expect=CONTEXT)
    with pytest.raises(DecryptionError, match="failed authentication"):
        decrypt_bytes(bytes(blob), KEY)
    path = encrypt_file(_write(tmp_path / "x", b"abc"), tmp_path / "x.enc", KEY.public_key(),
                        context=CONTEXT)
    assert read_header(path).context == CONTEXT
    with pytest.raises(DecryptionError, match="expected side"):
        decrypt_file(path, tmp_path / "y", KEY,
                     expect=EnvelopeContext(CONTEXT.project, "pivot-codes", "source", "pivot",
                                            "statistician"))
    assert not (tmp_path / "y").exists()


def test_context_fields_are_short_tokens_and_project_is_fingerprinted():
    with pytest.raises(ValueError):
        EnvelopeContext(kind="Jean Martin")
    with pytest.raises(ValueError):
        EnvelopeContext(side="x" * 65)
    with pytest.raises(ValueError):
        project_fingerprint("")
    assert project_fingerprint("a") != project_fingerprint("b")
    assert project_fingerprint("a").startswith("prj:")


def test_older_format_empty_and_truncated_headers_are_refused():
    blob = encrypt_bytes(b"hello", KEY.public_key())
    old = bytearray(blob)
    old[6] = 1
    with pytest.raises(DecryptionError, match="older version.*re-create"):
        decrypt_bytes(bytes(old), KEY)
    with pytest.raises(DecryptionError, match="empty"):
        decrypt_bytes(b"", KEY)
    for cut in (3, 6, 7, 40, _HEADER.size, _header_size(blob) - 1):
        with pytest.raises(DecryptionError, match="truncated|incomplete"):
            decrypt_bytes(blob[:cut], KEY)


def read_header_bytes(blob: bytes):
    import io
    return _read_header(io.BytesIO(blob), "test")


def _write(path, data: bytes):
    path.write_bytes(data)
    return path
