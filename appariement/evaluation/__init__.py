"""Evaluation, in two rooms: :mod:`.quality` (match quality, threshold tuning, clerical review,
linkage bias, the quality report) and :mod:`.counterfactual` (the evaluation dataset, the effect
estimators, the counterfactual page). Disclosure control (:mod:`.disclosure`) and the output
checker (:mod:`.output_check`) serve both."""
from . import counterfactual, quality
from .counterfactual import *  # noqa: F401,F403 - the public names of both rooms, flat
from .disclosure import DisclosurePolicy, SuppressedTable, suppress
from .quality import *  # noqa: F401,F403

__all__ = (["DisclosurePolicy", "SuppressedTable", "suppress", "quality", "counterfactual"]
           + quality.__all__ + counterfactual.__all__)
