"""Keyed pseudonyms: RFC 4231 HMAC vectors, fixed-length base32, determinism, key separation."""

from __future__ import annotations

import base64
import hmac

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appariement.crypto import Pseudonymiser, SecretKey, generate_key, normalise_nir_array
from appariement.crypto import _hazmat
from appariement.errors import ConfigError, KeyFileError

# RFC 4231, section 4: (key, data, HMAC-SHA256, bytes compared)
RFC4231 = [
    (b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", 32),
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", 32),
    (b"\xaa" * 20, b"\xdd" * 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", 32),
    (bytes(range(1, 26)), b"\xcd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b", 32),
    (b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b", 16),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", 32),
    (b"\xaa" * 131, b"This is a test using a larger than block-size key and a larger than "
     b"block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", 32),
]


@pytest.mark.parametrize("key,data,expected,nbytes", RFC4231)
def test_batch_hmac_matches_rfc4231(key, data, expected, nbytes):
    batch = _hazmat.BatchHmacSha256(key)
    assert batch.digest(data)[:nbytes].hex() == expected
    assert batch.digest_many([data, data])[:nbytes].hex() == expected
    assert _hazmat.hmac_sha256(key, data)[:nbytes].hex() == expected


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=20), st.integers(1, 32))
def test_base32_matches_rfc4648_reference(messages, length):
    batch = _hazmat.BatchHmacSha256(b"k" * 32)
    digests = batch.digest_many(messages)
    chars = _hazmat.base32_fixed(digests, len(messages), length)
    for row, message in zip(chars, messages):
        assert row.tobytes() == base64.b32encode(batch.digest(message)[:20])[:length]


def _reference(key: SecretKey, project: str, value: str, length: int = 26,
               purpose: str = "pseudonym") -> str:
    sub = key.derive(project=project, purpose=purpose)._raw()
    digest = hmac.new(sub, value.encode("utf-8"), "sha256").digest()
    return base64.b32encode(digest[:20]).decode()[:length]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(min_size=1, max_size=70)), max_size=30),
       st.integers(16, 32))
def test_pseudonyms_equal_stdlib_hmac_reference(values, length):
    key = SecretKey(b"\x07" * 32)
    codes = Pseudonymiser(key, project="p", length=length, normalise="none").pseudonymise(values)
    assert len(codes) == len(values)
    for value, code in zip(values, codes):
        if value is None:
            assert code is None
        else:
            assert code == _reference(key, "p", value, length)


def test_values_with_nul_bytes_and_long_values_use_the_slow_path_correctly():
    key = SecretKey(b"\x07" * 32)
    values = ["a\0", "a", "x" * 500, "é" * 40]
    codes = Pseudonymiser(key, project="p", normalise="none").pseudonymise(values)
    assert codes == [_reference(key, "p", v) for v in values]
    assert codes[0] != codes[1]


def test_containers_are_preserved():
    p = Pseudonymiser(generate_key(), project="p")
    values = ["184122A00401234", None, "283052B01201299"]
    as_list = p.pseudonymise(values)
    series = p.pseudonymise(pd.Series(values, index=[10, 11, 12], name="nir"))
    assert list(series.index) == [10, 11, 12] and series.isna().tolist() == [False, True, False]
    assert series.dropna().tolist() == [as_list[0], as_list[2]]
    arrow = p.pseudonymise(pa.array(values))
    chunked = p.pseudonymise(pa.chunked_array([values[:1], values[1:]]))
    assert arrow.to_pylist() == as_list == chunked.to_pylist()
    assert all(len(c) == 26 and set(c) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
               for c in as_list if c)


def test_nir_normalisation_and_empty_values():
    p = Pseudonymiser(generate_key(), project="p")
    a, b, c, d = p.pseudonymise(["184122a00401234", " 1 84 12 2A 004 012-34 ", "  ", ""])
    assert a == b and c is None and d is None
    assert normalise_nir_array(pa.array(["1.84"])).to_pylist() == ["184"]


