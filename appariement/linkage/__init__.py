"""Linkage: the cascade (exact pivot → probabilistic on traits), Splink models, assignment.

Examples:
    >>> from appariement.linkage import LinkageConfig, Thresholds
    >>> LinkageConfig(thresholds=Thresholds(match=0.95, review=0.6)).assignment
    'one_to_one'
"""

from ._backend import BACKENDS, Backend, local_spark_session, make_backend
from .assignment import ASSIGNMENT_MODES, Thresholds, assign
from .cascade import Linkage, LinkageConfig, LinkageResult, link
from .comparisons import comparisons_for, default_comparisons, key_comparison
from .features import FeatureProfile, profile_features
from .matcher import traits_matcher
from .model import LinkageModel
from .pprl import (PprlResult, encode_for_pprl, link_encoded, pprl_blocking_rules,
                   pprl_comparisons)

__all__ = [
    "Linkage", "LinkageConfig", "LinkageResult", "link", "LinkageModel", "Thresholds",
    "assign", "ASSIGNMENT_MODES", "default_comparisons", "Backend", "make_backend",
    "local_spark_session", "BACKENDS",
    "encode_for_pprl", "link_encoded", "pprl_comparisons", "pprl_blocking_rules", "PprlResult",
    "comparisons_for", "key_comparison", "FeatureProfile", "profile_features", "traits_matcher",
]
