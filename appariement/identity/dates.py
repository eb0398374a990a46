"""Birth dates as found in French administrative files, kept as separate year, month and day.

Accepted forms (separators ``/``, ``-`` or ``.``; a trailing time such as ``T00:00:00`` or
`` 00:00`` is ignored): ``DD/MM/YYYY``, ``YYYY-MM-DD``, ``YYYYMMDD``, ``YYYY-MM``, ``MM/YYYY``,
``YYYY``. A day or month ``00`` means unknown (frequent for people born abroad).

The result keeps year, month and day apart (None when unknown) with a ``placeholder`` flag: True
when the day or month is unknown, or when the date is 01/01 or 31/12, the conventional
placeholders given to people whose exact birth date is unknown. ``date`` is set only when all
three parts are known and form a real calendar date (31/02 keeps its parts but has no date).

Years outside 1800-2100, months above 12 and days above 31 are errors
(:class:`appariement.errors.DateParseError`); in SQL (macro ``app_parse_date(x)``, a struct
``{year, month, day, placeholder}``) the same inputs give NULLs.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

from ..errors import DateParseError

__all__ = ["parse_birth_date", "BirthDate", "SQL_MACROS"]

_SEP = r"[/.\-]"
_PATTERNS = (  # (regex, order of the groups)
    (re.compile(rf"([0-9]{{1,2}}){_SEP}([0-9]{{1,2}}){_SEP}([0-9]{{4}})"), "dmy"),
    (re.compile(rf"([0-9]{{4}}){_SEP}([0-9]{{1,2}}){_SEP}([0-9]{{1,2}})"), "ymd"),
    (re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})"), "ymd"),
    (re.compile(rf"([0-9]{{4}}){_SEP}([0-9]{{1,2}})"), "ym"),
    (re.compile(rf"([0-9]{{1,2}}){_SEP}([0-9]{{4}})"), "my"),
    (re.compile(r"([0-9]{4})"), "y"),
)
_TIME = re.compile(r"^(\S+)(?:T| +)[0-9]{1,2}:[0-9]{2}.*$")


@dataclass(frozen=True)
class BirthDate:
    """A parsed birth date.

    Attributes:
        year, month, day: integers, None when unknown.
        placeholder: True when day or month is unknown or the date is 01/01 or 31/12.
        date: the calendar date when all parts are known and valid, else None.
    """

    year: int | None
    month: int | None
    day: int | None
    placeholder: bool

    @property
    def date(self) -> _dt.date | None:
        if self.year is None or self.month is None or self.day is None:
            return None
        try:
            return _dt.date(self.year, self.month, self.day)
        except ValueError:
            return None


def parse_birth_date(text: str | _dt.date | None) -> BirthDate | None:
    """Parse a birth date; None for a missing or blank value.

    Args:
        text: the raw value (a ``datetime.date`` is accepted as is).

    Returns:
        A :class:`BirthDate`, or None when the value is missing.

    Raises:
        DateParseError: the value matches no accepted form or has an impossible part. The message
            does not repeat the value (a birth date is identifying).

    Examples:
        >>> parse_birth_date("14/07/1989")
        BirthDate(year=1989, month=7, day=14, placeholder=False)
        >>> parse_birth_date("1975-00-00")
        BirthDate(year=1975, month=None, day=None, placeholder=True)
        >>> parse_birth_date("01/01/1980").placeholder
        True
    """
    if text is None:
        return None
    if isinstance(text, _dt.datetime):
        text = text.date()
    if isinstance(text, _dt.date):
        return _build(text.year, text.month, text.day)
    value = str(text).strip(" \t\r\n")
    if not value:
        return None
    value = _TIME.sub(r"\1", value)
    for pattern, order in _PATTERNS:
        match = pattern.fullmatch(value)
        if match:
            parts = dict(zip(order, (int(g) for g in match.groups())))
            return _build(parts["y"], parts.get("m", 0), parts.get("d", 0))
    raise DateParseError("birth date matches none of the accepted forms (DD/MM/YYYY, "
                         "YYYY-MM-DD, YYYYMMDD, YYYY-MM, MM/YYYY, YYYY); check the column "
                         "format or map it in the configuration")


def _build(year: int, month: int, day: int) -> BirthDate:
    if not 1800 <= year <= 2100:
        raise DateParseError("birth year outside 1800-2100")
    if month > 12:
        raise DateParseError("birth month above 12 (day and month swapped?)")
    if day > 31:
        raise DateParseError("birth day above 31")
    month_value = month or None
    day_value = day if month_value and day else None
    placeholder = (month_value is None or day_value is None
                   or (month_value, day_value) in ((1, 1), (12, 31)))
    return BirthDate(year, month_value, day_value, placeholder)


# --- SQL (DuckDB macros) -------------------------------------------------------------------

_SQL_SEP = "[/.-]"
#: name -> (parameters, body) of the DuckDB macros for dates
SQL_MACROS: dict[str, tuple[str, str]] = {
    "app_date_text": ("x", r"""regexp_replace(trim(CAST(x AS VARCHAR), chr(32) || chr(9) || chr(13) || chr(10)),
        '^(\S+)(?:T| +)[0-9]{1,2}:[0-9]{2}.*$', '\1')"""),
    # struct of the raw integer parts (y, m, d; 0 when absent) or NULL when no form matches
    "app_date_raw": ("t", f"""CASE
        WHEN regexp_full_match(t, '([0-9]{{1,2}}){_SQL_SEP}([0-9]{{1,2}}){_SQL_SEP}([0-9]{{4}})')
        THEN {{'y': CAST(regexp_extract(t, '^.*{_SQL_SEP}([0-9]{{4}})$', 1) AS INTEGER),
              'm': CAST(regexp_extract(t, '^[0-9]+{_SQL_SEP}([0-9]+)', 1) AS INTEGER),
              'd': CAST(regexp_extract(t, '^([0-9]+)', 1) AS INTEGER)}}
        WHEN regexp_full_match(t, '([0-9]{{4}}){_SQL_SEP}([0-9]{{1,2}}){_SQL_SEP}([0-9]{{1,2}})')
        THEN {{'y': CAST(substr(t, 1, 4) AS INTEGER),
              'm': CAST(regexp_extract(t, '^[0-9]{{4}}{_SQL_SEP}([0-9]+)', 1) AS INTEGER),
              'd': CAST(regexp_extract(t, '([0-9]+)$', 1) AS INTEGER)}}
        WHEN regexp_full_match(t, '[0-9]{{8}}')
        THEN {{'y': CAST(substr(t, 1, 4) AS INTEGER), 'm': CAST(substr(t, 5, 2) AS INTEGER),
              'd': CAST(substr(t, 7, 2) AS INTEGER)}}
        WHEN regexp_full_match(t, '([0-9]{{4}}){_SQL_SEP}([0-9]{{1,2}})')
        THEN {{'y': CAST(substr(t, 1, 4) AS INTEGER),
              'm': CAST(regexp_extract(t, '([0-9]+)$', 1) AS INTEGER), 'd': 0}}
        WHEN regexp_full_match(t, '([0-9]{{1,2}}){_SQL_SEP}([0-9]{{4}})')
        THEN {{'y': CAST(regexp_extract(t, '([0-9]{{4}})$', 1) AS INTEGER),
              'm': CAST(regexp_extract(t, '^([0-9]+)', 1) AS INTEGER), 'd': 0}}
        WHEN regexp_full_match(t, '[0-9]{{4}}')
        THEN {{'y': CAST(t AS INTEGER), 'm': 0, 'd': 0}}
        END"""),
    "app_date_checked": ("r", """CASE WHEN r.y BETWEEN 1800 AND 2100 AND r.m <= 12
        AND r.d <= 31 THEN {'year': r.y, 'month': nullif(r.m, 0),
            'day': CASE WHEN r.m > 0 AND r.d > 0 THEN r.d END} END"""),
    "app_date_final": ("c", """CASE WHEN c IS NULL
        THEN {'year': NULL::INTEGER, 'month': NULL::INTEGER, 'day': NULL::INTEGER,
              'placeholder': NULL::BOOLEAN}
        ELSE {'year': c.year, 'month': c.month, 'day': c.day,
              'placeholder': c.month IS NULL OR c.day IS NULL
                  OR (c.month = 1 AND c.day = 1) OR (c.month = 12 AND c.day = 31)} END"""),
    # Each stage is bound once through a one-element list_transform: nesting the macros
    # directly would copy every argument into every use (hundreds of regexes per value).
    "app_parse_date": ("x", """list_transform([app_date_text(x)], lambda t:
        list_transform([app_date_raw(t)], lambda r:
            list_transform([app_date_checked(r)], lambda c: app_date_final(c))[1])[1])[1]"""),
}
