"""The counterfactual evaluation: the dataset of trials (non-retained candidatures as the
comparison group of IAE hires), the effect estimators, and the counterfactual page."""
from .dataset import (DEFAULT_REFUSAL_CLASSES, CounterfactualDesign, EvaluationDataset,
                      build_evaluation_dataset, codebook)
from .estimators import EffectEstimates, EffectEstimator, e_value, estimate_effects
from .report import run_counterfactual, threshold_sensitivity

__all__ = [
    "CounterfactualDesign", "EvaluationDataset", "build_evaluation_dataset", "codebook",
    "DEFAULT_REFUSAL_CLASSES", "EffectEstimates", "EffectEstimator", "e_value",
    "estimate_effects", "run_counterfactual", "threshold_sensitivity",
]
