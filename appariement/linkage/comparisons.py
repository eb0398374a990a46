"""Comparisons for French identities, declared once and rendered to SQL for any backend.

Each comparison is a Splink ``CustomComparison`` whose levels are :class:`SqlLevel` objects: a SQL
template over the standardised identity features (see :func:`appariement.identity.standardise_identities`)
with placeholders for the functions whose names differ between DuckDB and Spark
(``{jw}`` Jaro-Winkler, ``{dl}`` Damerau-Levenshtein, ``{has_any}`` arrays overlap,
``{contains}`` array contains). Levels go from most to least specific, as Splink requires.

What French identities need, and where it is handled:

- birth name vs usage name (married women): :func:`surname_comparison` compares the candidate's
  birth and usage names with the source person's birth *and* usage names, crosswise;
- compound and multiple first names (Jean-Pierre / Jean Pierre / Jean): :func:`first_name_comparison`
  has "first of one among the other's first names" and "any first name in common" levels;
- name / first-name inversion: a level in both name comparisons;
- partial dates (born abroad: 01/01 placeholders, unknown day) and day/month swaps:
  :func:`birth_date_comparison`;
- common surnames weigh less: term-frequency adjustment on exact name levels.

Every comparison can be replaced: :func:`default_comparisons` returns a plain list the user may edit,
and any Splink comparison creator is accepted by :class:`appariement.linkage.LinkageModel`.
"""

from __future__ import annotations

# internal: Splink 5's public level library has no level for a SQL condition over several
# columns (key checks, swapped names, date parts); SqlLevel is one, written as Splink's own
# levels are (a ComparisonLevelCreator rendering SQL for a dialect)
from splink.internals.comparison_level_creator import ComparisonLevelCreator
from splink.internals.dialects import SplinkDialect
import splink.comparison_library as cl

__all__ = [
    "SqlLevel",
    "null_level",
    "else_level",
    "surname_comparison",
    "first_name_comparison",
    "birth_date_comparison",
    "sex_comparison",
    "birth_place_comparison",
    "residence_comparison",
    "address_comparison",
    "residence_city_comparison",
    "key_comparison",
    "default_comparisons",
    "comparisons_for",
    "COMPARISON_COLUMNS",
    "COMPARISON_NEEDS",
]

#: feature columns the default comparisons read (all produced by standardise_identities)
COMPARISON_COLUMNS = (
    "birth_name", "usage_name", "birth_name_phon", "usage_name_phon",
    "first_name", "first_names", "first_name_canon", "first_name_phon",
    "sex", "birth_year", "birth_month", "birth_day", "birth_date", "birth_date_placeholder",
    "birth_dept", "birth_commune", "birth_country", "postcode", "residence_dept",
)


#: comparison name -> (columns that must be populated on both sides for the comparison to be
#: built, every column its levels read)
COMPARISON_NEEDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "surname": (("birth_name",), ("birth_name", "usage_name", "birth_name_phon",
                                  "usage_name_phon", "first_name", "first_names_joined")),
    "first_name": (("first_name",), ("first_name", "first_names", "first_name_canon",
                                     "first_name_phon", "birth_name", "first_name_head",
                                     "first_names_joined")),
    "birth_date": (("birth_year",), ("birth_year", "birth_month", "birth_day",
                                     "birth_date_placeholder", "nir", "nir_year",
                                     "nir_month", "birth_date_digits",
                                     "birth_date_status")),
    "sex": (("sex",), ("sex",)),
    "birth_place": (("birth_dept",), ("birth_dept", "birth_commune", "birth_country")),
    "residence": (("postcode",), ("postcode", "residence_dept")),
    "address": (("address",), ("address", "address_key", "address_street", "address_number")),
    "residence_city": (("residence_city",), ("residence_city",)),
}


def _functions(dialect: SplinkDialect) -> dict[str, str]:
    spark = dialect.sql_dialect_str == "spark"
    return {
        "jw": dialect.jaro_winkler_function_name,
        "dl": dialect.damerau_levenshtein_function_name,
        "has_any": "arrays_overlap" if spark else "list_has_any",
        "contains": "array_contains" if spark else "list_contains",
    }


