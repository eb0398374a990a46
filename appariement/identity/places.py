"""Places: INSEE commune codes, departments (Corsica 2A/2B vs 20, overseas 97x) and countries.

Conventions of the canonical feature table:

* ``birth_commune``: 5-character INSEE commune code (``01001``, ``2A004``, ``97411``); a 4-digit
  code lost its leading zero and is padded. A ``99xxx`` value in the commune column is a country.
* department of a commune: 3 characters overseas (``971``..``976``, ``98x``), ``99`` abroad,
  2 otherwise. An old Corsican code ``20xxx`` keeps ``20``: telling 2A from 2B needs the commune
  list, so comparisons treat ``20`` as equal to both (see :mod:`.consistency`).
* department of a postcode: ``200xx``/``201xx`` is 2A, ``202xx``..``206xx`` is 2B (the postal
  split), ``97xxx``/``98xxx`` give 3 characters.
* countries: INSEE country codes ``99xxx``; **France is ``99100``** (so "born in France" and
  "born abroad" are both explicit); a frequent country name is mapped to its code. Unknown
  names give NULL (the raw value is not kept: it may be identifying).

SQL macros: ``app_commune(x)``, ``app_dept_of_commune(c)``, ``app_dept_of_postcode(x)``,
``app_postcode(x)``, ``app_country(x)``.
"""

from __future__ import annotations

import re

from .._tables import sql_map
from .names import clean_text

__all__ = ["normalise_commune", "department_of_commune", "normalise_postcode",
           "department_of_postcode", "normalise_country", "COUNTRY_CODES", "FRANCE",
           "SQL_MACROS"]

#: INSEE code used for France in ``birth_country``
FRANCE = "99100"

#: frequent country names (cleaned, without spaces) -> INSEE country code
COUNTRY_CODES: dict[str, str] = {
    "FRANCE": "99100", "FR": "99100", "FRA": "99100",
    "ALLEMAGNE": "99109", "ROUMANIE": "99114", "RUSSIE": "99123", "ITALIE": "99127",
    "BELGIQUE": "99131", "ROYAUMEUNI": "99132", "ESPAGNE": "99134", "PORTUGAL": "99139",
    "SUISSE": "99140", "UKRAINE": "99155", "POLOGNE": "99122", "SYRIE": "99206",
    "TURQUIE": "99208", "AFGHANISTAN": "99212", "PAKISTAN": "99213", "CHINE": "99216",
    "INDE": "99223", "SRILANKA": "99235", "VIETNAM": "99243",
    "REPUBLIQUEDEMOCRATIQUEDUCONGO": "99312", "RDC": "99312", "CAMEROUN": "99322",
    "CONGO": "99324", "COTEDIVOIRE": "99326", "GUINEE": "99330", "MADAGASCAR": "99333",
    "MALI": "99335", "SENEGAL": "99341", "MAROC": "99350", "TUNISIE": "99351",
    "ALGERIE": "99352", "COMORES": "99397",
}

_COMMUNE = re.compile(r"[0-9]{5}|2[AB][0-9]{3}")


def normalise_commune(code: object) -> str | None:
    """Return a 5-character INSEE code or None.

    Examples:
        >>> normalise_commune("1001"), normalise_commune("2a004"), normalise_commune("Paris")
        ('01001', '2A004', None)
    """
    if code is None:
        return None
    text = re.sub(r"\s", "", str(code)).upper()
    if re.fullmatch(r"[0-9]{4}", text):
        text = "0" + text
    return text if _COMMUNE.fullmatch(text) else None


def department_of_commune(commune: str | None) -> str | None:
    """Department of a normalised commune code (``99`` for a country code).

    Examples:
        >>> department_of_commune("97411"), department_of_commune("2B033"), \
department_of_commune("99350")
        ('974', '2B', '99')
    """
    if commune is None:
        return None
    return commune[:3] if commune[:2] in ("97", "98") else commune[:2]


