"""Names: normalised surnames and first names that compare well across French files.

Rules (the same in Python and in the DuckDB macros of :data:`SQL_MACROS`):

* upper-case, accents stripped, ligatures spelled out (Œ -> OE, Æ -> AE, ß -> SS);
* apostrophes are dropped (``D'ALMEIDA`` -> ``DALMEIDA``, ``N'DIAYE`` -> ``NDIAYE``), every other
  character that is not a letter (hyphen, dot, digit...) becomes one space;
* surnames: a postposed particle ``FONTAINE (DE LA)`` is moved in front, then each particle
  (``DE``, ``DU``, ``DES``, ``LA``, ``LE``, ``D``, ``L``, ``VAN``, ``DER``, ``EL``, ``BEN``...)
  is glued to the word that follows, so ``De La Fontaine``, ``DELAFONTAINE`` and
  ``Fontaine (de la)`` all give ``DELAFONTAINE`` and ``Le Gall`` / ``LEGALL`` give ``LEGALL``.
  Other words stay separated by one space (``MARTIN-DUPONT`` -> ``MARTIN DUPONT``);
* birth vs usage name in free text: ``DUPONT épouse MARTIN`` (also ``EP``, ``EPSE``, ``VEUVE``,
  ``VVE``, ``DIVORCEE``) is birth name DUPONT, usage name MARTIN; ``MARTIN née DUPONT`` is usage
  MARTIN, birth DUPONT;
* first names: a field with commas (or ``;`` ``/``) is split on them, otherwise on blanks; a
  hyphenated compound stays ONE element whose parts are separated by a space:
  ``"Jean-Pierre, Marie"`` -> ``["JEAN PIERRE", "MARIE"]``. ``"Jean Pierre"`` (no hyphen, no
  comma) is ambiguous and gives ``["JEAN", "PIERRE"]``: compare ``first_names_joined`` (all first
  names joined by a space, identical in both cases) when ``first_name`` differs;
* :func:`canonical_first_name` maps frequent transliteration variants to one spelling
  (``MOHAMMED``/``MUHAMMAD`` -> ``MOHAMED``).

Normalisation is idempotent: normalising a normalised value returns it unchanged.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["clean_text", "normalise_name", "normalise_first_names", "split_name_forms",
           "NameForms", "canonical_first_name", "PARTICLES", "FIRST_NAME_VARIANTS",
           "SQL_MACROS"]

#: particles glued to the following word of a surname
PARTICLES = ("D", "L", "DE", "DU", "DES", "LA", "LE", "LES", "DEL", "DELA", "DELLA", "DELLE",
             "DA", "DAS", "DO", "DOS", "DI", "DELOS", "DELAS", "VAN", "VON", "DER", "DEN", "TER",
             "TEN", "VANDER", "VANDEN", "VANDE", "VONDER",
             "EL", "AL", "BEN", "BEL", "AIT", "MAC", "MC", "SAINT", "ST", "STE", "SAINTE")

#: markers in a surname field: "<birth> EPOUSE <usage>" / "<usage> NEE <birth>"
_SPOUSE_MARKERS = ("EPOUSE", "EPSE", "EP", "EPOUX", "VEUVE", "VVE", "VEUF", "DIVORCEE", "DIV")
_BIRTH_MARKERS = ("NEE",)

#: transliteration variants of frequent first names -> canonical spelling (keys without spaces)
FIRST_NAME_VARIANTS: dict[str, str] = {}
for _canon, _variants in {
    "MOHAMED": ("MOHAMMED", "MOHAMMAD", "MOHAMAD", "MUHAMMAD", "MUHAMMED", "MUHAMED",
                "MOHAMET", "MOHAMMAD", "MOUHAMED", "MOUHAMMED", "MOHAMEDE", "MEHMED"),
    "AHMED": ("AHMAD", "AHMET", "AHMEDE", "AHAMED"),
    "MUSTAPHA": ("MUSTAFA", "MOUSTAPHA", "MOUSTAFA", "MOSTAFA", "MOSTEFA"),
    "YOUSSEF": ("YOUSSOUF", "YOUSEF", "YUSUF", "YOUCEF", "YOUSSOUFF", "YOSSEF", "YUSSUF"),
    "HUSSEIN": ("HOUSSEIN", "HUSSAIN", "HOCINE", "HOUSSINE", "HUSEIN"),
    "OUSMANE": ("OUSMAN", "USMAN", "OTHMANE", "OSMAN", "OTHMAN", "OUSSMANE"),
    "ABDELKADER": ("ABDELKADER", "ABDELKADIR", "ABDULKADIR", "ABDELKADR", "ABDALKADER",
                   "ABDELQADER", "ABDULQADIR"),
    "ABDERRAHMANE": ("ABDERAHMANE", "ABDERRAHMAN", "ABDELRAHMAN", "ABDOURAHMANE",
                     "ABDURRAHMAN", "ABDERRAHMEN", "ABDELRAHMANE"),
    "ABDOULAYE": ("ABDULAYE", "ABDOULAY", "ABDULLAHI", "ABDALLAH", "ABDULLAH", "ABDELLAH"),
    "FATIMA": ("FATMA", "FATIMAH", "FATHIMA"),
    "AICHA": ("AISHA", "AYSHA", "AICHATOU", "AYCHA", "AISSA"),
    "KHADIJA": ("KHADIDJA", "KADIDJA", "KHEDIDJA", "KHADIDIA", "KADIJA", "KHADIJAH"),
    "KARIM": ("KAREEM", "KERIM"),
    "IBRAHIM": ("IBRAHIME", "EBRAHIM", "IBRAHEEM"),
    "ISMAEL": ("ISMAIL", "ISMAHEL", "ISMAELE"),
    "SERGUEI": ("SERGEI", "SERGEY", "SERGIY", "SERHIY"),
    "DMITRI": ("DMITRIY", "DMITRY", "DIMITRI", "DIMITRY"),
    "IOURI": ("YURI", "YURIY", "IURII", "YOURI"),
    "ALEXANDR": ("ALEKSANDR", "OLEKSANDR", "ALEKSANDER"),
    "OLGA": ("OLHA",),
    "NATALIA": ("NATALYA", "NATALIYA", "NATALIIA"),
}.items():
    for _variant in _variants:
        FIRST_NAME_VARIANTS[_variant] = _canon

_LIGATURES = {"ß": "SS", "ẞ": "SS", "œ": "OE", "Œ": "OE", "æ": "AE", "Æ": "AE"}
_APOSTROPHES = re.compile(r"['’‘`´ʼ]")
_NON_LETTERS = re.compile(r"[^A-Z]+")
_POSTPOSED = re.compile(r"^(.*[^ ])\s*\(\s*(DE LA|DE L|DE|DU|DES|LE|LA|LES|L|D)\s*\)\s*$")
_FIRST_NAME_SEPARATORS = re.compile(r"[,;/]")


def _fold(text: str) -> str:
    for src, dst in _LIGATURES.items():
        text = text.replace(src, dst)
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _APOSTROPHES.sub("", stripped.upper())


def clean_text(text: str | None) -> str | None:
    """Upper-case, strip accents, drop apostrophes, turn non-letters into single spaces.

    Args:
        text: any text or None.

    Returns:
        The cleaned text, or None when nothing is left.

    Examples:
        >>> clean_text("  Hélène-Marie  d'Œuvre ")
        'HELENE MARIE DOEUVRE'
    """
    if text is None:
        return None
    cleaned = _NON_LETTERS.sub(" ", _fold(str(text))).strip()
    return cleaned or None


def _glue_particles(cleaned: str) -> str:
    # A left fold, so chains glue too: DE LA FONTAINE -> DELA + FONTAINE -> DELAFONTAINE.
    tokens = cleaned.split(" ")
    out = tokens[0]
    for token in tokens[1:]:
        last = out.rsplit(" ", 1)[-1]
        out = out + token if last in PARTICLES else out + " " + token
    return out


def normalise_name(text: str | None) -> str | None:
    """Normalise a surname (see the module docstring for the rules).

    Args:
        text: a surname as typed.

    Returns:
        The normalised surname, or None when empty.

    Examples:
        >>> normalise_name("de la Fontaine"), normalise_name("FONTAINE (DE LA)")
        ('DELAFONTAINE', 'DELAFONTAINE')
        >>> normalise_name("Martin-Dupont"), normalise_name("d'Almeida")
        ('MARTIN DUPONT', 'DALMEIDA')
    """
    if text is None:
        return None
    folded = re.sub(r"\s+", " ", _fold(str(text)))
    folded = _POSTPOSED.sub(r"\2 \1", folded)
    cleaned = clean_text(folded)
    return None if cleaned is None else _glue_particles(cleaned)


@dataclass(frozen=True)
class NameForms:
    """Birth and usage name read from one surname field.

    Attributes:
        birth: birth name when the field says so (``née X``, ``X épouse Y``), else None.
        usage: usage name when the field says so, else None.
        plain: the whole normalised field when it carries no marker, else None.
    """

    birth: str | None
    usage: str | None
    plain: str | None


def split_name_forms(text: str | None) -> NameForms:
    """Read ``X épouse Y`` / ``Y née X`` forms of a surname field.

    Examples:
        >>> split_name_forms("Dupont épouse Martin")
        NameForms(birth='DUPONT', usage='MARTIN', plain=None)
        >>> split_name_forms("MARTIN née DUPONT")
        NameForms(birth='DUPONT', usage='MARTIN', plain=None)
        >>> split_name_forms("Le Gall")
        NameForms(birth=None, usage=None, plain='LEGALL')
    """
    cleaned = clean_text(text)
    if cleaned is None:
        return NameForms(None, None, None)
    tokens = cleaned.split(" ")
    # "NEE" wins over spouse markers; the first occurrence of a marker splits the field.
    for markers, birth_is_left in ((_BIRTH_MARKERS, False), (_SPOUSE_MARKERS, True)):
        for i, token in enumerate(tokens[1:-1], start=1):
            if token in markers:
                left = normalise_name(" ".join(tokens[:i]))
                right = normalise_name(" ".join(tokens[i + 1:]))
                if birth_is_left:
                    return NameForms(left, right, None)
                return NameForms(right, left, None)
    return NameForms(None, None, normalise_name(text))


def normalise_first_names(text: str | None) -> list[str]:
    """Split and normalise a first-names field into an ordered list.

    Examples:
        >>> normalise_first_names("Jean-Pierre, Marie")
        ['JEAN PIERRE', 'MARIE']
        >>> normalise_first_names("Anaïs  Léa")
        ['ANAIS', 'LEA']
    """
    if text is None:
        return []
    folded = _fold(str(text))
    if _FIRST_NAME_SEPARATORS.search(folded):
        pieces = _FIRST_NAME_SEPARATORS.split(folded)
    else:
        pieces = folded.split()
    return [c for c in (clean_text(p) for p in pieces) if c]


def canonical_first_name(name: str | None) -> str | None:
    """Map a normalised first name to its canonical transliteration.

    Examples:
        >>> canonical_first_name("MUHAMMAD"), canonical_first_name("ABDEL KADER")
        ('MOHAMED', 'ABDELKADER')
        >>> canonical_first_name("PAUL")
        'PAUL'
    """
    if name is None:
        return None
    return FIRST_NAME_VARIANTS.get(name.replace(" ", ""), name)


# --- SQL (DuckDB macros) -------------------------------------------------------------------

def _sql_list(values) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def _sql_map(mapping: dict[str, str]) -> str:
    return "MAP {" + ", ".join(f"'{k}': '{v}'" for k, v in sorted(mapping.items())) + "}"


_SQL_FOLD = r"""regexp_replace(strip_accents(upper(replace(replace(replace(replace(replace(
    replace(CAST(x AS VARCHAR), 'ß', 'SS'), 'ẞ', 'SS'), 'œ', 'OE'), 'Œ', 'OE'), 'æ', 'AE'),
    'Æ', 'AE'))), '[''’‘`´ʼ]', '', 'g')"""

_B = "|".join(_BIRTH_MARKERS)
_S = "|".join(_SPOUSE_MARKERS)

#: name -> (parameters, body) of the DuckDB macros for names
SQL_MACROS: dict[str, tuple[str, str]] = {
    "app_fold": ("x", _SQL_FOLD),
    "app_clean_text": ("x", r"nullif(trim(regexp_replace(app_fold(x), '[^A-Z]+', ' ', 'g')), '')"),
    # fast path: most names hold no particle followed by a word
    "app_glue_particles": ("c", f"""CASE WHEN NOT regexp_matches(c, '(^| )({'|'.join(PARTICLES)}) ')
        THEN c ELSE list_reduce(string_split(c, ' '),
        lambda acc, t: CASE WHEN list_contains({_sql_list(PARTICLES)},
                                               regexp_extract(acc, '([A-Z]+)$', 1))
                       THEN acc || t ELSE acc || ' ' || t END) END"""),
    "app_name_norm": ("x", r"""app_glue_particles(app_clean_text(regexp_replace(
        regexp_replace(app_fold(x), '\s+', ' ', 'g'),
        '^(.*[^ ])\s*\(\s*(DE LA|DE L|DE|DU|DES|LE|LA|LES|L|D)\s*\)\s*$', '\2 \1')))"""),
    # "<birth> EPOUSE <usage>" / "<usage> NEE <birth>": struct(birth, usage, plain)
    # app_clean_text(x) is cheap: repeating it is faster than binding it with a lambda
    "app_name_forms": ("x", f"""CASE
        WHEN regexp_matches(app_clean_text(x), '^[A-Z ]*[A-Z] ({_B}) [A-Z]')
        THEN {{'birth': app_name_norm(regexp_extract(app_clean_text(x), ' (?:{_B}) (.*)$', 1)),
              'usage': app_name_norm(regexp_extract(app_clean_text(x), '^(.*?) (?:{_B}) ', 1)),
              'plain': NULL::VARCHAR}}
        WHEN regexp_matches(app_clean_text(x), '^[A-Z ]*[A-Z] ({_S}) [A-Z]')
        THEN {{'birth': app_name_norm(regexp_extract(app_clean_text(x), '^(.*?) (?:{_S}) ', 1)),
              'usage': app_name_norm(regexp_extract(app_clean_text(x), '^.*? (?:{_S}) (.*)$', 1)),
              'plain': NULL::VARCHAR}}
        ELSE {{'birth': NULL::VARCHAR, 'usage': NULL::VARCHAR, 'plain': app_name_norm(x)}}
        END"""),
    "app_first_names": ("x", r"""CASE WHEN x IS NULL THEN []::VARCHAR[] ELSE
        list_filter(list_transform(
            CASE WHEN regexp_matches(app_fold(x), '[,;/]')
                 THEN regexp_split_to_array(app_fold(x), '[,;/]')
                 ELSE regexp_split_to_array(trim(app_fold(x)), '\s+') END,
            lambda p: app_clean_text(p)), lambda p: p IS NOT NULL) END"""),
    "app_first_name_canon": ("x", f"""CASE WHEN x IS NULL THEN NULL ELSE
        coalesce({_sql_map(FIRST_NAME_VARIANTS)}[replace(x, ' ', '')], x) END"""),
}