class SqlLevel(ComparisonLevelCreator):
    """A comparison level from a SQL template, rendered for the target backend.

    Args:
        template: SQL condition on ``<col>_l`` / ``<col>_r`` with ``{jw}``, ``{dl}``,
            ``{has_any}``, ``{contains}`` placeholders for backend-specific functions.
        label: the label shown in charts and in the explanation of each link.
        null: True for the level that says "not comparable" (weight 0).
        tf_column: apply term-frequency adjustments on this column.
        tf_own_level: base the adjustment on this level's own u (for a level that is not an
            exact match on ``tf_column``).

    Examples:
        >>> lvl = SqlLevel("{jw}(first_name_l, first_name_r) >= 0.9", "first name JW >= 0.9")
        >>> lvl.create_sql(SplinkDialect.from_string("duckdb"))
        'jaro_winkler_similarity(first_name_l, first_name_r) >= 0.9'
    """

    def __init__(self, template: str, label: str, *, null: bool = False,
                 tf_column: str | None = None, tf_own_level: bool = False):
        self.template = template
        self.label = label
        if null:
            self.configure(is_null_level=True)
        if tf_column:
            self.configure(tf_adjustment_column=tf_column, tf_adjustment_weight=1.0,
                           tf_minimum_u_value=0.001)
            if tf_own_level:  # the comparison has no exact level on this column
                self.configure(disable_tf_exact_match_detection=True)

    def create_sql(self, sql_dialect: SplinkDialect) -> str:
        return self.template.format(**_functions(sql_dialect))

    def create_label_for_charts(self) -> str:
        return self.label


def null_level(*columns: str) -> SqlLevel:
    """Level for pairs where any of ``columns`` is missing on either side."""
    cond = " OR ".join(f"{c}_l IS NULL OR {c}_r IS NULL" for c in columns)
    return SqlLevel(cond, "missing", null=True)


def else_level() -> SqlLevel:
    return SqlLevel("ELSE", "all other")


def _one_edit_gate(a: str, b: str, n: int, k: int, j: int) -> str:
    """A cheap SQL test implied by "``a`` and ``b`` (length ``n``) are one substitution or one
    transposition of adjacent characters apart": cut the strings into A = 1..k, B = k+1..j,
    C = j+1..n; one substitution leaves two of the three parts intact, a transposition across
    a cut leaves the part before the cut (less its last character) and the part after it
    (less its first) intact. Written in front of an edit distance, it spares the distance on
    unrelated pairs without changing what the distance decides (property-tested)."""
    def eq(start: int, length: int) -> str:
        return f"substr({a}, {start}, {length}) = substr({b}, {start}, {length})"
    part_a, part_b, part_c = eq(1, k), eq(k + 1, j - k), eq(j + 1, n - j)
    return (f"(({part_a} AND ({part_b} OR {part_c})) OR ({part_b} AND {part_c}) "
            f"OR ({eq(1, k - 1)} AND {part_c}) OR ({part_a} AND {eq(j + 2, n - j - 1)}))")


def _any_pair(template: str, left: tuple[str, ...], right: tuple[str, ...]) -> str:
    """OR of ``template`` over every (left column, right column) pair."""
    parts = [template.format(a=f"{a}_l", b=f"{b}_r", jw="{jw}") for a in left for b in right]
    return "(" + " OR ".join(parts) + ")"


