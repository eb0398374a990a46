"""One entry point: a raw identity table (platform or source) -> the canonical feature table.

Everything is DuckDB SQL (the ``app_`` macros of :func:`register_sql_functions`) except the
phonetic code, an Arrow-vectorised UDF that encodes each distinct name once.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from .._log import get_logger
from .._tables import fresh_name, as_relation, temp_view
from .._tables import quote_identifier as _quote
from ..errors import ConfigError, SchemaError
from ._sql import register_sql_functions
from .dates import DEFAULT_YEAR_PIVOT, _check_pivot
from .names import VARIANTS_TABLE, create_variants_table, load_first_name_variants

__all__ = ["standardise_identities", "FEATURE_COLUMNS"]

_log = get_logger(__name__)

#: columns of the canonical feature table, in order (``first_names_joined`` is an extra:
#: all first names joined by a space, equal for "Jean Pierre" and "Jean-Pierre")
FEATURE_COLUMNS = (
    "record_id", "nir", "nir_class", "nir_valid", "nir_sex", "nir_year", "nir_month", "nir_dept",
    "nir_sex_ok", "nir_year_ok", "nir_month_ok", "nir_place_ok", "nir_consistency",
    "birth_name", "usage_name", "birth_name_phon", "usage_name_phon",
    "first_names", "first_name", "first_name_phon", "first_name_canon",
    "sex", "birth_year", "birth_month", "birth_day", "birth_date", "birth_date_placeholder",
    "birth_dept", "birth_commune", "birth_country", "born_abroad", "postcode", "residence_dept",
    "first_names_joined", "birth_date_status", "first_name_head", "address", "residence_city",
    "birth_date_digits", "address_key", "address_street", "address_number",
)

#: words of an address that name a kind of street, not a street (French and the English of
#: FEBRL-like files), and the particles and suffixes around them: removed from
#: ``address_street`` ("12 bis rue de la Paix" -> "PAIX")
_STREET_WORDS = (
    "RUE", "R", "AVENUE", "AV", "AVE", "BOULEVARD", "BD", "BLD", "BLVD", "ALLEE", "ALL", "CHEMIN",
    "CHE", "CH", "IMPASSE", "IMP", "PLACE", "PL", "ROUTE", "RTE", "QUAI", "COURS", "CRS",
    "RESIDENCE", "RES", "LIEU", "DIT", "HAMEAU", "HAM", "SQUARE", "SQ", "PASSAGE", "PAS", "VOIE",
    "CITE", "LOTISSEMENT", "LOT", "FAUBOURG", "FG", "PROMENADE", "SENTIER", "VILLA", "ZA", "ZI",
    "BIS", "TER", "QUATER", "DE", "DU", "DES", "LA", "LE", "LES", "D", "L", "ET", "AUX",
    "STREET", "ST", "ROAD", "RD", "DRIVE", "DR", "CRESCENT", "CRES", "CIRCUIT", "CCT", "CLOSE",
    "CL", "COURT", "CT", "LANE", "LN", "WAY", "PARADE", "TERRACE", "TCE", "HIGHWAY", "HWY",
    "GROVE", "GR", "THE", "OF",
)

# side -> (table, id column, column holding the birth name, column holding the usage name,
#          columns of which at least one must be present: a surname or a key — the minimum
#          input of a linkage; every other identity column is optional)
_SIDES = {
    "platform": ("candidats", "candidat_id", "nom_naissance", "nom",
                 ("nom", "nom_naissance", "nir", "hash_nir")),
    "source": ("personnes", "person_id", "nom_naissance", "nom_usage",
               ("nom_naissance", "nom_usage", "nir", "hash_nir")),
}
#: opaque pre-hashed keys (``hash_nir``: SHA-256 of NIR + salt, as the platform's warehouse
#: writes it) carried through, lowercased, after :data:`FEATURE_COLUMNS` when the input has
#: them: an exact-stage key compared by equality only, never parsed as a NIR
OPAQUE_KEYS = ("hash_nir",)
_OPTIONAL = ("nir", "nom", "nom_naissance", "nom_usage", "sexe", "date_naissance",
             "commune_naissance", "pays_naissance", "code_postal", "adresse",
             "commune_residence")


def standardise_identities(con: duckdb.DuckDBPyConnection, data, side: str = "platform",
                           id_column: str | None = None, *,
                           year_pivot: int = DEFAULT_YEAR_PIVOT,
                           first_name_variants=None) -> duckdb.DuckDBPyRelation:
    """Standardise an identity table into the canonical feature table used by blocking/linkage.

    Args:
        con: DuckDB connection (the ``app_`` functions are registered on it).
        data: DuckDB relation, pandas DataFrame, Arrow table or Parquet/CSV path, with the
            contract columns of ``candidats`` (platform) or ``personnes`` (source). Optional
            columns (``nir``, ``nom_naissance``, ``nom_usage``, ``sexe``, dates, places) may be
            absent and are then treated as missing.
        side: ``"platform"`` or ``"source"``.
        id_column: record key; default ``candidat_id`` (platform) / ``person_id`` (source).
        year_pivot: two-digit birth years ``yy <= year_pivot`` are ``20yy``, the others
            ``19yy`` (default 10, for files about adults; see :mod:`.dates`). Such dates get
            ``birth_date_status = 'two_digit_year'``.
        first_name_variants: optional CSV path or DataFrame (columns ``canonical,variant``,
            ``group`` optional) adding to or overriding the bundled first-name variants used
            for ``first_name_canon`` and ``first_name_head`` (see
            :func:`appariement.identity.names.load_first_name_variants`). Its lookup is held
            in a session-only table for as long as the connection lives.

    Returns:
        A lazy DuckDB relation with one row per input row and the columns of
        :data:`FEATURE_COLUMNS` (see the package docstring for their meaning). Materialise it
        (``.to_table(name)``) before using it several times on large data.

    Raises:
        ConfigError: unknown ``side``, or ``year_pivot`` not an integer from 0 to 99.
        SchemaError: the id column or a required name column is missing, or the
            ``first_name_variants`` table lacks a column.
        InputError: the ``first_name_variants`` table has an empty or conflicting row.

    Examples:
        >>> import duckdb, pandas as pd
        >>> con = duckdb.connect()
        >>> df = pd.DataFrame({"candidat_id": ["c1"], "nom": ["Martin née Dupont"],
        ...                    "prenoms": ["Jean-Pierre, Marie"], "sexe": ["M"],
        ...                    "date_naissance": ["14/07/1989"]})
        >>> row = standardise_identities(con, df, "platform").fetchall()[0]
        >>> row[13:15], row[17]
        (('DUPONT', 'MARTIN'), ['JEAN PIERRE', 'MARIE'])
    """
    if side not in _SIDES:
        raise ConfigError(f"side must be 'platform' or 'source', got {side!r}")
    table, default_id, birth_col, usage_col, required = _SIDES[side]
    id_col = id_column or default_id
    pivot = _check_pivot(year_pivot)
    register_sql_functions(con)
    variants = VARIANTS_TABLE
    if first_name_variants is not None:
        variants = create_variants_table(con, fresh_name("first_name_variants"),
                                         load_first_name_variants(first_name_variants))
    if isinstance(data, (str, Path)):
        # a file is read by the guarded reader: no field value in a read error, per-line
        # encoding detection, NIR spreadsheet damage repaired or refused (see appariement.io)
        from ..io.guard import read_text_table
        data = read_text_table(data, what=f"table {table!r}")
    rel = as_relation(con, data, name=table)
    present = set(rel.columns)
    if id_col not in present:
        raise SchemaError(f"table {table!r} lacks its id column {id_col!r}; rename it in the "
                          "configuration mapping", table=table, column=id_col)
    if not present & set(required):
        raise SchemaError(f"table {table!r} has neither a surname nor a key (one of "
                          f"{', '.join(required)}): the minimum input is an id plus a surname, "
                          "or an id plus a key; rename them in the configuration mapping",
                          table=table, column=required[0])
    view = fresh_name(f"{side}_identities")
    temp_view(rel, view)

    def col(name: str) -> str:
        return _quote(name) if name in present else "NULL::VARCHAR"

    opaque = [k for k in OPAQUE_KEYS if k in present]
    opaque_raw = "".join(f",\n               lower(nullif(trim(CAST({_quote(k)} AS VARCHAR)), ''))"
                         f" AS {_quote(k)}" for k in opaque)
    opaque_out = "".join(f", {_quote(k)}" for k in opaque)
    # Names repeat a lot: normalise and encode each DISTINCT raw value once, then join back.
    sql = f"""
    WITH raw AS (
        SELECT CAST({_quote(id_col)} AS VARCHAR) AS record_id,
               app_nir_compact({col('nir')}) AS nir,
               CAST({col(birth_col)} AS VARCHAR) AS birth_raw,
               CAST({col(usage_col)} AS VARCHAR) AS usage_raw,
               CAST({col('prenoms')} AS VARCHAR) AS first_raw,
               app_sex({col('sexe')}) AS sex,
               app_date_text({col('date_naissance')}) AS date_text,
               app_commune({col('commune_naissance')}) AS commune_raw,
               app_country({col('pays_naissance')}) AS country_raw,
               app_postcode({col('code_postal')}) AS postcode,
               app_dept_of_postcode({col('code_postal')}) AS residence_dept,
               -- the street number is part of an address: letters and digits kept
               nullif(trim(regexp_replace(app_fold({col('adresse')}), '[^A-Z0-9]+', ' ', 'g')),
                      '') AS address,
               app_clean_text({col('commune_residence')}) AS residence_city{opaque_raw}
        FROM {_quote(view)}
    ), date_texts AS MATERIALIZED (
        -- dates are read once per distinct text, one macro per materialised step: nested,
        -- the three macros repeat their argument and DuckDB takes seconds to plan them
        SELECT DISTINCT date_text FROM raw WHERE date_text IS NOT NULL
    ), dates1 AS MATERIALIZED (
        SELECT date_text, app_date_raw(date_text, {pivot}) AS date_raw FROM date_texts
    ), dates2 AS MATERIALIZED (
        SELECT *, app_date_checked(date_raw) AS date_checked FROM dates1
    ), dates AS MATERIALIZED (
        SELECT *, app_date_final(date_checked) AS d FROM dates2
    ), surname_parts AS MATERIALIZED (
        SELECT raw_v, app_name_parts(app_clean_text(raw_v), raw_v) AS p
        FROM (SELECT birth_raw AS raw_v FROM raw WHERE birth_raw IS NOT NULL
              UNION SELECT usage_raw FROM raw WHERE usage_raw IS NOT NULL)
    ), surname_forms AS MATERIALIZED (
        -- app_name_forms, one step at a time (see dates above)
        SELECT raw_v, app_name_norm(p.birth) AS birth, app_name_norm(p.usage) AS usage,
               app_name_norm(p.plain) AS plain
        FROM surname_parts
    ), surnames AS MATERIALIZED (
        SELECT raw_v, f.birth, f.usage, f.plain,
               app_phonetic(f.birth) AS birth_phon, app_phonetic(f.usage) AS usage_phon,
               app_phonetic(f.plain) AS plain_phon
        FROM surname_forms f
    ), firsts AS (
        -- canonical of the whole first name (spaces ignored), else of its first word (head)
        SELECT f.raw_v, f.names AS first_names, f.names[1] AS first_name,
               app_phonetic(f.names[1]) AS first_name_phon,
               coalesce(vw.canonical, f.names[1]) AS first_name_canon,
               coalesce(vw.canonical, vh.canonical, split_part(f.names[1], ' ', 1))
                   AS first_name_head
        FROM (SELECT raw_v, app_first_names(raw_v) AS names
              FROM (SELECT DISTINCT first_raw AS raw_v FROM raw WHERE first_raw IS NOT NULL)) f
        LEFT JOIN {variants} vw ON vw.variant = replace(f.names[1], ' ', '')
        LEFT JOIN {variants} vh ON vh.variant = split_part(f.names[1], ' ', 1)
    ), src AS (
        SELECT raw.*, dt.date_raw, dt.date_checked, dt.d AS d_,
               {{'birth': b.birth, 'usage': b.usage, 'plain': b.plain}} AS bf,
               {{'birth': u.birth, 'usage': u.usage, 'plain': u.plain}} AS uf,
               coalesce(b.birth_phon, b.plain_phon, u.birth_phon, u.plain_phon) AS birth_phon_,
               coalesce(u.usage_phon, u.plain_phon, b.usage_phon) AS usage_phon_any,
               coalesce(fi.first_names, []::VARCHAR[]) AS first_names,
               fi.first_name, fi.first_name_phon, fi.first_name_canon, fi.first_name_head
        FROM raw
        LEFT JOIN dates dt ON raw.date_text = dt.date_text
        LEFT JOIN surnames b ON raw.birth_raw = b.raw_v
        LEFT JOIN surnames u ON raw.usage_raw = u.raw_v
        LEFT JOIN firsts fi ON raw.first_raw = fi.raw_v
    ), s1 AS (
        SELECT *,
               app_nir_is_valid(nir) AS nir_valid_,
               coalesce(bf.birth, bf.plain, uf.birth, uf.plain) AS birth_name,
               coalesce(uf.usage, uf.plain, bf.usage) AS usage_any,
               CASE WHEN commune_raw NOT LIKE '99%' THEN commune_raw END AS birth_commune,
               coalesce(country_raw,
                        CASE WHEN commune_raw LIKE '99%' THEN commune_raw END,
                        CASE WHEN commune_raw IS NOT NULL THEN '99100' END) AS birth_country
        FROM src
    ), s2 AS (
        SELECT *,
               d_ AS d,
               CASE WHEN nir_valid_ THEN CASE WHEN substr(nir, 1, 1) IN ('1', '7') THEN '1'
                    ELSE '2' END END AS nir_sex,
               CASE WHEN nir_valid_ THEN substr(nir, 2, 2) END AS nir_year,
               CASE WHEN nir_valid_ THEN substr(nir, 4, 2) END AS nir_month,
               CASE WHEN nir_valid_ THEN app_dept_of_commune(substr(nir, 6, 5)) END AS nir_dept,
               CASE WHEN nir_valid_ THEN substr(nir, 6, 5) END AS nir_place,
               CASE WHEN birth_country IS NOT NULL THEN birth_country <> '99100' END
                   AS born_abroad
        FROM s1
    ), s3 AS (
        SELECT *,
               CASE WHEN born_abroad THEN '99'
                    WHEN birth_commune IS NOT NULL THEN app_dept_of_commune(birth_commune)
                    END AS birth_dept
        FROM s2
    ), s4 AS (
        SELECT *,
               app_nir_sex_ok(nir_sex, sex) AS nir_sex_ok,
               app_nir_year_ok(nir_year, d.year) AS nir_year_ok,
               app_nir_month_ok(nir_month, d.month, d.placeholder) AS nir_month_ok,
               app_nir_place_ok(nir_dept, nir_place, birth_dept, birth_country, d.year)
                   AS nir_place_ok,
               (d.status IS NULL AND coalesce(nir_valid_, FALSE)
                AND substr(nir, 1, 1) IN ('1', '2', '3', '4')) AS from_nir
        FROM s3
    )
    SELECT record_id,
           nir,
           CASE WHEN nir IS NULL THEN NULL WHEN NOT nir_valid_ THEN 'invalid'
                WHEN substr(nir, 1, 1) IN ('7', '8') THEN 'temporary'
                WHEN substr(nir, 6, 2) = '99' THEN 'foreign_born' ELSE 'nir' END AS nir_class,
           coalesce(nir_valid_, false) AS nir_valid,
           nir_sex, nir_year, nir_month, nir_dept,
           nir_sex_ok, nir_year_ok, nir_month_ok, nir_place_ok,
           app_nir_consistency(nir, nir_valid_, nir_sex_ok, nir_year_ok, nir_month_ok,
                               nir_place_ok) AS nir_consistency,
           birth_name,
           CASE WHEN usage_any IS DISTINCT FROM birth_name THEN usage_any END AS usage_name,
           birth_phon_ AS birth_name_phon,
           CASE WHEN usage_any IS DISTINCT FROM birth_name THEN usage_phon_any END
               AS usage_name_phon,
           first_names, first_name, first_name_phon, first_name_canon,
           sex,
           -- no declared date at all: the NIR's year and month are a reading of it (a valid,
           -- non-temporary NIR; century from the year pivot; month only when 01-12).
           -- nir_consistency above still compares the NIR with the *declared* traits only
           coalesce(d.year, CASE WHEN from_nir THEN CAST(nir_year AS INTEGER)
                                     + CASE WHEN CAST(nir_year AS INTEGER) <= {pivot}
                                            THEN 2000 ELSE 1900 END END) AS birth_year,
           CASE WHEN from_nir THEN CASE WHEN nir_month BETWEEN '01' AND '12'
                                        THEN CAST(nir_month AS INTEGER) END
                ELSE d.month END AS birth_month,
           d.day AS birth_day,
           CASE WHEN d.day IS NOT NULL
                     AND d.day <= day(last_day(make_date(d.year, d.month, 1)))
                THEN make_date(d.year, d.month, d.day) END AS birth_date,
           CASE WHEN from_nir THEN TRUE ELSE d.placeholder END AS birth_date_placeholder,
           birth_dept, birth_commune, birth_country, born_abroad, postcode, residence_dept,
           array_to_string(first_names, ' ') AS first_names_joined,
           CASE WHEN from_nir THEN 'from_nir' ELSE d.status END AS birth_date_status,
           first_name_head,
           address, residence_city,
           -- the date as written, YYYYMMDD, even when a part is impossible ("19175009": the
           -- month's digits swapped): one typed digit apart is still evidence
           CASE WHEN date_raw.k IN ('dmy', 'us', 'ymd', 'yy')
                     AND date_raw.y BETWEEN 0 AND 9999 AND date_raw.m BETWEEN 0 AND 99
                     AND date_raw.d BETWEEN 0 AND 99
                THEN printf('%04d%02d%02d', date_raw.y, date_raw.m, date_raw.d)
                END AS birth_date_digits,
           -- the address without spaces: "MACKIECRESCENT" is "MACKIE CRESCENT" (blocking)
           nullif(replace(address, ' ', ''), '') AS address_key,
           -- the street's name: no number, no kind of street, no spaces (same street,
           -- another number or none)
           nullif(array_to_string(list_filter(string_split(address, ' '), lambda w:
                      NOT regexp_full_match(w, '[0-9]+[A-Z]?')
                      AND NOT list_contains({list(_STREET_WORDS)!r}, w)), ''), '')
               AS address_street,
           -- the house number ("12 bis rue de la Paix" -> "12"): the same number on another
           -- or a missing street is evidence, and a blocking key with the postcode
           nullif(regexp_extract(address, '(?:^| )([0-9]+)[A-Z]?(?: |$)', 1), '')
               AS address_number{opaque_out}
    FROM s4
    """
    out = con.sql(sql)
    _log.debug("standardise_identities: side=%s, %d input columns", side, len(present))
    return out
