"""Bundled reference lists (names, countries, départements) and vectorised helpers.

The CSV files in ``data/`` are small hand-written lists: common French surnames with Zipf-like
weights, surnames and first names by origin group, transliteration variant groups, INSEE
country codes (``99xxx``) and département weights. Helpers here build strings, dates and NIRs
for whole arrays at once (numpy / pyarrow), never row by row.
"""

from __future__ import annotations

import csv
import functools
from importlib import resources

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ORIGINS = ("FR", "MAGHREB", "WEST_AFRICA", "CENTRAL_AFRICA", "PORTUGUESE", "TURKISH",
           "EAST_EUROPE", "ASIA")


def _read_csv(name: str) -> list[dict]:
    text = resources.files("appariement.synth").joinpath("data", name).read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


@functools.lru_cache(maxsize=None)
def surnames() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Surnames by origin group: ``{origin: (names, probabilities)}``."""
    return _by_group(_read_csv("surnames.csv"), "nom", ("origine",))


@functools.lru_cache(maxsize=None)
def first_names() -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """First names by (origin group, sex code '1'/'2')."""
    return _by_group(_read_csv("first_names.csv"), "prenom", ("origine", "sexe"))


def _by_group(rows, value_col, group_cols):
    groups: dict = {}
    for row in rows:
        key = tuple(row[c] for c in group_cols)
        key = key[0] if len(key) == 1 else key
        groups.setdefault(key, ([], []))
        groups[key][0].append(row[value_col])
        groups[key][1].append(float(row["poids"]))
    out = {}
    for key, (names, weights) in groups.items():
        w = np.asarray(weights)
        out[key] = (np.asarray(names, dtype=object), w / w.sum())
    return out


@functools.lru_cache(maxsize=None)
def variants() -> dict[str, tuple[str, ...]]:
    """Transliteration variants: ``{name: (all spellings of its group)}`` for every member."""
    groups: dict[str, list[str]] = {}
    for row in _read_csv("variants.csv"):
        groups.setdefault(row["groupe"], []).append(row["variante"])
    out = {}
    for members in groups.values():
        for m in members:
            out[m] = tuple(members)
    return out


@functools.lru_cache(maxsize=None)
def countries() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """INSEE country codes of birth by origin group."""
    rows = [dict(r, nom=r["code"]) for r in _read_csv("countries.csv")]
    return _by_group(rows, "nom", ("origine",))


@functools.lru_cache(maxsize=None)
def departements() -> tuple[np.ndarray, np.ndarray]:
    """Département codes (2A/2B, 97x) and population weights (probabilities)."""
    rows = _read_csv("departements.csv")
    w = np.asarray([float(r["poids"]) for r in rows])
    return np.asarray([r["code"] for r in rows], dtype=object), w / w.sum()


# ---------------------------------------------------------------- strings

def choose(rng: np.random.Generator, values: np.ndarray, probs: np.ndarray, n: int) -> np.ndarray:
    """Draw ``n`` values with the given probabilities (object array)."""
    return values[rng.choice(len(values), size=n, p=probs)]


def zfill(values: np.ndarray, width: int) -> pa.Array:
    """Zero-padded decimal strings of an integer array."""
    return pc.utf8_lpad(pc.cast(pa.array(values, type=pa.int64()), pa.string()), width, "0")


def join(parts: list, sep: str = "") -> pa.Array:
    """Concatenate string arrays element-wise; null parts are skipped."""
    arrays = [p if isinstance(p, (pa.Array, pa.ChunkedArray)) else pa.array(p, type=pa.string())
              for p in parts]
    return pc.binary_join_element_wise(*arrays, sep, null_handling="skip")


def strip_accents(values) -> pa.Array:
    """Remove diacritics (NFD then drop combining marks); Turkish dotless i becomes I."""
    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(
        values, type=pa.string())
    arr = pc.utf8_normalize(arr, "NFD")
    arr = pc.replace_substring_regex(arr, r"\p{Mn}", "")
    arr = pc.replace_substring(arr, "ı", "i")
    return pc.replace_substring(pc.replace_substring(arr, "Ł", "L"), "ł", "l")


def to_numpy_str(arr) -> np.ndarray:
    """Arrow string array to a numpy object array (nulls become None)."""
    return np.asarray(arr.to_pylist() if isinstance(arr, pa.ChunkedArray) else
                      arr.to_numpy(zero_copy_only=False), dtype=object)


# ---------------------------------------------------------------- dates

def add_months(days: np.ndarray, months) -> np.ndarray:
    """Add whole months to dates (datetime64[D]); the day is clipped to the month's length."""
    d = np.asarray(days, dtype="datetime64[D]")
    month_start = d.astype("datetime64[M]")
    day = (d - month_start.astype("datetime64[D]")).astype(np.int64)
    target = month_start + np.asarray(months, dtype=np.int64)
    length = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(
        np.int64)
    return target.astype("datetime64[D]") + np.minimum(day, length - 1)