def surname_comparison(*, term_frequency: bool = True) -> cl.CustomComparison:
    """Surnames, birth and usage names compared crosswise.

    Levels: exact birth name (TF-adjusted) > birth or usage name equal crosswise (usage = birth,
    birth = usage, usage = usage) > Jaro-Winkler >= 0.92 on any pairing > same French phonetic code
    > Jaro-Winkler >= 0.80 > name and first name inverted > all other.
    """
    names = ("birth_name", "usage_name")
    phon = ("birth_name_phon", "usage_name_phon")
    cross_exact = ("(usage_name_l = birth_name_r OR birth_name_l = usage_name_r "
                   "OR usage_name_l = usage_name_r)")
    return cl.CustomComparison(
        output_column_name="surname",
        comparison_description="birth / usage names, crosswise",
        comparison_levels=[
            null_level("birth_name"),
            SqlLevel("birth_name_l = birth_name_r", "birth name exact",
                     tf_column="birth_name" if term_frequency else None),
            SqlLevel(cross_exact, "birth/usage name exact crosswise"),
            SqlLevel(_any_pair("{jw}({a}, {b}) >= 0.92", names, names),
                     "name Jaro-Winkler >= 0.92 (any pairing)"),
            SqlLevel(_any_pair("{a} = {b}", phon, phon),
                     "same phonetic code (any pairing)"),
            SqlLevel(_any_pair("{jw}({a}, {b}) >= 0.80", names, names),
                     "name Jaro-Winkler >= 0.80 (any pairing)"),
            SqlLevel(_INVERTED, "name and first name inverted"),
            else_level(),
        ],
    )


def _inverted_gate() -> str:
    """Necessary for :data:`_INVERTED` but for typos in the first letter of both crossed names:
    one of the two crossings starts with the same letter. Eight Jaro-Winkler calls a pair cost
    more than every other level together; most pairs of a block fail this test."""
    return ("(left(birth_name_l, 1) = left(first_name_r, 1) "
            "OR left(first_name_l, 1) = left(birth_name_r, 1))")


def _inverted_one_way(a: str, b: str) -> str:
    """Side ``a``'s surname is ``b``'s first name and ``a``'s first names are ``b``'s surname,
    typos allowed; the first word of a multi-word surname counts as the first name ("RITA
    JOANA" / "RITA"), and the first names joined count as a surname whose particle was split
    off ("LE BEAUSAILLON" / "LEBEAUSAILLON")."""
    return (f"(({{jw}}(birth_name_{a}, first_name_{b}) >= 0.9 "
            f"OR {{jw}}(split_part(birth_name_{a}, ' ', 1), first_name_{b}) >= 0.9) "
            f"AND ({{jw}}(first_name_{a}, birth_name_{b}) >= 0.9 "
            f"OR {{jw}}(replace(first_names_joined_{a}, ' ', ''), birth_name_{b}) >= 0.9))")


#: name and first name inverted, either way, typos allowed (FEBRL's "SIMMONDS JAKE" / "JAEK
#: SIMMONDS"; "JULIETTE" + "LE BEAUSAILLON" / "LEBEAUSAILLON" + "JULIETTE")
_INVERTED = (f"({_inverted_gate()} AND ({_inverted_one_way('l', 'r')} "
             f"OR {_inverted_one_way('r', 'l')}))")


def first_name_comparison(*, term_frequency: bool = True,
                          with_head: bool = False) -> cl.CustomComparison:
    """First names: first first-name, transliteration, lists of first names.

    Levels: first first-name exact (TF-adjusted) > same canonical spelling (Mohamed / Mohammed)
    > the first first-name of one side is among the other side's first names (Jean / Jean Pierre,
    first of one = second of the other) > Jaro-Winkler >= 0.92 > same phonetic code
    > any first name in common > Jaro-Winkler >= 0.80 > inverted with the surname > all other.
    With ``with_head`` (the ``first_name_head`` feature is present), a level "same first part"
    after "among the other's first names": a compound first name against its first part
    (Jean-Pierre / Jean), transliterations included (Mohammed Ali / Mohamed).
    """
    head = ([SqlLevel("first_name_head_l = first_name_head_r",
                      "same first part of a compound first name")] if with_head else [])
    return cl.CustomComparison(
        output_column_name="first_name",
        comparison_description="first names (ordered lists)",
        comparison_levels=[
            null_level("first_name"),
            SqlLevel("first_name_l = first_name_r", "first name exact",
                     tf_column="first_name" if term_frequency else None),
            SqlLevel("first_name_canon_l = first_name_canon_r", "same canonical first name"),
            SqlLevel("({contains}(first_names_r, first_name_l) OR "
                     "{contains}(first_names_l, first_name_r))",
                     "first name among the other's first names"),
            *head,
            SqlLevel("{jw}(first_name_l, first_name_r) >= 0.92", "first name Jaro-Winkler >= 0.92"),
            SqlLevel("first_name_phon_l = first_name_phon_r", "same phonetic code"),
            SqlLevel("{has_any}(first_names_l, first_names_r)", "a first name in common"),
            SqlLevel("{jw}(first_name_l, first_name_r) >= 0.80", "first name Jaro-Winkler >= 0.80"),
            SqlLevel(_INVERTED, "name and first name inverted"),
            else_level(),
        ],
    )


