"""Does a record's NIR agree with its declared identity traits?

A NIR carries sex, birth year and month and birth department (or country). When a record's
NIR disagrees with its own traits it may be somebody else's number (a relative's, a typo that
happens to pass the key): such a NIR must not be trusted for an exact match.

Per field, a flag is True (agree), False (disagree) or None (not checkable: a side is missing,
the NIR month is an "unknown month" code, the birth date is a 01/01 or 31/12 placeholder):

* ``sex_ok``: NIR sex digit (7/8 read as 1/2) vs declared sex;
* ``year_ok``: NIR two-digit year vs the last two digits of the birth year;
* ``month_ok``: NIR month vs birth month (None for unknown-month codes; for a placeholder date
  only an agreement counts);
* ``place_ok``: NIR department vs birth department, with the French special cases: ``20`` equals
  ``2A``/``2B``; before 1968 a NIR department 75 (Seine) matches 92/93/94 and 78 (Seine-et-Oise)
  matches 91-95; NIR 91-94 before 1963 matches birth in Algeria (99352); a NIR with
  department 99 needs a foreign birth and, when known, the same country code.

Overall status: ``'no_nir'`` (missing), ``'invalid'`` (format or key), ``'inconsistent'``
(any flag False), ``'consistent'`` (no False and at least two True), ``'unverifiable'``
(otherwise). SQL: macros ``app_nir_sex_ok``, ``app_nir_year_ok``, ``app_nir_month_ok``,
``app_nir_place_ok``, ``app_nir_consistency`` (see :data:`SQL_MACROS`).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import nir as _nir
from .places import FRANCE

__all__ = ["check_nir_consistency", "NIRConsistency", "CONSISTENCY_STATUSES",
           "TRUSTED_CONSISTENCY", "SQL_MACROS"]

CONSISTENCY_STATUSES = ("consistent", "inconsistent", "unverifiable", "no_nir", "invalid")
#: the statuses whose NIR is trusted for an exact link by default: the declared traits confirm
#: it, or cannot check it ([identity] trusted_consistency)
TRUSTED_CONSISTENCY = ("consistent", "unverifiable")


@dataclass(frozen=True)
class NIRConsistency:
    """Result of :func:`check_nir_consistency` (see the module docstring)."""

    sex_ok: bool | None
    year_ok: bool | None
    month_ok: bool | None
    place_ok: bool | None
    status: str


def _place_ok(nir_dept: str, nir_place: str, dept: str | None, country: str | None,
              year: int | None) -> bool | None:
    abroad_by_traits = dept == "99" or (country is not None and country != FRANCE)
    if nir_dept == "99":
        if dept is None and country is None:
            return None
        if country is not None and country != FRANCE:
            return country == nir_place
        return dept == "99"
    if abroad_by_traits:
        return (year is not None and year < 1963 and nir_dept in ("91", "92", "93", "94")
                and country == "99352")
    if dept is None:
        return None
    if nir_dept == dept:
        return True
    if {nir_dept, dept} in ({"20", "2A"}, {"20", "2B"}):
        return True
    if year is not None and year < 1968:
        if nir_dept == "75" and dept in ("92", "93", "94"):
            return True
        if nir_dept == "78" and dept in ("91", "92", "93", "94", "95"):
            return True
    return False


def check_nir_consistency(nir: str | None, *, sex: str | None = None,
                          birth_year: int | None = None, birth_month: int | None = None,
                          birth_placeholder: bool | None = None, birth_dept: str | None = None,
                          birth_country: str | None = None) -> NIRConsistency:
    """Compare a NIR with standardised traits (as in the canonical feature table).

    Args:
        nir: the NIR (any format) or None.
        sex: ``'1'``/``'2'``; birth_year, birth_month: integers; birth_placeholder: the date is a
            01/01 or 31/12 placeholder; birth_dept: department (``'99'`` abroad);
            birth_country: INSEE country code (France ``'99100'``).

    Returns:
        A :class:`NIRConsistency`.

    Examples:
        >>> check_nir_consistency("253072B07300470", sex="2", birth_year=1953, birth_month=7,
        ...                       birth_dept="2B").status
        'consistent'
        >>> check_nir_consistency("253072B07300470", sex="1", birth_year=1953).status
        'inconsistent'
    """
    if nir is None or not _nir.compact(nir):
        return NIRConsistency(None, None, None, None, "no_nir")
    try:
        parts = _nir.parts(nir)
    except _nir.InvalidNIRError:
        return NIRConsistency(None, None, None, None, "invalid")
    sex_ok = None if sex is None else parts.sex == sex
    year_ok = None if birth_year is None else parts.year == f"{birth_year % 100:02d}"
    month_ok = None
    if parts.month_known and birth_month is not None:
        month_ok = int(parts.month) == birth_month
        if birth_placeholder and not month_ok:
            month_ok = None
    place_ok = _place_ok(parts.department, parts.place, birth_dept, birth_country, birth_year)
    flags = (sex_ok, year_ok, month_ok, place_ok)
    if False in flags:
        status = "inconsistent"
    elif sum(f is True for f in flags) >= 2:
        status = "consistent"
    else:
        status = "unverifiable"
    return NIRConsistency(sex_ok, year_ok, month_ok, place_ok, status)


#: name -> (parameters, body) of the DuckDB macros. They take NIR *parts* (the output of the
#: ``app_nir_sex``/``_year``/``_month``/``_dept``/``_place`` macros, NULL for an invalid NIR) so a
#: table computes the parts once.
SQL_MACROS: dict[str, tuple[str, str]] = {
    "app_nir_sex_ok": ("nir_sex, sex", "CASE WHEN sex IS NOT NULL THEN nir_sex = sex END"),
    "app_nir_year_ok": ("nir_year, y", """CASE WHEN y IS NOT NULL
        THEN nir_year = lpad(CAST(y % 100 AS VARCHAR), 2, '0') END"""),
    "app_nir_month_ok": ("nir_month, m, placeholder", """CASE
        WHEN m IS NULL OR nir_month IS NULL OR NOT (nir_month BETWEEN '01' AND '12') THEN NULL
        WHEN CAST(nir_month AS INTEGER) = m THEN true
        WHEN coalesce(placeholder, false) THEN NULL
        ELSE false END"""),
    "app_nir_place_ok": ("nir_dept, nir_place, dept, country, y", f"""CASE
        WHEN nir_dept IS NULL THEN NULL
        WHEN nir_dept = '99' THEN CASE
            WHEN dept IS NULL AND country IS NULL THEN NULL
            WHEN country IS NOT NULL AND country <> '{FRANCE}' THEN country = nir_place
            ELSE coalesce(dept = '99', false) END
        WHEN dept = '99' OR (country IS NOT NULL AND country <> '{FRANCE}') THEN
            coalesce(y < 1963 AND nir_dept IN ('91', '92', '93', '94')
                     AND country = '99352', false)
        WHEN dept IS NULL THEN NULL
        WHEN nir_dept = dept THEN true
        WHEN nir_dept = '20' AND dept IN ('2A', '2B') THEN true
        WHEN dept = '20' AND nir_dept IN ('2A', '2B') THEN true
        WHEN y < 1968 AND nir_dept = '75' AND dept IN ('92', '93', '94') THEN true
        WHEN y < 1968 AND nir_dept = '78' AND dept IN ('91', '92', '93', '94', '95') THEN true
        ELSE false END"""),
    "app_nir_consistency": ("nir, nir_valid, sex_ok, year_ok, month_ok, place_ok", """CASE
        WHEN nir IS NULL THEN 'no_nir'
        WHEN NOT nir_valid THEN 'invalid'
        WHEN sex_ok = false OR year_ok = false OR month_ok = false OR place_ok = false
        THEN 'inconsistent'
        WHEN CAST(coalesce(sex_ok, false) AS INTEGER) + CAST(coalesce(year_ok, false) AS INTEGER)
             + CAST(coalesce(month_ok, false) AS INTEGER)
             + CAST(coalesce(place_ok, false) AS INTEGER) >= 2 THEN 'consistent'
        ELSE 'unverifiable' END"""),
}
