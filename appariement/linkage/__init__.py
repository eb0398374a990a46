"""Linkage: the cascade (exact pivot → probabilistic on traits), Splink models, assignment.

The model is built from the data at hand (:meth:`LinkageModel.plan`): a feature absent from a
side, or null on nearly all its rows, is absent — no comparison reads it, no blocking or training
rule joins on it; training rules are chosen by counting their pairs, and when neither labels nor
EM can estimate a comparison its documented default m is used (and said). The minimum input is
an id plus a surname, or an id plus a key. The shared key is evidence, not only a gate: clean
key matches are linked in stage 1, every other pair sharing the key is scored in stage 2 with a
``key`` comparison beside the traits. What was chosen and why is in ``model.plan_log_``,
``model.json`` and the linkage counts. Splink and DuckDB failures reach the caller as
:class:`~appariement.errors.LinkageError`.

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