def birth_date_comparison(*, with_digits: bool = False,
                          with_status: bool = False) -> cl.CustomComparison:
    """Birth dates, with partial dates and day/month swaps.

    Levels: full date exact (not a placeholder) > exact but a placeholder date (01/01 for people
    born abroad) > day and month swapped > one of day / month differs (typo) > same year and month
    and month with the day unknown on one side > same year, month unknown > same month and
    day, year off by one or one digit > same month, year off by one, day unknown on one side >
    (``with_digits``) the dates as written, YYYYMMDD, one digit or one swap of two digits apart,
    which reads a date with an impossible part ("1917-50-09" for "1917-05-09") > the declared
    date agrees with the other side's NIR > same year only > all other.

    With ``with_digits`` (feature ``birth_date_digits``), a date is missing only when neither
    its parts nor its digits are known: an unparsed date is compared by its digits.

    With ``with_status`` (feature ``birth_date_status``), a date read from the NIR (status
    'from_nir': none was declared) counts as missing when both sides hold the same NIR: the
    shared key already says it, and the date would count the NIR a second time.
    """
    full = ("birth_year_l = birth_year_r AND birth_month_l = birth_month_r "
            "AND birth_day_l = birth_day_r")
    missing = null_level("birth_year")
    digits = []
    if with_digits:
        missing = SqlLevel("(birth_year_l IS NULL AND birth_date_digits_l IS NULL) "
                           "OR (birth_year_r IS NULL AND birth_date_digits_r IS NULL)",
                           "missing", null=True)
        gate = _one_edit_gate("birth_date_digits_l", "birth_date_digits_r", 8, 3, 5)
        digits = [SqlLevel(f"{gate} AND {{dl}}(birth_date_digits_l, birth_date_digits_r) <= 1",
                           "dates as written one digit or one swap apart")]
    if with_status:
        missing = SqlLevel(f"({missing.template}) OR ((birth_date_status_l = 'from_nir' "
                           "OR birth_date_status_r = 'from_nir') AND nir_l = nir_r)",
                           "missing", null=True)
    return cl.CustomComparison(
        output_column_name="birth_date",
        comparison_description="birth date (year, month, day; partial dates)",
        comparison_levels=[
            missing,
            SqlLevel(f"({full}) AND NOT coalesce(birth_date_placeholder_l, FALSE) "
                     "AND NOT coalesce(birth_date_placeholder_r, FALSE)", "date exact"),
            SqlLevel(f"({full})", "date exact, placeholder"),
            SqlLevel("birth_year_l = birth_year_r AND birth_month_l = birth_day_r "
                     "AND birth_day_l = birth_month_r", "day and month swapped"),
            SqlLevel("birth_year_l = birth_year_r AND (birth_month_l = birth_month_r "
                     "OR birth_day_l = birth_day_r) AND birth_month_l IS NOT NULL "
                     "AND birth_month_r IS NOT NULL AND birth_day_l IS NOT NULL "
                     "AND birth_day_r IS NOT NULL",
                     "year and day or month equal"),
            # a known month that agrees says ~12 times more than an unknown one: two levels
            SqlLevel("birth_year_l = birth_year_r AND birth_month_l = birth_month_r "
                     "AND (birth_day_l IS NULL OR birth_day_r IS NULL "
                     "OR coalesce(birth_date_placeholder_l, FALSE) "
                     "OR coalesce(birth_date_placeholder_r, FALSE))",
                     "same year and month, day unknown"),
            SqlLevel("birth_year_l = birth_year_r AND (birth_month_l IS NULL "
                     "OR birth_month_r IS NULL)",
                     "same year, month unknown"),
            SqlLevel("birth_month_l = birth_month_r AND birth_day_l = birth_day_r AND "
                     "(abs(birth_year_l - birth_year_r) = 1 OR "
                     "{dl}(CAST(birth_year_l AS VARCHAR), CAST(birth_year_r AS VARCHAR)) <= 1)",
                     "day and month equal, year off by one digit"),
            SqlLevel("birth_month_l = birth_month_r AND abs(birth_year_l - birth_year_r) = 1 "
                     "AND (birth_day_l IS NULL OR birth_day_r IS NULL)",
                     "month equal, year off by one, day unknown"),
            *digits,
            SqlLevel(f"{_date_agrees_with_nir('l', 'r')} OR {_date_agrees_with_nir('r', 'l')}",
                     "declared date agrees with the other side's NIR (year and month)"),
            SqlLevel("birth_year_l = birth_year_r", "same year only"),
            else_level(),
        ],
    )


