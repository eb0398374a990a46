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
  (``MOHAMMED``/``MUHAMMAD`` -> ``MOHAMED``, ``FATMA`` -> ``FATIMA``, ``USMAN`` -> ``OUSMANE``),
  from the bundled table ``data/first_name_variants.csv`` (columns ``canonical,variant,group``;
  groups arabic, berber, west_african, turkish, slavic, french_diminutive; values folded as
  :func:`clean_text` does, without spaces). The lookup ignores spaces, so ``ABDEL KADER`` is
  ``ABDELKADER``. A user table with the same columns adds or overrides rows
  (:func:`load_first_name_variants`); :func:`first_name_head` is the canonical first word of a
  compound (``MOHAMMED ALI`` -> ``MOHAMED``, ``JEAN PIERRE`` -> ``JEAN``).

The variants table is deliberately conservative: a row is a spelling a file could plausibly hold
for the same person (transliterations of one Arabic, Berber, West African, Turkish or Slavic
name, a few French nicknames). Names that merely share an origin but are distinct names in
practice stay apart (``AISSA``/``AICHA``, ``HASSAN``/``HUSSEIN``, ``MYRIAM``/``MARIAM``,
``JASMINE``/``YASMINE``, ``MEHMET``/``MOHAMED``), and diminutives used for several names or
both sexes (``ALEX``, ``STEPH``, ``CHRIS``) are left out.

Normalisation is idempotent: normalising a normalised value returns it unchanged.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .._tables import sql_list
from ..errors import ConfigError, InputError, SchemaError

__all__ = ["clean_text", "normalise_name", "normalise_first_names", "split_name_forms",
           "NameForms", "canonical_first_name", "first_name_head", "load_first_name_variants",
           "read_first_name_variants", "PARTICLES", "FIRST_NAME_VARIANTS",
           "FIRST_NAME_VARIANTS_FILE", "VARIANTS_TABLE", "SQL_MACROS"]

#: particles glued to the following word of a surname
PARTICLES = ("D", "L", "DE", "DU", "DES", "LA", "LE", "LES", "DEL", "DELA", "DELLA", "DELLE",
             "DA", "DAS", "DO", "DOS", "DI", "DELOS", "DELAS", "VAN", "VON", "DER", "DEN", "TER",
             "TEN", "VANDER", "VANDEN", "VANDE", "VONDER",
             "EL", "AL", "BEN", "BEL", "AIT", "MAC", "MC", "SAINT", "ST", "STE", "SAINTE")

#: markers in a surname field: "<birth> EPOUSE <usage>" / "<usage> NEE <birth>"
_SPOUSE_MARKERS = ("EPOUSE", "EPSE", "EP", "EPOUX", "VEUVE", "VVE", "VEUF", "DIVORCEE", "DIV")
_BIRTH_MARKERS = ("NEE",)

_LIGATURES = {"ß": "SS", "ẞ": "SS", "œ": "OE", "Œ": "OE", "æ": "AE", "Æ": "AE"}
_APOSTROPHES = re.compile(r"['’‘`´ʼ]")
_NON_LETTERS = re.compile(r"[^A-Z]+")
_POSTPOSED = re.compile(r"^(.*[^ ])\s*\(\s*(DE LA|DE L|DE|DU|DES|LE|LA|LES|L|D)\s*\)\s*$")
_FIRST_NAME_SEPARATORS = re.compile(r"[,;/]")


def _fold(text: str) -> str:
    # NFKC first, as the SQL does (app_nfkc): compatibility characters (fullwidth letters,
    # ligatures, long s...) become plain letters before the ligatures are spelled out
    text = unicodedata.normalize("NFKC", text)
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


def canonical_first_name(name: str | None, variants: Mapping[str, str] | None = None
                         ) -> str | None:
    """Map a normalised first name to its canonical transliteration.

    Args:
        name: a normalised first name (one element of :func:`normalise_first_names`).
        variants: a lookup from :func:`load_first_name_variants`; default the bundled table
            (:data:`FIRST_NAME_VARIANTS`).

    Returns:
        The canonical spelling when the name without spaces is in the table (as a variant or a
        canonical), else ``name`` unchanged; None for None.

    Examples:
        >>> canonical_first_name("MUHAMMAD"), canonical_first_name("ABDEL KADER")
        ('MOHAMED', 'ABDELKADER')
        >>> canonical_first_name("PAUL"), canonical_first_name("JEAN PIERRE")
        ('PAUL', 'JEAN PIERRE')
    """
    if name is None:
        return None
    lookup = FIRST_NAME_VARIANTS if variants is None else variants
    return lookup.get(name.replace(" ", ""), name)


