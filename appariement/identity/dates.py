"""Birth dates as found in French administrative files, kept as separate year, month and day.

Accepted forms (separators ``/``, ``-`` or ``.``, mixed or not; a trailing time such as
``T00:00:00`` or `` 00:00:00``, as Excel and pandas write dates, is ignored):

=================  =========================================================  ==================
form               note                                                       status
=================  =========================================================  ==================
``DD/MM/YYYY``     ``D/M/YYYY`` too; the default reading of ``a/b/YYYY``      'ok' / 'partial'
``MM/DD/YYYY``     US order, only when it is the one possible reading: the    'us_order'
                   middle number is 13-31 and the first 1-12
                   (``11/26/1963`` -> 1963-11-26); ``03/04/1990`` is 3 April
``YYYY-MM-DD``     ``YYYYMMDD`` too                                           'ok' / 'partial'
``DD/MM/YY``       ``D/M/YY`` too; century from ``year_pivot``                'two_digit_year'
``YYYY-MM``,       month (and day) unknown                                    'partial'
``MM/YYYY``,
``YYYY``
=================  =========================================================  ==================

A day or month ``00`` means unknown (frequent for people born abroad): the part is None and the
status 'partial' (a day without its month is dropped). ``standardise_identities`` puts the
status in the feature column ``birth_date_status``; NULL there means a missing or blank value,
and 'unparsed' a value matching no form or with an impossible part (month 13 in both positions,
day above 31, year outside 1800-2100): never a silent NULL. :func:`birth_date_summary` counts
the statuses of a standardised table, for the run's log and manifest.

Two-digit years (``year_pivot``, default :data:`DEFAULT_YEAR_PIVOT` = 10): ``yy <= pivot`` is
``20yy``, else ``19yy``. The files this library links describe adults (job seekers, benefit
claimants...), so the default reads 00-10 as 2000-2010 (people aged 15 or more in 2026) and
11-99 as 1911-1999: it never yields a birth in the future (a pivot of 30 would put people born
1926-1930 in 2026-2030) and only misreads centenarians, who are rarer in these files than the
young adults born 2000-2010. A file extracted in year E about people aged at least A should use
``year_pivot = (E - A) % 100`` (the default suits files of 2024-2028 about people aged 15+);
a file about children needs its own pivot. The pivot is a fixed number, not today's date, so a
rerun gives the same result.

The result keeps year, month and day apart (None when unknown) with a ``placeholder`` flag: True
when the day or month is unknown, or when the date is 01/01 or 31/12, the conventional
placeholders given to people whose exact birth date is unknown. ``date`` is set only when all
three parts are known and form a real calendar date (31/02 keeps its parts but has no date).

In Python an unparsed value raises :class:`appariement.errors.DateParseError`; in SQL (macro
``app_parse_date(x [, year_pivot])``, a struct ``{year, month, day, placeholder, status}``) the
same inputs give NULL parts and status 'unparsed'. Python and SQL read every string alike.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

from .._tables import sql_literal
from ..errors import ConfigError, DateParseError, SchemaError

__all__ = ["parse_birth_date", "birth_date_status", "birth_date_summary", "BirthDate",
           "DEFAULT_YEAR_PIVOT", "BIRTH_DATE_STATUSES", "SQL_MACROS"]

#: two-digit years up to this value are 20yy, the others 19yy (see the module docstring)
DEFAULT_YEAR_PIVOT = 10

#: values of ``birth_date_status`` (NULL: missing or blank value)
BIRTH_DATE_STATUSES = ("ok", "partial", "us_order", "two_digit_year", "unparsed", "from_nir")

_SEP = r"[/.\-]"
_PATTERNS = (  # (regex, kind of form); the groups are the numbers in the order written
    (re.compile(rf"([0-9]{{1,2}}){_SEP}([0-9]{{1,2}}){_SEP}([0-9]{{4}})"), "dmy"),
    (re.compile(rf"([0-9]{{4}}){_SEP}([0-9]{{1,2}}){_SEP}([0-9]{{1,2}})"), "ymd"),
    (re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})"), "ymd"),
    (re.compile(rf"([0-9]{{1,2}}){_SEP}([0-9]{{1,2}}){_SEP}([0-9]{{2}})"), "dmyy"),
    (re.compile(rf"([0-9]{{4}}){_SEP}([0-9]{{1,2}})"), "ym"),
    (re.compile(rf"([0-9]{{1,2}}){_SEP}([0-9]{{4}})"), "my"),
    (re.compile(r"([0-9]{4})"), "y"),
)
_TIME = re.compile(r"^(\S+)(?:T| +)[0-9]{1,2}:[0-9]{2}.*$")
_FORMS = "DD/MM/YYYY, MM/DD/YYYY, DD/MM/YY, YYYY-MM-DD, YYYYMMDD, YYYY-MM, MM/YYYY, YYYY"


@dataclass(frozen=True)
class BirthDate:
    """A parsed birth date.

    Attributes:
        year, month, day: integers, None when unknown.
        placeholder: True when day or month is unknown or the date is 01/01 or 31/12.
        status: how the value was read: 'ok' (full date, day first or ISO), 'partial' (day or
            month unknown), 'us_order' (read as month/day/year), 'two_digit_year' (century
            from the pivot).
        date: the calendar date when all parts are known and valid, else None.
    """

    year: int | None
    month: int | None
    day: int | None
    placeholder: bool
    status: str = "ok"

    @property
    def date(self) -> _dt.date | None:
        if self.year is None or self.month is None or self.day is None:
            return None
        try:
            return _dt.date(self.year, self.month, self.day)
        except ValueError:
            return None


def _check_pivot(year_pivot: int) -> int:
    if isinstance(year_pivot, bool) or not isinstance(year_pivot, int) \
            or not 0 <= year_pivot <= 99:
        raise ConfigError(f"year_pivot must be an integer from 0 to 99, got {year_pivot!r}")
    return year_pivot


def parse_birth_date(text: str | _dt.date | None, year_pivot: int = DEFAULT_YEAR_PIVOT
                     ) -> BirthDate | None:
    """Parse a birth date; None for a missing or blank value.

    Args:
        text: the raw value (a ``datetime.date`` is accepted as is).
        year_pivot: two-digit years ``yy <= year_pivot`` are ``20yy``, the others ``19yy``
            (default 10, chosen for files about adults: see the module docstring).

    Returns:
        A :class:`BirthDate`, or None when the value is missing.

    Raises:
        DateParseError: the value matches no accepted form or has an impossible part. The message
            does not repeat the value (a birth date is identifying).
        ConfigError: ``year_pivot`` is not an integer from 0 to 99.

    Examples:
        >>> parse_birth_date("14/07/1989")
        BirthDate(year=1989, month=7, day=14, placeholder=False, status='ok')
        >>> parse_birth_date("1975-00-00")
        BirthDate(year=1975, month=None, day=None, placeholder=True, status='partial')
        >>> parse_birth_date("11/26/1963").status, parse_birth_date("03/04/1990").month
        ('us_order', 4)
        >>> parse_birth_date("03/01/02").year, parse_birth_date("03/01/02", year_pivot=1).year
        (2002, 1902)
        >>> parse_birth_date("01/01/1980").placeholder
        True
    """
    _check_pivot(year_pivot)
    if text is None:
        return None
    if isinstance(text, _dt.datetime):
        text = text.date()
    if isinstance(text, _dt.date):
        return _build(text.year, text.month, text.day, "ok")
    value = str(text).strip(" \t\r\n")
    if not value:
        return None
    value = _TIME.sub(r"\1", value)
    for pattern, kind in _PATTERNS:
        match = pattern.fullmatch(value)
        if match:
            return _read(kind, [int(g) for g in match.groups()], year_pivot)
    raise DateParseError(f"birth date matches none of the accepted forms ({_FORMS}); check the "
                         "column format or map it in the configuration")


def birth_date_status(text: str | _dt.date | None, year_pivot: int = DEFAULT_YEAR_PIVOT
                      ) -> str | None:
    """The ``birth_date_status`` of one value: None when missing or blank, 'unparsed' when
    :func:`parse_birth_date` rejects it, else the status of the parsed date.

    Examples:
        >>> [birth_date_status(v) for v in (None, " ", "1990", "13/13/1990", "26/11/1963")]
        [None, None, 'partial', 'unparsed', 'ok']
    """
    try:
        parsed = parse_birth_date(text, year_pivot)
    except DateParseError:
        return "unparsed"
    return None if parsed is None else parsed.status


def _read(kind: str, numbers: list[int], year_pivot: int) -> BirthDate:
    status = "ok"
    if kind == "dmy":
        day, month, year = numbers
        if 13 <= month <= 31 and 1 <= day <= 12:  # only month/day/year can be meant
            day, month, status = month, day, "us_order"
    elif kind == "dmyy":
        day, month, year = numbers
        year += 2000 if year <= year_pivot else 1900
        status = "two_digit_year"
    elif kind == "ymd":
        year, month, day = numbers
    elif kind == "ym":
        (year, month), day = numbers, 0
    elif kind == "my":
        (month, year), day = numbers, 0
    else:
        (year,), month, day = numbers, 0, 0
    return _build(year, month, day, status)


def _build(year: int, month: int, day: int, status: str) -> BirthDate:
    if not 1800 <= year <= 2100:
        raise DateParseError("birth year outside 1800-2100")
    if month > 12:
        raise DateParseError("birth month above 12 (day and month swapped?)")
    if day > 31:
        raise DateParseError("birth day above 31")
    month_value = month or None
    day_value = day if month_value and day else None
    if status == "ok" and (month_value is None or day_value is None):
        status = "partial"
    placeholder = (month_value is None or day_value is None
                   or (month_value, day_value) in ((1, 1), (12, 31)))
    return BirthDate(year, month_value, day_value, placeholder, status)


def birth_date_summary(rel) -> dict[str, int]:
    """Count the ``birth_date_status`` values of a standardised table (one SQL query).

    Args:
        rel: a DuckDB relation with a ``birth_date_status`` column, as returned by
            :func:`appariement.identity.standardise_identities`.

    Returns:
        ``{"total": n, "missing": n, "ok": n, "partial": n, "us_order": n,
        "two_digit_year": n, "unparsed": n, "from_nir": n}`` (every key present, 0 when absent), for the
        caller to log and put in a manifest; the counts hold no field value.

    Raises:
        SchemaError: ``rel`` has no ``birth_date_status`` column.
    """
    if "birth_date_status" not in rel.columns:
        raise SchemaError("the table has no birth_date_status column: pass the output of "
                          "standardise_identities", column="birth_date_status")
    filters = ", ".join(f"count(*) FILTER (WHERE birth_date_status = {sql_literal(s)})"
                        for s in BIRTH_DATE_STATUSES)
    row = rel.aggregate(f"count(*), count(*) FILTER (WHERE birth_date_status IS NULL), "
                        f"{filters}").fetchall()[0]
    return dict(zip(("total", "missing", *BIRTH_DATE_STATUSES), (int(v) for v in row)))


# --- SQL (DuckDB macros) -------------------------------------------------------------------

_SQL_SEP = "[/.-]"
_S = _SQL_SEP
_RAW_UNPARSED = "{'y': NULL::INTEGER, 'm': NULL::INTEGER, 'd': NULL::INTEGER, 'k': 'unparsed'}"
_UNPARSED = ("{'year': NULL::INTEGER, 'month': NULL::INTEGER, 'day': NULL::INTEGER, "
             "'status': 'unparsed'}")

#: name -> (parameters, body) of the DuckDB macros for dates. ``p`` is the two-digit year
#: pivot; pass it as a constant (``app_parse_date(x, 30)``) so DuckDB folds it.
SQL_MACROS: dict[str, tuple[str, str]] = {
    "app_date_text": ("x", r"""regexp_replace(trim(CAST(x AS VARCHAR), chr(32) || chr(9) || chr(13) || chr(10)),
        '^(\S+)(?:T| +)[0-9]{1,2}:[0-9]{2}.*$', '\1')"""),
    # struct of the integer parts (y, m, d; 0 when absent; day and month already in place for
    # the US order) and the kind k of form: 'dmy', 'us' (MM/DD/YYYY), 'ymd', 'yy' (DD/MM/YY,
    # year from the pivot), 'part' (YYYY-MM, MM/YYYY, YYYY) or 'unparsed'; NULL for NULL or
    # blank text. Forms are tried in turn (one full-match regex each, the most frequent
    # first): a single regex with a lambda to tell the forms apart measured slower.
    "app_date_raw": (f"t, p := {DEFAULT_YEAR_PIVOT}", f"""CASE
        WHEN regexp_full_match(t, '([0-9]{{1,2}}){_S}([0-9]{{1,2}}){_S}([0-9]{{4}})')
        THEN list_transform([{{'y': CAST(regexp_extract(t, '^.*{_S}([0-9]{{4}})$', 1) AS INTEGER),
              'b': CAST(regexp_extract(t, '^[0-9]+{_S}([0-9]+)', 1) AS INTEGER),
              'a': CAST(regexp_extract(t, '^([0-9]+)', 1) AS INTEGER)}}], lambda g: CASE
            WHEN g.b BETWEEN 13 AND 31 AND g.a BETWEEN 1 AND 12
            THEN {{'y': g.y, 'm': g.a, 'd': g.b, 'k': 'us'}}
            ELSE {{'y': g.y, 'm': g.b, 'd': g.a, 'k': 'dmy'}} END)[1]
        WHEN regexp_full_match(t, '([0-9]{{4}}){_S}([0-9]{{1,2}}){_S}([0-9]{{1,2}})')
        THEN {{'y': CAST(substr(t, 1, 4) AS INTEGER),
              'm': CAST(regexp_extract(t, '^[0-9]{{4}}{_S}([0-9]+)', 1) AS INTEGER),
              'd': CAST(regexp_extract(t, '([0-9]+)$', 1) AS INTEGER), 'k': 'ymd'}}
        WHEN regexp_full_match(t, '[0-9]{{8}}')
        THEN {{'y': CAST(substr(t, 1, 4) AS INTEGER), 'm': CAST(substr(t, 5, 2) AS INTEGER),
              'd': CAST(substr(t, 7, 2) AS INTEGER), 'k': 'ymd'}}
        WHEN regexp_full_match(t, '([0-9]{{1,2}}){_S}([0-9]{{1,2}}){_S}([0-9]{{2}})')
        THEN {{'y': CAST(right(t, 2) AS INTEGER)
                   + CASE WHEN CAST(right(t, 2) AS INTEGER) <= p THEN 2000 ELSE 1900 END,
              'm': CAST(regexp_extract(t, '^[0-9]+{_S}([0-9]+)', 1) AS INTEGER),
              'd': CAST(regexp_extract(t, '^([0-9]+)', 1) AS INTEGER), 'k': 'yy'}}
        WHEN regexp_full_match(t, '([0-9]{{4}}){_S}([0-9]{{1,2}})')
        THEN {{'y': CAST(substr(t, 1, 4) AS INTEGER),
              'm': CAST(regexp_extract(t, '([0-9]+)$', 1) AS INTEGER), 'd': 0, 'k': 'part'}}
        WHEN regexp_full_match(t, '([0-9]{{1,2}}){_S}([0-9]{{4}})')
        THEN {{'y': CAST(regexp_extract(t, '([0-9]{{4}})$', 1) AS INTEGER),
              'm': CAST(regexp_extract(t, '^([0-9]+)', 1) AS INTEGER), 'd': 0, 'k': 'part'}}
        WHEN regexp_full_match(t, '[0-9]{{4}}')
        THEN {{'y': CAST(t AS INTEGER), 'm': 0, 'd': 0, 'k': 'part'}}
        WHEN t <> '' THEN {_RAW_UNPARSED}
        END"""),
    # {year, month, day, status}: parts checked; NULL for a missing value
    "app_date_checked": ("r", f"""CASE WHEN r IS NULL THEN NULL
        WHEN r.k = 'unparsed' OR NOT coalesce(r.y BETWEEN 1800 AND 2100 AND r.m <= 12
                                              AND r.d <= 31, false)
        THEN {_UNPARSED}
        ELSE {{'year': r.y, 'month': nullif(r.m, 0),
              'day': CASE WHEN r.m > 0 AND r.d > 0 THEN r.d END,
              'status': CASE WHEN r.k = 'yy' THEN 'two_digit_year'
                             WHEN r.k = 'us' THEN 'us_order'
                             WHEN r.m = 0 OR r.d = 0 THEN 'partial' ELSE 'ok' END}}
        END"""),
    "app_date_final": ("c", """CASE WHEN c IS NULL
        THEN {'year': NULL::INTEGER, 'month': NULL::INTEGER, 'day': NULL::INTEGER,
              'placeholder': NULL::BOOLEAN, 'status': NULL::VARCHAR}
        ELSE {'year': c.year, 'month': c.month, 'day': c.day,
              'placeholder': CASE WHEN c.year IS NOT NULL THEN c.month IS NULL OR c.day IS NULL
                  OR (c.month = 1 AND c.day = 1) OR (c.month = 12 AND c.day = 31) END,
              'status': c.status} END"""),
    # Each stage is bound once through a one-element list_transform: nesting the macros
    # directly would copy every argument into every use (hundreds of regexes per value).
    "app_parse_date": (f"x, p := {DEFAULT_YEAR_PIVOT}", """list_transform([app_date_text(x)],
        lambda t: list_transform([app_date_raw(t, p)], lambda r:
            list_transform([app_date_checked(r)], lambda c: app_date_final(c))[1])[1])[1]"""),
}