def _date_agrees_with_nir(a: str, b: str) -> str:
    """``b``'s declared birth year and month are those of ``a``'s NIR: when ``a``'s own
    declared date contradicts its NIR, the NIR is a second reading of ``a``'s birth date (the
    consistency check becomes evidence instead of a verdict).

    Not when both sides hold the same NIR: the NIR's owner agrees with it by construction, so
    the level would count the shared NIR a second time — and make a borrowed NIR (a candidate
    declaring someone else's) look like its owner's date."""
    return (f"(nir_year_{a} = lpad(CAST(birth_year_{b} % 100 AS VARCHAR), 2, '0') "
            f"AND nir_month_{a} = lpad(CAST(birth_month_{b} AS VARCHAR), 2, '0') "
            f"AND nir_{a} IS DISTINCT FROM nir_{b})")


def sex_comparison() -> cl.CustomComparison:
    """Sex: equal or not (missing is neutral)."""
    return cl.CustomComparison(
        output_column_name="sex",
        comparison_description="sex",
        comparison_levels=[null_level("sex"), SqlLevel("sex_l = sex_r", "same sex"),
                           else_level()],
    )


def birth_place_comparison() -> cl.CustomComparison:
    """Birth place: same commune > same country abroad > same department > other."""
    return cl.CustomComparison(
        output_column_name="birth_place",
        comparison_description="birth commune / department / country",
        comparison_levels=[
            null_level("birth_dept"),
            SqlLevel("birth_commune_l = birth_commune_r", "same birth commune"),
            # term-frequency adjusted: sharing Algeria says less than sharing Estonia
            SqlLevel("birth_country_l = birth_country_r AND birth_dept_l = '99'",
                     "same country of birth (abroad)", tf_column="birth_country",
                     tf_own_level=True),
            SqlLevel("birth_dept_l = birth_dept_r", "same birth department"),
            else_level(),
        ],
    )


def residence_comparison(postcode: str = "postcode", department: str = "residence_dept", *,
                         description: str = "postcode of residence",
                         with_typo: bool = False) -> cl.CustomComparison:
    """Residence: same postcode > (``with_typo``) postcodes of the same length one digit or
    one swap of two adjacent digits apart > same department > other (people move: a weak
    comparison).

    ``postcode`` / ``department`` name the columns compared (the PPRL linkage compares keyed
    tokens of both with the same levels, without ``with_typo``: a keyed token says nothing
    about how close two postcodes were). A typed postcode ("4221" for "4222", "6302" for
    "6320") is common; without its level such a pair falls to "same department" or "all
    other", which count against a match.
    """
    typo = ([SqlLevel(f"length({postcode}_l) = length({postcode}_r) "
                      f"AND {{dl}}({postcode}_l, {postcode}_r) <= 1",
                      "postcode one digit or one swap apart")] if with_typo else [])
    return cl.CustomComparison(
        output_column_name="residence",
        comparison_description=description,
        comparison_levels=[
            null_level(postcode),
            SqlLevel(f"{postcode}_l = {postcode}_r", "same postcode"),
            *typo,
            SqlLevel(f"{department}_l = {department}_r", "same department of residence"),
            else_level(),
        ],
    )


