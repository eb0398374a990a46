"""Match quality: scores against a truth, label-free error estimates, the NIR gold standard,
threshold tuning, clerical review, linkage bias by subgroup, and the quality report."""
from .estimates import error_curve, estimate_errors
from .goldstandard import (gold_standard_evaluation, nir_gold_pairs, selection_table,
                           stage1_gold_pairs, target_prevalence)
from .metrics import link_counts, score_against_truth
from .report import QualityReport, build_report
from .review import draw_review_sample, export_review_sample, read_review_labels
from .subgroups import candidate_outcomes, subgroup_covariates, subgroup_rates
from .thresholds import labelled_curve, recommend_threshold, threshold_curves

__all__ = [
    "error_curve", "estimate_errors", "gold_standard_evaluation", "nir_gold_pairs",
    "selection_table", "stage1_gold_pairs", "target_prevalence", "link_counts",
    "score_against_truth", "QualityReport", "build_report", "draw_review_sample",
    "export_review_sample", "read_review_labels", "candidate_outcomes", "subgroup_covariates",
    "subgroup_rates", "labelled_curve", "recommend_threshold", "threshold_curves",
]
