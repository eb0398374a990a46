"""Statistical disclosure control for every count table that leaves the enclave.

Rule (stated in every report through :meth:`DisclosurePolicy.describe`):

* **primary suppression** — a count in ``1 .. threshold - 1`` is suppressed (default threshold
  11, the CASD / INSEE practice of "at least 11 individuals per cell"). Zero is published by
  default: an empty cell reveals no individual's value. It can still reveal a group property
  ("nobody in this group was linked"), so ``suppress_zeros=True`` treats 0 like a small count.
* **secondary (complementary) suppression** — a table is a set of *lines*, each a set of cells
  whose sum is known to a reader: every count column across the rows (its total is published
  elsewhere in the report, e.g. the number of candidates), and every declared row group
  ``(total column, part columns)`` (e.g. ``n = n_linked + n_unlinked``). A line holding exactly
  one suppressed cell would let a reader recompute it by subtraction, so the smallest other
  published cell of that line (non-zero first) is suppressed too; repeat until no line holds
  exactly one suppressed cell. This protects against recomputation from one line; it is the
  usual heuristic, not a full linear-programming audit of several lines at once.
* **rounding** (optional) — published counts are rounded to the nearest multiple of a base.
* **derived values** — a rate, or any value computed from a suppressed count (an estimated error
  rate of a group...), is suppressed with it. With rounding, rates are recomputed from the
  rounded counts so they cannot undo the rounding.

A line that cannot be protected (one cell only: a single-row table whose column total is the
cell itself) is reported in :attr:`SuppressedTable.unsafe_totals`; the report must not publish
that total.

Examples:
    >>> import pandas as pd
    >>> t = pd.DataFrame({"group": ["a", "b", "c"], "n": [120, 4, 40]})
    >>> out = suppress(t, count_columns=["n"])
    >>> out.table["n"].tolist()
    [120.0, None, None]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError, DisclosureError

__all__ = ["DisclosurePolicy", "SuppressedTable", "suppress", "DEFAULT_THRESHOLD"]

#: minimum number of individuals in a published cell
DEFAULT_THRESHOLD = 11


@dataclass(frozen=True)
class DisclosurePolicy:
    """The disclosure rule of a report.

    Args:
        threshold: smallest publishable non-zero count.
        secondary: apply complementary suppression.
        rounding: round published counts to a multiple of this base (None: no rounding).
        suppress_zeros: treat 0 like a small count.

    Examples:
        >>> DisclosurePolicy(threshold=5).threshold
        5
    """

    threshold: int = DEFAULT_THRESHOLD
    secondary: bool = True
    rounding: int | None = None
    suppress_zeros: bool = False

    def __post_init__(self):
        if not isinstance(self.threshold, (int, np.integer)) or self.threshold < 1:
            raise ConfigError(f"disclosure threshold must be an integer >= 1, got "
                              f"{self.threshold!r}")
        if self.rounding is not None and (not isinstance(self.rounding, (int, np.integer))
                                          or self.rounding < 1):
            raise ConfigError(f"disclosure rounding must be None or an integer >= 1, got "
                              f"{self.rounding!r}")

    def describe(self, language: str = "en") -> str:
        """The rule in one paragraph, for the report (``language``: ``en`` or ``fr``)."""
        fr = language == "fr"
        if fr:
            zero = ("les zéros sont masqués aussi" if self.suppress_zeros
                    else "les zéros sont publiés (ils ne révèlent personne)")
            text = (f"Les effectifs de 1 à {self.threshold - 1} sont masqués (au moins "
                    f"{self.threshold} personnes par case) ; {zero}.")
        else:
            zero = ("zero counts are suppressed too" if self.suppress_zeros
                    else "zero counts are published (they reveal no individual)")
            text = (f"Counts from 1 to {self.threshold - 1} are suppressed (minimum cell size "
                    f"{self.threshold}); {zero}.")
        if self.secondary:
            text += (" Masquage secondaire : dans toute ligne ou colonne dont le total est "
                     "publié, une case masquée seule est protégée en masquant aussi la plus "
                     "petite autre case, si bien qu'aucune valeur masquée ne se retrouve par "
                     "soustraction." if fr else
                     " Secondary suppression: in every row and column whose total is "
                     "published, a single suppressed cell is protected by also suppressing "
                     "the smallest other cell, so no suppressed value can be recomputed by "
                     "subtraction.")
        if self.rounding and self.rounding > 1:
            text += (f" Les effectifs publiés sont arrondis au multiple de {self.rounding} le "
                     "plus proche." if fr else
                     f" Published counts are rounded to the nearest multiple of {self.rounding}.")
        if fr:
            return text + (" Les taux et estimations calculés à partir d'un effectif masqué "
                           "sont masqués avec lui.")
        text += (" Rates and estimates computed from a suppressed count are suppressed with "
                 "it. Suppressed cells show as empty (null in JSON).")
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": int(self.threshold), "secondary": self.secondary,
                "rounding": self.rounding, "suppress_zeros": self.suppress_zeros,
                "rule": self.describe()}


@dataclass
class SuppressedTable:
    """A table ready to publish.

    Attributes:
        table: the published table (pandas); suppressed cells are None.
        suppressed: boolean mask (same index, the count and derived columns) of suppressed cells.
        n_primary: cells suppressed because they are small.
        n_secondary: cells suppressed to protect them.
        unsafe_totals: count columns whose total must not be published.
        rule: the rule applied, in words.
    """

    table: pd.DataFrame
    suppressed: pd.DataFrame
    n_primary: int
    n_secondary: int
    unsafe_totals: list[str] = field(default_factory=list)
    rule: str = ""

    def records(self) -> list[dict[str, Any]]:
        """Rows as JSON-ready dicts (None for suppressed cells)."""
        out = []
        for row in self.table.to_dict(orient="records"):
            out.append({k: _json_value(v) for k, v in row.items()})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.records(), "n_primary_suppressed": self.n_primary,
                "n_secondary_suppressed": self.n_secondary,
                "unsafe_totals": list(self.unsafe_totals), "rule": self.rule}


def _json_value(v):
    if v is None:
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        if np.isnan(v):
            return None
        return float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v


def _as_frame(table) -> pd.DataFrame:
    if isinstance(table, pd.DataFrame):
        return table.reset_index(drop=True).copy()
    if hasattr(table, "to_pandas"):  # pyarrow
        return table.to_pandas().reset_index(drop=True)
    if hasattr(table, "df"):  # duckdb relation
        return table.df().reset_index(drop=True)
    if isinstance(table, (list, tuple)):
        return pd.DataFrame(list(table))
    raise DisclosureError(f"cannot apply disclosure control to a {type(table).__name__}; "
                          "pass a pandas DataFrame, a pyarrow Table or a DuckDB relation")


def _protect(mask: np.ndarray, values: np.ndarray,
             lines: list[list[tuple[int, int]]], signs=None) -> np.ndarray:
    """Complementary suppression with as few cells as possible.

    While a line holds exactly one suppressed cell, suppress the published cell of that line
    that fixes the most other such lines and opens the fewest new ones (a cell whose other
    lines hold no suppressed cell yet would need a further complement), then the smallest
    (non-zero first). Then audit the whole table (:func:`_determined`) and add a complement next
    to any cell still recomputable through several lines. Last, every complement that is not
    needed (largest first) is published again: one whose removal leaves the table safe. The
    greedy choice alone, smallest cell first, used to cascade through big groups.
    """
    mask = mask.copy()
    primary = mask.copy()
    lines_of: dict[tuple[int, int], list[int]] = {}
    for k, line in enumerate(lines):
        for cell in line:
            lines_of.setdefault(cell, []).append(k)

    def hidden_in(k):
        return sum(1 for c in lines[k] if mask[c])

    def singles():
        return [k for k in range(len(lines)) if hidden_in(k) == 1
                and any(not mask[c] for c in lines[k])]

    todo = singles()
    while todo:
        line = lines[todo[0]]

        def score(cell):
            fixes = opens = 0
            for k in lines_of[cell]:
                h = hidden_in(k)
                fixes += h == 1
                opens += h == 0 and len(lines[k]) > 1
            return (opens - fixes, values[cell] == 0, values[cell])
        best = min((c for c in line if not mask[c]), key=score)
        mask[best] = True
        todo = singles()
    # a pattern where every line holds 0 or >= 2 suppressed cells can still give a cell back
    # through several lines at once (a cell bridging two cycles): audit the whole table and
    # suppress one more cell next to any recomputable one
    while True:
        found = _determined(mask, values, lines, signs)
        if not found:
            break
        shown = [c for k in lines_of[found[0]] for c in lines[k] if not mask[c]]
        if not shown:
            break
        mask[min(shown, key=lambda c: (values[c] == 0, values[c]))] = True
    # publish again every complement that is not needed, the largest first
    extra = sorted(zip(*np.nonzero(mask & ~primary)), key=lambda c: -values[c])
    for cell in extra:
        cell = (int(cell[0]), int(cell[1]))
        mask[cell] = False
        if singles() or _determined(mask, values, lines, signs):
            mask[cell] = True
    return mask


def _determined(mask, values, lines, signs=None) -> list[tuple[int, int]]:
    """Suppressed cells that the published cells and the lines fix exactly.

    A line is the equation ``sum(sign * cell) = known``: +1 for every cell of a column (its
    total is published elsewhere); for a row group, -1 for the total and +1 for each part
    (the known value is then 0), +1 for the parts of a group without a total column."""
    from .output_check import _recomputable
    signs = signs or [[1.0] * len(line) for line in lines]
    known = {f"{i},{j}": (None if mask[i, j] else float(values[i, j]))
             for line in lines for i, j in line}
    equations = []
    for k, (line, sign) in enumerate(zip(lines, signs)):
        if len(line) < 2:
            continue
        eq = {f"{i},{j}": float(c) for (i, j), c in zip(line, sign)}
        eq[f"line{k}"] = -1.0
        known[f"line{k}"] = float(sum(c * values[cell] for cell, c in zip(line, sign)))
        equations.append((eq, ""))
    return [tuple(map(int, name.split(","))) for name, _ in _recomputable(equations, known)
            if not name.startswith("line")]


def suppress(table, count_columns: Sequence[str], threshold: int | None = None, *,
             secondary: bool | None = None, rounding: int | None = None,
             row_groups: Sequence[tuple[str | None, Sequence[str]]] = (),
             rate_columns: Mapping[str, tuple[str, str]] | None = None,
             derived: Mapping[str, Sequence[str]] | None = None,
             policy: DisclosurePolicy | None = None) -> SuppressedTable:
    """Suppress small counts (primary), protect them (secondary), round, and suppress derived
    values.

    Args:
        table: a small summary table (pandas, Arrow, DuckDB relation or list of dicts).
        count_columns: the columns holding counts of individuals.
        threshold: minimum cell size (overrides ``policy.threshold``; default 11).
        secondary: apply complementary suppression (overrides the policy; default True).
        rounding: round published counts to this base (overrides the policy).
        row_groups: lines inside a row, as ``(total_column or None, [part columns])``: the
            total (when in the table) equals the sum of the parts.
        rate_columns: ``rate column -> (numerator count, denominator count)``; suppressed when
            either count is, recomputed from rounded counts when rounding.
        derived: ``column -> [count columns it was computed from]``; suppressed when any of
            them is.
        policy: a :class:`DisclosurePolicy` (defaults apply when None).

    Returns:
        A :class:`SuppressedTable`.

    Examples:
        >>> import pandas as pd
        >>> t = pd.DataFrame({"n": [30, 15], "linked": [27, 12], "unlinked": [3, 3]})
        >>> out = suppress(t, ["n", "linked", "unlinked"], row_groups=[("n", ["linked",
        ...                "unlinked"])])
        >>> out.table.to_dict(orient="list")
        {'n': [30.0, 15.0], 'linked': [None, None], 'unlinked': [None, None]}
    """
    policy = policy or DisclosurePolicy()
    threshold = policy.threshold if threshold is None else threshold
    secondary = policy.secondary if secondary is None else secondary
    rounding = policy.rounding if rounding is None else rounding
    policy = DisclosurePolicy(threshold=threshold, secondary=secondary, rounding=rounding,
                              suppress_zeros=policy.suppress_zeros)
    frame = _as_frame(table)
    count_columns = list(count_columns)
    rate_columns = dict(rate_columns or {})
    derived = {k: list(v) for k, v in (derived or {}).items()}
    known = set(frame.columns)
    for col in count_columns + [c for r in rate_columns.values() for c in r] + \
            [c for v in derived.values() for c in v] + list(rate_columns) + list(derived):
        if col not in known:
            raise DisclosureError(f"disclosure control: column {col!r} is not in the table "
                                  f"(columns: {sorted(known)})")
    for total, parts in row_groups:
        for col in ([total] if total else []) + list(parts):
            if col not in count_columns:
                raise DisclosureError(f"disclosure control: row group column {col!r} must be "
                                      "one of count_columns")

    values = frame[count_columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    if np.any(values[~np.isnan(values)] < 0):
        raise DisclosureError("disclosure control: negative counts in "
                              f"{[c for c in count_columns if (frame[c] < 0).any()]}")
    n_rows, n_cols = values.shape
    present = ~np.isnan(values)
    rounded = values.copy()
    if rounding and rounding > 1:
        rounded = np.floor(values / rounding + 0.5) * rounding
    # a count that rounds into (0, threshold) is small too
    small = ((values > 0) & (values < threshold)) | ((rounded > 0) & (rounded < threshold))
    if policy.suppress_zeros:
        small |= values == 0
    mask = small & present
    n_primary = int(mask.sum())

    # lines: lists of (row, col) cells with a known sum
    lines: list[list[tuple[int, int]]] = []
    signs: list[list[float]] = []
    col_index = {c: j for j, c in enumerate(count_columns)}
    for j in range(n_cols):
        lines.append([(i, j) for i in range(n_rows) if present[i, j]])
        signs.append([1.0] * len(lines[-1]))
    for total, parts in row_groups:
        cols = [col_index[c] for c in ([total] if total else []) + list(parts)]
        for i in range(n_rows):
            lines.append([(i, j) for j in cols if present[i, j]])
            signs.append([-1.0 if (total and j == cols[0]) else 1.0 for j in cols
                          if present[i, j]])

    unsafe_cols: set[str] = set()
    if secondary:
        mask = _protect(mask, values, lines, signs)
        for j, line in enumerate(lines[:n_cols]):
            if sum(mask[c] for c in line) == 1:
                unsafe_cols.add(count_columns[j])
    n_secondary = int(mask.sum()) - n_primary

    out = frame.copy()
    published = rounded.copy()
    published[mask] = np.nan
    for j, col in enumerate(count_columns):
        out[col] = pd.Series([None if np.isnan(v) else float(v) for v in published[:, j]],
                             dtype=object)
    hidden = pd.DataFrame(mask, columns=count_columns)
    for col, (num, den) in rate_columns.items():
        gone = hidden[num] | hidden[den]
        if rounding and rounding > 1:
            n = pd.to_numeric(out[num], errors="coerce")
            d = pd.to_numeric(out[den], errors="coerce")
            rate = (n / d.where(d > 0)).astype(float)
        else:
            rate = pd.to_numeric(frame[col], errors="coerce").astype(float)
        out[col] = pd.Series([None if (g or pd.isna(v)) else float(v)
                              for g, v in zip(gone, rate)], dtype=object)
        hidden[col] = gone.to_numpy()
    for col, sources in derived.items():
        gone = hidden[sources].any(axis=1)
        out[col] = pd.Series([None if g else v for g, v in zip(gone, frame[col])], dtype=object)
        hidden[col] = gone.to_numpy()
    return SuppressedTable(out, hidden, n_primary, n_secondary, sorted(unsafe_cols),
                           policy.describe())
