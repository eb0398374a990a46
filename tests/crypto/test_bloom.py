"""Bloom-filter encodings: Dice in SQL equals the Python reference, keys, hardening, salting."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appariement.crypto import BloomEncoder, dice, generate_key, register_bloom_sql
from appariement.errors import ConfigError, KeyFileError, SchemaError

KEY = generate_key()
PEOPLE = pa.table({
    "record_id": ["a", "b", "c", "d", "e"],
    "birth_name": ["MARTIN", "MARTINS", "NGUYEN", None, "MARTIN"],
    "first_name": ["LEA", "LEA", "THI MAI", "JEAN", "LEA"],
    "birth_year": [1984, 1984, 1990, 1975, 1985],
})


def _popcount(blob: bytes) -> int:
    return int.from_bytes(blob, "big").bit_count()


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 16).flatmap(lambda n: st.lists(
    st.tuples(st.binary(min_size=n, max_size=n), st.binary(min_size=n, max_size=n)),
    min_size=1, max_size=8)))
def test_sql_dice_equals_python_reference(pairs):
    con = duckdb.connect()
    register_bloom_sql(con)
    con.register("p", pa.table({"a": [a for a, _ in pairs], "b": [b for _, b in pairs]}))
    got = [r[0] for r in con.execute("SELECT app_dice(a, b) FROM p").fetchall()]
    for (a, b), value in zip(pairs, got):
        expected = dice(a, b)
        assert (value is None) == (expected is None)
        if expected is not None:
            assert value == pytest.approx(expected)
            ones = _popcount(a) + _popcount(b)
            assert expected == pytest.approx(2 * _popcount(bytes(x & y for x, y in zip(a, b)))
                                             / ones)


def test_dice_edge_cases():
    assert dice(b"\x00", b"\x00") is None and dice(None, b"\x01") is None
    assert dice(b"\xff", b"\xff") == 1.0 and dice(b"\xf0", b"\x0f") == 0.0
    with pytest.raises(ValueError):
        dice(b"\x00", b"\x00\x00")


def test_clk_similarity_tracks_name_similarity():
    enc = BloomEncoder(KEY, project="p", fields=["birth_name", "first_name"], length=512, k=15)
    out = {r["record_id"]: r["clk"] for r in enc.encode(PEOPLE).to_pylist()}
    assert all(len(v) == 64 for v in out.values())
    assert out["a"] == out["e"]                          # same traits, same filter
    assert dice(out["a"], out["b"]) > 0.85               # one-letter difference
    # different person: about the filters' fill ratio (~0.3 here), whatever the random key
    assert dice(out["a"], out["c"]) < 0.5
    assert dice(out["a"], out["b"]) - dice(out["a"], out["c"]) > 0.3
    # no more than k bits per q-gram, at least one
    only = BloomEncoder(KEY, project="p", fields=["first_name"], length=512, k=15)
    lea = only.encode(PEOPLE.slice(0, 1)).column("clk")[0].as_py()
    assert 1 <= _popcount(lea) <= 15 * 4                 # _L LE EA A_


def test_keys_and_projects_give_unrelated_filters():
    same = BloomEncoder(KEY, project="p", fields=["birth_name"], length=512, k=15)
    a = same.encode(PEOPLE).column("clk").to_pylist()
    for other in (BloomEncoder(KEY, project="q", fields=["birth_name"], length=512, k=15),
                  BloomEncoder(generate_key(), project="p", fields=["birth_name"], length=512,
                               k=15)):
        b = other.encode(PEOPLE).column("clk").to_pylist()
        assert dice(a[0], b[0]) < 0.5
    assert same.encode(PEOPLE).column("clk").to_pylist() == a
    with pytest.raises(KeyFileError):
        BloomEncoder(KEY.derive(project="p", purpose="pivot"), project="p", fields=["x"])


def test_field_mode_nulls_and_sql_on_encodings():
    enc = BloomEncoder(KEY, project="p", fields={"birth_name": 12, "first_name": 8},
                       length=256, mode="field")
    out = enc.encode(PEOPLE)
    assert out.column_names == ["record_id", "bf_birth_name", "bf_first_name"]
    assert _popcount(out.column("bf_birth_name")[3].as_py()) == 0   # null name: no bit
    con = duckdb.connect()
    register_bloom_sql(con)
    con.register("e", out)
    rows = con.execute("SELECT l.record_id, r.record_id, app_dice(l.bf_birth_name, "
                       "r.bf_birth_name) FROM e l, e r").fetchall()
    python = {(r["record_id"], s["record_id"]): dice(r["bf_birth_name"], s["bf_birth_name"])
              for r in out.to_pylist() for s in out.to_pylist()}
    for left, right, value in rows:
        assert value == (pytest.approx(python[left, right]) if python[left, right] is not None
                         else None)


def test_balance_gives_constant_weight_and_xor_fold_halves():
    balanced = BloomEncoder(KEY, project="p", fields=["birth_name", "first_name"], length=256,
                            k=10, hardening="balance")
    clks = balanced.encode(PEOPLE).column("clk").to_pylist()
    assert balanced.output_length == 512
    assert {len(c) for c in clks} == {64} and {_popcount(c) for c in clks} == {256}
    assert dice(clks[0], clks[1]) > dice(clks[0], clks[2])
    folded = BloomEncoder(KEY, project="p", fields=["birth_name"], length=256, k=10,
                          hardening=["xor_fold"])
    assert folded.output_length == 128
    assert {len(c) for c in folded.encode(PEOPLE).column("clk").to_pylist()} == {16}


def test_salt_separates_groups():
    salted = BloomEncoder(KEY, project="p", fields=["birth_name", "first_name"], length=512,
                          k=15, salt="birth_year")
    clks = salted.encode(PEOPLE).column("clk").to_pylist()
    assert dice(clks[0], clks[1]) > 0.85      # same year 1984, similar name
    assert dice(clks[0], clks[4]) < 0.5       # identical traits, other year


def test_bad_parameters():
    for kwargs in ({"length": 100}, {"q": 0}, {"mode": "record"}, {"k": 40},
                   {"hardening": "rotate"}, {"fields": []}):
        params = {"fields": ["birth_name"], **kwargs}
        with pytest.raises(ConfigError):
            BloomEncoder(KEY, project="p", **params)
    with pytest.raises(SchemaError):
        BloomEncoder(KEY, project="p", fields=["missing"]).encode(PEOPLE)


def test_encodings_of_standardised_synthetic_identities_separate_true_pairs():
    from appariement.identity import standardise_identities
    from appariement.synth import SynthConfig, generate

    data = generate(SynthConfig(n_candidates=200, seed=7))
    con = duckdb.connect()
    fields = {"birth_name": 20, "first_name": 15, "birth_date": 10, "birth_commune": 5}
    enc = BloomEncoder(KEY, project="p", fields=fields, length=1024, hardening="balance",
                       salt="sex")
    left = enc.encode(standardise_identities(con, data.platform["candidats"], "platform"))
    right = enc.encode(standardise_identities(con, data.source["personnes"], "source"))
    register_bloom_sql(con)
    con.register("l", left)
    con.register("r", right)
    con.register("links", data.truth["links"])
    true_mean, false_mean = con.execute("""
        SELECT avg(app_dice(l.clk, r.clk)) FILTER (WHERE k.candidat_id IS NOT NULL),
               avg(app_dice(l.clk, r.clk)) FILTER (WHERE k.candidat_id IS NULL)
        FROM l JOIN r ON hash(l.record_id, r.record_id) % 50 = 0
                      OR (l.record_id, r.record_id) IN (SELECT (CAST(candidat_id AS VARCHAR),
                                                        CAST(person_id AS VARCHAR)) FROM links)
        LEFT JOIN links k ON CAST(k.candidat_id AS VARCHAR) = l.record_id
                         AND CAST(k.person_id AS VARCHAR) = r.record_id
    """).fetchone()
    assert true_mean > 0.85 > 0.7 > false_mean
