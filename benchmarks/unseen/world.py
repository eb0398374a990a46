"""A second synthetic world, written apart from ``appariement/synth`` (no shared code or name list).

The linkage was tuned on data from the project's own generator; this one is written to the
same *kind* of reality (French administrative identities) but with its own population model, its
own error model and its own column names, so that a benchmark on it measures what the library
does on data it has not seen.

Population (:func:`population`)
-------------------------------
* origin: France 70 %, Maghreb 12 %, West Africa 5 %, Turkey 3 %, Portugal 5 %, Eastern Europe
  5 % (lists in :mod:`.names`); born in France 97 % / 30-50 % depending on origin, else a
  country of that origin (INSEE code ``99xxx``).
* surnames: a typed head list per origin then a made-up tail (~56k names overall), Zipf-like
  weights ``(rank + 15) ** -0.7`` (MARTIN ~0.2 % of the French-origin population; West Africa
  ``(rank + 5) ** -0.8``: DIALLO, TRAORÉ, KONÉ are very common); Polish /
  Russian surnames take their feminine form for women (KOWALSKA, IVANOVA).
* first names: 1 name 35 %, 2 names 40 %, 3 names 25 %; Zipf weights times a popularity curve
  over birth years (each name has its own peak year); 12 % of persons of foreign origin carry
  French first names. Compound names (JEAN-PIERRE, MARIE-HÉLÈNE) are single names, the first
  given name of 8 % of persons with French first names.
* sex 50/50; birth dates uniform over ages 16-65 at 2025-06-30.
* true homonyms: 1.5 % of persons take the surname, first names and sex of another person (30 %
  of them also the birth year, 3 % the whole birth date); 25 % of the candidates that are *not*
  in the source are homonyms of a source person (40 % with the same birth year).
* twins: 1.5 % of persons are the twin of the previous one (same surname, birth date, birth place,
  70 % same residence, own first names and sex; NIR order number + 1).
* married women: 25 % of women aged 22-27, 50 % aged 28-35, 60 % older have a usage name
  (the husband's surname; 5 % of them a double name BIRTH-HUSBAND).
* residence postcode (dept weighted by population; 12 % of persons moved, so the source holds an
  older postcode); birth commune: INSEE code dept + 3 digits (Zipf over the dept's communes).
* NIR: ``S AA MM DEPT(2) COM(3) ORD(3)`` + key ``97 - (N mod 97)`` (Corsica 2A/2B count as
  19/18 in N; persons born in Corsica before 1976 carry the old ``20``); born abroad: dept 99 +
  country code; 3 % of foreign-born carry a temporary number (first digit 7/8). Unique.
* 5 % of foreign-born persons have no known birth day and month: the source records 00/00 (40 %)
  or 01/01 (60 %); on the platform they write 01/01 (50 %), 00/00 (20 %) or their true date.

Sides
-----
``source`` (N persons, an administrative file) and ``platform`` (M candidates, self-declared on a
web form); a share ``in_source`` (88 %) of the candidates are source persons (``truth.parquet``:
``id_cand, pid``), the others are not. Each side gets its own copy of the errors below, drawn
independently with its own rates (:data:`PLATFORM_RATES`, :data:`SOURCE_RATES`; platform /
source):

* surname typo (insert / delete / AZERTY substitution / transposition) 3.5 % / 0.8 %, phonetic
  respelling (PH/F, AU/O, final silent letter, doubled consonant ...) 2 % / 0.4 %;
* first name typo 3 % / 0.6 %, phonetic 1 % / 0.3 %; transliterated spelling (MOHAMED /
  MOHAMMED / MUHAMMAD, FATIMA / FATMA, OUSMANE / USMAN, YOUSSEF / YOUCEF ...) for 35 % / 20 % of
  the names that have variants;
* compound first name written as its first part (JEAN-PIERRE -> JEAN) 25 % / 5 %, with a space
  (JEAN PIERRE) 15 % / 10 %; all given names written 35 % / 95 % (else only the first);
* surname / first name swapped 1 % / 0.2 %;
* married women: the platform ``surname`` is the usage name 75 % of the time, ``birth_surname``
  is filled on 35 % of records (50 % of married women writing their usage name); 3 % of married
  women write "USAGE née BIRTH" or "BIRTH épouse USAGE". The source holds the birth name, the
  usage name for 85 % of married women, and the usage name *in the birth-name column* for 2 %;
* birth date: day/month swapped 1.5 % / 0.3 % (when day <= 12), year +-1 1 % / 0.2 %, one wrong
  year digit 0.5 % / 0.1 %, wrong day 1 % / 0.3 %, day unknown (00) 0.3 % / 0.5 %, day and month
  unknown 0.2 % / 0.4 %, missing 1.5 % / 0.2 %; plus, for 1.5 % of the true pairs where both sides
  carry a NIR, a one-year error on one side (60 % platform);
* dates are TEXT: platform dd/mm/yyyy 70 %, yyyy-mm-dd 12 %, yyyymmdd 5 %, d/m/yy 8 %, mm/dd/yyyy
  5 % (only when day > 12, else dd/mm/yyyy); source dd/mm/yyyy 60 %, yyyy-mm-dd 35 %,
  yyyymmdd 5 %;
* sex missing 3 % / 0.5 %, wrong 0.3 % / 0.1 %; platform codes M/F (85 %), Homme/Femme (10 %),
  H/F (5 %); source 1/2 integers;
* postcode missing 3 % / 2 %, one digit wrong 0.5 % / 0.2 %; the platform drops the leading zero
  of 30 % of codes starting with 0 ("1000");
* birth place missing 25 % / 4 % (platform country name missing 30 %), wrong 2 % / 0.5 %;
* NIR present on 70 % of candidates and 95 % of source persons; one digit wrong or two adjacent
  digits swapped 2 % / 0.4 % (key left as written); written with spaces 10 % / 0 %; 0.5 % of the
  candidates with a NIR carry another source person's valid NIR (a "foreign" NIR);
* case: platform UPPER 35 %, Title 50 %, lower 15 %, diacritics kept 50 %; source UPPER,
  diacritics kept 5 %.

Columns (as a user has them)
----------------------------
``platform.parquet``: ``id_cand, surname, birth_surname, given_names, birth_date, gender,
birth_city_code, birth_country, zip, ssn``; ``source.parquet``: ``pid, last_name_birth,
last_name_used, first_names, dob, sex_code, birth_place, postcode, ssn``; ``truth.parquet``:
``id_cand, pid``. ``--no-postcode`` / ``--no-birthplace`` drop the residence / birth place
columns. ``profile.json``: the counts of each error actually applied.

Usage::

    python benchmarks/unseen/world.py --persons 100000 --candidates 20000 --seed 7 \\
        --out out/unseen/world/100000x20000

Same seed and options -> same files. Measured (2-core machine): 100k x 20k in 2.5 s; 1M x 200k
in 15.8 s wall, peak RSS 1.2 GB; 5M x 500k in 98 s, peak RSS 4.3 GB.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import sys
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from unseen import names as N  # type: ignore
else:
    from . import names as N

REF_YEAR, REF_MONTH, REF_DAY = 2025, 6, 30


@dataclass(frozen=True)
class SideRates:
    """Error rates of one side (see the module docstring)."""

    surname_typo: float
    surname_phonetic: float
    first_typo: float
    first_phonetic: float
    first_translit: float
    compound_first_part: float
    compound_spaced: float
    all_given_names: float
    given_names_comma: float
    swap_names: float
    usage_written: float
    birth_name_given: float
    usage_in_birth_column: float
    composite_married: float
    date_swap_dm: float
    date_year_pm1: float
    date_year_digit: float
    date_day_wrong: float
    date_day_unknown: float
    date_dm_unknown: float
    date_missing: float
    date_formats: dict
    sex_missing: float
    sex_wrong: float
    postcode_missing: float
    postcode_typo: float
    postcode_no_leading_zero: float
    birthplace_missing: float
    birthplace_wrong: float
    country_missing: float
    nir_present: float
    nir_typo: float
    nir_spaced: float
    case_shares: tuple = (1.0, 0.0, 0.0)  # UPPER, Title, lower
    accents_kept: float = 0.0


PLATFORM_RATES = SideRates(
    surname_typo=0.035, surname_phonetic=0.02, first_typo=0.03, first_phonetic=0.01,
    first_translit=0.35, compound_first_part=0.25, compound_spaced=0.15, all_given_names=0.35,
    given_names_comma=0.57, swap_names=0.01, usage_written=0.75, birth_name_given=0.35,
    usage_in_birth_column=0.0, composite_married=0.03,
    date_swap_dm=0.015, date_year_pm1=0.01, date_year_digit=0.005, date_day_wrong=0.01,
    date_day_unknown=0.003, date_dm_unknown=0.002, date_missing=0.015,
    date_formats={"dmy": 0.70, "iso": 0.12, "compact": 0.05, "dmy2": 0.08, "us": 0.05},
    sex_missing=0.03, sex_wrong=0.003, postcode_missing=0.03, postcode_typo=0.005,
    postcode_no_leading_zero=0.30, birthplace_missing=0.25, birthplace_wrong=0.02,
    country_missing=0.30, nir_present=0.70, nir_typo=0.02, nir_spaced=0.10,
    case_shares=(0.35, 0.50, 0.15), accents_kept=0.5)

SOURCE_RATES = SideRates(
    surname_typo=0.008, surname_phonetic=0.004, first_typo=0.006, first_phonetic=0.003,
    first_translit=0.20, compound_first_part=0.05, compound_spaced=0.10, all_given_names=0.95,
    given_names_comma=0.15, swap_names=0.002, usage_written=0.85, birth_name_given=1.0,
    usage_in_birth_column=0.02, composite_married=0.0,
    date_swap_dm=0.003, date_year_pm1=0.002, date_year_digit=0.001, date_day_wrong=0.003,
    date_day_unknown=0.005, date_dm_unknown=0.004, date_missing=0.002,
    date_formats={"dmy": 0.60, "iso": 0.35, "compact": 0.05},
    sex_missing=0.005, sex_wrong=0.001, postcode_missing=0.02, postcode_typo=0.002,
    postcode_no_leading_zero=0.0, birthplace_missing=0.04, birthplace_wrong=0.005,
    country_missing=1.0, nir_present=0.95, nir_typo=0.004, nir_spaced=0.0,
    case_shares=(1.0, 0.0, 0.0), accents_kept=0.05)

#: cross-side rates: share of candidates in the source, foreign NIRs, one-year error on shared NIRs
IN_SOURCE = 0.88
FOREIGN_NIR = 0.005
SHARED_NIR_YEAR_ERROR = 0.015
HOMONYM_RATE, HOMONYM_SAME_YEAR, HOMONYM_SAME_DATE = 0.015, 0.30, 0.03
OUT_OF_SOURCE_HOMONYMS, OUT_OF_SOURCE_SAME_YEAR = 0.25, 0.40
TWIN_RATE = 0.015
MOVED = 0.12
FOREIGN_UNKNOWN_DATE = 0.05
TEMPORARY_NIR = 0.03
COMPOUND = 0.08

# --------------------------------------------------------------------------- vocabulary

_S = lambda n: np.array([f"{i:0{n}d}" for i in range(10 ** n)], dtype=object)  # noqa: E731
D2, D3 = _S(2), _S(3)
D1 = np.array([str(i) for i in range(100)], dtype=object)
Y4 = np.array([f"{i:04d}" for i in range(3000)], dtype=object)

# departments: code, weight (population share, rough), numeric value in the NIR key
_BIG = {"59": 2.6, "75": 2.1, "13": 2.0, "69": 1.9, "93": 1.7, "92": 1.6, "33": 1.6, "62": 1.5,
        "94": 1.4, "78": 1.4, "77": 1.4, "31": 1.4, "44": 1.4, "91": 1.3, "38": 1.3, "95": 1.2,
        "76": 1.2, "34": 1.2, "06": 1.1, "67": 1.1, "57": 1.0, "35": 1.0, "83": 1.0, "60": 0.8}
DEPTS = [f"{i:02d}" for i in range(1, 96) if i != 20] + ["2A", "2B", "971", "972", "973", "974",
                                                        "976"]
DEPT_W = np.array([_BIG.get(d, 0.17 if d in ("2A", "2B") else
                             {"971": 0.6, "972": 0.55, "973": 0.4, "974": 0.85, "976": 0.4}
                             .get(d, 0.5)) for d in DEPTS])
DEPT_W = DEPT_W / DEPT_W.sum()
DEPT_STR = np.array(DEPTS, dtype=object)
DEPT_NUM = np.array([19 if d == "2A" else 18 if d == "2B" else int(d) for d in DEPTS])
OVERSEAS = np.array([len(d) == 3 for d in DEPTS])
CORSICA = np.array([d in ("2A", "2B") for d in DEPTS])
N_COMMUNES = 600


class Vocab:
    """All names (surnames and first names) in one list; per-name helper arrays."""

    def __init__(self):
        self.names: list[str] = []
        self.index: dict[str, int] = {}

    def add(self, name: str) -> int:
        if name not in self.index:
            self.index[name] = len(self.names)
            self.names.append(name)
        return self.index[name]

    def finish(self):
        n = len(self.names)
        self.accented = np.array(self.names, dtype=object)
        self.plain = np.array([N.plain(x) for x in self.names], dtype=object)
        self.first_part = np.arange(n)
        self.spaced = np.arange(n)
        self.female = np.arange(n)
        for i, name in enumerate(list(self.names)):
            if "-" in name and name.split("-")[0] in self.index:  # compound first names
                self.first_part[i] = self.index[name.split("-")[0]]
                self.spaced[i] = self.index[name.replace("-", " ")]
        width = 1 + max(len(v.split()) for v in N.VARIANTS)
        self.variants = np.full((n, width), -1, dtype=np.int32)
        self.n_variants = np.zeros(n, dtype=np.int32)
        for fam in N.VARIANTS:
            members = [self.index[N._words(fam)[0]]] + [self.index[w] for w in N._words(fam)[1:]]
            # every member can be rewritten as any other member of its family
            for m in members:
                others = [o for o in members if o != m]
                self.variants[m, :len(others)] = others
                self.n_variants[m] = len(others)


@lru_cache(maxsize=1)
def vocab():
    """The vocabulary and the sampling tables (built once per process)."""
    v = Vocab()
    surnames, firsts = {}, {}
    for o in N.ORIGINS:
        head = N._words(N.SURNAMES[o])
        tail = N._tail_surnames(o, N.TAIL_SIZES[o], set(head))
        ids = np.array([v.add(x) for x in head + tail])
        off, expo = (5, 0.8) if o == "west_africa" else (15, 0.7)
        w = (np.arange(len(ids)) + off) ** -expo
        surnames[o] = (ids, w / w.sum())
        if o == "east_europe":
            for x in head + tail:
                v.add(N.female_form(x))
        for s, text in zip((1, 2), N.FIRST_NAMES[o]):
            words = N._words(text)
            ids_f = np.array([v.add(x) for x in words])
            for x in words:
                if "-" in x:
                    v.add(x.split("-")[0])
                    v.add(x.replace("-", " "))
            rng = np.random.default_rng(N.hash_str(f"{o}{s}") % 2**32)
            base = (np.arange(len(ids_f)) + 5.0) ** -0.9
            peak = rng.uniform(1950, 2015, len(ids_f))
            sigma = rng.uniform(9, 20, len(ids_f))
            sigma[:6] = 40  # the most common names are common in every cohort
            firsts[(o, s)] = (ids_f, base, peak, sigma)
    for fam in N.VARIANTS:
        for w in N._words(fam):
            v.add(w)
            if "-" in w:
                v.add(w.split("-")[0])
                v.add(w.replace("-", " "))
    v.finish()
    fem = v.female
    for x, i in list(v.index.items()):
        f = N.female_form(x)
        if f != x and f in v.index:
            fem[i] = v.index[f]
    return v, surnames, firsts


# --------------------------------------------------------------------------- population

def _pick(rng, p, size):
    return rng.choice(len(p), size=size, p=p)


def _commune_number(rng, size):
    # Zipf over the communes of a department: the main town dominates
    w = (np.arange(N_COMMUNES) + 1.0) ** -1.1
    return _pick(rng, w / w.sum(), size) + 1


def _postcode(rng, dept_idx):
    n = len(dept_idx)
    k = _pick(rng, ((np.arange(100) + 1.0) ** -1.0) / (((np.arange(100) + 1.0) ** -1.0).sum()), n)
    num = DEPT_NUM[dept_idx]
    code = num * 1000 + 10 * k
    paris = DEPT_STR[dept_idx] == "75"
    code[paris] = 75001 + rng.integers(0, 20, paris.sum())
    ov = OVERSEAS[dept_idx]
    code[ov] = num[ov] * 100 + 10 * (k[ov] % 10)
    co = CORSICA[dept_idx]
    code[co] = 20000 + np.where(DEPT_STR[dept_idx][co] == "2A", 0, 200) + 10 * (k[co] % 20)
    return code


def population(n: int, n_source: int, rng) -> dict:
    """``n`` persons; indices ``>= n_source`` are the candidates that are not in the source."""
    v, surnames, firsts = vocab()
    P: dict = {}
    origin = _pick(rng, np.array(N.ORIGIN_SHARES), n).astype(np.int8)
    sex = rng.integers(1, 3, n).astype(np.int8)
    # birth date uniform over ages 16..65 at the reference date
    ref = np.datetime64(f"{REF_YEAR}-{REF_MONTH:02d}-{REF_DAY:02d}")
    lo = (ref - np.timedelta64(66 * 365 + 16, "D")).astype("int64")
    hi = (ref - np.timedelta64(16 * 365 + 4, "D")).astype("int64")
    days = rng.integers(lo, hi, n).astype("datetime64[D]")
    y = days.astype("datetime64[Y]").astype(int) + 1970
    m = days.astype("datetime64[M]").astype(int) % 12 + 1
    d = (days - days.astype("datetime64[M]")).astype(int) + 1
    surname = np.empty(n, dtype=np.int32)
    given = np.full((n, 3), -1, dtype=np.int32)
    n_given = _pick(rng, np.array([0.35, 0.40, 0.25]), n) + 1
    french_first = (origin != 0) & (rng.random(n) < 0.12)
    bins = np.clip((y - 1955) // 5, 0, 12)
    for oi, o in enumerate(N.ORIGINS):
        sel = np.flatnonzero(origin == oi)
        ids, p = surnames[o]
        surname[sel] = ids[_pick(rng, p, len(sel))]
        for s in (1, 2):
            for b in np.unique(bins):
                grp = np.flatnonzero((origin == oi) & (sex == s) & (bins == b) & ~french_first)
                if oi == 0:
                    grp = np.flatnonzero((sex == s) & (bins == b) & ((origin == 0) | french_first))
                if not len(grp):
                    continue
                ids_f, base, peak, sigma = firsts[(o, s)]
                year = 1955 + 5 * b + 2.5
                w = base * np.exp(-0.5 * ((year - peak) / sigma) ** 2)
                w = w / w.sum()
                for k in range(3):
                    rows = grp[n_given[grp] > k]
                    given[rows, k] = ids_f[_pick(rng, w, len(rows))]
    # compound first names (JEAN-PIERRE, MARIE-HÉLÈNE) for 8 % of French first names
    for s in (1, 2):
        ids_f = firsts[("fr", s)][0]
        comp = np.array([i for i in ids_f if "-" in v.names[i]])
        grp = np.flatnonzero((sex == s) & ((origin == 0) | french_first) & (rng.random(n) < COMPOUND))
        w = (np.arange(len(comp)) + 2.0) ** -1.0
        given[grp, 0] = comp[_pick(rng, w / w.sum(), len(grp))]
    # no repeated first name within a person
    dup = given[:, 1] == given[:, 0]
    given[dup, 1] = -1
    dup = (given[:, 2] == given[:, 0]) | (given[:, 2] == given[:, 1])
    given[dup, 2] = -1
    # true homonyms (different persons, same names and sex)
    hom = np.flatnonzero(rng.random(n_source) < HOMONYM_RATE)
    donor = rng.integers(0, n_source, len(hom))
    # out-of-source candidates: a quarter are homonyms of a source person
    out = np.arange(n_source, n)
    hom2 = out[rng.random(len(out)) < OUT_OF_SOURCE_HOMONYMS]
    donor2 = rng.integers(0, n_source, len(hom2))
    same_year = np.concatenate([rng.random(len(hom)) < HOMONYM_SAME_YEAR,
                                rng.random(len(hom2)) < OUT_OF_SOURCE_SAME_YEAR])
    same_date = np.concatenate([rng.random(len(hom)) < HOMONYM_SAME_DATE,
                                np.zeros(len(hom2), bool)])
    tgt, dn = np.concatenate([hom, hom2]), np.concatenate([donor, donor2])
    keep = tgt != dn
    tgt, dn, same_year, same_date = tgt[keep], dn[keep], same_year[keep], same_date[keep]
    surname[tgt], given[tgt], sex[tgt], origin[tgt] = surname[dn], given[dn], sex[dn], origin[dn]
    y[tgt[same_year]] = y[dn[same_year]]
    m[tgt[same_date]], d[tgt[same_date]] = m[dn[same_date]], d[dn[same_date]]
    d = np.minimum(d, _days_in_month(y, m))
    P["homonym_of"] = np.full(n, -1, dtype=np.int64)
    P["homonym_of"][tgt] = dn
    # twins: person i+1 is the twin of person i (both on the same side of n_source)
    tw = np.flatnonzero(rng.random(n - 1) < TWIN_RATE)
    tw = tw[(tw + 1 != n_source)]
    tw = tw[np.diff(np.concatenate([[-2], tw])) > 1]  # no chains
    t2 = tw + 1
    surname[t2], origin[t2], y[t2], m[t2], d[t2] = surname[tw], origin[tw], y[tw], m[tw], d[tw]
    P["twin_of"] = np.full(n, -1, dtype=np.int64)
    P["twin_of"][t2] = tw
    same_sex = rng.random(len(tw)) < 0.5
    sex[t2[same_sex]] = sex[tw[same_sex]]
    # Eastern European women: feminine surname
    fem = (origin == 5) & (sex == 2)
    surname[fem] = v.female[surname[fem]]
    # married women: usage name = a husband's surname (of the same origin mostly)
    age = REF_YEAR - y
    pm = np.where(age < 22, 0.0, np.where(age < 28, 0.25, np.where(age < 36, 0.5, 0.6)))
    married = (sex == 2) & (rng.random(n) < pm)
    usage = np.full(n, -1, dtype=np.int64)
    mi = np.flatnonzero(married)
    h_origin = np.where(rng.random(len(mi)) < 0.85, origin[mi], 0)
    for oi, o in enumerate(N.ORIGINS):
        sel = mi[h_origin == oi]
        ids, p = surnames[o]
        usage[sel] = ids[_pick(rng, p, len(sel))]
    usage[mi] = v.female[usage[mi]]
    same = usage[mi] == surname[mi]
    usage[mi[same]] = -1
    married[mi[same]] = False
    P["double_usage"] = married & (rng.random(n) < 0.05)
    # places
    born_fr = rng.random(n) < np.array(N.BORN_IN_FRANCE)[origin]
    bdept = _pick(rng, DEPT_W, n)
    bcom = _commune_number(rng, n)
    country = np.full(n, 100, dtype=np.int64)
    for oi, o in enumerate(N.ORIGINS):
        sel = np.flatnonzero((origin == oi) & ~born_fr)
        if not len(sel):
            continue
        opts = N.COUNTRIES[o] if o != "fr" else N.COUNTRIES["maghreb"]
        p = np.array([c[2] for c in opts])
        country[sel] = np.array([int(c[0]) for c in opts])[_pick(rng, p / p.sum(), len(sel))]
    born_fr[t2], bdept[t2], bcom[t2], country[t2] = born_fr[tw], bdept[tw], bcom[tw], country[tw]
    rdept = np.where(born_fr & (rng.random(n) < 0.6), bdept, _pick(rng, DEPT_W, n))
    post = _postcode(rng, rdept)
    share_home = rng.random(len(tw)) < 0.7
    post[t2[share_home]] = post[tw[share_home]]
    moved = rng.random(n) < MOVED
    other_dept = np.where(rng.random(n) < 0.6, rdept, _pick(rng, DEPT_W, n))
    prev = np.where(moved, _postcode(rng, other_dept), post)
    prev[moved & (prev == post)] += 10
    # NIR
    temp = ~born_fr & (rng.random(n) < TEMPORARY_NIR)
    temp[t2] = temp[tw]
    sexd = np.where(temp, sex + 6, sex)
    order = rng.integers(1, 1000, n)
    order[t2] = np.where(order[tw] < 999, order[tw] + 1, order[tw] - 1)
    ov = OVERSEAS[bdept]
    bcom_ov = (bcom - 1) % 40 + 1  # overseas: 2-digit commune
    place_num = np.where(ov, DEPT_NUM[bdept] * 100 + bcom_ov, DEPT_NUM[bdept] * 1000 + bcom)
    corsica_old = CORSICA[bdept] & (y < 1976)
    nir_place_num = np.where(corsica_old, 20000 + bcom, place_num)
    nir_place_num = np.where(born_fr, nir_place_num, 99000 + country)
    yy, mm = y % 100, m.copy()
    unknown_dm = ~born_fr & (rng.random(n) < FOREIGN_UNKNOWN_DATE)
    unknown_dm[t2] = unknown_dm[tw]
    for _ in range(20):  # make the NIR unique
        num = (sexd.astype(np.int64) * 10**12 + yy * 10**10 + mm * 10**8
               + nir_place_num.astype(np.int64) * 1000 + order)
        _, first_idx, counts = np.unique(num, return_index=True, return_counts=True)
        if (counts == 1).all():
            break
        is_first = np.zeros(n, bool)
        is_first[first_idx] = True
        redo = ~is_first
        order[redo] = rng.integers(1, 1000, redo.sum())
    key = 97 - num % 97
    # place strings
    com_str = np.where(ov, D2[bcom_ov], D3[np.minimum(bcom, 999)])
    place_str = DEPT_STR[bdept] + com_str
    nir_place_str = np.where(corsica_old, "20" + D3[np.minimum(bcom, 999)], place_str)
    nir_place_str = np.where(born_fr, nir_place_str, "99" + D3[country])
    P["nir"] = (D1[sexd] + D2[yy] + D2[mm] + nir_place_str + D3[order] + D2[key]).astype(object)
    P["birth_place"] = np.where(born_fr, place_str, "99" + D3[country]).astype(object)
    P.update(origin=origin, sex=sex, y=y.astype(np.int16), m=m.astype(np.int8),
             d=d.astype(np.int8), surname=surname, given=given, usage=usage, married=married,
             born_fr=born_fr, bdept=bdept, country=country, postcode=post, prev_postcode=prev,
             unknown_dm=unknown_dm, temp_nir=temp)
    return P


def _days_in_month(y, m):
    y = np.asarray(y)
    m = np.asarray(m)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    dim = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[m]
    return np.where((m == 2) & leap, 29, dim)


# --------------------------------------------------------------------------- string errors

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_NEIGH: dict[str, str] = {}
for _r, _row in enumerate(N.AZERTY_ROWS):
    for _i, _c in enumerate(_row):
        near = _row[max(0, _i - 1):_i] + _row[_i + 1:_i + 2]
        for _rr in (_r - 1, _r + 1):
            if 0 <= _rr < len(N.AZERTY_ROWS):
                near += N.AZERTY_ROWS[_rr][max(0, _i - 1):_i + 1]
        _NEIGH[_c] = near


def typo(s: str, r: random.Random) -> str:
    """One keyboard typo: substitution by a neighbour key, deletion, insertion, transposition."""
    pos = [i for i, c in enumerate(s) if c.isalpha()]
    if len(pos) < 3:
        return s
    i = r.choice(pos)
    kind = r.random()
    c = s[i]
    if kind < 0.3:
        rep = r.choice(_NEIGH.get(N.plain(c).upper(), _LETTERS))
        return s[:i] + rep + s[i + 1:]
    if kind < 0.55:
        return s[:i] + s[i + 1:]
    if kind < 0.8:
        ins = c if r.random() < 0.5 else r.choice(_NEIGH.get(N.plain(c).upper(), _LETTERS))
        return s[:i + 1] + ins + s[i + 1:]
    j = i + 1 if i + 1 < len(s) and s[i + 1].isalpha() else i - 1
    if j < 0 or not s[j].isalpha():
        return s[:i] + s[i + 1:]
    a, b = min(i, j), max(i, j)
    return s[:a] + s[b] + s[a] + s[b + 1:]


def phonetic(s: str, r: random.Random) -> str:
    """One respelling that sounds the same (a random rule among those that apply)."""
    rules = N.PHONETIC_RULES
    for _ in range(12):
        pat, rep = rules[r.randrange(len(rules))]
        if pat.endswith("$"):
            core = pat[:-1]
            if s.endswith(core) and len(s) - len(core) >= 3:
                return s[:len(s) - len(core)] + rep
            continue
        hits = [mt.start() for mt in re.finditer(re.escape(pat), s)]
        if hits:
            k = r.choice(hits)
            out = s[:k] + rep + s[k + len(pat):]
            if len(out) >= 2:
                return out
    return s


def _apply(arr, rows, fn, r):
    for i in rows:
        if arr[i] is not None:
            arr[i] = fn(arr[i], r)


# --------------------------------------------------------------------------- one side

def _format_dates(y, m, d, fmt):
    """Dates as text in each record's format (``fmt`` holds format codes)."""
    out = np.empty(len(y), dtype=object)
    yy, mm, dd = Y4[y], D2[m], D2[d]
    for code in np.unique(fmt):
        s = fmt == code
        if code == "dmy":
            out[s] = dd[s] + "/" + mm[s] + "/" + yy[s]
        elif code == "iso":
            out[s] = yy[s] + "-" + mm[s] + "-" + dd[s]
        elif code == "compact":
            out[s] = yy[s] + mm[s] + dd[s]
        elif code == "dmy2":
            out[s] = D1[d[s]] + "/" + D1[m[s]] + "/" + D2[y[s] % 100]
        elif code == "us":
            out[s] = mm[s] + "/" + dd[s] + "/" + yy[s]
    return out