def date_parts(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month (1-12) and day (1-31) arrays of datetime64[D] dates."""
    d = np.asarray(days, dtype="datetime64[D]")
    y = d.astype("datetime64[Y]").astype(np.int64) + 1970
    m = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (d - d.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    return y, m, day


def date_array(days: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Arrow date32 array from datetime64[D] (``mask`` True means null)."""
    return pa.array(np.asarray(days, dtype="datetime64[D]"), type=pa.date32(), mask=mask)


# ---------------------------------------------------------------- NIR

def nir_numeric(sex: np.ndarray, yy: np.ndarray, mm: np.ndarray, place_num: np.ndarray,
                order: np.ndarray) -> np.ndarray:
    """The first 13 characters of a NIR as an integer (2A -> 19, 2B -> 18 already applied)."""
    return (sex.astype(np.int64) * 10**12 + yy.astype(np.int64) * 10**10
            + mm.astype(np.int64) * 10**8 + place_num.astype(np.int64) * 10**3
            + order.astype(np.int64))


def nir_key(first13: np.ndarray) -> np.ndarray:
    """NIR control key, ``97 - (first13 mod 97)`` (same as stdnum.fr.nir.calc_check_digits)."""
    return 97 - (np.asarray(first13, dtype=np.int64) % 97)


def place_numeric(place: np.ndarray) -> np.ndarray:
    """Numeric value of a 5-character place code for the key (2A -> 19, 2B -> 18)."""
    arr = pa.array(place, type=pa.string())
    arr = pc.replace_substring(pc.replace_substring(arr, "2A", "19"), "2B", "18")
    return pc.cast(arr, pa.int64()).to_numpy()


def nir_strings(sex, yy, mm, place, order) -> tuple[pa.Array, np.ndarray]:
    """Build 15-character NIR strings with valid keys; also return the numeric first 13."""
    first13 = nir_numeric(sex, yy, mm, place_numeric(place), order)
    text = join([zfill(sex, 1), zfill(yy, 2), zfill(mm, 2), pa.array(place, type=pa.string()),
                 zfill(order, 3), zfill(nir_key(first13), 2)])
    return text, first13


def unique_orders(rng: np.random.Generator, cells: np.ndarray) -> np.ndarray:
    """Order numbers 1..999 unique within each cell (sex, year, month, place) when it has
    at most 999 members: rank within the cell, with a random start and stride per cell."""
    n = len(cells)
    order_idx = np.argsort(cells, kind="stable")
    sorted_cells = cells[order_idx]
    first = np.r_[True, sorted_cells[1:] != sorted_cells[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    rank = np.arange(n) - group_start
    starts = rng.integers(0, 999, size=n)[group_start]
    strides = np.array([1, 2, 4, 5, 7, 8, 10, 11, 13, 14, 16, 17])[
        rng.integers(0, 12, size=n)][group_start]
    out = np.empty(n, dtype=np.int64)
    out[order_idx] = (starts + rank * strides) % 999 + 1
    return out


def luhn_complete(body: np.ndarray, length: int) -> np.ndarray:
    """Append a Luhn check digit to integers of ``length - 1`` digits (for SIRET numbers)."""
    body = np.asarray(body, dtype=np.int64)
    total = np.zeros(len(body), dtype=np.int64)
    rest = body.copy()
    for pos in range(length - 1):  # pos 0 = rightmost digit of the body, doubled
        digit = rest % 10
        rest //= 10
        if pos % 2 == 0:
            digit = digit * 2
            digit = np.where(digit > 9, digit - 9, digit)
        total += digit
    check = (10 - total % 10) % 10
    return body * 10 + check
