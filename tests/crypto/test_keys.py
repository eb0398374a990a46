"""Keys: generation, files, permissions, environment, derivation, no leaking repr."""

from __future__ import annotations

import base64
import os
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appariement.crypto import (PrivateKey, PublicKey, SecretKey, generate_key, generate_keypair,
                                load_key, save_key)
from appariement.errors import CryptoError, KeyFileError


def _secret_forms(key: SecretKey) -> list[str]:
    raw = key._raw()
    return [raw.hex(), base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()]


def test_repr_and_str_show_only_the_fingerprint():
    key = generate_key()
    for text in (repr(key), str(key), f"{key}", repr(key.derive(project="p", purpose="x"))):
        assert "fingerprint=" in text
        for form in _secret_forms(key):
            assert form not in text
    priv = generate_keypair()
    assert "BEGIN" not in repr(priv) and priv.fingerprint in repr(priv)


def test_keys_cannot_be_pickled():
    with pytest.raises(TypeError):
        pickle.dumps(generate_key())
    with pytest.raises(TypeError):
        pickle.dumps(generate_keypair())


def test_secret_key_file_round_trip_with_owner_only_mode(tmp_path):
    key = generate_key()
    path = save_key(key, tmp_path / "k.key")
    if os.name == "posix":
        assert (path.stat().st_mode & 0o777) == 0o600
    loaded = load_key(path)
    assert loaded == key and loaded.fingerprint == key.fingerprint


def test_keypair_files_round_trip(tmp_path):
    priv = generate_keypair()
    save_key(priv, tmp_path / "p.key")
    save_key(priv.public_key(), tmp_path / "p.pub")
    assert load_key(tmp_path / "p.key", expect=PrivateKey) == priv
    pub = load_key(tmp_path / "p.pub", expect=PublicKey)
    assert pub == priv.public_key() and pub.fingerprint == priv.fingerprint


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes only")
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_group_or_world_accessible_key_file_is_refused(tmp_path, mode):
    path = save_key(generate_key(), tmp_path / "k.key")
    os.chmod(path, mode)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_key(path)


def test_public_key_file_may_be_world_readable(tmp_path):
    path = save_key(generate_keypair().public_key(), tmp_path / "p.pub")
    os.chmod(path, 0o644)
    assert isinstance(load_key(path), PublicKey)


def test_save_refuses_to_overwrite_and_derived_keys(tmp_path):
    path = save_key(generate_key(), tmp_path / "k.key")
    with pytest.raises(KeyFileError, match="already exists"):
        save_key(generate_key(), path)
    other = generate_key()
    save_key(other, path, overwrite=True)
    assert load_key(path) == other
    with pytest.raises(KeyFileError, match="derived"):
        save_key(other.derive(project="p", purpose="x"), tmp_path / "d.key")


def test_load_errors_are_key_file_errors(tmp_path, monkeypatch):
    with pytest.raises(KeyFileError, match="does not exist"):
        load_key(tmp_path / "missing.key")
    bad = tmp_path / "bad.key"
    bad.write_text("hello")
    os.chmod(bad, 0o600)
    with pytest.raises(KeyFileError, match="base64|secret key"):
        load_key(bad)
    short = tmp_path / "short.key"
    short.write_text(base64.b64encode(b"x" * 16).decode())
    os.chmod(short, 0o600)
    with pytest.raises(KeyFileError, match="at least 32"):
        load_key(short)
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(KeyFileError, match="not set"):
        load_key(env="NO_SUCH_KEY_VAR")
    save_key(generate_keypair().public_key(), tmp_path / "p.pub")
    with pytest.raises(KeyFileError, match="SecretKey"):
        load_key(tmp_path / "p.pub", expect=SecretKey)
    assert issubclass(KeyFileError, CryptoError)


def test_key_from_environment(tmp_path, monkeypatch):
    key = generate_key()
    monkeypatch.setenv("APP_TEST_KEY", base64.b64encode(key._raw()).decode())
    assert load_key(env="APP_TEST_KEY") == key
    path = save_key(key, tmp_path / "k.key")
    monkeypatch.setenv("APP_TEST_KEY", path.read_text())
    assert load_key(env="APP_TEST_KEY") == key


def test_derivation_is_deterministic_and_separates_projects_and_purposes():
    master = generate_key()
    a = master.derive(project="iae", purpose="pivot")
    assert a == master.derive(project="iae", purpose="pivot")
    others = [master.derive(project="iae2", purpose="pivot"),
              master.derive(project="iae", purpose="bloom"),
              generate_key().derive(project="iae", purpose="pivot"), master]
    assert all(a != o and a.fingerprint != o.fingerprint for o in others)
    assert (a.project, a.purpose) == ("iae", "pivot")
    with pytest.raises(KeyFileError):
        a.derive(project="x", purpose="y")
    with pytest.raises(ValueError):
        master.derive(project="", purpose="pivot")


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=1, max_size=8), st.text(min_size=1, max_size=8),
       st.text(min_size=1, max_size=8), st.text(min_size=1, max_size=8))
def test_derivation_context_is_unambiguous(p1, u1, p2, u2):
    master = SecretKey(b"\x01" * 32)
    same = (p1, u1) == (p2, u2)
    assert (master.derive(project=p1, purpose=u1) == master.derive(project=p2, purpose=u2)) == same


def _hkdf_reference(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF-SHA256 written from the RFC with the standard library only."""
    import hashlib
    import hmac
    prk = hmac.new(salt or b"\0" * 32, ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def test_hkdf_reference_matches_rfc5869_case_1():
    okm = _hkdf_reference(b"\x0b" * 22, bytes(range(13)), bytes(range(0xF0, 0xFA)), 42)
    assert okm.hex() == ("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                         "34007208d5b887185865")


def test_derivation_follows_the_documented_construction():
    # HKDF-SHA256, salt "appariement/v1/derive", info = length-prefixed UTF-8 of
    # ("appariement", "derive", project, purpose)
    master = SecretKey(bytes(range(32)))

    def lp(text: str) -> bytes:
        raw = text.encode("utf-8")
        return len(raw).to_bytes(4, "big") + raw

    info = lp("appariement") + lp("derive") + lp("projet-é") + lp("pivot")
    expected = _hkdf_reference(bytes(range(32)), b"appariement/v1/derive", info, 32)
    assert master.derive(project="projet-é", purpose="pivot")._raw() == expected
