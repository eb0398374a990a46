"""Keyed Bloom-filter encodings of identity traits, for privacy-preserving record linkage (PPRL).

Each trait value (names, first name, birth date, place — ideally standardised first with
:func:`appariement.identity.standardise_identities`) is cut into q-grams (padded with ``_``:
``"LEA"`` → ``_L, LE, EA, A_`` for q = 2). Every q-gram, prefixed by its field name, sets ``k``
bits chosen by keyed BLAKE2b (key derived per project with HKDF, purpose ``bloom``): without the
key nobody can build the filter of a guessed name. Positions come from independent hash output
("random hashing"), not from the double-hashing scheme that Niedermeyer et al. (2014) broke.

Two layouts:

- ``mode="clk"`` — one cryptographic long-term key per record (Schnell et al. 2011): all fields
  OR-ed into one filter, column ``clk``;
- ``mode="field"`` — one filter per field, columns ``bf_<field>`` (Splink can then compare each
  field with its own Dice levels).

Hardening against frequency and pattern attacks (Christen et al. 2017-2018), combinable:

- ``salt`` — a stable attribute (e.g. birth year) salts every q-gram, so the same name gives
  unrelated bit patterns in different salt groups: frequent names no longer stand out globally;
  records with different salt values no longer share bits (use a salt that both files hold
  reliably);
- ``"balance"`` (Schnell & Borgs 2016) — append the complement and permute the 2L bits with a
  keyed permutation: every filter has exactly L ones, so Hamming weights leak nothing;
- ``"xor_fold"`` (Schnell, Borgs & Encheva 2016) — XOR the two halves: L/2 bits, each the XOR of
  two positions, which breaks the link between one bit and one q-gram.

Encodings are Arrow ``binary`` (BLOB in DuckDB), ``length / 8`` bytes, most significant bit
first. :func:`register_bloom_sql` adds ``app_dice(a, b)`` (and ``app_bloom_ones``) to a DuckDB
connection, so the linkage can compare encodings in SQL.
"""

from __future__ import annotations

import hashlib
from typing import Mapping, Sequence

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .._log import get_logger
from .._tables import TableLike, as_relation, connect, to_arrow
from ..errors import ConfigError, KeyFileError, SchemaError
from . import _hazmat
from .keys import SecretKey

__all__ = ["BloomEncoder", "register_bloom_sql", "dice", "HARDENINGS", "BLOOM_PURPOSE"]

_log = get_logger(__name__)

BLOOM_PURPOSE = "bloom"
HARDENINGS = ("balance", "xor_fold")
_MAX_K = 32  # BLAKE2b gives 64 bytes = 32 positions of 16 bits


def dice(a: bytes | None, b: bytes | None) -> float | None:
    """Dice coefficient of two Bloom filters (2·|A∧B| / (|A| + |B|)), Python reference.

    Args:
        a, b: filters as bytes of the same length.

    Returns:
        A float in [0, 1], or None when either is null or both are empty.

    Examples:
        >>> dice(b"\\xf0", b"\\xc0")
        0.6666666666666666
    """
    if a is None or b is None:
        return None
    if len(a) != len(b):
        raise ValueError("Bloom filters of different lengths cannot be compared")
    x, y = int.from_bytes(a, "big"), int.from_bytes(b, "big")
    total = x.bit_count() + y.bit_count()
    if total == 0:
        return None
    return 2 * (x & y).bit_count() / total


def register_bloom_sql(con: duckdb.DuckDBPyConnection) -> None:
    """Register ``app_dice(a, b)`` and ``app_bloom_ones(a)`` SQL macros on ``con``.

    ``a`` and ``b`` are BLOBs written by :class:`BloomEncoder` (cast to DuckDB's BIT type,
    where ``bit_count`` and ``&`` run natively). ``app_dice`` is NULL when either side is NULL
    or both filters are empty, like :func:`dice`.

    Args:
        con: DuckDB connection.

    Examples:
        >>> con = duckdb.connect(); register_bloom_sql(con)
        >>> con.execute("SELECT app_dice(from_hex('f0'), from_hex('c0'))").fetchone()[0]
        0.6666666666666666
    """
    con.execute("""
        CREATE OR REPLACE MACRO app_bloom_ones(a) AS bit_count(CAST(a AS BIT));
        CREATE OR REPLACE MACRO app_dice(a, b) AS
            CASE WHEN a IS NULL OR b IS NULL THEN NULL
                 WHEN app_bloom_ones(a) + app_bloom_ones(b) = 0 THEN NULL
                 ELSE 2.0 * bit_count(CAST(a AS BIT) & CAST(b AS BIT))
                      / (app_bloom_ones(a) + app_bloom_ones(b))
            END;
    """)


