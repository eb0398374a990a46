"""Sex codes: every common spelling mapped to the NIR convention ``'1'`` (male) / ``'2'`` (female).

Accepted (case and accents ignored): ``1``/``2``, ``M``/``F``, ``H``/``F``, ``HOMME``/``FEMME``,
``MASCULIN``/``FEMININ``, ``MALE``/``FEMALE``, ``MR``/``MME``, ``MONSIEUR``/``MADAME``/
``MADEMOISELLE``/``MLLE``. Anything else is unknown (None), or an error with ``strict=True``.
SQL: macro ``app_sex(x)``.
"""

from __future__ import annotations

import re

from .._tables import sql_map
from ..errors import IdentityError
from .names import clean_text

__all__ = ["normalise_sex", "SEX_CODES", "SQL_MACROS"]

#: accepted spellings (after clean-up) -> '1' or '2'
SEX_CODES: dict[str, str] = {
    **{k: "1" for k in ("1", "M", "H", "HOMME", "MASCULIN", "MASC", "MALE", "MR", "MONSIEUR",
                        "GARCON")},
    **{k: "2" for k in ("2", "F", "FEMME", "FEMININ", "FEM", "FEMALE", "MME", "MADAME",
                        "MLLE", "MADEMOISELLE", "FILLE")},
}


def normalise_sex(value: object, *, strict: bool = False) -> str | None:
    """Return ``'1'``, ``'2'`` or None (missing or unknown).

    Args:
        value: the raw value (text or integer).
        strict: raise :class:`IdentityError` for a non-empty value that is not understood.

    Examples:
        >>> normalise_sex("Féminin"), normalise_sex("H"), normalise_sex(1), normalise_sex("?")
        ('2', '1', '1', None)
    """
    if value is None:
        return None
    text = str(value).strip().upper()
    if re.fullmatch(r"[12](?:\.0+)?", text):  # numeric columns arrive as 1.0 / 2.0
        return text[0]
    key = clean_text(text)
    if key is None:
        return None
    code = SEX_CODES.get(key.replace(" ", ""))
    if code is None and strict:
        raise IdentityError("sex code not understood; expected 1/2, M/F, H/F, HOMME/FEMME, "
                            "MASCULIN/FEMININ")
    return code


_SQL_MAP = sql_map(SEX_CODES)
#: name -> (parameters, body) of the DuckDB macros for sex codes
SQL_MACROS: dict[str, tuple[str, str]] = {
    "app_sex": ("x", f"""CASE WHEN regexp_full_match(trim(CAST(x AS VARCHAR)), '[12](\\.0+)?')
        THEN substr(trim(CAST(x AS VARCHAR)), 1, 1)
        ELSE {_SQL_MAP}[replace(coalesce(app_clean_text(x), ''), ' ', '')] END"""),
}
