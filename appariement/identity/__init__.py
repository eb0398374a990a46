"""Traits d'identité: NIR, names, dates, sex and places turned into comparable features.

Entry point: :func:`standardise_identities` turns a platform (``candidats``) or source
(``personnes``) table into the canonical feature table used by blocking and linkage:

=========================  ====================================================================
column                     meaning
=========================  ====================================================================
record_id                  candidat_id / person_id (or ``id_column``), as text
nir                        compacted NIR, NULL when missing or blank
nir_class                  'nir' | 'temporary' (7/8) | 'foreign_born' (dept 99) | 'invalid' | NULL
nir_valid                  format, key and parts valid (False when missing)
nir_sex/_year/_month/_dept parts of a valid NIR (sex 1/2; dept 2-3 chars, 99 abroad)
nir_*_ok                   NIR agrees with the declared sex / year / month / place (NULL: not
                           checkable), see :mod:`.consistency`
nir_consistency            'consistent' | 'inconsistent' | 'unverifiable' | 'no_nir' | 'invalid';
                           only a 'consistent' NIR should be trusted for an exact match
birth_name, usage_name     normalised names (:mod:`.names`); usage NULL when equal to birth
\\*_phon                    Soundex2 codes (:mod:`.phonetic`)
first_names                ordered list; a hyphenated compound is ONE element "JEAN PIERRE"
first_name(_phon/_canon)   first element, its code, its canonical transliteration (bundled
                           variants table plus ``first_name_variants``, see :mod:`.names`)
first_names_joined         all first names joined by a space ("Jean Pierre" = "Jean-Pierre")
sex                        '1' | '2' | NULL
birth_year/_month/_day     integers, NULL when unknown; birth_date only when a real date
birth_date_placeholder     day/month unknown, or 01/01 or 31/12
birth_date_status          how the birth date was read: 'ok' (full date, day first or ISO),
                           'partial' (day or month unknown), 'us_order' (read as MM/DD/YYYY,
                           the only possible reading), 'two_digit_year' (century from
                           ``year_pivot``), 'unparsed' (no accepted form or an impossible part;
                           the date parts are then NULL), 'from_nir' (no date declared: year
                           and month read from a valid NIR, century from ``year_pivot``; the
                           NIR checks still use the declared traits only); NULL when missing
                           or blank. Counted by :func:`birth_date_summary`
first_name_head            canonical first word of ``first_name`` ("MOHAMMED ALI" -> "MOHAMED",
                           "JEAN PIERRE" -> "JEAN"), or the canonical of the whole name when
                           the table knows it ("ABDEL KADER" -> "ABDELKADER"): compares a
                           compound first name with its first part
birth_dept                 '01'..'95', '2A'/'2B' ('20' for old Corsican codes), '971'.., '99'
birth_commune              5-char INSEE commune code
birth_country              INSEE country code; France is '99100'; NULL unknown
born_abroad                birth_country <> '99100' (NULL when unknown)
postcode, residence_dept   5-digit postcode, department of residence (Corsica split 2A/2B)
address, residence_city    street address and town of residence (``adresse``,
                           ``commune_residence``), cleaned text; NULL when absent
=========================  ====================================================================

:func:`register_sql_functions` registers the ``app_`` SQL macros (``app_phonetic`` included) so
other modules can use them in their own SQL.
"""

from ._sql import SQL_FUNCTION_NAMES, register_sql_functions
from .consistency import NIRConsistency, check_nir_consistency
from .dates import BirthDate, birth_date_summary, parse_birth_date
from .names import (NameForms, canonical_first_name, clean_text, first_name_head,
                    load_first_name_variants, normalise_first_names, normalise_name,
                    split_name_forms)
from .phonetic import phonetic_code, soundex2
from .places import (department_of_commune, department_of_postcode, normalise_commune,
                     normalise_country, normalise_postcode)
from .sex import normalise_sex
from .standardise import FEATURE_COLUMNS, standardise_identities

__all__ = [
    "standardise_identities", "register_sql_functions", "FEATURE_COLUMNS", "SQL_FUNCTION_NAMES",
    "check_nir_consistency", "NIRConsistency", "parse_birth_date", "BirthDate",
    "birth_date_summary",
    "normalise_name", "normalise_first_names", "split_name_forms", "NameForms",
    "canonical_first_name", "first_name_head", "load_first_name_variants", "clean_text",
    "soundex2", "phonetic_code", "normalise_sex",
    "normalise_commune", "department_of_commune", "normalise_postcode", "department_of_postcode",
    "normalise_country",
]