class BloomEncoder:
    """Keyed Bloom-filter encoder for identity traits.

    Args:
        key: master :class:`SecretKey` (the ``bloom`` sub-key of ``project`` is derived), or a
            key derived for exactly this project and purpose.
        project: project name; encodings of two projects are unrelated.
        fields: columns to encode, a list (all with ``k`` hash functions) or a mapping
            ``{column: k}`` (weight fields by their number of bits).
        length: filter length in bits (multiple of 16, 64 to 65536).
        k: bits set per q-gram (1 to 32).
        q: q-gram length (1 to 4).
        mode: ``"clk"`` (one filter per record) or ``"field"`` (one per field).
        hardening: ``None``, ``"balance"``, ``"xor_fold"``, or a sequence of them (applied in
            that order).
        salt: optional column whose value salts every q-gram (e.g. ``"birth_year"``).

    Examples:
        >>> from appariement.crypto import generate_key
        >>> enc = BloomEncoder(generate_key(), project="demo", fields=["birth_name",
        ...                    "first_name"], length=256, k=10)
        >>> t = pa.table({"record_id": ["a", "b"], "birth_name": ["MARTIN", "MARTINS"],
        ...               "first_name": ["LEA", "LEA"]})
        >>> out = enc.encode(t)
        >>> out.column_names, len(out.column("clk")[0].as_py())
        (['record_id', 'clk'], 32)
        >>> round(dice(*out.column("clk").to_pylist()), 2) > 0.8
        True
    """

    def __init__(self, key: SecretKey, *, project: str,
                 fields: Sequence[str] | Mapping[str, int], length: int = 1024, k: int = 20,
                 q: int = 2, mode: str = "clk",
                 hardening: str | Sequence[str] | None = None, salt: str | None = None):
        if not isinstance(key, SecretKey):
            raise KeyFileError("BloomEncoder needs a SecretKey (see generate_key / load_key)")
        if not isinstance(length, int) or length % 16 or not 64 <= length <= 65536:
            raise ConfigError(f"length must be a multiple of 16 from 64 to 65536, got {length!r}")
        if not isinstance(q, int) or not 1 <= q <= 4:
            raise ConfigError(f"q must be an integer from 1 to 4, got {q!r}")
        if mode not in ("clk", "field"):
            raise ConfigError(f"mode must be 'clk' or 'field', got {mode!r}")
        field_k = dict(fields) if isinstance(fields, Mapping) else {f: k for f in fields}
        if not field_k:
            raise ConfigError("fields must name at least one column")
        for name, value in field_k.items():
            if not isinstance(value, int) or not 1 <= value <= _MAX_K:
                raise ConfigError(f"k for field {name!r} must be an integer from 1 to "
                                  f"{_MAX_K}, got {value!r}")
        steps = [hardening] if isinstance(hardening, str) else list(hardening or [])
        unknown = [h for h in steps if h not in HARDENINGS]
        if unknown:
            raise ConfigError(f"hardening must be among {list(HARDENINGS)}, got {unknown}")
        if key.project is None:
            key = key.derive(project=project, purpose=BLOOM_PURPOSE)
        elif (key.project, key.purpose) != (project, BLOOM_PURPOSE):
            raise KeyFileError(f"key {key.fingerprint} was not derived for project={project!r}, "
                               f"purpose={BLOOM_PURPOSE!r}; pass the master key")
        self.project = project
        self.fields = field_k
        self.length = length
        self.q = q
        self.mode = mode
        self.hardening = tuple(steps)
        self.salt = salt
        self.fingerprint = key.fingerprint
        self._hash_key = _hazmat.hkdf_sha256(key._raw(), length=32,
                                             info=b"appariement/v1/bloom/positions")
        seed = _hazmat.hkdf_sha256(key._raw(), length=32, info=b"appariement/v1/bloom/permute")
        self._permutation_seed = np.frombuffer(seed, dtype=np.uint32)

    def __repr__(self) -> str:
        return (f"BloomEncoder(project={self.project!r}, fields={list(self.fields)}, "
                f"length={self.length}, q={self.q}, mode={self.mode!r}, "
                f"hardening={list(self.hardening)}, salt={self.salt!r}, "
                f"key={self.fingerprint!r})")

    def __reduce__(self):
        raise TypeError("a BloomEncoder holds a key and cannot be pickled")

    @property
    def output_length(self) -> int:
        """Bits per encoding after hardening."""
        bits = self.length
        for step in self.hardening:
            bits = bits * 2 if step == "balance" else bits // 2
        return bits

    def encode(self, data: TableLike, *, id_column: str = "record_id") -> pa.Table:
        """Encode records.

        Args:
            data: table (Arrow, pandas, DuckDB relation or path) with ``id_column`` and the
                fields (any type; values are compared as text, nulls set no bit).
            id_column: record key, copied to the output.

        Returns:
            Arrow table: ``id_column`` then ``clk`` (mode clk) or ``bf_<field>`` columns
            (mode field), binary of ``output_length / 8`` bytes.

        See the class example.
        """
        table = to_arrow(as_relation(connect(), data, name="bloom_input"))
        needed = [id_column, *self.fields] + ([self.salt] if self.salt else [])
        missing = [c for c in needed if c not in table.column_names]
        if missing:
            raise SchemaError(f"cannot encode: column(s) {missing} missing", column=missing[0])
        n = table.num_rows
        salt = (_as_text(table.column(self.salt)) if self.salt
                else pa.nulls(n, type=pa.string()))
        columns = {id_column: table.column(id_column)}
        combined = np.zeros((n, self.length // 8), dtype=np.uint8)
        for name, k in self.fields.items():
            bits = self._field_bits(name, k, _as_text(table.column(name)), salt)
            if self.mode == "clk":
                combined |= bits
            else:
                columns[f"bf_{name}"] = self._to_arrow(self._harden(bits))
        if self.mode == "clk":
            columns["clk"] = self._to_arrow(self._harden(combined))
        _log.info("Bloom-encoded %d records (%s, %d bits, key %s)", n, self.mode,
                  self.output_length, self.fingerprint)
        return pa.table(columns)

    # -- internals -----------------------------------------------------------------------------

    def _field_bits(self, name: str, k: int, values: pa.Array, salt: pa.Array) -> np.ndarray:
        """Packed filters (n, length/8) of one field: unique (value, salt) pairs hashed once."""
        pairs = pc.binary_join_element_wise(pc.fill_null(values, "\x00"),
                                            pc.fill_null(salt, ""), "\x1f")
        encoded = pairs.dictionary_encode()
        indices = encoded.indices.to_numpy(zero_copy_only=False)
        uniques = encoded.dictionary.to_pylist()
        packed = np.zeros((len(uniques), self.length // 8), dtype=np.uint8)
        prefix = name.encode("utf-8") + b"\x1e"
        # q-grams repeat across values (a few thousand bigrams for all names): hash each once
        cache: dict[bytes, np.ndarray] = {}
        for row, pair in enumerate(uniques):
            value, _, salt_value = pair.partition("\x1f")
            if value == "\x00" or value == "":
                continue  # null or empty: no bit
            salt_bytes = salt_value.encode("utf-8") + b"\x1d"
            positions = []
            for gram in _qgrams(value, self.q):
                token = prefix + salt_bytes + gram.encode("utf-8")
                if token not in cache:
                    digest = hashlib.blake2b(token, key=self._hash_key,
                                             digest_size=2 * k).digest()
                    cache[token] = np.frombuffer(digest, dtype=">u2").astype(np.int64)
                positions.append(cache[token])
            bits = np.concatenate(positions) % self.length
            np.bitwise_or.at(packed[row], bits >> 3, (0x80 >> (bits & 7)).astype(np.uint8))
        return packed[indices]

    def _harden(self, packed: np.ndarray) -> np.ndarray:
        for step in self.hardening:
            if step == "balance":
                bits = np.unpackbits(packed, axis=1)
                doubled = np.concatenate([bits, 1 - bits], axis=1)
                # keyed permutation: without the key, a bit's position says nothing about
                # whether it is an original or a complement bit
                perm = np.random.default_rng(self._permutation_seed).permutation(
                    doubled.shape[1])
                packed = np.packbits(doubled[:, perm], axis=1)
            else:  # xor_fold
                half = packed.shape[1] // 2
                packed = packed[:, :half] ^ packed[:, half:]
        return packed

    @staticmethod
    def _to_arrow(packed: np.ndarray) -> pa.Array:
        n, width = packed.shape
        offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
        return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets),
                                                     pa.py_buffer(packed.tobytes())])


def _as_text(column) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_string(column.type):
        return column
    return pc.cast(column, pa.string())


def _qgrams(value: str, q: int) -> list[str]:
    padded = "_" * (q - 1) + value + "_" * (q - 1) if q > 1 else value
    return [padded[i:i + q] for i in range(len(padded) - q + 1)]