def address_comparison(*, with_key: bool = False, with_street: bool = False,
                       with_number: bool = False) -> cl.CustomComparison:
    """Street address of residence: exact (with ``with_key``: spaces ignored, feature
    ``address_key``) > Jaro-Winkler >= 0.9 > (``with_street``) the same street, another number
    or none (Jaro-Winkler >= 0.9 on ``address_street``, the address without its number and
    kind of street) > (``with_number``) the same house number, the street another or missing
    on one side (feature ``address_number``: "95" against "95 GRYLLS CRESCENT") > other.
    People move: weak evidence, learnt as such.

    A street word in common ("RUE", "STREET" ...) was a level before ``address_street``: its u
    probability, high, made it count against a match.
    """
    same = "address_key_l = address_key_r" if with_key else "address_l = address_r"
    street = ([SqlLevel("{jw}(address_street_l, address_street_r) >= 0.9", "same street")]
              if with_street else
              [SqlLevel("{has_any}(list_filter(string_split(address_l, ' '), lambda w: "
                        "length(w) >= 4), string_split(address_r, ' '))",
                        "a street word in common")])
    number = ([SqlLevel("address_number_l = address_number_r", "same house number")]
              if with_number else [])
    return cl.CustomComparison(
        output_column_name="address",
        comparison_description="street address of residence",
        comparison_levels=[
            null_level("address"),
            SqlLevel(same, "same address"),
            SqlLevel("{jw}(address_l, address_r) >= 0.9", "address Jaro-Winkler >= 0.9"),
            *street,
            *number,
            else_level(),
        ],
    )


def residence_city_comparison() -> cl.CustomComparison:
    """Town of residence (a name, not a code): exact > Jaro-Winkler >= 0.9 > other."""
    return cl.CustomComparison(
        output_column_name="residence_city",
        comparison_description="town of residence",
        comparison_levels=[
            null_level("residence_city"),
            SqlLevel("residence_city_l = residence_city_r", "same town",
                     tf_column="residence_city"),
            SqlLevel("{jw}(residence_city_l, residence_city_r) >= 0.9",
                     "town Jaro-Winkler >= 0.9"),
            else_level(),
        ],
    )


def key_comparison(column: str = "nir", *, nir: bool = True) -> cl.CustomComparison:
    """The shared key as evidence: same > (plaintext NIR only) one edit or one transposition in
    the 13-digit body > (plaintext NIR only) different, one of the two contradicting its
    holder's own declared traits (feature ``nir_consistency``) > different; missing on either
    side is neutral.

    A pseudonym or pivot code is compared as same / different: a keyed hash says nothing about
    how close two NIRs were. The comparison is named ``key`` whatever the column.

    Examples:
        >>> def labels(c):
        ...     levels = c.get_comparison("duckdb").as_dict()["comparison_levels"]
        ...     return [lv["label_for_charts"] for lv in levels]
        >>> labels(key_comparison("nir"))  # doctest: +NORMALIZE_WHITESPACE
        ['missing', 'same NIR', 'NIR one edit or transposition, one check key wrong',
         "different NIR, one contradicts its holder's traits", 'all other']
        >>> labels(key_comparison("pivot", nir=False))
        ['missing', 'same key', 'all other']
    """
    levels = [null_level(column),
              SqlLevel(f"{column}_l = {column}_r", "same NIR" if nir else "same key")]
    if nir:
        # a cheap test in front of the edit distance (the first five digits, sex, year and
        # month, are shared by many unrelated pairs of a block: they are not enough alone).
        # One of the two must fail its check key: the key (97 - body mod 97) catches every
        # substitution of one digit and every transposition of two adjacent digits of the body
        # (97 is prime and divides no d x 10^k, no 9 (a - b) 10^k), so two NIRs with valid keys
        # one edit apart are two people (neighbouring order numbers of a commune), not a typo
        levels.append(SqlLevel(
            f"{_one_edit_gate(f'{column}_l', f'{column}_r', 13, 5, 8)} "
            f"AND {{dl}}(substr({column}_l, 1, 13), substr({column}_r, 1, 13)) <= 1 "
            "AND (nir_consistency_l = 'invalid' OR nir_consistency_r = 'invalid')",
            "NIR one edit or transposition, one check key wrong"))
        # a NIR that contradicts its own holder's declared sex, birth year or month (or fails
        # its check key) is likely wrong: a true match with another NIR is then common, and
        # "different" is much weaker evidence against than between two sound NIRs
        levels.append(SqlLevel(
            "nir_consistency_l IN ('inconsistent', 'invalid') "
            "OR nir_consistency_r IN ('inconsistent', 'invalid')",
            "different NIR, one contradicts its holder's traits"))
    levels.append(else_level())
    return cl.CustomComparison(output_column_name="key",
                               comparison_description=f"shared key ({column})",
                               comparison_levels=levels)