def first_name_head(name: str | None, variants: Mapping[str, str] | None = None
                    ) -> str | None:
    """The canonical first word of a (compound) first name, to compare ``JEAN PIERRE`` with
    ``JEAN``.

    A name the table knows as a whole (``ABDEL KADER`` is ``ABDELKADER``) gives its canonical;
    otherwise the first word's canonical.

    Examples:
        >>> first_name_head("MOHAMMED ALI"), first_name_head("JEAN PIERRE")
        ('MOHAMED', 'JEAN')
        >>> first_name_head("ABDEL KADER"), first_name_head("FATMA")
        ('ABDELKADER', 'FATIMA')
    """
    if name is None:
        return None
    lookup = FIRST_NAME_VARIANTS if variants is None else variants
    whole = lookup.get(name.replace(" ", ""))
    if whole is not None:
        return whole
    head = name.split(" ", 1)[0]
    return lookup.get(head, head)


# --- first-name variants tables --------------------------------------------------------------

#: the bundled table of first-name variants
FIRST_NAME_VARIANTS_FILE = Path(__file__).with_name("data") / "first_name_variants.csv"
_VARIANT_COLUMNS = ("canonical", "variant")


def _is_missing(value) -> bool:  # None, NaN, pandas NA
    return value is None or (isinstance(value, float) and value != value) \
        or type(value).__name__ in ("NAType", "NaTType")


def _key(value) -> str:
    if _is_missing(value):
        return ""
    return (clean_text(str(value)) or "").replace(" ", "")


def read_first_name_variants(source) -> list[tuple[str, str, str]]:
    """Read a first-name variants table: a CSV path or a pandas DataFrame with the columns
    ``canonical`` and ``variant`` (``group`` optional, default ``"user"``).

    Values are folded as :func:`clean_text` does and spaces removed (``Abdel Kader`` ->
    ``ABDELKADER``), so a user table may be typed naturally.

    Returns:
        ``(canonical, variant, group)`` rows, in the source's order.

    Raises:
        SchemaError: a required column is missing (the message names the file and column).
        InputError: the file cannot be read, a row has an empty canonical or variant, or one
            variant is given two canonicals (rows are named by number, never by value).
        ConfigError: ``source`` is neither a path nor a DataFrame.
    """
    label, records = _records(source)
    columns = records[0] if records else []
    missing = [c for c in _VARIANT_COLUMNS if c not in columns]
    if missing:
        raise SchemaError(f"first-name variants {label} lacks column(s) {', '.join(missing)}; "
                          "expected canonical,variant,group", table=label, column=missing[0])
    i_canon, i_variant = columns.index("canonical"), columns.index("variant")
    i_group = columns.index("group") if "group" in columns else None
    rows: list[tuple[str, str, str]] = []
    seen: dict[str, tuple[str, int]] = {}
    for number, record in enumerate(records[1:], start=2):  # row 1 is the header
        if not any(_key(v) for v in record):
            continue  # blank line
        canon = _key(record[i_canon]) if i_canon < len(record) else ""
        variant = _key(record[i_variant]) if i_variant < len(record) else ""
        if not canon or not variant:
            raise InputError(f"first-name variants {label}, row {number}: empty canonical or "
                             "variant after folding to letters", table=label,
                             column="canonical" if not canon else "variant")
        group = "user"
        if i_group is not None and i_group < len(record) and not _is_missing(record[i_group]):
            group = str(record[i_group]).strip() or "user"
        if variant in seen and seen[variant][0] != canon:
            raise InputError(f"first-name variants {label}: rows {seen[variant][1]} and "
                             f"{number} give one variant two canonicals", table=label,
                             column="variant")
        seen.setdefault(variant, (canon, number))
        rows.append((canon, variant, group))
    return rows


def _label(source) -> str:
    return f"file {Path(source).name!r}" if isinstance(source, (str, Path)) else "DataFrame"