def normalise_postcode(code: object) -> str | None:
    """Return a 5-digit postcode (4 digits are padded) or None.

    Examples:
        >>> normalise_postcode(" 6000 "), normalise_postcode("75 011")
        ('06000', '75011')
    """
    if code is None:
        return None
    text = re.sub(r"\s", "", str(code))
    if re.fullmatch(r"[0-9]{4}", text):
        text = "0" + text
    return text if re.fullmatch(r"[0-9]{5}", text) and text[:2] != "00" else None


def department_of_postcode(postcode: object) -> str | None:
    """Department of residence from a postcode (Corsica split at 20200).

    Examples:
        >>> department_of_postcode("20000"), department_of_postcode("20200"), \
department_of_postcode("97400"), department_of_postcode("69003")
        ('2A', '2B', '974', '69')
    """
    code = normalise_postcode(postcode)
    if code is None:
        return None
    if code[:2] in ("97", "98"):
        return code[:3]
    if code[:2] == "20":
        return "2A" if code < "20200" else "2B"
    return code[:2]


def normalise_country(value: object) -> str | None:
    """INSEE country code ``99xxx`` from a code or a frequent name; France is ``99100``.

    Examples:
        >>> normalise_country("Maroc"), normalise_country("99352"), normalise_country("France")
        ('99350', '99352', '99100')
    """
    if value is None:
        return None
    text = re.sub(r"\s", "", str(value))
    if re.fullmatch(r"99[0-9]{3}", text):
        return text
    if re.fullmatch(r"[0-9]{3}", text) and text >= "100":
        return "99" + text
    cleaned = clean_text(str(value))
    return None if cleaned is None else COUNTRY_CODES.get(cleaned.replace(" ", ""))


_COUNTRY_MAP = sql_map(COUNTRY_CODES)
#: name -> (parameters, body) of the DuckDB macros for places
SQL_MACROS: dict[str, tuple[str, str]] = {
    "app_nospace": ("x", r"upper(regexp_replace(CAST(x AS VARCHAR), '\s', '', 'g'))"),
    "app_commune": ("x", """CASE
        WHEN regexp_full_match(app_nospace(x), '[0-9]{4}') THEN '0' || app_nospace(x)
        WHEN regexp_full_match(app_nospace(x), '[0-9]{5}|2[AB][0-9]{3}') THEN app_nospace(x)
        END"""),
    "app_dept_of_commune": ("c", """CASE WHEN substr(c, 1, 2) IN ('97', '98') THEN substr(c, 1, 3)
        ELSE substr(c, 1, 2) END"""),
    "app_postcode": ("x", """CASE
        WHEN regexp_full_match(app_nospace(x), '[0-9]{4}') THEN '0' || app_nospace(x)
        WHEN regexp_full_match(app_nospace(x), '[0-9]{5}') AND substr(app_nospace(x), 1, 2) <> '00'
        THEN app_nospace(x) END"""),
    "app_dept_of_postcode": ("x", """CASE
        WHEN app_postcode(x) IS NULL THEN NULL
        WHEN substr(app_postcode(x), 1, 2) IN ('97', '98') THEN substr(app_postcode(x), 1, 3)
        WHEN substr(app_postcode(x), 1, 2) = '20'
        THEN CASE WHEN app_postcode(x) < '20200' THEN '2A' ELSE '2B' END
        ELSE substr(app_postcode(x), 1, 2) END"""),
    "app_country": ("x", f"""CASE
        WHEN x IS NULL THEN NULL
        WHEN regexp_full_match(regexp_replace(CAST(x AS VARCHAR), '\\s', '', 'g'), '99[0-9]{{3}}')
        THEN regexp_replace(CAST(x AS VARCHAR), '\\s', '', 'g')
        WHEN regexp_full_match(regexp_replace(CAST(x AS VARCHAR), '\\s', '', 'g'), '[0-9]{{3}}')
             AND regexp_replace(CAST(x AS VARCHAR), '\\s', '', 'g') >= '100'
        THEN '99' || regexp_replace(CAST(x AS VARCHAR), '\\s', '', 'g')
        ELSE {_COUNTRY_MAP}[replace(coalesce(app_clean_text(x), ''), ' ', '')] END"""),
}