#: comparison name -> builder(term_frequency, present features); a builder adds the levels of
#: the optional features (:data:`OPTIONAL_COLUMNS`) the data carry
_BUILDERS = {
    "surname": lambda tf, present: surname_comparison(term_frequency=tf),
    "first_name": lambda tf, present: first_name_comparison(
        term_frequency=tf, with_head="first_name_head" in present),
    "birth_date": lambda tf, present: birth_date_comparison(
        with_digits="birth_date_digits" in present,
        with_status="birth_date_status" in present),
    "sex": lambda tf, present: sex_comparison(),
    "birth_place": lambda tf, present: birth_place_comparison(),
    "residence": lambda tf, present: residence_comparison(with_typo=True),
    "address": lambda tf, present: address_comparison(with_key="address_key" in present,
                                                      with_street="address_street" in present,
                                                      with_number="address_number" in present),
    "residence_city": lambda tf, present: residence_city_comparison(),
}

#: feature columns that add a level when present and are not needed otherwise (features built
#: by an older version, or by hand, may lack them)
OPTIONAL_COLUMNS = frozenset({"first_name_head", "birth_date_digits", "birth_date_status",
                              "address_key", "address_street", "address_number"})


def default_comparisons(*, term_frequency: bool = True) -> list:
    """The default comparisons for French identities (a list the user may edit); the address
    comparisons are added only when the data carry an address (see :func:`comparisons_for`)."""
    return [build(term_frequency, ()) for name, build in _BUILDERS.items()
            if name not in ("address", "residence_city")]


def comparisons_for(present, *, key_column: str | None = None, key_is_nir: bool = True,
                    term_frequency: bool = True) -> tuple[list, list[str]]:
    """The default comparisons that the features at hand can feed.

    Args:
        present: the feature columns populated on both sides (see
            :class:`appariement.linkage.FeatureProfile`).
        key_column: add :func:`key_comparison` on this column (None: no key).
        key_is_nir: the key holds plaintext NIRs (one-edit level) rather than pseudonyms.
        term_frequency: term-frequency adjustments on the exact name levels.

    Returns:
        (comparisons, feature columns they read).

    Examples:
        >>> comps, cols = comparisons_for({"birth_name", "first_name", "birth_year"})
        >>> [c.create_output_column_name() for c in comps]
        ['surname', 'first_name', 'birth_date']
    """
    present = set(present)
    comps, columns = [], []
    for name, build in _BUILDERS.items():
        needs, reads = COMPARISON_NEEDS[name]
        if all(c in present for c in needs):
            comps.append(build(term_frequency, present))
            columns.extend(c for c in reads if c not in OPTIONAL_COLUMNS or c in present)
    if key_column is not None:
        comps.append(key_comparison(key_column, nir=key_is_nir))
        columns.extend([key_column, "nir_consistency"] if key_is_nir else [key_column])
    return comps, list(dict.fromkeys(columns))
