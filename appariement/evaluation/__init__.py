"""Evaluation: match quality, threshold tuning, clerical review, disclosure control, reports,
counterfactual dataset and estimators."""
__all__: list[str] = []

# --- quality, disclosure, report (owned by the quality-report engineer) ---
from .disclosure import DisclosurePolicy, SuppressedTable, suppress  # noqa: E402
from .estimates import error_curve, estimate_errors  # noqa: E402
from .goldstandard import (gold_standard_evaluation, nir_gold_pairs,  # noqa: E402
                           selection_table, stage1_gold_pairs, target_prevalence)
from .quality import link_counts, score_against_truth  # noqa: E402
from .report import QualityReport, build_report  # noqa: E402
from .review import draw_review_sample, export_review_sample, read_review_labels  # noqa: E402
from .subgroups import (candidate_outcomes, subgroup_covariates,  # noqa: E402
                        subgroup_rates)
from .thresholds import labelled_curve, recommend_threshold, threshold_curves  # noqa: E402

__all__ += [
    "DisclosurePolicy", "SuppressedTable", "suppress", "error_curve", "estimate_errors",
    "gold_standard_evaluation", "nir_gold_pairs", "selection_table", "stage1_gold_pairs",
    "target_prevalence", "link_counts",
    "score_against_truth", "QualityReport", "build_report", "draw_review_sample",
    "export_review_sample", "read_review_labels", "candidate_outcomes", "subgroup_covariates",
    "subgroup_rates", "labelled_curve", "recommend_threshold", "threshold_curves",
]
# --- end of quality-report block ---

# --- counterfactual dataset and estimators (owned by the counterfactual engineer) ---
from .counterfactual import (DEFAULT_REFUSAL_CLASSES, CounterfactualDesign,  # noqa: E402
                             EvaluationDataset, build_evaluation_dataset, codebook)
from .counterfactual_estimators import EffectEstimates, estimate_effects  # noqa: E402

__all__ += [
    "CounterfactualDesign", "EvaluationDataset", "build_evaluation_dataset", "codebook",
    "DEFAULT_REFUSAL_CLASSES", "EffectEstimates", "estimate_effects",
]
# --- end of counterfactual block ---
