"""Which identity features the data at hand carry, on both sides.

A file without postcode, birth place or usage names is ordinary (the platform's warehouse tables
have no names at all; FEBRL has no sex). The model must be built from what is there: a feature
that is absent, or null on nearly every row of one side, is *absent* — no comparison reads it, no
blocking or training rule joins on it. :func:`profile_features` measures that in one query per
side; :class:`FeatureProfile` says which columns are usable and, for the shared key, whether it
holds plaintext NIRs (an edit distance means something) or opaque pseudonyms (it does not).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import duckdb

from .._tables import as_relation
from .._tables import quote_identifier as _quote
from ..errors import ConfigError

__all__ = ["FeatureProfile", "profile_features", "MIN_FILL"]

#: a feature populated on fewer rows than this share of one side is treated as absent
MIN_FILL = 0.01

#: a plaintext NIR as ``standardise_identities`` compacts it (Corsica 2A/2B kept)
_NIR_PATTERN = "^[0-9]{5}[0-9AB][0-9]{9}$"


@dataclass(frozen=True)
class FeatureProfile:
    """Fill rates of the feature columns on both sides.

    Attributes:
        fill: column -> (share of platform rows where it is populated, share of source rows).
            A column missing from a side has fill 0 there.
        rows: (platform rows, source rows).
        min_fill: threshold under which a feature is absent.
        key_column: the exact-stage key profiled, if any.
        key_is_nir: the key holds plaintext NIRs on both sides (most populated values have the
            NIR's 15-character shape) rather than pseudonyms or pivot codes.

    Examples:
        >>> p = FeatureProfile({"birth_name": (1.0, 0.98), "postcode": (0.9, 0.0)}, (10, 50))
        >>> p.present("birth_name"), p.present("postcode"), p.present("sex")
        (True, False, False)
    """

    fill: dict[str, tuple[float, float]]
    rows: tuple[int, int]
    min_fill: float = MIN_FILL
    key_column: str | None = None
    key_is_nir: bool = False

    def present(self, column: str) -> bool:
        """Populated on at least ``min_fill`` of the rows of each side."""
        left, right = self.fill.get(column, (0.0, 0.0))
        return left >= self.min_fill and right >= self.min_fill

    @property
    def present_columns(self) -> set[str]:
        return {c for c in self.fill if self.present(c)}

    def to_dict(self) -> dict[str, Any]:
        """JSON form (for ``model.json``, the counts and the manifest): fill rates rounded."""
        return {"rows": list(self.rows), "min_fill": self.min_fill,
                "key_column": self.key_column, "key_is_nir": self.key_is_nir,
                "fill": {c: [round(a, 4), round(b, 4)] for c, (a, b) in self.fill.items()},
                "absent": sorted(c for c in self.fill if not self.present(c))}


def _fill_rates(con: duckdb.DuckDBPyConnection, rel: duckdb.DuckDBPyRelation,
                columns: Sequence[str]) -> tuple[int, dict[str, float]]:
    types = dict(zip(rel.columns, rel.types))
    exprs = ["count(*)"]
    wanted = [c for c in columns if c in types]
    for c in wanted:
        # an empty list (no first name) or a blank string is not a value
        if str(types[c]).endswith("[]"):
            exprs.append(f"count(*) FILTER (WHERE len({_quote(c)}) > 0)")
        elif str(types[c]) == "VARCHAR":
            exprs.append(f"count(*) FILTER (WHERE nullif(trim({_quote(c)}), '') IS NOT NULL)")
        else:
            exprs.append(f"count({_quote(c)})")
    row = rel.aggregate(", ".join(exprs)).fetchall()[0]
    n = int(row[0])
    rates = {c: (row[i + 1] / n if n else 0.0) for i, c in enumerate(wanted)}
    return n, {c: rates.get(c, 0.0) for c in columns}


def profile_features(con: duckdb.DuckDBPyConnection, left, right,
                     columns: Sequence[str] | None = None, *, key_column: str | None = None,
                     min_fill: float = MIN_FILL) -> FeatureProfile:
    """Measure which feature columns are populated on both sides.

    Args:
        con: DuckDB connection.
        left, right: platform and source features (relations, Arrow, pandas or paths).
        columns: columns to profile (default: every column of either side but ``record_id``).
        key_column: the exact-stage key, profiled too, and checked for the NIR's shape.
        min_fill: share of rows under which a feature counts as absent on a side.

    Returns:
        A :class:`FeatureProfile`.
    """
    if not 0 <= min_fill < 1:
        raise ConfigError(f"min_fill must be in [0, 1), got {min_fill}")
    lrel = as_relation(con, left, "platform")
    rrel = as_relation(con, right, "source")
    if columns is None:
        columns = [c for c in dict.fromkeys([*lrel.columns, *rrel.columns])
                   if c not in ("record_id", "unique_id", "source_dataset")]
    columns = list(dict.fromkeys([*columns, *([key_column] if key_column else [])]))
    n_l, fill_l = _fill_rates(con, lrel, columns)
    n_r, fill_r = _fill_rates(con, rrel, columns)
    fill = {c: (fill_l[c], fill_r[c]) for c in columns}
    key_is_nir = False
    if key_column and key_column in lrel.columns and key_column in rrel.columns:
        shares = []
        for rel in (lrel, rrel):
            k = _quote(key_column)
            n_nir, n_any = rel.aggregate(
                f"count(*) FILTER (WHERE regexp_full_match(CAST({k} AS VARCHAR), "
                f"'{_NIR_PATTERN}')), count({k})").fetchall()[0]
            shares.append(n_nir / n_any if n_any else 0.0)
        key_is_nir = all(s >= 0.9 for s in shares)
    return FeatureProfile(fill, (n_l, n_r), min_fill, key_column, key_is_nir)
