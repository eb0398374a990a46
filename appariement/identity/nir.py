"""NIR (numéro d'inscription au répertoire): compact, validate, classify, split into parts.

Shaped like a python-stdnum module (``compact``/``validate``/``is_valid``/``format``) and built on
:mod:`stdnum.fr.nir` for the control key. On top of stdnum it checks that each part is possible
(sex digit, month, department, commune, order number), classifies a number (ordinary NIR,
temporary number, born abroad, invalid) and returns its parts.

Layout ``S AA MM DD CCC NNN KK``: sex (1/2; 7/8 for temporary numbers), two-digit birth year,
month (01-12, or 20, 30-42, 50-99 when the month is unknown), department (01-95, 2A/2B, 97x/98x
overseas on three digits, 99 abroad), commune (or country code when abroad), order number, key.

Large columns are handled in SQL: :data:`SQL_MACROS` defines DuckDB macros (registered by
:func:`appariement.identity.register_sql_functions`) with the same rules as the scalar functions:
``app_nir_compact(x)``, ``app_nir_is_valid(n)``, ``app_nir_class(n)``, ``app_nir_sex(n)``,
``app_nir_year(n)``, ``app_nir_month(n)``, ``app_nir_dept(n)``, ``app_nir_place(n)``.
The ``n`` macros expect an already compacted value.

Error messages never contain the NIR itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum.fr import nir as _stdnum_nir

from ..errors import (InvalidNIRComponent, InvalidNIRError, InvalidNIRFormat, InvalidNIRKey,
                      InvalidNIRLength)

__all__ = ["compact", "validate", "is_valid", "format", "classify", "parts", "NIRParts",
           "NIR_CLASSES", "SQL_MACROS", "month_is_known"]

#: possible results of :func:`classify`
NIR_CLASSES = ("nir", "temporary", "foreign_born", "invalid")

_FORMAT = re.compile(r"[0-9]{5}(?:[0-9]{2}|2A|2B)[0-9]{8}")
_SEPARATORS = re.compile(r"[\s.\-_/]")
_SEX_DIGITS = {"1": "1", "2": "2", "7": "1", "8": "2"}


def compact(number: str) -> str:
    """Remove separators (spaces, dots, hyphens, underscores, slashes) and upper-case.

    Args:
        number: a NIR as typed.

    Returns:
        The compact form (not validated).

    Examples:
        >>> compact("2 95 10 99 126 111 93")
        '295109912611193'
        >>> compact("1.85.05.2a.004.123.45")
        '185052A00412345'
    """
    return _SEPARATORS.sub("", str(number)).upper()


def _month_ok(month: str) -> bool:
    value = int(month)
    return 1 <= value <= 12 or value == 20 or 30 <= value <= 42 or value >= 50


def month_is_known(month: str) -> bool:
    """Return True when a NIR month code is a real month (01-12), False for unknown codes.

    Examples:
        >>> month_is_known("05"), month_is_known("20"), month_is_known("62")
        (True, False, False)
    """
    return 1 <= int(month) <= 12


def validate(number: str) -> str:
    """Check a NIR and return its compact form, or raise a precise error.

    Checks, in order: length (15), characters (digits, ``2A``/``2B`` at the department), the
    control key (via :mod:`stdnum.fr.nir`), then possible parts: sex digit 1/2/7/8, month,
    department not ``00``, commune and order number not ``000``.

    Args:
        number: a NIR, with or without separators.

    Returns:
        The compact NIR.

    Raises:
        InvalidNIRLength, InvalidNIRFormat, InvalidNIRKey, InvalidNIRComponent: all subclasses of
        :class:`appariement.errors.InvalidNIRError`. Messages never contain the number.

    Examples:
        >>> validate("2 95 10 99 126 111 93")
        '295109912611193'
        >>> validate("295109912611199")
        Traceback (most recent call last):
        ...
        appariement.errors.InvalidNIRKey: NIR control key does not match ...
    """
    value = compact(number)
    if len(value) != 15:
        raise InvalidNIRLength(f"NIR has {len(value)} characters after removing separators, "
                               "expected 15 (13 + 2-digit key); check the source column")
    if not _FORMAT.fullmatch(value):
        raise InvalidNIRFormat("NIR holds characters not allowed at their position: only digits, "
                               "and 2A/2B as the department of Corsica")
    if _stdnum_nir.calc_check_digits(value) != value[13:]:
        raise InvalidNIRKey("NIR control key does not match the first 13 characters: "
                            "a character was mistyped or the number is not a NIR")
    if value[0] not in _SEX_DIGITS:
        raise InvalidNIRComponent("NIR sex digit must be 1 or 2 (7 or 8 for temporary numbers)")
    if not _month_ok(value[3:5]):
        raise InvalidNIRComponent("NIR birth month is impossible (allowed: 01-12, 20, 30-42, "
                                  "50-99)")
    if value[5:7] == "00":
        raise InvalidNIRComponent("NIR department 00 does not exist")
    if value[7:10] == "000":
        raise InvalidNIRComponent("NIR commune/country code 000 does not exist")
    if value[10:13] == "000":
        raise InvalidNIRComponent("NIR order number 000 does not exist")
    return value


def is_valid(number: str) -> bool:
    """Return True when :func:`validate` accepts the number.

    Examples:
        >>> is_valid("253072B07300470"), is_valid("253072C07300443")
        (True, False)
    """
    try:
        validate(number)
    except InvalidNIRError:
        return False
    return True


def format(number: str, separator: str = " ") -> str:  # noqa: A001 - stdnum's verb
    """Format a NIR for display: ``S AA MM DD CCC NNN KK``.

    Examples:
        >>> format("295109912611193")
        '2 95 10 99 126 111 93'
    """
    return _stdnum_nir.format(compact(number), separator)


def classify(number: str | None) -> str | None:
    """Classify a NIR: ``'nir'``, ``'temporary'``, ``'foreign_born'`` or ``'invalid'``.

    ``temporary`` are valid-looking numbers with sex digit 7 or 8 (provisional numbers given
    while a person waits for registration); ``foreign_born`` are valid NIRs of people born abroad
    (department 99); anything :func:`validate` rejects is ``invalid``. A missing value (None or
    blank) gives None.

    Examples:
        >>> classify("295109912611193"), classify("253072B07300470"), classify("12345")
        ('foreign_born', 'nir', 'invalid')
    """
    if number is None or not compact(number):
        return None
    try:
        value = validate(number)
    except InvalidNIRError:
        return "invalid"
    if value[0] in "78":
        return "temporary"
    if value[5:7] == "99":
        return "foreign_born"
    return "nir"


@dataclass(frozen=True)
class NIRParts:
    """Parts of a valid NIR.

    Attributes:
        sex: ``'1'`` (male) or ``'2'`` (female); 7/8 temporary numbers map to 1/2.
        year: two-digit birth year.
        month: month code as written (``'01'``..``'12'`` or an unknown-month code).
        month_known: True when ``month`` is a real month.
        department: ``'01'``..``'95'``, ``'20'``/``'2A'``/``'2B'``, ``'971'``.., or ``'99'``.
        place: 5-character INSEE code: commune code, or country code ``99xxx`` when abroad.
        order: order number (3 digits).
        key: control key (2 digits).
    """

    sex: str
    year: str
    month: str
    month_known: bool
    department: str
    place: str
    order: str
    key: str


def parts(number: str) -> NIRParts:
    """Split a valid NIR into its parts (raises like :func:`validate` otherwise).

    Examples:
        >>> p = parts("253072B07300470")
        >>> p.sex, p.year, p.month, p.department, p.place
        ('2', '53', '07', '2B', '2B073')
        >>> parts("295109912611193").place
        '99126'
    """
    value = validate(number)
    dept = value[5:8] if value[5:7] in ("97", "98") else value[5:7]
    return NIRParts(sex=_SEX_DIGITS[value[0]], year=value[1:3], month=value[3:5],
                    month_known=month_is_known(value[3:5]), department=dept,
                    place=value[5:10], order=value[10:13], key=value[13:])


# --- SQL (DuckDB macros) -------------------------------------------------------------------

#: name -> (parameters, body) of the DuckDB macros; same rules as the scalar functions above
SQL_MACROS: dict[str, tuple[str, str]] = {
    "app_nir_compact": ("x", r"""nullif(upper(regexp_replace(CAST(x AS VARCHAR),
        '[\s._/-]', '', 'g')), '')"""),
    "app_nir_key": ("n", """lpad(CAST(97 - (CAST(CASE substr(n, 6, 2)
            WHEN '2A' THEN substr(n, 1, 5) || '19' || substr(n, 8, 6)
            WHEN '2B' THEN substr(n, 1, 5) || '18' || substr(n, 8, 6)
            ELSE substr(n, 1, 13) END AS BIGINT) % 97) AS VARCHAR), 2, '0')"""),
    "app_nir_is_valid": ("n", """CASE WHEN n IS NULL THEN NULL
        WHEN NOT regexp_full_match(n, '[0-9]{5}([0-9]{2}|2A|2B)[0-9]{8}') THEN false
        ELSE app_nir_key(n) = substr(n, 14, 2)
            AND substr(n, 1, 1) IN ('1', '2', '7', '8')
            AND (substr(n, 4, 2) BETWEEN '01' AND '12' OR substr(n, 4, 2) = '20'
                 OR substr(n, 4, 2) BETWEEN '30' AND '42' OR substr(n, 4, 2) >= '50')
            AND substr(n, 6, 2) <> '00' AND substr(n, 8, 3) <> '000'
            AND substr(n, 11, 3) <> '000' END"""),
    "app_nir_class": ("n", """CASE WHEN n IS NULL THEN NULL
        WHEN NOT app_nir_is_valid(n) THEN 'invalid'
        WHEN substr(n, 1, 1) IN ('7', '8') THEN 'temporary'
        WHEN substr(n, 6, 2) = '99' THEN 'foreign_born'
        ELSE 'nir' END"""),
    "app_nir_sex": ("n", """CASE WHEN app_nir_is_valid(n)
        THEN CASE WHEN substr(n, 1, 1) IN ('1', '7') THEN '1' ELSE '2' END END"""),
    "app_nir_year": ("n", "CASE WHEN app_nir_is_valid(n) THEN substr(n, 2, 2) END"),
    "app_nir_month": ("n", "CASE WHEN app_nir_is_valid(n) THEN substr(n, 4, 2) END"),
    "app_nir_dept": ("n", """CASE WHEN app_nir_is_valid(n) THEN
        CASE WHEN substr(n, 6, 2) IN ('97', '98') THEN substr(n, 6, 3) ELSE substr(n, 6, 2) END
        END"""),
    "app_nir_place": ("n", "CASE WHEN app_nir_is_valid(n) THEN substr(n, 6, 5) END"),
}