def _records(source) -> tuple[str, list[list]]:
    """(label for messages, [header, *rows]) of a CSV path or a DataFrame."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        label = _label(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read first-name variants {label} ({type(exc).__name__}); "
                             "give a UTF-8 CSV with columns canonical,variant,group",
                             table=label) from None
        try:
            records = list(csv.reader(io.StringIO(text)))
        except csv.Error:  # its message may quote the line: not repeated
            raise InputError(f"cannot parse first-name variants {label} as CSV; check its "
                             "quoting", table=label) from None
        if records:
            records[0] = [c.strip().lower() for c in records[0]]
        return label, records
    if hasattr(source, "columns") and hasattr(source, "itertuples"):  # a pandas DataFrame
        columns = [str(c).strip().lower() for c in source.columns]
        return "DataFrame", [columns, *(list(r) for r in source.itertuples(index=False))]
    raise ConfigError("first_name_variants must be a CSV path or a pandas DataFrame with "
                      f"columns canonical,variant,group, got {type(source).__name__}")


def load_first_name_variants(extra=None) -> dict[str, str]:
    """The lookup used by :func:`canonical_first_name`: the bundled table, plus ``extra``.

    Args:
        extra: optional user table (CSV path or DataFrame, see
            :func:`read_first_name_variants`). Its rows override the bundled ones: a variant
            given by the user takes the user's canonical, a user canonical is never itself
            mapped by a bundled row, and a row whose variant equals its canonical removes that
            name's bundled mapping. Chains are followed, so every name maps to a final
            canonical (``MOHAMMED`` follows ``MOHAMED`` if the user maps ``MOHAMED``).

    Returns:
        ``{name: canonical}`` for every variant and every canonical (a canonical maps to
        itself), keys and values folded upper-case letters without spaces.

    Raises:
        SchemaError, InputError: see :func:`read_first_name_variants`; InputError also when
            the user's rows form a cycle.
    """
    mapping = {variant: canon for canon, variant, _ in _BUNDLED_ROWS}
    names = set(mapping.values())  # canonicals, which map to themselves
    if extra is not None:
        user = {variant: canon for canon, variant, _ in read_first_name_variants(extra)}
        terminal = set(user) | set(user.values())
        mapping = {k: v for k, v in mapping.items() if k not in terminal}
        mapping.update({k: v for k, v in user.items() if k != v})
        names |= terminal
    resolved: dict[str, str] = {}
    for name in mapping:
        seen, current = {name}, mapping[name]
        while current in mapping:
            if current in seen:
                raise InputError(f"first-name variants {_label(extra)}: the rows form a "
                                 "cycle (a name is, through other rows, a variant of itself)",
                                 table=_label(extra), column="variant")
            seen.add(current)
            current = mapping[current]
        resolved[name] = current
    lookup = {name: name for name in names if name not in resolved}
    lookup.update(resolved)
    return lookup


_BUNDLED_ROWS = read_first_name_variants(FIRST_NAME_VARIANTS_FILE)

#: the bundled lookup: every variant and canonical (folded, no spaces) -> canonical spelling
FIRST_NAME_VARIANTS: dict[str, str] = load_first_name_variants()

#: session table holding the bundled lookup (``variant``, ``canonical``), created by
#: :func:`appariement.identity.register_sql_functions`
VARIANTS_TABLE = "app_first_name_variants"


def create_variants_table(con, name: str, lookup: Mapping[str, str]) -> str:
    """Create (or replace) the session-only table ``name`` (``variant`` -> ``canonical``) of a
    lookup on ``con``; returns ``name``. A TEMP table: it never lands in a database file."""
    keys, values = list(lookup), list(lookup.values())
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS "
                "SELECT unnest(?::VARCHAR[]) AS variant, unnest(?::VARCHAR[]) AS canonical",
                [keys, values])
    return name


# --- SQL (DuckDB macros) -------------------------------------------------------------------

def nfkc_arrow(values):
    """``app_nfkc``: NFKC of each value of an Arrow string array (the SQL calls it only for
    non-ASCII values); nulls stay null."""
    import pyarrow as pa

    return pa.array([v if v is None or v.isascii() else unicodedata.normalize("NFKC", v)
                     for v in values.to_pylist()], pa.string())


def register_nfkc_udf(con) -> None:
    """Register ``app_nfkc(VARCHAR) -> VARCHAR`` on ``con`` (used by ``app_fold``)."""
    import duckdb

    try:
        con.create_function("app_nfkc", nfkc_arrow, ["VARCHAR"], "VARCHAR", type="arrow",
                            null_handling="special", side_effects=False)
    except duckdb.NotImplementedException:  # already registered on this connection
        pass


#: NFKC first (fullwidth ``ＭＡＲＴＩＮ``, ligature ``ﬁ``, ``ſ``... become their plain letters, as
#: the NFKD of :func:`_fold` does in Python; DuckDB's strip_accents does not), computed only for
#: values with a non-ASCII character (byte length differs from character length)
_SQL_NFKC = ("CASE WHEN strlen(CAST(x AS VARCHAR)) = length(CAST(x AS VARCHAR)) "
             "THEN CAST(x AS VARCHAR) ELSE app_nfkc(CAST(x AS VARCHAR)) END")

_SQL_FOLD = r"""regexp_replace(strip_accents(upper(replace(replace(replace(replace(replace(
    replace(""" + _SQL_NFKC + r""", 'ß', 'SS'), 'ẞ', 'SS'), 'œ', 'OE'), 'Œ', 'OE'), 'æ', 'AE'),
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
        lambda acc, t: CASE WHEN list_contains({sql_list(PARTICLES, brackets=True)},
                                               regexp_extract(acc, '([A-Z]+)$', 1))
                       THEN acc || t ELSE acc || ' ' || t END) END"""),
    "app_name_norm": ("x", r"""app_glue_particles(app_clean_text(regexp_replace(
        regexp_replace(app_fold(x), '\s+', ' ', 'g'),
        '^(.*[^ ])\s*\(\s*(DE LA|DE L|DE|DU|DES|LE|LA|LES|L|D)\s*\)\s*$', '\2 \1')))"""),
    # "<birth> EPOUSE <usage>" / "<usage> NEE <birth>": the raw parts of a name, from its
    # cleaned text ``c`` (struct(birth, usage, plain); plain is the name as given, ``x``)
    "app_name_parts": ("c, x", f"""CASE
        WHEN regexp_matches(c, '^[A-Z ]*[A-Z] ({_B}) [A-Z]')
        THEN {{'birth': regexp_extract(c, ' (?:{_B}) (.*)$', 1),
              'usage': regexp_extract(c, '^(.*?) (?:{_B}) ', 1), 'plain': NULL::VARCHAR}}
        WHEN regexp_matches(c, '^[A-Z ]*[A-Z] ({_S}) [A-Z]')
        THEN {{'birth': regexp_extract(c, '^(.*?) (?:{_S}) ', 1),
              'usage': regexp_extract(c, '^.*? (?:{_S}) (.*)$', 1), 'plain': NULL::VARCHAR}}
        ELSE {{'birth': NULL::VARCHAR, 'usage': NULL::VARCHAR, 'plain': CAST(x AS VARCHAR)}}
        END"""),
    # the normalised forms of the parts (standardise_identities computes the parts first, in a
    # step of their own: nested, the macros take DuckDB seconds to plan)
    # (the lambda binds the parts once: repeated, they take DuckDB seconds to plan)
    "app_name_forms": ("x", """list_transform([app_name_parts(app_clean_text(x), x)],
        lambda p: {'birth': app_name_norm(p.birth), 'usage': app_name_norm(p.usage),
                   'plain': app_name_norm(p.plain)})[1]"""),
    "app_first_names": ("x", r"""CASE WHEN x IS NULL THEN []::VARCHAR[] ELSE
        list_filter(list_transform(
            CASE WHEN regexp_matches(app_fold(x), '[,;/]')
                 THEN regexp_split_to_array(app_fold(x), '[,;/]')
                 ELSE regexp_split_to_array(trim(app_fold(x)), '\s+') END,
            lambda p: app_clean_text(p)), lambda p: p IS NOT NULL) END"""),
    # the bundled variants, from the session table VARIANTS_TABLE (a scalar subquery: not
    # usable inside a lambda; standardise_identities joins the table instead)
    "app_first_name_canon": ("x", f"""coalesce((SELECT v.canonical FROM {VARIANTS_TABLE} v
        WHERE v.variant = replace(x, ' ', '')), x)"""),
    "app_first_name_head": ("x", f"""coalesce(
        (SELECT v.canonical FROM {VARIANTS_TABLE} v WHERE v.variant = replace(x, ' ', '')),
        (SELECT v.canonical FROM {VARIANTS_TABLE} v WHERE v.variant = split_part(x, ' ', 1)),
        split_part(x, ' ', 1))"""),
}
