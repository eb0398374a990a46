"""Transparent estimators of the effect of an IAE hire on later employment (ATT).

Four estimates side by side, on the evaluation dataset of
:func:`appariement.evaluation.build_evaluation_dataset`:

* ``naive``: difference of means, treated minus comparison (no adjustment; shown to see the bias);
* ``ipw``: logistic propensity score on the time-zero covariates, comparison people weighted by
  ``ps / (1 - ps)`` (the ATT weights);
* ``matching``: nearest neighbours on the logit of the propensity score, within cells of the
  application month (exact), with replacement and a caliper. Treated people with no comparison
  within the caliper are left out and counted (``n_unmatched``): the matching estimate is then the
  ATT of the *matched* treated (the estimand column says so). The comparison people matched are
  then re-weighted by their censoring (and linkage) weights, so a censored neighbour hands its
  share to the matched comparison people still followed (a Hajek estimator on the matched set),
  and each neighbour's outcome is bias-corrected by the comparison outcome model (Abadie &
  Imbens 2011; ``bias_correction=False`` for plain matching);
* ``aipw``: the doubly robust (augmented IPW) ATT: an outcome model of the comparison arm
  (logistic for a 0/1 outcome, least squares otherwise, fitted with the censoring weights) whose
  residuals are re-weighted by the same ATT and censoring weights; consistent when either the
  propensity model or the outcome model is right.

Censoring (design ``later_hires="censor"``): comparison people hired after the grace period are
censored at their hire. Whether someone is hired later depends on what happens to them after
time zero (a person who finds another job stops searching), so the inverse probability of
censoring weights (IPCW) come from a **pooled person-month model** of the hazard of a later hire,
on the time-zero covariates, the month of follow-up and the time-varying covariates of
:attr:`EvaluationDataset.monthly` (employed at the start of the month, months employed since
time zero, candidatures pending), as target-trial emulations of dynamic strategies do (Hernan &
Robins, *Causal Inference: What If*, ch. 17 and 21). The weight of a comparison person still
followed at horizon h is ``prod_k (1 - hazard0_k) / (1 - hazard_k)`` over the months at risk up to
h: stabilised by the hazard of a model on the month alone (a constant per horizon, which cancels
in the normalised estimators but keeps the reported weights near 1), then truncated at the
``ipcw_truncation`` quantile (share truncated and effective sample size in the diagnostics). On a
plain DataFrame (no monthly covariates) the censoring model falls back to the time-zero
covariates and the estimator warns (``ipcw_time_zero_only``).

Confidence intervals: percentile bootstrap resampling persons (all trials of a person together),
re-fitting every model in each replicate (propensity, censoring and outcome models; frequency
weights and warm starts). For matching, the Abadie-Imbens (2006) variance is given beside it: the
bootstrap is not valid in theory for nearest-neighbour matching with a fixed number of neighbours
(Abadie & Imbens 2008), and the Abadie-Imbens figure treats the propensity score (and the
censoring weights) as known, so neither is exact; both are shown. As an option, inverse
probability of being linked (``linkage_weights=True``; valid only when linkage failures are
unrelated to the outcome given the covariates and the arm) is multiplied in.

Every estimate row carries its E-value (VanderWeele & Ding 2017): the smallest risk ratio that
an unobserved confounder would need with both the hire and the outcome, beyond the covariates,
to explain the estimate away (``e_value``), or to move its confidence interval to include no
effect (``e_value_ci``). See :func:`e_value`.

The estimator is an object (:class:`EffectEstimator`, scikit-learn conventions: the constructor
stores parameters, :meth:`EffectEstimator.fit` sets ``estimates_``, ``balance_``,
``diagnostics_`` and ``warnings_``); :func:`estimate_effects` is a thin function over it.

Examples:
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(500, 2))
    >>> t = (X[:, 0] + np.random.default_rng(1).normal(size=500)) > 0
    >>> beta = fit_logistic(X, t.astype(float))
    >>> bool(beta[1] > 0.5)
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from ..._log import get_logger
from ..._threads import single_blas_thread
from ...errors import ConfigError, InputError
from ...io.contract import CRITERIA_COLUMNS

__all__ = ["EffectEstimator", "EffectEstimates", "estimate_effects", "e_value", "fit_logistic",
           "standardised_differences", "DEFAULT_CATEGORICAL", "DEFAULT_NUMERIC", "METHODS",
           "ASSUMPTIONS", "SMD_THRESHOLD"]

_log = get_logger(__name__)

METHODS = ("naive", "ipw", "matching", "aipw")
#: |standardised mean difference| above which a covariate is flagged as imbalanced
SMD_THRESHOLD = 0.1
#: the identifying assumptions, in words (written in counterfactual.json and the page)
ASSUMPTIONS = (
    "No unmeasured confounding at time zero: given the covariates, being hired within the grace "
    "period is unrelated to what the employment path would have been without a hire (the "
    "E-values say how strong a hidden confounder would have to be to change the conclusion).",
    "Positivity: every treated person has comparable people who were not hired (overlap of the "
    "propensity scores; see the overlap diagnostics).",
    "Censoring at a later hire is explained by the covariates and the monthly history "
    "(employment, months employed, pending candidatures): no hidden reason makes a comparison "
    "person both more likely to be hired later and to be employed.",
    "Consistency and no interference: one version of 'hired in IAE', one person's hire does not "
    "change another's outcome.",
    "The comparison class is not selected on the outcome: refusals for eligibility are decided on "
    "the eligibility criteria, which also predict employment; their estimates are shown apart.",
    "Linkage errors are unrelated to the outcome given the covariates and the arm.",
)
#: covariates known at time zero (columns of the evaluation dataset)
DEFAULT_CATEGORICAL = ("age_band_t0", "sexe_t0", "prescriber_type_t0", "structure_type_t0",
                       "origine_t0", "residence_dept", "t0_year")
DEFAULT_NUMERIC = ("pre_months_employed_12", "pre_months_employed_24", "criteria_known_t0",
                   "n_prior_candidatures", *(f"{c}_t0" for c in CRITERIA_COLUMNS))


@dataclass
class EffectEstimates:
    """Estimates of the ATT and their diagnostics.

    Attributes:
        table: one row per method: outcome, method, estimand, estimate, se, ci_low, ci_high,
            (matching) se_ai, ci_low_ai, ci_high_ai, n_treated (treated in the estimate),
            n_unmatched (treated left out by the caliper), n_control (rows used), n_boot,
            e_value, e_value_ci.
        balance: one row per covariate (design column): mean_treated, mean_control,
            smd_before, smd_ipw, smd_matched (standardised mean differences), imbalanced
            (|smd| after weighting above the threshold).
        diagnostics: rows dropped and why, overlap (propensity quantiles by arm, treated off
            the comparison support), effective sample sizes, censoring weights (model, share
            truncated, effective sample size), unmatched treated, link rate by arm.
        warnings: ``[{"code", "message", "scope"}]`` (English, no identity, no small count).
        matched_treated: trial ids of the treated kept by the matching (pseudonymous keys,
            inside the enclave only: never written by the reports), to compare the matching
            estimate with its own estimand.
    """

    table: pd.DataFrame
    balance: pd.DataFrame
    diagnostics: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    matched_treated: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """JSON-ready content."""
        return {"estimates": _records(self.table), "balance": _records(self.balance),
                "diagnostics": self.diagnostics, "warnings": list(self.warnings)}


def _records(df: pd.DataFrame) -> list[dict]:
    out = []
    for row in df.to_dict(orient="records"):
        out.append({k: (None if isinstance(v, float) and not np.isfinite(v) else
                        (v.item() if hasattr(v, "item") else v)) for k, v in row.items()})
    return out


# ---------------------------------------------------------------- models

def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -35, 35)))


def _newton(X1: np.ndarray, y: np.ndarray, w: np.ndarray, pen: np.ndarray,
            beta0: np.ndarray | None, max_iter: int, tol: float) -> np.ndarray:
    """Penalised logistic fit by Newton steps on a design with its intercept column."""
    beta = np.zeros(X1.shape[1]) if beta0 is None else np.array(beta0, float)
    ridge = np.diag(pen + 1e-10)
    for _ in range(max_iter):
        p = _sigmoid(X1 @ beta)
        grad = X1.T @ (w * (y - p)) - pen * beta
        hess = X1.T @ (X1 * (w * p * (1 - p))[:, None]) + ridge
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            # collinear columns without a penalty (e.g. a month dummy equal to another):
            # the least-norm step leaves the unidentified direction alone
            step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            break
    return beta


def fit_logistic(X: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None, *,
                 ridge: float = 1.0, max_iter: int = 50, tol: float = 1e-6,
                 beta0: np.ndarray | None = None) -> np.ndarray:
    """Logistic regression by Newton steps, with a small ridge penalty (not on the intercept).

    The penalty keeps the fit finite with sparse categories (a département with only treated
    people) and costs nothing when the data are informative. Weights are frequency weights
    (a weight of 2 is the row twice), which is how the bootstrap re-fits without copying rows.

    Args:
        X: covariates (n, p), without the intercept column.
        y: 0/1 outcome.
        weights: observation weights (default 1).
        ridge: L2 penalty on the coefficients (0: plain maximum likelihood).
        max_iter / tol: Newton iterations and convergence tolerance.
        beta0: starting coefficients (a warm start, e.g. the full-sample fit); default 0.

    Returns:
        Coefficients (p + 1), the intercept first.

    Examples:
        >>> import numpy as np
        >>> X = np.array([[0.], [0.], [1.], [1.]]); y = np.array([0., 1., 1., 1.])
        >>> round(float(fit_logistic(X, y, ridge=0)[0]), 3)
        0.0
    """
    n = len(y)
    X1 = np.column_stack([np.ones(n), X])
    w = np.ones(n) if weights is None else np.asarray(weights, float)
    pen = np.full(X1.shape[1], float(ridge))
    pen[0] = 0.0
    with single_blas_thread():
        return _newton(X1, np.asarray(y, float), w, pen, beta0, max_iter, tol)


def _predict(X: np.ndarray, beta: np.ndarray) -> np.ndarray:
    return _sigmoid(beta[0] + X @ beta[1:])


def _wmean(y: np.ndarray, w: np.ndarray) -> float:
    s = w.sum()
    return float((w * y).sum() / s) if s > 0 else float("nan")


def standardised_differences(X: np.ndarray, t: np.ndarray, w_control: np.ndarray | None = None,
                             w_treated: np.ndarray | None = None) -> np.ndarray:
    """Standardised mean differences of each column (treated minus weighted comparison).

    The denominator is the unweighted pooled standard deviation ``sqrt((s1² + s0²) / 2)``, the
    same before and after weighting, so the figures are comparable.

    Args:
        X: covariates (n, p).
        t: boolean treatment.
        w_control / w_treated: weights of the comparison / treated rows (default 1).

    Returns:
        Array of p differences (0 where a column is constant).

    Examples:
        >>> import numpy as np
        >>> X = np.array([[1.], [0.], [1.], [0.]]); t = np.array([True, True, False, False])
        >>> standardised_differences(X, t).tolist()
        [0.0]
    """
    t = np.asarray(t, bool)
    wc = np.ones((~t).sum()) if w_control is None else w_control
    wt = np.ones(t.sum()) if w_treated is None else w_treated
    m1 = (X[t] * wt[:, None]).sum(0) / wt.sum()
    m0 = (X[~t] * wc[:, None]).sum(0) / wc.sum()
    sd = np.sqrt((X[t].var(0) + X[~t].var(0)) / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sd > 0, (m1 - m0) / np.where(sd > 0, sd, 1), 0.0)


# ---------------------------------------------------------------- data preparation

def _design_matrix(df: pd.DataFrame, categorical: Sequence[str], numeric: Sequence[str],
                   min_level: int = 1) -> tuple[np.ndarray, list[str]]:
    cols, names = [], []
    for c in numeric:
        if c not in df:
            raise ConfigError(f"covariate {c!r} is not a column of the evaluation dataset")
        v = pd.to_numeric(df[c].astype("float64"), errors="coerce").fillna(0.0).to_numpy()
        if np.ptp(v) > 0:
            cols.append(v)
            names.append(c)
    for c in categorical:
        if c not in df:
            raise ConfigError(f"covariate {c!r} is not a column of the evaluation dataset")
        v = df[c].astype("object").where(df[c].notna(), "missing").astype(str)
        counts = v.value_counts()
        rare = counts.index[counts < min_level]
        if len(rare) > 1:  # a dummy per 3-person département only adds noise to the weights
            v = v.where(~v.isin(rare), "(rare levels)")
        levels = v.value_counts().index.tolist()  # most frequent level is the reference
        for level in sorted(levels[1:]):
            cols.append((v == level).to_numpy(float))
            names.append(f"{c}={level}")
    X = np.column_stack(cols) if cols else np.zeros((len(df), 0))
    return X, names


def _standardise(X: np.ndarray) -> np.ndarray:
    sd = X.std(0)
    return (X - X.mean(0)) / np.where(sd > 0, sd, 1.0)


@dataclass
class _Censoring:
    """The pooled person-month model of a later hire (one row per comparison person-month at
    risk), or, without monthly covariates, None (time-zero model)."""

    row: np.ndarray        # sample row of each person-month
    X1: np.ndarray         # intercept, month dummies, numeric time-zero covariates, monthly
    #                        covariates (the time-zero censoring score is added at each fit)
    X1_num: np.ndarray     # intercept, month dummies (the stabilising model)
    event: np.ndarray      # the later hire falls in the month
    pen: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass
class _Sample:
    y: np.ndarray
    t: np.ndarray
    X1: np.ndarray         # standardised, intercept column first, for the models
    Xraw: np.ndarray       # as is, for the balance table
    cell: np.ndarray       # integer matching cell
    cluster: np.ndarray    # integer person code (0 .. n_clusters - 1)
    observed: np.ndarray   # outcome observed (not censored)
    linked: np.ndarray
    use_ipcw: bool
    use_iplw: bool
    binary: bool = True
    bias_correction: bool = True
    censoring: _Censoring | None = None
    truncation: float = 0.99
    pen: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: full-sample coefficients, the warm starts of the bootstrap re-fits
    warm: dict = field(default_factory=dict)

    def fit(self, name: str, X1: np.ndarray, y: np.ndarray, w: np.ndarray,
            pen: np.ndarray | None = None) -> np.ndarray:
        nz = w > 0  # a replicate leaves about a third of the rows out: do not carry them
        pen = self.pen[:X1.shape[1]] if pen is None else pen
        # a replicate takes a few Newton steps from the full-sample fit (the k-step bootstrap
        # of Andrews 2002: Newton converges quadratically, so 3 steps from a root-n consistent
        # start are as good as the converged fit for the bootstrap distribution)
        steps = _BOOT_STEPS if name in self.warm else 50
        beta = _newton(X1[nz], y[nz], w[nz], pen, self.warm.get(name), steps, 1e-6)
        self.warm.setdefault(name, beta)
        return beta


def _wls(X1: np.ndarray, y: np.ndarray, w: np.ndarray, pen: np.ndarray) -> np.ndarray:
    """Weighted ridge least squares (no penalty on the intercept)."""
    A = X1.T @ (X1 * w[:, None]) + np.diag(pen + 1e-10)
    return np.linalg.solve(A, X1.T @ (w * y))


def _ess(w: np.ndarray) -> float:
    w = w[w > 0]
    return float(w.sum() ** 2 / (w ** 2).sum()) if len(w) else 0.0


def _censoring_weights(s: _Sample, fw: np.ndarray, info: dict | None = None) -> np.ndarray:
    """Inverse probability of remaining uncensored (1 for the treated, 0 for the censored)."""
    w = np.ones(len(s.y))
    ctrl = ~s.t
    obs = s.observed
    if not (ctrl.any() and (~obs[ctrl]).any()):
        return w
    c = s.censoring
    if c is not None and len(c.row):
        fwm = fw[c.row]
        ev = c.event.astype(float)
        # the time-zero categorical covariates enter through one censoring score (the logit of
        # a person-level model of a later hire by h), so the person-month design stays narrow
        base = s.fit("ipcw_base", s.X1, (~obs).astype(float), fw * ctrl)
        score = s.X1 @ base
        score = (score - score[ctrl].mean()) / max(score[ctrl].std(), 1e-9)
        X1 = np.column_stack([c.X1, score[c.row]])
        beta = s.fit("ipcw_den", X1, ev, fwm, pen=c.pen)
        h_den = np.clip(_sigmoid(X1 @ beta), 0.0, 0.98)
        beta0 = s.fit("ipcw_num", c.X1_num, ev, fwm, pen=np.zeros(c.X1_num.shape[1]) + 1e-6)
        h_num = np.clip(_sigmoid(c.X1_num @ beta0), 0.0, 0.98)
        log_ratio = np.bincount(c.row, np.log1p(-h_num) - np.log1p(-h_den), len(s.y))
        raw = np.exp(log_ratio)
        model = "pooled person-month logistic (time-zero + monthly covariates)"
    else:
        beta = s.fit("ipcw", s.X1, obs.astype(float), fw * ctrl)
        raw = 1.0 / np.clip(_sigmoid(s.X1 @ beta), 0.02, 1.0)
        model = "logistic on time-zero covariates only"
    keep = ctrl & obs & (fw > 0)
    cap = float(np.quantile(raw[keep], s.truncation)) if keep.any() and s.truncation < 1 \
        else np.inf
    cw = np.minimum(raw, cap)
    w = np.where(ctrl, np.where(obs, cw, 0.0), 1.0)
    if info is not None:
        info.update({"model": model, "stabilised": c is not None and len(c.row) > 0,
                     "truncation_quantile": s.truncation,
                     "share_truncated": float((raw[keep] > cap).mean()) if keep.any() else 0.0,
                     "weight_quantiles": [float(v) for v in np.quantile(cw[keep], [0.5, 0.9,
                                                                                   0.99])]
                     if keep.any() else [],
                     "ess_share": _ess(cw[keep]) / keep.sum() if keep.any() else None})
    return w


def _weights(s: _Sample, fw: np.ndarray, info: dict | None = None) -> np.ndarray:
    """Censoring and linkage weights (0 where the outcome is unusable), frequency weights
    ``fw`` of a bootstrap replicate used in the fits but not multiplied in."""
    w = _censoring_weights(s, fw, info) if s.use_ipcw else np.ones(len(s.y))
    if s.use_iplw:
        Z1 = np.column_stack([s.X1, s.t.astype(float)])
        beta = s.fit("iplw", Z1, s.linked.astype(float), fw)
        p = np.clip(_sigmoid(Z1 @ beta), 0.02, 1.0)
        w = w * np.where(s.linked, 1.0 / p, 0.0)
    return np.where(s.observed, w, 0.0)


def _estimate_once(s: _Sample, fw: np.ndarray, methods: Sequence[str], k: int,
                   caliper_sd: float, point: bool = False) -> dict:
    """The estimates on frequency weights ``fw`` (ones: the sample; counts: a replicate)."""
    info: dict = {}
    w = _weights(s, fw, info if point else None)
    y, t, X1 = s.y, s.t, s.X1
    rw = fw * w                     # row weight of the estimators
    use = rw > 0
    out: dict = {"_censoring": info}
    tu, cu = t & use, ~t & use
    mean_t = _wmean(y[tu], rw[tu])
    if "naive" in methods:
        out["naive"] = mean_t - _wmean(y[cu], rw[cu])
        out["_mean_treated_naive"] = mean_t
    if set(methods) & {"ipw", "matching", "aipw"}:
        beta = s.fit("ps", X1, t.astype(float), fw)
        ps = np.clip(_sigmoid(X1 @ beta), 1e-6, 1 - 1e-6)
        odds = ps / (1 - ps)
    if "ipw" in methods:
        wc = rw[cu] * odds[cu]
        out["ipw"] = mean_t - _wmean(y[cu], wc)
        out["_mean_treated_ipw"] = mean_t
        if point:
            out["_ipw_weights"] = (rw[tu], wc)
            out["_ps"] = ps
    m0 = None
    if "aipw" in methods or ("matching" in methods and s.bias_correction):
        # the comparison arm's outcome model, fitted with the censoring (x linkage) weights
        if s.binary:
            b = s.fit("outcome", X1, y, rw * ~t)
            m0 = _sigmoid(X1 @ b)
        else:
            m0 = X1 @ _wls(X1[cu], y[cu], rw[cu], s.pen[:X1.shape[1]])
    if "aipw" in methods:
        r = y - m0
        out["aipw"] = _wmean(r[tu], rw[tu]) - _wmean(r[cu], rw[cu] * odds[cu])
        out["_mean_treated_aipw"] = mean_t
    if "matching" in methods:
        _matching(s, fw, w, ps, k, caliper_sd, point, out, m0)
    out["_n_treated"] = int(tu.sum())
    out["_n_control"] = int(cu.sum())
    return out


def _matching(s: _Sample, fw: np.ndarray, w: np.ndarray, ps: np.ndarray, k: int,
              caliper_sd: float, point: bool, out: dict, m0: np.ndarray | None) -> None:
    """Nearest-neighbour matching on every comparison row followed at time zero (censored
    ones included: their propensity is known at t0), then the matched comparison people
    re-weighted by their censoring / linkage weights ``w`` (Hajek on the matched set)."""
    y, t = s.y, s.t
    lps = np.log(ps / (1 - ps))
    pool = (fw > 0) & (~t | (w > 0))   # treated with a usable outcome, every comparison row
    sub = np.flatnonzero(pool)
    ti, nb = _match(lps[sub], t[sub], s.cell[sub], k, caliper_sd * lps[sub].std())
    nb_rows = np.where(nb >= 0, sub[np.maximum(nb, 0)], -1)
    t_rows = sub[ti]
    has = (nb_rows >= 0).any(1)
    tr = t_rows[has]
    out["_n_matched"] = int(has.sum())
    out["_n_unmatched"] = int((~has).sum())
    out["_matched_rows"] = tr
    if not has.any():
        out["matching"] = float("nan")
        return
    a = fw[tr] * w[tr]
    a = a / a.sum()
    rows = np.maximum(nb_rows[has], 0)
    found = nb_rows[has] >= 0
    share = found / found.sum(1)[:, None]                 # 1/k_i over the neighbours found
    c = np.where(found, w[rows], 0.0)                     # censoring x linkage weight
    m = a[:, None] * share                                # matching weight of each pair
    cbar = (m * c).sum()
    if cbar <= 0:
        out["matching"] = float("nan")
        return
    lam_pair = m * c / cbar                               # comparison weight of each pair
    # Abadie & Imbens (2011) bias correction: a neighbour's outcome moved by the outcome
    # model's difference between the treated person and the neighbour (0 without it)
    adj = (m0[tr][:, None] - m0[rows]) if m0 is not None else np.zeros(rows.shape)
    y_nb = y[rows] + adj
    mean_t = float((a * y[tr]).sum())
    mean_c = float((lam_pair * y_nb).sum())
    est = mean_t - mean_c
    out["matching"] = est
    out["_mean_treated_matching"] = mean_t
    if point:
        lam = np.zeros(len(y))
        q = np.zeros(len(y))
        np.add.at(lam, rows.ravel(), lam_pair.ravel())
        np.add.at(q, rows.ravel(), (lam_pair ** 2).ravel())
        # each treated's own counterfactual: its followed neighbours (else the matched mean)
        cw = share * c
        own = cw.sum(1)
        y0 = np.where(own > 0, (cw * y_nb).sum(1) / np.where(own > 0, own, 1.0), mean_c)
        ctrl = np.flatnonzero(~t & (w > 0))
        sigma2 = np.zeros(len(y))
        sigma2[ctrl] = _same_arm_variance(y[ctrl], lps[ctrl], s.cell[ctrl])
        # Abadie-Imbens (2006) variance of the population ATT, given the propensity score and
        # the censoring weights
        var = float((a ** 2 * (y[tr] - y0 - est) ** 2).sum() + ((lam ** 2 - q) * sigma2).sum())
        out["_se_ai"] = float(np.sqrt(max(var, 0.0)))
        tw = np.zeros(len(y))
        tw[tr] = a
        out["_match_weights"] = (tw, lam)


# ---------------------------------------------------------------- sensitivity

def e_value(estimate: float, bound: float | None = None, *, mean_treated: float | None = None,
            sd: float | None = None, binary: bool = True) -> tuple[float, float]:
    """E-values of an ATT (VanderWeele & Ding 2017) and of its confidence bound nearer the null.

    The E-value is the smallest risk ratio that an unobserved confounder would need with both
    the treatment and the outcome (beyond the measured covariates) to explain the estimate away:
    ``E = RR + sqrt(RR * (RR - 1))`` for ``RR >= 1`` (``1 / RR`` first when below 1). A risk
    difference on a 0/1 outcome is converted through the risk ratio of the treated mean to the
    counterfactual mean of the treated, ``RR = p1 / (p1 - ATT)``, as the E-value literature does;
    a difference of means on another outcome through the standardised difference ``d = ATT /
    sd`` and ``RR = exp(0.91 d)`` (VanderWeele & Ding 2017, section on continuous outcomes).

    Args:
        estimate: the ATT (a risk difference or a difference of means).
        bound: the confidence bound nearer the null (``ci_low`` for a positive estimate,
            ``ci_high`` for a negative one); None: no CI E-value.
        mean_treated: the treated mean p1 (0/1 outcomes).
        sd: standard deviation of the outcome (other outcomes).
        binary: the outcome is 0/1.

    Returns:
        ``(e_value, e_value_ci)``; 1.0 for the bound when the interval includes no effect,
        NaN when the figures do not allow the conversion.

    Examples:
        >>> [round(v, 3) for v in e_value(0.1, 0.05, mean_treated=0.5)]
        [1.809, 1.462]
        >>> round(e_value(0.2, None, sd=1.0, binary=False)[0], 3)
        1.689
    """
    def rr_of(diff: float) -> float:
        if binary:
            if mean_treated is None or not np.isfinite(mean_treated):
                return float("nan")
            p0 = mean_treated - diff
            if p0 <= 0 or mean_treated <= 0:
                return float("inf")
            return mean_treated / p0
        if sd is None or not sd > 0:
            return float("nan")
        return float(np.exp(0.91 * diff / sd))

    def ev(rr: float) -> float:
        if not np.isfinite(rr) and not (rr == float("inf")):
            return float("nan")
        if rr == float("inf"):
            return float("inf")
        rr = 1.0 / rr if rr < 1 else rr
        return float(rr + np.sqrt(rr * (rr - 1.0)))

    if estimate is None or not np.isfinite(estimate):
        return float("nan"), float("nan")
    point = ev(rr_of(float(estimate)))
    if bound is None or not np.isfinite(bound):
        return point, float("nan")
    if (estimate > 0 and bound <= 0) or (estimate < 0 and bound >= 0) or estimate == 0:
        return point, 1.0
    return point, ev(rr_of(float(bound)))


# ---------------------------------------------------------------- the estimator object

_CENSORING = ("ipcw", "drop")


class EffectEstimator:
    """The ATT of an IAE hire within the grace period, by several methods side by side.

    scikit-learn conventions: the constructor only stores and checks the parameters;
    :meth:`fit` estimates and sets the attributes ending in ``_``.

    Which ATT depends on the design's ``later_hires`` (comparison people hired after the grace
    period): ``"censor"`` (default) estimates hired within the grace period **versus never
    hired** (their outcome at a horizon is used only when the later hire came after it,
    re-weighted by the inverse probability of not being censored from a person-month model with
    time-varying covariates); ``"keep"`` estimates hired within the grace period **versus not
    hired within it** (a later hire and its effect stay in the comparison outcome; the
    estimator warns that this contrast rests on the later-hire dynamics); ``"exclude"`` drops
    later hires (a selected comparison arm).

    Args:
        outcome: an outcome column, e.g. ``employed_12m``, ``durable_24m``,
            ``months_employed_12m``; its horizon (``_12m``) selects the follow-up flags.
        methods: some of ``naive``, ``ipw``, ``matching``, ``aipw``.
        n_boot: bootstrap replicates (0: point estimates only). Persons are resampled and
            every model re-fitted.
        seed: bootstrap seed.
        alpha: 1 - confidence level.
        categorical / numeric: covariates (columns known at time zero).
        treatment: ``"treated"`` (the design's arm). Another boolean column (``ever_hired``)
            re-labels the same rows, WITHOUT censoring: for showing the immortal-time bias only.
        censoring: comparison people hired after the grace period but before the horizon, under
            ``later_hires="censor"``: ``"ipcw"`` (inverse probability of censoring weights) or
            ``"drop"``.
        ipcw_truncation: the censoring weights are truncated at this quantile of the weights
            of the comparison people followed (1: no truncation).
        linkage_weights: drop unlinked rows and weight linked ones by the inverse probability
            of being linked given the covariates and the arm.
        n_neighbors / caliper: matching: neighbours per treated, caliper in standard deviations
            of the logit propensity score.
        bias_correction: matching: correct each neighbour's outcome by the comparison outcome
            model's difference between the treated person and the neighbour (Abadie & Imbens
            2011; the model AIPW uses); False: plain nearest-neighbour matching.
        match_cell: column matched exactly (None: no cells).
        ridge: L2 penalty of the logistic models.
        min_level: levels of a categorical covariate with fewer rows (in the two arms) are
            pooled into one ``(rare levels)`` level (1: no pooling).
        smd_threshold: |standardised mean difference| after weighting above which a covariate
            is flagged (warning ``imbalance_after_weighting``).
        design: the :class:`~appariement.evaluation.CounterfactualDesign` when ``fit`` gets a
            DataFrame without it in ``df.attrs``.

    Attributes (after :meth:`fit`):
        estimates_: one row per method (see :class:`EffectEstimates`).
        balance_: one row per covariate.
        diagnostics_: rows dropped, overlap, weights, censoring model, unmatched treated.
        warnings_: ``[{"code", "message", "scope"}]``, also logged.

    Raises:
        ConfigError: a parameter is not allowed (named, with the allowed values).

    Examples:
        >>> EffectEstimator(methods=("ipw", "aipw"), n_boot=0).methods
        ('ipw', 'aipw')
        >>> EffectEstimator(censoring="impute")
        Traceback (most recent call last):
        ...
        appariement.errors.ConfigError: EffectEstimator.censoring='impute' is not allowed; use one of ipcw, drop
    """

    def __init__(self, outcome: str = "employed_12m", methods: Sequence[str] = METHODS, *,
                 n_boot: int = 200, seed: int = 0, alpha: float = 0.05,
                 categorical: Sequence[str] = DEFAULT_CATEGORICAL,
                 numeric: Sequence[str] = DEFAULT_NUMERIC, treatment: str = "treated",
                 censoring: str = "ipcw", ipcw_truncation: float = 0.99,
                 linkage_weights: bool = False, n_neighbors: int = 1, caliper: float = 0.2,
                 bias_correction: bool = True,
                 match_cell: str | None = "t0_month", ridge: float = 1.0, min_level: int = 1,
                 smd_threshold: float = SMD_THRESHOLD, design=None) -> None:
        methods = (methods,) if isinstance(methods, str) else tuple(methods)
        bad = [m for m in methods if m not in METHODS]
        if bad or not methods:
            raise ConfigError(f"EffectEstimator.methods {bad or list(methods)!r} not allowed; "
                              f"use some of {', '.join(METHODS)}")
        if censoring not in _CENSORING:
            raise ConfigError(f"EffectEstimator.censoring={censoring!r} is not allowed; use one "
                              f"of {', '.join(_CENSORING)}")
        if not re.search(r"_(\d+)m$", outcome):
            raise ConfigError(f"outcome {outcome!r} must be an outcome column ending in _<h>m, "
                              "e.g. employed_12m")
        if min_level < 1:
            raise ConfigError(f"min_level must be at least 1, got {min_level!r}")
        if not 0.5 <= float(ipcw_truncation) <= 1.0:
            raise ConfigError(f"EffectEstimator.ipcw_truncation must be a quantile in [0.5, 1], "
                              f"got {ipcw_truncation!r}")
        if not 0 < float(alpha) < 1:
            raise ConfigError(f"EffectEstimator.alpha must be in (0, 1), got {alpha!r}")
        if not isinstance(n_neighbors, int) or n_neighbors < 1:
            raise ConfigError(f"EffectEstimator.n_neighbors must be a positive integer, got "
                              f"{n_neighbors!r}")
        self.outcome, self.methods = outcome, methods
        self.n_boot, self.seed, self.alpha = int(n_boot), seed, float(alpha)
        self.categorical, self.numeric = tuple(categorical), tuple(numeric)
        self.treatment, self.censoring = treatment, censoring
        self.ipcw_truncation = float(ipcw_truncation)
        self.linkage_weights, self.n_neighbors, self.caliper = linkage_weights, n_neighbors, caliper
        self.match_cell, self.ridge, self.min_level = match_cell, ridge, int(min_level)
        self.bias_correction = bool(bias_correction)
        self.smd_threshold, self.design = float(smd_threshold), design

    def get_params(self) -> dict:
        """The constructor parameters."""
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}

    def fit(self, dataset) -> "EffectEstimator":
        """Estimate on an :class:`~appariement.evaluation.EvaluationDataset` (or its pandas
        frame: the design then comes from ``df.attrs`` or the ``design`` parameter, and the
        censoring weights use time-zero covariates only).

        Raises:
            ConfigError: unknown outcome, treatment or covariate column.
            InputError: no row of either arm is linked (the outcomes would all be "not
                employed").
        """
        with single_blas_thread():
            est = _fit(self, dataset)
        self.estimates_, self.balance_ = est.table, est.balance
        self.diagnostics_, self.warnings_ = est.diagnostics, est.warnings
        self.result_ = est
        for w in est.warnings:
            _log.warning("counterfactual %s [%s]: %s", w["code"], w.get("scope", ""),
                         w["message"])
        return self


def estimate_effects(dataset, outcome: str = "employed_12m",
                     methods: Sequence[str] = METHODS, *, n_boot: int = 200, seed: int = 0,
                     alpha: float = 0.05, categorical: Sequence[str] = DEFAULT_CATEGORICAL,
                     numeric: Sequence[str] = DEFAULT_NUMERIC, treatment: str = "treated",
                     censoring: str = "ipcw", linkage_weights: bool = False,
                     n_neighbors: int = 1, caliper: float = 0.2, match_cell: str | None =
                     "t0_month", ridge: float = 1.0, min_level: int = 1,
                     ipcw_truncation: float = 0.99, smd_threshold: float = SMD_THRESHOLD,
                     bias_correction: bool = True, design=None) -> EffectEstimates:
    """Estimate the ATT of an IAE hire within the grace period: ``EffectEstimator(...).fit``.

    Args:
        dataset: an :class:`~appariement.evaluation.EvaluationDataset` (or its pandas frame).
        outcome, methods, ...: the parameters of :class:`EffectEstimator`.

    Returns:
        An :class:`EffectEstimates` (``table``, ``balance``, ``diagnostics``, ``warnings``).
        ``se`` / ``ci_low`` / ``ci_high`` are from the percentile bootstrap; for matching,
        ``se_ai`` / ``ci_low_ai`` / ``ci_high_ai`` add the Abadie-Imbens variance.

    Raises:
        ConfigError: unknown method, outcome or option.
        InputError: no row of either arm is linked (the outcomes would all be "not employed").

    Examples:
        >>> import duckdb
        >>> from appariement.synth import SynthConfig, generate
        >>> from appariement.evaluation import build_evaluation_dataset
        >>> d = generate(SynthConfig(n_candidates=400, source_ratio=2, seed=2))
        >>> ds = build_evaluation_dataset(duckdb.connect(), d.platform,
        ...                               d.source["periodes_emploi"], d.truth["links"])
        >>> est = estimate_effects(ds, "employed_12m", n_boot=0)
        >>> est.table["method"].tolist()
        ['naive', 'ipw', 'matching', 'aipw']
    """
    return EffectEstimator(
        outcome, methods, n_boot=n_boot, seed=seed, alpha=alpha, categorical=categorical,
        numeric=numeric, treatment=treatment, censoring=censoring,
        ipcw_truncation=ipcw_truncation, linkage_weights=linkage_weights,
        n_neighbors=n_neighbors, caliper=caliper, bias_correction=bias_correction,
        match_cell=match_cell, ridge=ridge, min_level=min_level, smd_threshold=smd_threshold,
        design=design).fit(dataset).result_


#: Newton steps of a bootstrap replicate's re-fit (from the full-sample coefficients)
_BOOT_STEPS = 3
_MONTHLY_COVARIATES = ("employed_start", "months_employed_since_t0", "pending_candidatures")


def _censoring_design(monthly: pd.DataFrame | None, df: pd.DataFrame, Xs: np.ndarray, t, h: int,
                      numeric: np.ndarray) -> _Censoring | None:
    """Person-month rows of the comparison people at risk of a later hire up to horizon h."""
    if monthly is None:
        return None
    pos = pd.Series(np.arange(len(df)), index=df["trial_id"].astype(str).to_numpy())
    m = monthly[(monthly["k"] <= h) & monthly["at_risk_of_hire"].astype(bool)]
    m = m[m["trial_id"].astype(str).isin(pos.index)]
    row = pos.reindex(m["trial_id"].astype(str).to_numpy()).to_numpy()
    keep = ~t[row]
    m, row = m[keep], row[keep]
    # at risk until the month of the later hire (included)
    ev = m["hired_in_month"].astype(bool).to_numpy()
    first_ev = pd.Series(np.where(ev, m["k"].to_numpy(), 10 ** 6)).groupby(row).transform("min")
    at = m["k"].to_numpy() <= first_ev.to_numpy()
    m, row, ev = m[at], row[at], ev[at]
    if not len(row):
        return None
    months = sorted(m["k"].unique())
    kd = np.column_stack([(m["k"].to_numpy() == k).astype(float) for k in months[1:]]) \
        if len(months) > 1 else np.zeros((len(m), 0))
    tv = []
    for c in _MONTHLY_COVARIATES:
        v = pd.to_numeric(m[c].astype("float64"), errors="coerce").fillna(0.0).to_numpy()
        tv.append(v)
    tv = np.column_stack(tv)
    tv = (tv - tv.mean(0)) / np.where(tv.std(0) > 0, tv.std(0), 1.0)
    ones = np.ones((len(m), 1))
    X1 = np.column_stack([ones, kd, Xs[row][:, numeric], tv])
    return _Censoring(row=row.astype(np.int64), X1=X1, X1_num=np.column_stack([ones, kd]),
                      event=ev)


def _fit(p: EffectEstimator, dataset) -> EffectEstimates:
    outcome, methods = p.outcome, p.methods
    h = int(re.search(r"_(\d+)m$", outcome).group(1))
    design = getattr(dataset, "design", None)
    added = dict(getattr(dataset, "added_covariates", {}) or {})
    monthly = None
    warnings: list[dict] = []
    if hasattr(dataset, "to_pandas"):
        df = dataset.to_pandas()
        if getattr(dataset, "monthly", None) is not None:
            monthly = dataset.monthly_pandas()
    else:
        attrs = dict(getattr(dataset, "attrs", {}) or {})
        df = pd.DataFrame(dataset)
        design = design or attrs.get("counterfactual_design")
        added = {**attrs.get("added_covariates", {}), **added}
    design = design or p.design
    if outcome not in df:
        raise ConfigError(f"outcome {outcome!r} is not a column of the evaluation dataset")
    if p.treatment not in df:
        raise ConfigError(f"treatment column {p.treatment!r} not in the evaluation dataset")
    df = df[df["arm"].isin(["treated", "comparison"])].reset_index(drop=True)
    if len(df) and not df["linked"].astype(bool).any():
        raise InputError("no trial of the treated and comparison arms is linked to the source, "
                         "so every outcome would read 'not employed'; check the links (their "
                         "decision column, or the design's match_threshold) before estimating")
    if "trial_id" not in df:
        df["trial_id"] = df["candidat_id"].astype(str)
    df["t0_year"] = pd.to_datetime(df["t0"]).dt.year
    diag: dict = {"outcome": outcome, "treatment": p.treatment, "rows_in_arms": int(len(df))}
    not_followed = ~df[f"observed_{h}m"].astype(bool)
    missing_y = df[outcome].isna()
    diag["dropped_not_followed_up"] = int(not_followed.sum())
    diag["dropped_missing_outcome"] = int((missing_y & ~not_followed).sum())
    df = df[~not_followed & (~missing_y | p.linkage_weights)].reset_index(drop=True)
    t = df[p.treatment].astype(bool).to_numpy()
    observed = np.ones(len(df), bool)
    later = design is not None and design.later_hires == "censor" and p.treatment == "treated"
    diag["estimand"] = _estimand(design, p.treatment)
    if design is None and f"hired_later_by_{h}m" in df and \
            (df[f"hired_later_by_{h}m"].astype(bool) & ~pd.Series(t)).any():
        warnings.append(_warn("design_unknown", "the frame carries no design (use "
                              "EvaluationDataset.to_pandas or with_covariates, or pass design=): "
                              "comparison people hired after the grace period are NOT censored, "
                              "so their own later hire counts in the comparison outcome"))
    if later:
        cens = df[f"hired_later_by_{h}m"].astype(bool).to_numpy() & ~t
        observed &= ~cens
        diag["censored_later_hire"] = int(cens.sum())
    linked = df["linked"].astype(bool).to_numpy()
    if p.linkage_weights:
        observed &= linked
    y = pd.to_numeric(df[outcome].astype("float64"), errors="coerce").fillna(0.0).to_numpy()
    Xraw, names = _design_matrix(df, p.categorical, p.numeric, p.min_level)
    cell = (pd.factorize(df[p.match_cell].astype(str))[0] if p.match_cell
            else np.zeros(len(df), int))
    cluster, uniques = pd.factorize(df["candidat_id"])
    # numeric covariates standardised; 0/1 dummies only centred, so the ridge penalty acts on
    # their own scale: a rare level (a 3-person département) is shrunk instead of fitted to
    # near-certain propensities, which made bootstrap replicates of the weights explode
    is_dummy = np.array(["=" in name for name in names], bool)
    Xm = Xraw - Xraw.mean(0) if Xraw.size else Xraw
    Xs = np.where(is_dummy[None, :], Xm, _standardise(Xraw)) if Xraw.size else Xraw
    X1 = np.column_stack([np.ones(len(df)), Xs])
    pen = np.full(X1.shape[1] + 1, float(p.ridge))  # + 1: the arm column of the linkage model
    pen[0] = 0.0
    use_ipcw = later and p.censoring == "ipcw"
    cens_design = (_censoring_design(monthly, df, Xs, t, h, ~is_dummy) if use_ipcw and Xs.size
                   else None)
    if cens_design is not None:  # + 1: the time-zero censoring score
        cens_design.pen = np.r_[0.0, np.full(cens_design.X1.shape[1], float(p.ridge))]
    if use_ipcw and diag.get("censored_later_hire") and cens_design is None:
        warnings.append(_warn("ipcw_time_zero_only", "the censoring weights for later hires use "
                              "time-zero covariates only (no monthly covariates: a DataFrame "
                              "was given); if later hires depend on what happens after time "
                              "zero (another job found first), censoring is informative and "
                              "the estimates are biased. Estimate on the EvaluationDataset."))
    binary = bool(np.isin(y, (0.0, 1.0)).all())
    s = _Sample(y=y, t=t, X1=X1, Xraw=Xraw, cell=cell, cluster=cluster,
                observed=observed, linked=linked, use_ipcw=use_ipcw,
                use_iplw=p.linkage_weights, binary=binary,
                bias_correction=p.bias_correction, censoring=cens_design,
                truncation=p.ipcw_truncation, pen=pen)
    if t.sum() == 0 or (~t).sum() == 0:
        raise ConfigError(f"outcome {outcome!r}: no treated or no comparison row to compare "
                          f"({int(t.sum())} treated, {int((~t).sum())} comparison)")
    ones = np.ones(len(df))
    point = _estimate_once(s, ones, methods, p.n_neighbors, p.caliper, point=True)
    boots = {m: [] for m in methods}
    if p.n_boot:
        rng = np.random.default_rng(p.seed)
        for _ in range(p.n_boot):
            fw = _replicate_weights(cluster, len(uniques), rng)
            if not (fw * t).any() or not (fw * ~t).any():
                continue
            res = _estimate_once(s, fw, methods, p.n_neighbors, p.caliper)
            for m in methods:
                boots[m].append(res[m])
    z = _normal_quantile(1 - p.alpha / 2)
    sd0 = float(y[~t & observed].std()) if (~t & observed).any() else float("nan")
    rows = []
    for m in methods:
        b = np.asarray([v for v in boots[m] if np.isfinite(v)])
        lo, hi = (np.quantile(b, [p.alpha / 2, 1 - p.alpha / 2]) if len(b) > 1
                  else (np.nan, np.nan))
        n_t = point["_n_matched"] if m == "matching" else point["_n_treated"]
        se_ai = point.get("_se_ai", np.nan) if m == "matching" else np.nan
        est = point[m]
        nearer = lo if est > 0 else hi
        ev, ev_ci = e_value(est, nearer, mean_treated=point.get(f"_mean_treated_{m}"),
                            sd=sd0, binary=binary)
        rows.append({"outcome": outcome, "method": m,
                     "estimand": _row_estimand(m, point), "estimate": est,
                     "se": float(b.std(ddof=1)) if len(b) > 1 else np.nan,
                     "ci_low": float(lo), "ci_high": float(hi),
                     "se_ai": se_ai, "ci_low_ai": est - z * se_ai,
                     "ci_high_ai": est + z * se_ai, "n_treated": n_t,
                     "n_unmatched": point["_n_unmatched"] if m == "matching" else 0,
                     "n_control": point["_n_control"], "n_boot": int(len(b)),
                     "e_value": ev, "e_value_ci": ev_ci})
    table = pd.DataFrame(rows)
    balance = _balance(s, point, names, p.smd_threshold, diag)
    if "matching" in methods:
        diag["unmatched_treated"] = point["_n_unmatched"]
    if point["_censoring"]:
        diag["censoring_weights"] = point["_censoring"]
    diag["link_rate_by_arm"] = {
        "treated": float(linked[t].mean()) if t.any() else None,
        "comparison": float(linked[~t].mean()) if (~t).any() else None}
    warnings += _warnings(p, diag, balance, df, design, added, names, point)
    scope = f"outcome {outcome}"
    warnings = [{**w, "scope": scope} for w in warnings]
    matched = (df["trial_id"].to_numpy()[point["_matched_rows"]] if "_matched_rows" in point
               else None)
    return EffectEstimates(table=table, balance=balance, diagnostics=diag, warnings=warnings,
                           matched_treated=matched)


def _row_estimand(method: str, point: dict) -> str:
    if method == "matching" and point.get("_n_unmatched"):
        return ("ATT of the matched treated (treated without a comparison within the caliper "
                "are left out: n_unmatched)")
    if method == "naive":
        return "difference of means (no adjustment)"
    return "ATT"


def _balance(s: _Sample, point: dict, names: list, threshold: float, diag: dict
             ) -> pd.DataFrame:
    balance = pd.DataFrame({"covariate": names})
    if not names:
        return balance
    Xraw, tt = s.Xraw, s.t
    use = _weights(s, np.ones(len(s.y))) > 0
    balance["mean_treated"] = Xraw[tt].mean(0)
    balance["mean_control"] = Xraw[~tt].mean(0)
    balance["smd_before"] = standardised_differences(Xraw, tt)
    after = []
    if "_ipw_weights" in point:
        wt, wc = point["_ipw_weights"]
        balance["smd_ipw"] = standardised_differences(Xraw[use], tt[use], wc, wt)
        after.append("smd_ipw")
        ps = point["_ps"]
        qs = [0.05, 0.25, 0.5, 0.75, 0.95]
        diag["propensity_quantiles"] = {
            "quantiles": qs, "treated": [float(v) for v in np.quantile(ps[tt], qs)],
            "comparison": [float(v) for v in np.quantile(ps[~tt], qs)]}
        diag["propensity_range_treated"] = [float(ps[tt].min()), float(ps[tt].max())]
        diag["propensity_range_control"] = [float(ps[~tt].min()), float(ps[~tt].max())]
        diag["share_treated_off_support"] = float(
            ((ps[tt] > ps[~tt].max()) | (ps[tt] < ps[~tt].min())).mean())
        diag["ess_control_ipw"] = _ess(wc)
        diag["ess_share_control_ipw"] = _ess(wc) / max(len(wc), 1)
    if "_match_weights" in point:
        tw, cw = point["_match_weights"]
        keep = (tw > 0) | (cw > 0)
        if (tw > 0).any() and (cw > 0).any():
            balance["smd_matched"] = standardised_differences(
                Xraw[keep], tt[keep], cw[keep][~tt[keep]], tw[keep][tt[keep]])
            after.append("smd_matched")
            diag["ess_share_control_matched"] = _ess(cw) / max(int((cw > 0).sum()), 1)
    if after:
        worst = balance[after].abs().max(axis=1)
        balance["imbalanced"] = worst > threshold
        diag["max_abs_smd_after"] = {c: float(balance[c].abs().max()) for c in after}
    diag["smd_threshold"] = threshold
    return balance


def _warn(code: str, message: str) -> dict:
    return {"code": code, "message": message}


def _share_words(x: float) -> str:
    """A share in coarse words (no count can be recomputed from it)."""
    return ("under 5 %" if x < 0.05 else "5 to 20 %" if x < 0.2 else "20 to 50 %" if x < 0.5
            else "over 50 %")


def _time_references(added: dict) -> dict:
    from .dataset import codebook
    refs = {r["column"]: r["time_reference"] for r in codebook()}
    refs.update({"t0_year": "t0"})
    refs.update(added)
    return refs


def _warnings(p: EffectEstimator, diag: dict, balance: pd.DataFrame, df: pd.DataFrame,
              design, added: dict, names: list, point: dict) -> list[dict]:
    out = []
    off = diag.get("share_treated_off_support")
    if off is not None and off > 0.01:
        out.append(_warn("overlap_off_support", f"{_share_words(off)} of the treated have a "
                         "propensity score outside the range of the comparison arm: the "
                         "weighted estimates extrapolate there (positivity)"))
    ess = diag.get("ess_share_control_ipw")
    if ess is not None and ess < 0.1:
        out.append(_warn("low_effective_sample", f"the IPW comparison arm's effective sample "
                         f"size is {ess:.0%} of its rows: a few comparison people carry the "
                         "estimate (weak overlap)"))
    cw = diag.get("censoring_weights", {})
    if cw.get("ess_share") is not None and cw["ess_share"] < 0.5:
        out.append(_warn("censoring_weights_concentrated", "the censoring weights' effective "
                         f"sample size is {cw['ess_share']:.0%} of the comparison people "
                         "followed: later hires are well predicted, little information is left"))
    for col, worst in diag.get("max_abs_smd_after", {}).items():
        if worst > p.smd_threshold:
            bad = balance.loc[balance[col].abs() > p.smd_threshold, "covariate"].tolist()
            out.append(_warn("imbalance_after_weighting", f"{col}: largest |standardised "
                             f"difference| after adjustment is {worst:.2f} (threshold "
                             f"{p.smd_threshold:g}) on {', '.join(bad[:5])}"
                             f"{' ...' if len(bad) > 5 else ''}"))
    if point.get("_n_unmatched"):
        share = point["_n_unmatched"] / max(point["_n_unmatched"] + point["_n_matched"], 1)
        out.append(_warn("unmatched_treated", f"{_share_words(share)} of the treated have no "
                         "comparison within the caliper and are left out of the matching "
                         "estimate, which is the ATT of the matched treated only"))
    if "refusal_class_t0" in df:
        comp = df.loc[~df[p.treatment].astype(bool), "refusal_class_t0"].astype(str)
        elig = float((comp == "eligibility").mean()) if len(comp) else 0.0
        if elig > 0:
            out.append(_warn("comparison_selected_on_eligibility", f"{_share_words(elig)} of "
                             "the comparison arm were refused for eligibility: that refusal is "
                             "decided on the eligibility criteria (and what the employer saw), "
                             "which also predict employment, so this class is selected; compare "
                             "the estimates by refusal class"))
    refs = _time_references(added)
    used = sorted({n.split("=", 1)[0] for n in names})
    late = [c for c in used if refs.get(c, "unknown") != "t0"]
    if late:
        out.append(_warn("covariate_after_t0", f"covariate(s) not known at time zero: "
                         f"{', '.join(late)} (time reference "
                         f"{', '.join(sorted({refs.get(c, 'unknown') for c in late}))}); a "
                         "covariate measured after time zero can be affected by the hire"))
    if design is not None and design.later_hires == "keep" and p.treatment == "treated":
        out.append(_warn("keep_contrast_not_identified", "later_hires='keep' compares a hire "
                         "now with 'not hired within the grace period', whose outcome includes "
                         "later hires and their effects; when the same search persistence drives "
                         "the hire and the later hires, this contrast is not identified by "
                         "time-zero covariates (prefer 'censor')"))
    return out


def _match(lps: np.ndarray, t: np.ndarray, cell: np.ndarray, k: int, caliper: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """k nearest comparison rows (on ``lps``) of each treated row within its cell.

    Returns:
        (treated row indices, (n_treated, k) comparison indices with -1 for none).
    """
    ti, ci = np.flatnonzero(t), np.flatnonzero(~t)
    if len(ci) == 0 or len(ti) == 0:
        return ti, np.full((len(ti), k), -1)
    lo_v, hi_v = lps.min(), lps.max()
    scale = (lps - lo_v) / (hi_v - lo_v + 1e-12)  # in [0, 1]
    key = cell * 4.0 + scale
    order = ci[np.argsort(key[ci], kind="stable")]
    ckey, ccell = key[order], cell[order]
    pos = np.searchsorted(ckey, key[ti])
    offsets = np.arange(-k, k)
    cand = pos[:, None] + offsets[None, :]
    valid = (cand >= 0) & (cand < len(order))
    cand_c = np.clip(cand, 0, len(order) - 1)
    same = valid & (ccell[cand_c] == cell[ti][:, None])
    dist = np.where(same, np.abs(lps[order[cand_c]] - lps[ti][:, None]), np.inf)
    dist = np.where(dist <= caliper, dist, np.inf)
    best = np.argsort(dist, axis=1, kind="stable")[:, :k]
    chosen = np.take_along_axis(cand_c, best, 1)
    ok = np.isfinite(np.take_along_axis(dist, best, 1))
    return ti, np.where(ok, order[chosen], -1)


def _same_arm_variance(y: np.ndarray, lps: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Conditional variance of each row's outcome, ``(y - y_j)² / 2`` with j its nearest row
    on ``lps`` in the same cell (Abadie & Imbens 2006, one within-arm match); 0 when alone."""
    n = len(y)
    if n < 2:
        return np.zeros(n)
    order = np.lexsort((lps, cell))
    ys, ls, cs = y[order], lps[order], cell[order]
    gap = np.full((n, 2), np.inf)
    gap[1:, 0] = np.where(cs[1:] == cs[:-1], ls[1:] - ls[:-1], np.inf)   # left neighbour
    gap[:-1, 1] = gap[1:, 0]                                              # right neighbour
    right = gap[:, 1] < gap[:, 0]
    nb = np.clip(np.where(right, np.arange(n) + 1, np.arange(n) - 1), 0, n - 1)
    alone = ~np.isfinite(gap.min(1))
    out = np.empty(n)
    out[order] = np.where(alone, 0.0, 0.5 * (ys - ys[nb]) ** 2)
    return out


def _replicate_weights(cluster: np.ndarray, n_clusters: int, rng: np.random.Generator
                       ) -> np.ndarray:
    """Frequency weights of one person-level bootstrap replicate (all trials of a person
    together): how many times each row's person was drawn."""
    counts = np.bincount(rng.integers(0, n_clusters, n_clusters), minlength=n_clusters)
    return counts[cluster].astype(float)


def _normal_quantile(p: float) -> float:
    """Standard normal quantile."""
    from statistics import NormalDist
    return NormalDist().inv_cdf(p)


def _estimand(design, treatment: str) -> str:
    if treatment != "treated":
        return (f"'{treatment}' versus not (immortal-time biased when the column is ever_hired; "
                "for illustration only)")
    later = getattr(design, "later_hires", "keep") if design is not None else "keep"
    return {"censor": "ATT of a hire within the grace period versus never being hired "
                      "(later hires censored at their hire, IPCW)",
            "keep": "ATT of a hire within the grace period versus no hire within it (a later "
                    "hire and its effect count in the comparison outcome)",
            "exclude": "ATT of a hire within the grace period versus comparison people never "
                       "hired during the follow-up (later hires dropped: a selected arm)"}[later]
