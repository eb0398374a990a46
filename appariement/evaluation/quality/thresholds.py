"""Threshold tuning: precision / recall / F1 and match counts against the threshold.

Curves are label-free (:func:`appariement.evaluation.quality.estimates.error_curve`) and, where labels
exist (clerical review, truth on synthetic data), labelled: each labelled pair carries a weight
(the inverse of its inclusion probability in a stratified review sample; 1 for a census), so
precision and recall are Horvitz-Thompson estimates over the assigned pairs.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ...errors import ConfigError
from .estimates import DEFAULT_GRID, error_curve

__all__ = ["threshold_curves", "labelled_curve", "recommend_threshold", "OBJECTIVES"]

#: objectives of :func:`recommend_threshold`
OBJECTIVES = ("max_f1", "max_recall_at_fdr", "max_precision_at_fnr")


def labelled_curve(probabilities: Sequence[float], labels: Sequence[bool],
                   weights: Sequence[float] | None = None,
                   thresholds: Sequence[float] = DEFAULT_GRID) -> pd.DataFrame:
    """Precision / recall / F1 at each threshold from labelled pairs.

    Args:
        probabilities: match probabilities of the labelled pairs.
        labels: True when the pair is a true match.
        weights: pairs represented by each labelled pair (None: 1 each).
        thresholds: thresholds on the probability.

    Returns:
        DataFrame ``threshold, precision, recall, f1, n_labelled_above``.

    Examples:
        >>> c = labelled_curve([0.9, 0.8, 0.3], [True, False, True], thresholds=[0.5])
        >>> float(c.precision[0]), float(c.recall[0])
        (0.5, 0.5)
    """
    p = np.asarray(probabilities, dtype=float)
    y = np.asarray(labels, dtype=bool)
    w = np.ones(len(p)) if weights is None else np.asarray(weights, dtype=float)
    rows = []
    total_true = float((w * y).sum())
    for t in thresholds:
        above = p >= t
        tp = float((w * (y & above)).sum())
        n_above = float((w * above).sum())
        prec = tp / n_above if n_above else np.nan
        rec = tp / total_true if total_true else np.nan
        f1 = 2 * prec * rec / (prec + rec) if (prec + rec) > 0 else np.nan
        rows.append({"threshold": float(t), "precision": prec, "recall": rec, "f1": f1,
                     "n_labelled_above": int(above.sum())})
    return pd.DataFrame(rows)


def threshold_curves(probabilities: Sequence[float], *, thresholds: Sequence[float] = DEFAULT_GRID,
                     blocking_recall: float | None = None, n_exact: int = 0,
                     n_candidates: int | None = None, labelled: pd.DataFrame | None = None,
                     unassigned: float = 0.0) -> pd.DataFrame:
    """Estimated (and, with labels, labelled) curves, plus the match-rate sensitivity.

    Args:
        probabilities: assigned probabilistic pairs' probabilities.
        thresholds, blocking_recall, n_exact, n_candidates, unassigned: see
            :func:`appariement.evaluation.quality.estimates.error_curve`.
        labelled: a :func:`labelled_curve` on the same thresholds, merged with suffix
            ``_labelled``.

    Returns:
        The :func:`error_curve` table plus ``match_rate_change`` (change of the match rate per
        0.01 of threshold, the sensitivity) and labelled columns when given.

    Examples:
        >>> c = threshold_curves([0.99, 0.7, 0.4], thresholds=[0.5, 0.8], n_candidates=3)
        >>> c.n_links.tolist()
        [2, 1]
    """
    curve = error_curve(probabilities, thresholds, blocking_recall=blocking_recall,
                        n_exact=n_exact, n_candidates=n_candidates, unassigned=unassigned)
    t = curve["threshold"].to_numpy()
    rate = curve["match_rate"].to_numpy(dtype=float)
    if len(t) > 1:
        curve["match_rate_change"] = np.gradient(rate, t) * 0.01
    else:
        curve["match_rate_change"] = np.nan
    if labelled is not None:
        curve = curve.merge(labelled.add_suffix("_labelled").rename(
            columns={"threshold_labelled": "threshold"}), on="threshold", how="left")
    return curve


def recommend_threshold(curve: pd.DataFrame, objective: str = "max_f1", *,
                        target: float = 0.01, labelled: bool = False) -> dict[str, Any]:
    """Recommend a threshold for a stated objective.

    Args:
        curve: :func:`threshold_curves`.
        objective: ``max_f1``; ``max_recall_at_fdr`` (lowest threshold whose FDR <= target);
            ``max_precision_at_fnr`` (highest threshold whose FNR <= target).
        target: the error-rate bound of the constrained objectives.
        labelled: use the labelled columns instead of the estimates.

    Returns:
        dict ``threshold``, ``objective``, ``target``, ``precision``, ``recall``, ``f1``,
        ``basis`` ('labels' or 'label-free estimates'), ``met`` (False when no threshold meets
        the bound: the closest one is returned).

    Examples:
        >>> c = threshold_curves([0.99, 0.95, 0.7, 0.4], thresholds=[0.5, 0.9])
        >>> recommend_threshold(c, "max_recall_at_fdr", target=0.1)["threshold"]
        0.9
    """
    if objective not in OBJECTIVES:
        raise ConfigError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    sfx = "_labelled" if labelled else ""
    if curve.empty:  # no threshold could be published (disclosure control)
        return {"threshold": None, "objective": objective, "target": target,
                "precision": None, "recall": None, "f1": None,
                "basis": "none published", "met": False}
    prec = curve[f"precision{sfx}"].astype(float)
    rec = curve[f"recall{sfx}"].astype(float)
    f1 = curve[f"f1{sfx}"].astype(float)
    met = True
    if objective == "max_f1":
        idx = int(np.nanargmax(f1.to_numpy())) if f1.notna().any() else 0
    elif objective == "max_recall_at_fdr":
        ok = (1 - prec) <= target
        met = bool(ok.any())
        idx = int(np.flatnonzero(ok.to_numpy())[0]) if met else int(np.nanargmax(prec.to_numpy()))
    else:
        ok = (1 - rec) <= target
        met = bool(ok.any())
        idx = int(np.flatnonzero(ok.to_numpy())[-1]) if met else int(np.nanargmax(rec.to_numpy()))
    return {"threshold": float(curve["threshold"].iloc[idx]), "objective": objective,
            "target": target if objective != "max_f1" else None,
            "precision": _f(prec.iloc[idx]), "recall": _f(rec.iloc[idx]), "f1": _f(f1.iloc[idx]),
            "basis": "labels" if labelled else "label-free estimates", "met": met}


def _f(v):
    return None if pd.isna(v) else float(v)
