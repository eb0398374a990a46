"""Blocking rules for French identities.

A blocking rule says which pairs are worth comparing: here always an equi-join on one or more
(left column, right column) pairs of the standardised features, so that the database runs it as a
hash join and the number of pairs it generates can be counted without building them. Cross rules
(the candidate's usage name against the source person's birth name) are what married women's
records need.

Left is always the platform (candidates), right the source (persons).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["BlockingRule", "FRENCH_RULES", "DEFAULT_PREDICTION_RULES", "LARGE_FILE_RULES",
           "DEFAULT_TRAINING_RULES", "TRAINING_CANDIDATES", "TIGHTENING_KEYS", "ANCHOR_KEYS", "rule",
           "get_rules", "adapt_rules",
           "key_rule"]


@dataclass(frozen=True)
class BlockingRule:
    """An equi-join blocking rule.

    Args:
        name: short name used in reports and config files.
        keys: (left column, right column) pairs that must be equal (and not null).
        description: what the rule catches, in plain words.

    Examples:
        >>> r = BlockingRule("name_yob", (("birth_name", "birth_name"), ("birth_year", "birth_year")))
        >>> r.sql
        'l.birth_name = r.birth_name AND l.birth_year = r.birth_year'
    """

    name: str
    keys: tuple[tuple[str, str], ...]
    description: str = ""

    def __post_init__(self):
        if not self.keys:
            raise ConfigError(f"blocking rule {self.name!r} has no key columns")

    @property
    def sql(self) -> str:
        """The rule as a Splink blocking condition (``l.`` = platform, ``r.`` = source)."""
        return " AND ".join(f"l.{a} = r.{b}" for a, b in self.keys)

    @property
    def left_columns(self) -> tuple[str, ...]:
        return tuple(a for a, _ in self.keys)

    @property
    def right_columns(self) -> tuple[str, ...]:
        return tuple(b for _, b in self.keys)

    def to_splink(self):
        """The rule as a Splink blocking-rule creator."""
        from splink.blocking_rule_library import CustomRule
        return CustomRule(self.sql)


def rule(name: str, *keys: str | tuple[str, str], description: str = "") -> BlockingRule:
    """Build a rule: a key is a column name (same on both sides) or a (left, right) pair."""
    pairs = tuple((k, k) if isinstance(k, str) else tuple(k) for k in keys)
    return BlockingRule(name, pairs, description)


#: the library of rules, by name
FRENCH_RULES: dict[str, BlockingRule] = {r.name: r for r in [
    rule("dob", "birth_year", "birth_month", "birth_day",
         description="same full birth date"),
    rule("name_yob", "birth_name", "birth_year",
         description="same birth name and birth year"),
    rule("usage_birth_yob", ("usage_name", "birth_name"), "birth_year",
         description="candidate's usage name = person's birth name, same birth year"),
    rule("birth_usage_yob", ("birth_name", "usage_name"), "birth_year",
         description="candidate's birth name = person's usage name, same birth year"),
    rule("usage_usage_first", ("usage_name", "usage_name"), "first_name_canon",
         description="same usage name and first name"),
    rule("phon_first_phon", "birth_name_phon", "first_name_phon",
         description="same phonetic codes of birth name and first name"),
    rule("usage_phon_first_phon", ("usage_name_phon", "birth_name_phon"), "first_name_phon",
         description="candidate's usage name sounds like the person's birth name, first name too"),
    rule("phon_first_phon_postcode", "birth_name_phon", "first_name_phon", "postcode",
         description="same sounds of birth name and first name, same postcode (EM training: "
                     "few homonyms, so the birth date's m is not learnt from them)"),
    rule("first_ym_dept", "first_name_canon", "birth_year", "birth_month", "birth_dept",
         description="same first name, birth year and month, birth department"),
    rule("first_name_dob_swapped", "first_name_canon", "birth_year",
         ("birth_month", "birth_day"), ("birth_day", "birth_month"),
         description="same first name and year, day and month swapped"),
    rule("inverted", ("birth_name", "first_name"), ("first_name", "birth_name"),
         description="name and first name inverted"),
    rule("inverted_phon", ("birth_name_phon", "first_name_phon"),
         ("first_name_phon", "birth_name_phon"),
         description="name and first name inverted, as they sound (typos allowed)"),
    rule("name_first_md", "birth_name", "first_name_canon", "birth_month", "birth_day",
         description="same names, day and month (catches year errors)"),
    rule("birth_usage_first_md", ("birth_name", "usage_name"), "first_name_canon",
         "birth_month", "birth_day",
         description="candidate's name = person's usage name, same first name, day and month "
                     "(catches married names with a year error)"),
    rule("md_commune_sex", "birth_month", "birth_day", "birth_commune", "sex",
         description="same day and month of birth, birth commune and sex (catches errors in "
                     "both names together with a year error)"),
    rule("md_postcode_sex", "birth_month", "birth_day", "postcode", "sex",
         description="same day and month of birth, postcode and sex (the same, for people born "
                     "abroad)"),
    rule("head_ym_sex", "first_name_head", "birth_year", "birth_month", "sex",
         description="same first part of the first name (Jean-Pierre / Jean, Mohammed Ali / "
                     "Mohamed), birth year and month, and sex (catches surname changes)"),
    rule("name_postcode", "birth_name", "postcode",
         description="same birth name and postcode (catches errors in the birth date and "
                     "the first name together)"),
    rule("first_postcode", "first_name_canon", "postcode",
         description="same first name and postcode (catches surname changes, with the birth "
                     "date wrong or missing)"),
    rule("first_city", "first_name_canon", "residence_city",
         description="same first name and town of residence (the same, across a postcode "
                     "typo)"),
    rule("address_postcode", "address_key", "postcode",
         description="same street address (spaces ignored) and postcode (households: the "
                     "traits decide)"),
    rule("address_only", "address_key",
         description="same street address, number included, spaces ignored (tightened on "
                     "large files)"),
    rule("number_postcode", "address_number", "postcode",
         description="same house number and postcode (the street mistyped or missing on one "
                     "side: households, the traits decide)"),
    rule("street_postcode", "address_street", "postcode",
         description="same street name and postcode (another house number or a typo in it)"),
    rule("name_number", "birth_name", "address_number",
         description="same birth name and house number (a typo in the postcode and in the "
                     "street)"),
    rule("first_number", "first_name_canon", "address_number",
         description="same first name and house number (the same, across a surname change)"),
    rule("name_city", "birth_name", "residence_city",
         description="same birth name and town of residence"),
    rule("postcode_city", "postcode", "residence_city",
         description="same postcode and town of residence (tightened on large files)"),
    rule("city_name_phon", "residence_city", "birth_name_phon",
         description="same town of residence and birth-name sound"),
    rule("commune_sex_yob", "birth_commune", "sex", "birth_year", "first_name_phon",
         description="same birth commune, sex, year and first-name sound"),
    # tighter rules for large files (millions of source persons): each adds a key to a rule
    # above, so that no block grows with the square of the file size
    rule("dob_dept", "birth_year", "birth_month", "birth_day", "birth_dept",
         description="same full birth date and birth department"),
    rule("dob_first_phon", "birth_year", "birth_month", "birth_day", "first_name_phon",
         description="same full birth date and first-name sound"),
    rule("dob_name_phon", "birth_year", "birth_month", "birth_day", "birth_name_phon",
         description="same full birth date and birth-name sound"),
    rule("name_first_yob", "birth_name", "first_name_canon", "birth_year",
         description="same birth name, first name and birth year"),
    rule("name_ym_sex", "birth_name", "birth_year", "birth_month", "sex",
         description="same birth name, birth year and month, and sex"),
    rule("usage_birth_first_phon_yob", ("usage_name", "birth_name"), "first_name_phon",
         "birth_year", description="candidate's usage name = person's birth name, same "
                                   "first-name sound and birth year"),
    rule("birth_usage_first_phon_yob", ("birth_name", "usage_name"), "first_name_phon",
         "birth_year", description="candidate's birth name = person's usage name, same "
                                   "first-name sound and birth year"),
    rule("phon_first_phon_yob", "birth_name_phon", "first_name_phon", "birth_year",
         description="same sounds of birth name and first name, same birth year"),
    rule("usage_phon_first_phon_yob", ("usage_name_phon", "birth_name_phon"), "first_name_phon",
         "birth_year", description="usage name sounds like birth name, same first-name sound "
                                   "and year"),
]}

DEFAULT_PREDICTION_RULES = ("dob", "name_yob", "usage_birth_yob", "birth_usage_yob",
                            "phon_first_phon", "usage_phon_first_phon", "first_ym_dept",
                            "first_name_dob_swapped", "inverted", "inverted_phon",
                            "name_first_md", "birth_usage_first_md", "md_commune_sex",
                            "md_postcode_sex", "head_ym_sex", "name_postcode",
                            "first_postcode", "first_city", "address_only",
                            "number_postcode", "street_postcode", "name_number",
                            "first_number", "name_city",
                            "postcode_city", "city_name_phon")

#: rules for large files: the defaults with a key added to each broad rule (about 25x fewer
#: pairs at 1M candidates x 10M persons); ``LinkageConfig(blocking_rules=LARGE_FILE_RULES)``
LARGE_FILE_RULES = ("dob_dept", "dob_first_phon", "dob_name_phon", "name_first_yob",
                    "name_ym_sex", "usage_birth_first_phon_yob", "birth_usage_first_phon_yob",
                    "phon_first_phon_yob", "usage_phon_first_phon_yob", "first_ym_dept",
                    "first_name_dob_swapped", "inverted", "name_first_md",
                    "birth_usage_first_md", "md_commune_sex", "md_postcode_sex", "head_ym_sex")

#: EM training passes: each leaves free the comparisons it does not block on
DEFAULT_TRAINING_RULES = ("dob", "phon_first_phon_postcode", "first_ym_dept")

#: candidate EM passes, in order of preference: the model runs those with enough pairs until
#: every comparison has been left free by one (``LinkageModel.plan``)
TRAINING_CANDIDATES = (*DEFAULT_TRAINING_RULES, "phon_first_phon_yob", "name_first_yob",
                       "name_yob", "phon_first_phon", "md_postcode_sex")


#: keys added, in this order, to a rule that generates too many pairs (see
#: :func:`appariement.blocking.analysis.fit_rules_to_budget`)
TIGHTENING_KEYS = ("first_name_phon", "birth_name_phon", "birth_year", "sex", "birth_dept",
                   "residence_dept")


def key_rule(column: str) -> BlockingRule:
    """Every pair sharing the exact-stage key: scored in stage 2 whatever the NIR checks said
    (a typo in a birth date must not undo a shared NIR)."""
    return rule("key", column, description=f"same {column} (every pair sharing the key)")


#: a key absent from the features -> a coarser feature that stands in for it (features built
#: by an older version lack ``address_key``)
STAND_INS = {"address_key": "address"}


#: keys a rule is built around: a rule that loses one is dropped, not reduced to its other keys
#: (``number_postcode`` without a house number would be the postcode alone, which a large file
#: then tightens into a new, broad rule)
ANCHOR_KEYS = frozenset({"address_number"})


def _stand_in(keys, present) -> tuple:
    return tuple((STAND_INS.get(a, a) if a not in present else a,
                  STAND_INS.get(b, b) if b not in present else b) for a, b in keys)


def adapt_rules(rules, present) -> tuple[list[BlockingRule], list[dict]]:
    """Rules restricted to the features at hand.

    A key whose column is absent on either side is removed from its rule (``md_postcode_sex``
    without postcode becomes ``md_postcode_sex-postcode`` on month, day and sex); a rule left
    without keys, or without one of its :data:`ANCHOR_KEYS`, is dropped; rules that end up with
    the same keys are kept once. A rule left
    with a single key of several is broad (name + town without the town = every namesake):
    :func:`~appariement.blocking.analysis.fit_rules_to_budget` holds it to a tighter cap.

    Args:
        rules: names, rules or their JSON form.
        present: the feature columns populated on both sides.

    Returns:
        (rules, changes): the adapted rules in order, and one entry per rule changed or dropped
        (``{"rule", "action", "absent"}``) for the training log.

    Examples:
        >>> rules, changes = adapt_rules(["dob", "md_postcode_sex"], {"birth_year", "birth_month",
        ...                              "birth_day", "sex"})
        >>> [r.name for r in rules], changes[0]["action"]
        (['dob', 'md_postcode_sex-postcode'], 'reduced')
    """
    present = set(present)
    out: list[BlockingRule] = []
    seen: set[frozenset] = set()
    changes: list[dict] = []
    for r in get_rules(rules):
        keys = _stand_in(r.keys, present)
        if keys != r.keys:
            r = BlockingRule(r.name, keys, r.description)
        kept = tuple((a, b) for a, b in r.keys if a in present and b in present)
        absent = sorted({c for a, b in r.keys for c in (a, b) if c not in present})
        if not kept or ANCHOR_KEYS & set(absent):
            changes.append({"rule": r.name, "action": "dropped", "absent": absent})
            continue
        if len(kept) < len(r.keys):
            r = BlockingRule(f"{r.name}-{'-'.join(absent)}", kept,
                             f"{r.description} (without {', '.join(absent)}: absent)")
            changes.append({"rule": r.name, "action": "reduced", "absent": absent})
        if frozenset(kept) in seen:
            changes.append({"rule": r.name, "action": "dropped", "reason": "duplicate"})
            continue
        seen.add(frozenset(kept))
        out.append(r)
    return out, changes


def get_rules(names_or_rules) -> list[BlockingRule]:
    """Resolve rule names (from the library), BlockingRule objects or their JSON form
    (``{"name": ..., "keys": [[left, right], ...]}``) into a list of rules."""
    rules = []
    for item in names_or_rules:
        if isinstance(item, BlockingRule):
            rules.append(item)
        elif isinstance(item, dict):
            rules.append(BlockingRule(item["name"], tuple(tuple(k) for k in item["keys"]),
                                      item.get("description", "")))
        elif item in FRENCH_RULES:
            rules.append(FRENCH_RULES[item])
        else:
            raise ConfigError(f"unknown blocking rule {item!r}; known rules: "
                              f"{', '.join(FRENCH_RULES)}")
    return rules