def test_same_key_same_code_other_key_or_project_unrelated():
    master = generate_key()
    values = [f"1{i:014d}" for i in range(200)]
    base = Pseudonymiser(master, project="a").pseudonymise(values)
    assert base == Pseudonymiser(master, project="a").pseudonymise(values)
    for other in (Pseudonymiser(master, project="b").pseudonymise(values),
                  Pseudonymiser(master, project="a", purpose="pivot").pseudonymise(values),
                  Pseudonymiser(generate_key(), project="a").pseudonymise(values)):
        assert not set(base) & set(other)
    assert len(set(base)) == len(values)


def test_derived_key_must_match_project_and_bad_parameters():
    master = generate_key()
    derived = master.derive(project="a", purpose="pseudonym")
    assert (Pseudonymiser(derived, project="a").pseudonymise(["x"])
            == Pseudonymiser(master, project="a").pseudonymise(["x"]))
    with pytest.raises(KeyFileError):
        Pseudonymiser(derived, project="b")
    with pytest.raises(ConfigError, match="length"):
        Pseudonymiser(master, project="a", length=8)
    with pytest.raises(ConfigError, match="normalise"):
        Pseudonymiser(master, project="a", normalise="soundex")
    assert master._raw().hex() not in repr(Pseudonymiser(master, project="a"))


def test_table_and_sql_function():
    import duckdb
    p = Pseudonymiser(generate_key(), project="p")
    table = pa.table({"id": [1, 2], "nir": ["184122A00401234", None], "x": [1.0, 2.0]})
    out = p.pseudonymise_table(table, "nir")
    assert out.column_names == ["id", "nir_pseudo", "x"]
    assert out.column("nir_pseudo").to_pylist() == p.pseudonymise(["184122A00401234", None])
    with pytest.raises(ConfigError):
        p.pseudonymise_table(table, "missing")
    con = duckdb.connect()
    p.register_sql(con)
    rows = con.execute("SELECT pseudonymise(v) FROM (VALUES ('184122A00401234'), (NULL)) t(v)"
                       ).fetchall()
    assert [r[0] for r in rows] == p.pseudonymise(["184122A00401234", None])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="0123456789ABab .-_/\t", max_size=25), max_size=10))
def test_vectorised_nir_normalisation_equals_identity_compact(values):
    from appariement.identity.nir import compact
    got = normalise_nir_array(pa.array(values, type=pa.string())).to_pylist()
    assert got == [compact(v) or None for v in values]


def test_numeric_and_all_null_inputs_are_hashed_as_text():
    p = Pseudonymiser(generate_key(), project="p")
    assert p.pseudonymise([184057512345625]) == p.pseudonymise(["184057512345625"])
    assert p.pseudonymise(pd.Series([184057512345625, 2])).tolist()[0] == p.pseudonymise(
        ["184057512345625"])[0]
    with pytest.raises(ConfigError, match="floating-point"):
        p.pseudonymise(pd.Series([184057512345625, None]))  # pandas made it float64
    assert p.pseudonymise([None, None]) == [None, None]
    assert p.pseudonymise([]) == []


def test_batches_and_chunks_do_not_shift_or_drop_values(monkeypatch):
    """Values straddling HMAC chunk and output-batch boundaries keep their own code."""
    from appariement.crypto import pseudonymise as module
    messages = [f"{i:015d}".encode() for i in range(2 * _hazmat._CHUNK + 7)]
    batch = _hazmat.BatchHmacSha256(b"k" * 32)
    assert batch.digest_many(messages) == b"".join(map(batch.digest, messages))
    monkeypatch.setattr(module, "_BATCH", 100)
    key = generate_key()
    values = [None if i % 37 == 0 else f"{i:015d}" for i in range(1_050)]
    codes = Pseudonymiser(key, project="p").pseudonymise(pa.array(values)).to_pylist()
    assert codes == [None if v is None else _reference(key, "p", v) for v in values]
