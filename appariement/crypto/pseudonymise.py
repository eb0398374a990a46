"""Keyed pseudonyms: HMAC-SHA256 of a normalised identifier, as fixed-length text.

A plain SHA-256 of a NIR is not a pseudonym: the ~10^11 plausible NIRs are hashed in hours, and
fewer than 1,000 remain once sex, birth year/month and place are known. A keyed HMAC cannot be
recomputed without the key; the key is derived per project and purpose, so pseudonyms of two
projects cannot be joined.

Output: the first ``length`` base32 characters (RFC 4648 alphabet ``A-Z2-7``, no padding) of the
HMAC, i.e. ``5 * length`` bits. With the default 26 characters (130 bits), the probability that
any two of ``n`` distinct identifiers share a code is about ``n**2 / 2**131``: 4e-24 for
n = 10^8. With the minimum, 16 characters (80 bits), it is about 4e-9 for n = 10^8.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .._log import get_logger
from ..errors import ConfigError, KeyFileError
from . import _hazmat
from .keys import SecretKey

__all__ = ["Pseudonymiser", "normalise_nir_array", "DEFAULT_LENGTH"]

_log = get_logger(__name__)

DEFAULT_LENGTH = 26
_MIN_LENGTH, _MAX_LENGTH = 16, 32
#: rows hashed per batch (bounds the memory of intermediate buffers)
_BATCH = 1 << 20


def normalise_nir_array(values: pa.Array) -> pa.Array:
    """Vectorised NIR compaction: drop whitespace, dots, hyphens, underscores, slashes; upper-case.

    Same result as :func:`appariement.identity.nir.compact` on ASCII input (tested); empty
    results become null.

    Args:
        values: Arrow string array.

    Returns:
        Arrow string array.

    Examples:
        >>> normalise_nir_array(pa.array([" 1 84 12 2a 004 012 34", "", None])).to_pylist()
        ['184122A00401234', None, None]
    """
    values = pc.cast(values, pa.string())
    if pc.all(pc.ascii_is_alnum(values)).as_py():
        # fast path (the usual case): nothing to strip, no empty value, ASCII only
        return pc.ascii_upper(values)
    compacted = pc.utf8_upper(pc.replace_substring_regex(values, r"[\s.\-_/]", ""))
    return pc.if_else(pc.equal(compacted, ""), pa.scalar(None, pa.string()), compacted)


_NORMALISERS: dict[str, Callable[[pa.Array], pa.Array]] = {
    "nir": normalise_nir_array,
    "none": lambda values: pc.cast(values, pa.string()),
}


class Pseudonymiser:
    """Turns identifiers into keyed, fixed-length pseudonyms.

    Args:
        key: master :class:`SecretKey` (the sub-key for ``project``/``purpose`` is derived), or
            a key already derived for exactly this project and purpose.
        project: project name; pseudonyms of two projects are unrelated.
        purpose: ``"pseudonym"`` by default; the pivot authority uses ``"pivot"``, so
            ``Pseudonymiser(key, project=p, purpose="pivot")`` reproduces its codes.
        length: characters per pseudonym, 16 to 32 (5 bits each).
        normalise: ``"nir"`` (compact NIR form), ``"none"``, or a callable on an Arrow array.

    Attributes:
        fingerprint: fingerprint of the derived key, for manifests.

    Examples:
        >>> from appariement.crypto import generate_key
        >>> p = Pseudonymiser(generate_key(), project="demo")
        >>> codes = p.pseudonymise(["184122A00401234", "1 84 12 2A 004 012 34", None])
        >>> codes[0] == codes[1], len(codes[0]), codes[2]
        (True, 26, None)
    """

    def __init__(self, key: SecretKey, *, project: str, purpose: str = "pseudonym",
                 length: int = DEFAULT_LENGTH,
                 normalise: str | Callable[[pa.Array], pa.Array] | None = "nir"):
        if not isinstance(key, SecretKey):
            raise KeyFileError("Pseudonymiser needs a SecretKey (see generate_key / load_key)")
        if not isinstance(length, int) or not _MIN_LENGTH <= length <= _MAX_LENGTH:
            raise ConfigError(f"length must be an integer from {_MIN_LENGTH} to {_MAX_LENGTH} "
                              f"characters, got {length!r}")
        if normalise is None:
            normalise = "none"
        if isinstance(normalise, str):
            if normalise not in _NORMALISERS:
                raise ConfigError(f"normalise must be one of {sorted(_NORMALISERS)} or a "
                                  f"callable, got {normalise!r}")
            normalise = _NORMALISERS[normalise]
        if key.project is None:
            key = key.derive(project=project, purpose=purpose)
        elif (key.project, key.purpose) != (project, purpose):
            raise KeyFileError(f"key {key.fingerprint} was derived for project={key.project!r}, "
                               f"purpose={key.purpose!r}, not for project={project!r}, "
                               f"purpose={purpose!r}; pass the master key")
        self.project = project
        self.purpose = purpose
        self.length = length
        self.fingerprint = key.fingerprint
        self._normalise = normalise
        self._hmac = _hazmat.BatchHmacSha256(key._raw())

    def __repr__(self) -> str:
        return (f"Pseudonymiser(project={self.project!r}, purpose={self.purpose!r}, "
                f"length={self.length}, key={self.fingerprint!r})")

    def __reduce__(self):
        raise TypeError("a Pseudonymiser holds a key and cannot be pickled")

    def pseudonymise(self, values: Any) -> Any:
        """Pseudonymise values; nulls (and empty identifiers) stay null.

        Args:
            values: list, pandas Series, Arrow Array or ChunkedArray of strings.

        Returns:
            The same kind of container (a Series keeps its index) of fixed-length strings.

        Examples:
            >>> from appariement.crypto import generate_key
            >>> p = Pseudonymiser(generate_key(), project="demo", length=16)
            >>> [len(c) for c in p.pseudonymise(["A", "B"])]
            [16, 16]
        """
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - pandas is a dependency
            pd = None
        if pd is not None and isinstance(values, pd.Series):
            out = self._pseudonymise_arrow(pa.array(values.astype("object"), from_pandas=True))
            return pd.Series(out.to_pylist(), index=values.index, name=values.name,
                             dtype="string")
        if isinstance(values, pa.ChunkedArray):
            return pa.chunked_array([self._pseudonymise_arrow(c) for c in values.chunks],
                                    type=pa.string())
        if isinstance(values, pa.Array):
            return self._pseudonymise_arrow(values)
        return self._pseudonymise_arrow(pa.array(list(values))).to_pylist()

    def pseudonymise_table(self, table: pa.Table, column: str, *,
                           out_column: str | None = None) -> pa.Table:
        """Replace a plaintext column by its pseudonyms (same position).

        Args:
            table: Arrow table.
            column: identifier column (e.g. ``"nir"``); it is removed from the result.
            out_column: name of the pseudonym column (default ``<column>_pseudo``).

        Returns:
            A new Arrow table without ``column``.

        Examples:
            >>> from appariement.crypto import generate_key
            >>> t = pa.table({"id": [1], "nir": ["184122A00401234"]})
            >>> Pseudonymiser(generate_key(), project="d").pseudonymise_table(t, "nir").column_names
            ['id', 'nir_pseudo']
        """
        if column not in table.column_names:
            # a headerless file's first row is its "header": names that could be values are
            # never printed
            from ..io.guard import describe_columns
            raise ConfigError(f"column {column!r} not found; the table has "
                              f"{describe_columns(table.column_names, [column])}")
        out_column = out_column or f"{column}_pseudo"
        position = table.column_names.index(column)
        codes = self.pseudonymise(table.column(column))
        result = table.remove_column(position).add_column(position, out_column, codes)
        _log.info("pseudonymised column %s (%d rows, %d null) with key %s", column,
                  table.num_rows, codes.null_count, self.fingerprint)
        return result

    def register_sql(self, con, name: str = "pseudonymise") -> None:
        """Register ``name(VARCHAR) -> VARCHAR`` on a DuckDB connection (vectorised Arrow UDF).

        The key stays in this process's memory; it never appears in SQL text.

        Args:
            con: DuckDB connection.
            name: SQL function name.

        Examples:
            >>> import duckdb
            >>> from appariement.crypto import generate_key
            >>> con = duckdb.connect()
            >>> Pseudonymiser(generate_key(), project="d").register_sql(con)
            >>> len(con.execute("SELECT pseudonymise('184122A00401234')").fetchone()[0])
            26
        """
        import duckdb.sqltypes as st

        def udf(values):
            if isinstance(values, pa.ChunkedArray):
                return pa.chunked_array([self._pseudonymise_arrow(c) for c in values.chunks],
                                        type=pa.string())
            return self._pseudonymise_arrow(values)

        con.create_function(name, udf, [st.VARCHAR], st.VARCHAR, type="arrow",
                            null_handling="special", side_effects=False)

    # -- internals -----------------------------------------------------------------------------

    def _pseudonymise_arrow(self, values: pa.Array) -> pa.Array:
        if pa.types.is_null(values.type):
            values = values.cast(pa.string())
        elif pa.types.is_floating(values.type) or pa.types.is_decimal(values.type):
            raise ConfigError("identifiers stored as floating-point or decimal numbers would be "
                              "hashed in a lossy text form (e.g. '1.84e+14'); read the column "
                              "as text")
        elif not pa.types.is_string(values.type):
            # identifiers stored as numbers (a CSV read with type inference): hash their text
            values = pc.cast(values, pa.string())
        normalised = self._normalise(values)
        if isinstance(normalised, pa.ChunkedArray):
            normalised = normalised.combine_chunks()
        n = len(normalised)
        if n == 0:
            return pa.array([], type=pa.string())
        if n * self.length >= 2**31:
            raise ConfigError(f"{n:,} values make more than 2 GiB of codes in one Arrow array; "
                              "pseudonymise them in slices (e.g. of 50 million values)")
        # one output buffer, filled batch by batch (no concatenation copy at the end)
        chars = np.empty((n, self.length), dtype=np.uint8)
        for start in range(0, n, _BATCH):
            chars[start:start + _BATCH] = self._hash_batch(normalised.slice(start, _BATCH))
        offsets = np.arange(0, (n + 1) * self.length, self.length, dtype=np.int32)
        codes = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars))
        if normalised.null_count == 0:
            return codes
        return pc.if_else(pc.is_null(normalised), pa.scalar(None, pa.string()), codes)

    def _hash_batch(self, values: pa.Array) -> np.ndarray:
        """``(len(values), length)`` ASCII codes of a batch (nulls hashed as "", masked later)."""
        filled = pc.fill_null(values, "") if values.null_count else values
        if not isinstance(filled, pa.StringArray):
            filled = pc.cast(filled, pa.string())
        digests = self._hmac.digest_many(_utf8_values(filled))
        return _hazmat.base32_fixed(digests, len(values), self.length)


#: widest value handled by the fixed-width fast path (wider batches use slicing)
_MAX_FIXED_WIDTH = 64


def _utf8_values(values: pa.StringArray) -> list[bytes]:
    """The UTF-8 bytes of each value of a null-free string array, as a list of ``bytes``.

    Fast path: copy the values into a zero-padded ``(n, width)`` byte matrix and let NumPy's
    ``S<width>`` dtype hand back ``bytes`` objects (it strips the trailing NUL padding, exact
    for values without NUL bytes). Otherwise, slice the Arrow data buffer value by value.
    """
    n = len(values)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[
        values.offset:values.offset + n + 1]
    data_buffer = values.buffers()[2]
    data = (np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0]:offsets[-1]]
            if data_buffer is not None else np.zeros(0, dtype=np.uint8))
    lengths = np.diff(offsets)
    width = int(lengths.max()) if n else 0
    if width == 0:
        return [b""] * n
    if width <= _MAX_FIXED_WIDTH and not (data == 0).any():
        padded = np.zeros((n, width), dtype=np.uint8)
        padded[np.arange(width)[None, :] < lengths[:, None]] = data
        return padded.view(f"S{width}").ravel().tolist()
    raw = data.tobytes()
    starts = (offsets[:-1] - offsets[0]).tolist()
    ends = (offsets[1:] - offsets[0]).tolist()
    return list(map(raw.__getitem__, map(slice, starts, ends)))
