"""Blocking for French identities: a rule library, blocking analysis, rule choice under a budget.

Examples:
    >>> from appariement.blocking import FRENCH_RULES, get_rules
    >>> [r.name for r in get_rules(["dob", "name_yob"])]
    ['dob', 'name_yob']
"""

from .analysis import BlockingReport, analyse_blocking, check_budget, choose_rules, count_pairs
from .rules import (DEFAULT_PREDICTION_RULES, DEFAULT_TRAINING_RULES, FRENCH_RULES,
                    LARGE_FILE_RULES, BlockingRule,
                    get_rules, rule)

__all__ = [
    "BlockingRule", "FRENCH_RULES", "DEFAULT_PREDICTION_RULES", "DEFAULT_TRAINING_RULES",
    "LARGE_FILE_RULES",
    "rule", "get_rules", "BlockingReport", "analyse_blocking", "check_budget", "choose_rules",
    "count_pairs",
]