def render(P: dict, rows: np.ndarray, R: SideRates, side: str, rng, *, has_nir, nir_from,
           force_year_shift) -> tuple[dict, dict]:
    """The records of persons ``rows`` as written on ``side`` (columns, error counts)."""
    v, _, _ = vocab()
    n = len(rows)
    pr = random.Random(int(rng.integers(2**31)))
    cnt: dict = {}
    u = lambda: rng.random(n)  # noqa: E731
    sex, married = P["sex"][rows], P["married"][rows]
    accent = u() < R.accents_kept
    names = lambda idx: np.where(accent, v.accented[np.maximum(idx, 0)],  # noqa: E731
                                 v.plain[np.maximum(idx, 0)])
    # --- surnames
    birth, usage = P["surname"][rows], P["usage"][rows]
    has_usage = usage >= 0
    double = P["double_usage"][rows] & has_usage
    usage_s = names(usage)
    usage_s[double] = names(birth)[double] + "-" + usage_s[double]
    birth_s = names(birth)
    if side == "platform":
        writes_usage = has_usage & (u() < R.usage_written)
        nom = np.where(writes_usage, usage_s, birth_s)
        give_birth = u() < np.where(writes_usage, 0.5, R.birth_name_given)
        nom_birth = np.where(give_birth, birth_s, None)
        comp = writes_usage & (u() < R.composite_married / R.usage_written)
        ci = np.flatnonzero(comp)
        kinds = rng.integers(0, 2, len(ci))
        nom[ci[kinds == 0]] = usage_s[ci[kinds == 0]] + " NÉE " + birth_s[ci[kinds == 0]]
        nom[ci[kinds == 1]] = birth_s[ci[kinds == 1]] + " ÉPOUSE " + usage_s[ci[kinds == 1]]
        cnt["usage_name_as_surname"] = int(writes_usage.sum())
        cnt["usage_name_as_surname_no_birth_name"] = int((writes_usage & ~give_birth).sum())
        cnt["composite_married_name"] = int(comp.sum())
        name_cols = {"surname": nom, "birth_surname": nom_birth}
        main = "surname"
    else:
        wrong = has_usage & (u() < R.usage_in_birth_column)
        nom = np.where(wrong, usage_s, birth_s)
        used = np.where(has_usage & ~wrong & (u() < R.usage_written), usage_s, None)
        cnt["usage_name_in_birth_column"] = int(wrong.sum())
        cnt["usage_name_given"] = int((used != None).sum())  # noqa: E711
        name_cols = {"last_name_birth": nom, "last_name_used": used}
        main = "last_name_birth"
    # --- first names
    g = P["given"][rows].copy()
    for k in range(3):
        col = g[:, k]
        nv = v.n_variants[np.maximum(col, 0)]
        sel = (col >= 0) & (nv > 0) & (u() < R.first_translit)
        pick = (rng.random(n) * np.maximum(nv, 1)).astype(int)
        col[sel] = v.variants[col[sel], pick[sel]]
        cnt[f"first_name_{k + 1}_variant_spelling"] = int(sel.sum())
    g0 = g[:, 0]
    compound = v.first_part[g0] != g0
    fp = compound & (u() < R.compound_first_part)
    sp = compound & ~fp & (u() < R.compound_spaced)
    g0 = np.where(fp, v.first_part[g0], np.where(sp, v.spaced[g0], g0))
    cnt["compound_first_name_first_part_only"] = int(fp.sum())
    cnt["compound_first_name_spaced"] = int(sp.sum())
    prenoms = names(g0)
    all_names = u() < R.all_given_names
    sep = np.where(u() < R.given_names_comma, ", ", " ")
    for k in (1, 2):
        s = all_names & (g[:, k] >= 0)
        prenoms[s] = prenoms[s] + sep[s] + names(g[:, k])[s]
    cnt["all_given_names_written"] = int(all_names.sum())
    # --- swaps, typos, respellings
    swap = np.flatnonzero(u() < R.swap_names)
    tmp = name_cols[main][swap].copy()
    name_cols[main][swap] = prenoms[swap]
    prenoms[swap] = tmp
    cnt["surname_first_name_swapped"] = len(swap)
    for what, arr, rt, rp in (("surname", name_cols[main], R.surname_typo, R.surname_phonetic),
                              ("first_name", prenoms, R.first_typo, R.first_phonetic)):
        t = np.flatnonzero(u() < rt)
        _apply(arr, t, typo, pr)
        p = np.flatnonzero(u() < rp)
        _apply(arr, p, phonetic, pr)
        cnt[f"{what}_typo"], cnt[f"{what}_phonetic"] = len(t), len(p)
    # --- case
    case = _pick(rng, np.array(R.case_shares), n)
    cols = [c for c in (*name_cols.values(), prenoms)]
    for c in cols:
        for code, fn in ((1, str.title), (2, str.lower)):
            idx = np.flatnonzero((case == code) & (c != None))  # noqa: E711
            c[idx] = [fn(x) for x in c[idx]]
    # --- dates
    y, m, d = (P["y"][rows].astype(np.int64), P["m"][rows].astype(np.int64),
               P["d"][rows].astype(np.int64))
    unk = P["unknown_dm"][rows]
    if side == "source":
        conv = unk & (u() < 0.6)
        m[unk], d[unk] = np.where(conv[unk], 1, 0), np.where(conv[unk], 1, 0)
    else:
        r = u()
        m[unk & (r < 0.5)], d[unk & (r < 0.5)] = 1, 1
        m[unk & (r >= 0.5) & (r < 0.7)], d[unk & (r >= 0.5) & (r < 0.7)] = 0, 0
    cnt["foreign_born_unknown_day_month"] = int(unk.sum())
    r = u()
    edges = np.cumsum([R.date_swap_dm, R.date_year_pm1, R.date_year_digit, R.date_day_wrong,
                       R.date_day_unknown, R.date_dm_unknown, R.date_missing])
    kind = np.searchsorted(edges, r, side="right")  # 0..6 an error, 7 none
    kind[unk & (kind < 7)] = 7
    sw = (kind == 0) & (d <= 12) & (d != m) & (d > 0)
    m[sw], d[sw] = d[sw], m[sw]
    cnt["date_day_month_swapped"] = int(sw.sum())
    pm = (kind == 1) | force_year_shift
    y[pm] += np.where(rng.random(pm.sum()) < 0.5, -1, 1)
    cnt["date_year_pm1"] = int((kind == 1).sum())
    cnt["date_year_pm1_on_shared_nir"] = int(force_year_shift.sum())
    yd = kind == 2
    last = y[yd] % 10
    tens = rng.random(yd.sum()) < 0.2
    newd = (last + rng.integers(1, 10, yd.sum())) % 10
    y[yd] = np.where(tens, y[yd] - (y[yd] // 10 % 10) * 10 + ((y[yd] // 10 % 10 + 1 +
                                                              rng.integers(0, 2, yd.sum())) % 10) * 10,
                     y[yd] - last + newd)
    y[yd] = np.clip(y[yd], 1900, 2025)
    cnt["date_year_digit_wrong"] = int(yd.sum())
    dw = kind == 3
    d[dw] = (d[dw] + rng.integers(1, 27, dw.sum()) - 1) % 28 + 1
    cnt["date_day_wrong"] = int(dw.sum())
    d[kind == 4] = 0
    cnt["date_day_unknown"] = int((kind == 4).sum())
    d[kind == 5], m[kind == 5] = 0, 0
    cnt["date_day_month_unknown"] = int((kind == 5).sum())
    fmts = list(R.date_formats)
    fmt = np.array(fmts, dtype=object)[_pick(rng, np.array(list(R.date_formats.values())), n)]
    fmt[(fmt == "us") & (d <= 12)] = "dmy"
    dates = _format_dates(np.clip(y, 0, 2999), m, d, fmt)
    dates[kind == 6] = None
    cnt["date_missing"] = int((kind == 6).sum())
    for f in fmts:
        cnt[f"date_format_{f}"] = int(((fmt == f) & (kind != 6)).sum())
    # --- sex
    s_out = sex.astype(np.int64)
    wrong = u() < R.sex_wrong
    s_out[wrong] = 3 - s_out[wrong]
    miss = u() < R.sex_missing
    cnt["sex_wrong"], cnt["sex_missing"] = int(wrong.sum()), int(miss.sum())
    if side == "platform":
        style = _pick(rng, np.array([0.85, 0.10, 0.05]), n)
        codes = np.array([["", "M", "F"], ["", "Homme", "Femme"], ["", "H", "F"]], dtype=object)
        sex_col = codes[style, s_out]
        sex_col[miss] = None
        sex_col = pa.array(sex_col, pa.string())
    else:
        sex_col = pa.array(s_out.astype(np.int8), pa.int8(), mask=miss)
    # --- postcode
    pc = (P["postcode"] if side == "platform" else P["prev_postcode"])[rows].astype(np.int64)
    t = u() < R.postcode_typo
    pos = rng.integers(2, 5, t.sum())
    digit = (pc[t] // 10 ** (4 - pos)) % 10
    pc[t] += ((digit + rng.integers(1, 10, t.sum())) % 10 - digit) * 10 ** (4 - pos)
    pcs = _five(pc)  # Corsican postcodes are 20xxx (2A/2B is not in the postcode)
    lead0 = np.flatnonzero((pc < 10000) & (u() < R.postcode_no_leading_zero))
    pcs[lead0] = [x[1:] for x in pcs[lead0]]
    pmiss = u() < R.postcode_missing
    pcs[pmiss] = None
    cnt["postcode_moved"] = int((P["postcode"][rows] != P["prev_postcode"][rows]).sum()) \
        if side == "source" else 0
    cnt["postcode_typo"], cnt["postcode_missing"] = int(t.sum()), int(pmiss.sum())
    cnt["postcode_no_leading_zero"] = len(lead0)
    # --- birth place
    bp = P["birth_place"][rows].copy()
    born_fr = P["born_fr"][rows]
    bw = np.flatnonzero(u() < R.birthplace_wrong)
    if len(bw):
        other = rng.integers(0, len(P["birth_place"]), len(bw))
        bp[bw] = P["birth_place"][other]
    bmiss = u() < R.birthplace_missing
    cnt["birthplace_wrong"], cnt["birthplace_missing"] = len(bw), int(bmiss.sum())
    country_names = {int(c): nm for o in N.COUNTRIES.values() for c, nm, _ in o}
    if side == "platform":
        city = np.where(born_fr & ~bmiss, bp, None)
        abroad_bp = np.array([x.startswith("99") if x else False for x in bp])
        city[abroad_bp] = None
        cn = np.array([country_names.get(int(x[2:]), None) if x.startswith("99") else "France"
                       for x in bp], dtype=object)
        cmiss = u() < R.country_missing
        cn[cmiss] = None
        upper = u() < 0.3
        cn[upper & (cn != None)] = [x.upper() for x in cn[upper & (cn != None)]]  # noqa: E711
        place_cols = {"birth_city_code": city, "birth_country": cn}
    else:
        place_cols = {"birth_place": np.where(bmiss, None, bp)}
    # --- NIR
    nir = P["nir"][nir_from].copy()
    nt = np.flatnonzero(has_nir & (u() < R.nir_typo))
    for i in nt:
        s = list(nir[i])
        if pr.random() < 0.7:
            k = pr.randrange(15)
            s[k] = str((int(s[k]) + pr.randrange(1, 10)) % 10) if s[k].isdigit() else s[k]
        else:
            k = pr.randrange(14)
            s[k], s[k + 1] = s[k + 1], s[k]
        nir[i] = "".join(s)
    spaced = np.flatnonzero(has_nir & (u() < R.nir_spaced))
    nir[spaced] = [f"{x[0]} {x[1:3]} {x[3:5]} {x[5:7]} {x[7:10]} {x[10:13]} {x[13:]}"
                   for x in nir[spaced]]
    nir[~has_nir] = None
    cnt["nir_present"], cnt["nir_typo"], cnt["nir_spaced"] = (int(has_nir.sum()), len(nt),
                                                              len(spaced))
    cnt["nir_foreign"] = int((has_nir & (nir_from != rows)).sum())
    if side == "platform":
        cols_out = {**name_cols, "given_names": prenoms, "birth_date": dates, "gender": sex_col,
                    **place_cols, "zip": pcs, "ssn": nir}
    else:
        cols_out = {**name_cols, "first_names": prenoms, "dob": dates, "sex_code": sex_col,
                    **place_cols, "postcode": pcs, "ssn": nir}
    return cols_out, cnt


def _five(x):
    # 5-digit zero-padded text of integers < 100000
    return D2[x // 1000] + D3[x % 1000]


def _table(cols: dict) -> pa.Table:
    return pa.table({k: (c if isinstance(c, pa.Array) else pa.array(c, pa.string()))
                     for k, c in cols.items()})


# --------------------------------------------------------------------------- the world

def write_world(out_dir, n_persons: int, n_candidates: int, seed: int = 7,
                in_source: float = IN_SOURCE, postcode: bool = True,
                birthplace: bool = True) -> dict:
    """Write ``source.parquet``, ``platform.parquet``, ``truth.parquet`` and ``profile.json``."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_in = int(round(n_candidates * in_source))
    n_out = n_candidates - n_in
    if n_in > n_persons:
        raise ValueError("more candidates in the source than source persons")
    P = population(n_persons + n_out, n_persons, rng)
    # candidates: persons of the source, then persons outside it, in a random order
    cand = np.concatenate([rng.choice(n_persons, n_in, replace=False),
                           np.arange(n_persons, n_persons + n_out)])
    cand = cand[rng.permutation(n_candidates)]
    in_src = cand < n_persons
    src_rows = np.arange(n_persons)
    has_nir_p = rng.random(n_candidates) < PLATFORM_RATES.nir_present
    has_nir_s = rng.random(n_persons) < SOURCE_RATES.nir_present
    # foreign NIR: another source person's NIR (one who has a NIR in the source)
    nir_from_p = cand.copy()
    foreign = np.flatnonzero(has_nir_p & (rng.random(n_candidates) < FOREIGN_NIR))
    donors = np.flatnonzero(has_nir_s)
    nir_from_p[foreign] = donors[rng.integers(0, len(donors), len(foreign))]
    same = nir_from_p[foreign] == cand[foreign]
    nir_from_p[foreign[same]] = donors[(np.searchsorted(donors, cand[foreign[same]]) + 1)
                                       % len(donors)]
    # a one-year birth-date error on one side of some pairs sharing a NIR
    shared = in_src & has_nir_p & np.isin(nir_from_p, cand) & (nir_from_p == cand)
    shared &= has_nir_s[np.where(in_src, cand, 0)]
    hit = shared & (rng.random(n_candidates) < SHARED_NIR_YEAR_ERROR)
    on_platform = hit & (rng.random(n_candidates) < 0.6)
    force_p = on_platform
    force_s = np.zeros(n_persons, bool)
    force_s[cand[hit & ~on_platform]] = True
    src_cols, src_cnt = render(P, src_rows, SOURCE_RATES, "source", rng, has_nir=has_nir_s,
                               nir_from=src_rows, force_year_shift=force_s)
    pf_cols, pf_cnt = render(P, cand, PLATFORM_RATES, "platform", rng, has_nir=has_nir_p,
                             nir_from=nir_from_p, force_year_shift=force_p)
    # identifiers that reveal nothing about the truth
    pid_num = rng.permutation(n_persons + n_out) + 1_000_000
    pid = np.array([f"P{x}" for x in pid_num], dtype=object)
    cid = np.array([f"C-{x:07d}" for x in rng.permutation(n_candidates) + 1], dtype=object)
    if not postcode:
        pf_cols.pop("zip")
        src_cols.pop("postcode")
    if not birthplace:
        for c in ("birth_city_code", "birth_country"):
            pf_cols.pop(c)
        src_cols.pop("birth_place")
    src_order = rng.permutation(n_persons)
    src_tbl = _table({"pid": pid[src_rows], **src_cols}).take(pa.array(src_order))
    pf_tbl = _table({"id_cand": cid, **pf_cols})
    pq.write_table(src_tbl, out / "source.parquet")
    pq.write_table(pf_tbl, out / "platform.parquet")
    truth = pa.table({"id_cand": pa.array(cid[in_src], pa.string()),
                      "pid": pa.array(pid[cand[in_src]], pa.string())})
    pq.write_table(truth, out / "truth.parquet")
    twins = P["twin_of"] >= 0
    prof = {
        "persons": n_persons, "candidates": n_candidates, "seed": seed,
        "true_pairs": int(in_src.sum()), "candidates_not_in_source": int(n_out),
        "population": {
            "twins_pairs": int(twins.sum()),
            "candidates_with_twin_in_source": int(_twin_in_source(P, cand, n_persons)),
            "homonyms_made": int((P["homonym_of"] >= 0).sum()),
            "out_of_source_homonyms": int((P["homonym_of"][n_persons:] >= 0).sum()),
            "married_women": int(P["married"][:n_persons].sum()),
            "born_abroad": int((~P["born_fr"][:n_persons]).sum()),
            "temporary_nir": int(P["temp_nir"][:n_persons].sum()),
            "foreign_born_unknown_dm": int(P["unknown_dm"][:n_persons].sum()),
            "moved": int((P["postcode"] != P["prev_postcode"])[:n_persons].sum()),
            "distinct_surnames_source": int(len(np.unique(P["surname"][:n_persons]))),
        },
        "rates": {"platform": _jsonable(asdict(PLATFORM_RATES)),
                  "source": _jsonable(asdict(SOURCE_RATES)),
                  "in_source": in_source, "foreign_nir": FOREIGN_NIR,
                  "shared_nir_year_error": SHARED_NIR_YEAR_ERROR},
        "applied": {"platform": pf_cnt, "source": src_cnt,
                    "shared_nir_pairs": int(shared.sum()),
                    "shared_nir_year_error": int(hit.sum())},
        "columns": {"platform": pf_tbl.column_names, "source": src_tbl.column_names},
        "seconds": round(time.perf_counter() - t0, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    (out / "profile.json").write_text(json.dumps(prof, indent=2))
    return prof


def _twin_in_source(P, cand, n_persons):
    partner = P["twin_of"].copy()
    firsts = np.flatnonzero(P["twin_of"] >= 0) - 1
    partner[firsts] = firsts + 1
    p = partner[cand]
    return ((p >= 0) & (p < n_persons)).sum()


def _jsonable(d):
    return {k: (v if not isinstance(v, tuple) else list(v)) for k, v in d.items()}


def check(out_dir) -> dict:
    """Sanity figures read back from the files: NIR keys, formats, missing shares, truth."""
    import duckdb

    out = Path(out_dir)
    con = duckdb.connect()
    con.execute(f"CREATE VIEW s AS SELECT * FROM read_parquet('{out}/source.parquet')")
    con.execute(f"CREATE VIEW p AS SELECT * FROM read_parquet('{out}/platform.parquet')")
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{out}/truth.parquet')")
    key_ok = """CASE WHEN n IS NULL THEN NULL WHEN NOT regexp_full_match(n, '[0-9]{6}[0-9AB][0-9]{8}')
        THEN false ELSE 97 - (CAST(replace(replace(substr(n, 1, 13), '2A', '19'), '2B', '18')
        AS HUGEINT) % 97) = CAST(substr(n, 14, 2) AS INT) END"""
    res = {}
    for t in ("p", "s"):
        dcol = "birth_date" if t == "p" else "dob"
        q = f"""WITH x AS (SELECT replace(ssn, ' ', '') AS n, {dcol} AS d FROM {t})
            SELECT count(*) AS rows, count(n) AS nir, avg(({key_ok})::INT) AS nir_key_valid,
              avg(regexp_full_match(d, '\\d\\d/\\d\\d/\\d{{4}}')::INT) AS fmt_dd_mm_yyyy,
              avg(regexp_full_match(d, '\\d{{4}}-\\d\\d-\\d\\d')::INT) AS fmt_iso,
              avg(regexp_full_match(d, '\\d{{8}}')::INT) AS fmt_compact,
              avg(regexp_full_match(d, '\\d{{1,2}}/\\d{{1,2}}/\\d\\d')::INT) AS fmt_d_m_yy,
              avg((d IS NULL)::INT) AS date_missing,
              avg((d LIKE '00%' OR d LIKE '%-00' OR d LIKE '______00' OR d LIKE '0/%')::INT)
                  AS day_unknown
            FROM x"""
        res[t] = dict(zip([c[0] for c in con.execute(q).description], con.execute(q).fetchone()))
    res["p"]["us_order"] = con.execute(
        "SELECT avg(CASE WHEN regexp_full_match(birth_date, '\\d\\d/\\d\\d/\\d{4}') THEN "
        "(TRY_CAST(substr(birth_date, 4, 2) AS INT) > 12)::INT ELSE 0 END) FROM p").fetchone()[0]
    res["truth"] = con.execute("SELECT count(*), count(DISTINCT id_cand), count(DISTINCT pid) "
                               "FROM t").fetchone()
    res["truth_ids_exist"] = con.execute(
        "SELECT count(*) FILTER (WHERE p.id_cand IS NULL OR s.pid IS NULL) FROM t "
        "LEFT JOIN p USING (id_cand) LEFT JOIN s USING (pid)").fetchone()[0]
    res["shared_nir_on_true_pairs"] = con.execute(
        "SELECT avg((replace(p.ssn, ' ', '') = s.ssn)::INT) FROM t JOIN p USING (id_cand) "
        "JOIN s USING (pid) WHERE p.ssn IS NOT NULL AND s.ssn IS NOT NULL").fetchone()[0]
    res["nir_of_non_pairs_in_source"] = con.execute(
        "SELECT count(*) FROM p JOIN s ON replace(p.ssn, ' ', '') = s.ssn "
        "LEFT JOIN t ON t.id_cand = p.id_cand AND t.pid = s.pid WHERE t.pid IS NULL").fetchone()[0]
    res["source_homonym_groups"] = con.execute(
        "SELECT count(*) FROM (SELECT upper(last_name_birth), split_part(upper(first_names), ' ', 1)"
        " FROM s GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]
    res["top_surnames_source"] = con.execute(
        "SELECT last_name_birth, count(*) FROM s GROUP BY 1 ORDER BY 2 DESC LIMIT 5").fetchall()
    res["top_first_names_source"] = con.execute(
        "SELECT split_part(first_names, ' ', 1), count(*) FROM s GROUP BY 1 ORDER BY 2 DESC "
        "LIMIT 5").fetchall()
    return res


def print_profile(prof: dict, chk: dict | None = None) -> None:
    """A short profile: realised error rates per side."""
    print(f"world: {prof['persons']} persons, {prof['candidates']} candidates, "
          f"{prof['true_pairs']} true pairs, {prof['seconds']} s, peak RSS "
          f"{prof['peak_rss_mb']} MB")
    print("population:", json.dumps(prof["population"]))
    for side, n in (("platform", prof["candidates"]), ("source", prof["persons"])):
        a = prof["applied"][side]
        print(f"{side} (share of records): " + ", ".join(
            f"{k} {v / n:.2%}" for k, v in a.items() if v))
    print(f"shared NIR pairs {prof['applied']['shared_nir_pairs']}, of which one-year date error "
          f"{prof['applied']['shared_nir_year_error']}")
    if chk:
        for k, v in chk.items():
            print(f"check {k}: {v}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--persons", type=int, default=100_000)
    ap.add_argument("--candidates", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--in-source", type=float, default=IN_SOURCE)
    ap.add_argument("--no-postcode", action="store_true")
    ap.add_argument("--no-birthplace", action="store_true")
    ap.add_argument("--out", required=True)
    ap.add_argument("--check", action="store_true", help="read the files back and print checks")
    a = ap.parse_args(argv)
    prof = write_world(a.out, a.persons, a.candidates, seed=a.seed, in_source=a.in_source,
                       postcode=not a.no_postcode, birthplace=not a.no_birthplace)
    print_profile(prof, check(a.out) if a.check else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
