"""Transparent estimators of the effect of an IAE hire on later employment (ATT).

Three estimates side by side, on the evaluation dataset of
:func:`appariement.evaluation.build_evaluation_dataset`:

* ``naive``: difference of means, treated minus comparison (no adjustment; shown to see the bias);
* ``ipw``: logistic propensity score on the time-zero covariates, comparison people weighted by
  ``ps / (1 - ps)`` (the ATT weights);
* ``matching``: nearest neighbours on the logit of the propensity score, within cells of the
  application month (exact), with replacement and a caliper.

Confidence intervals: percentile bootstrap resampling persons (all trials of a person together),
re-fitting every model in each replicate (frequency weights and warm starts, so a replicate costs a
few Newton steps on the same matrices). For matching, the Abadie-Imbens (2006) variance is given
beside it: the bootstrap is not valid in theory for nearest-neighbour matching with a fixed number
of neighbours (Abadie & Imbens 2008), and the Abadie-Imbens figure treats the propensity score as
known (no correction for its estimation), so neither is exact; both are shown. Extra weights,
multiplied in: inverse probability of censoring (comparison people hired after the grace period,
design ``later_hires="censor"``) and, as an option, inverse probability of being linked
(``linkage_weights=True``; valid only when linkage failures are unrelated to the outcome given the
covariates and the arm).

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

__all__ = ["EffectEstimates", "estimate_effects", "fit_logistic", "standardised_differences",
           "DEFAULT_CATEGORICAL", "DEFAULT_NUMERIC", "METHODS"]

_log = get_logger(__name__)

METHODS = ("naive", "ipw", "matching")
#: covariates known at time zero (columns of the evaluation dataset)
DEFAULT_CATEGORICAL = ("age_band_t0", "sexe_t0", "prescriber_type_t0", "structure_type_t0",
                       "origine_t0", "residence_dept", "t0_year")
DEFAULT_NUMERIC = ("pre_months_employed_12", "pre_months_employed_24", "criteria_known_t0",
                   "n_prior_candidatures", *(f"{c}_t0" for c in CRITERIA_COLUMNS))


@dataclass
class EffectEstimates:
    """Estimates of the ATT and their diagnostics.

    Attributes:
        table: one row per method: outcome, method, estimate, se, ci_low, ci_high, n_treated,
            n_control (rows used), n_boot.
        balance: one row per covariate (design column): mean_treated, mean_control,
            smd_before, smd_ipw, smd_matched (standardised mean differences).
        diagnostics: rows dropped and why, propensity range, effective sample size of the
            weighted comparison arm, unmatched treated, link rate by arm.
    """

    table: pd.DataFrame
    balance: pd.DataFrame
    diagnostics: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready content."""
        return {"estimates": _records(self.table), "balance": _records(self.balance),
                "diagnostics": self.diagnostics}


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
        step = np.linalg.solve(hess, grad)
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
    pen: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: full-sample coefficients, the warm starts of the bootstrap re-fits
    warm: dict = field(default_factory=dict)

    def fit(self, name: str, X1: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
        nz = w > 0  # a replicate leaves about a third of the rows out: do not carry them
        beta = _newton(X1[nz], y[nz], w[nz], self.pen[:X1.shape[1]], self.warm.get(name), 50,
                       1e-6)
        self.warm.setdefault(name, beta)
        return beta


def _weights(s: _Sample, fw: np.ndarray) -> np.ndarray:
    """Censoring and linkage weights (0 where the outcome is unusable), frequency weights
    ``fw`` of a bootstrap replicate used in the fits but not multiplied in."""
    w = np.ones(len(s.y))
    obs, t = s.observed, s.t
    if s.use_ipcw:
        ctrl = ~t
        if ctrl.any() and (~obs[ctrl]).any():
            beta = s.fit("ipcw", s.X1, obs.astype(float), fw * ctrl)
            p = np.clip(_sigmoid(s.X1 @ beta), 0.02, 1.0)
            w = np.where(ctrl, np.where(obs, 1.0 / p, 0.0), w)
    if s.use_iplw:
        Z1 = np.column_stack([s.X1, t.astype(float)])
        beta = s.fit("iplw", Z1, s.linked.astype(float), fw)
        p = np.clip(_sigmoid(Z1 @ beta), 0.02, 1.0)
        w = w * np.where(s.linked, 1.0 / p, 0.0)
    return np.where(obs, w, 0.0)


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


def _estimate_once(s: _Sample, fw: np.ndarray, methods: Sequence[str], k: int,
                   caliper_sd: float, point: bool = False) -> dict:
    """The estimates on frequency weights ``fw`` (ones: the sample; counts: a replicate)."""
    w = _weights(s, fw)
    y, t, X1 = s.y, s.t, s.X1
    rw = fw * w                     # row weight of the estimators
    use = rw > 0
    out: dict = {}
    tu, cu = t & use, ~t & use
    if "naive" in methods:
        out["naive"] = _wmean(y[tu], rw[tu]) - _wmean(y[cu], rw[cu])
    if "ipw" in methods or "matching" in methods:
        beta = s.fit("ps", X1, t.astype(float), fw)
        ps = np.clip(_sigmoid(X1 @ beta), 1e-6, 1 - 1e-6)
    if "ipw" in methods:
        odds = ps / (1 - ps)
        wc = rw[cu] * odds[cu]
        out["ipw"] = _wmean(y[tu], rw[tu]) - _wmean(y[cu], wc)
        if point:
            out["_ipw_weights"] = (rw[tu], wc)
            out["_ps"] = ps
    if "matching" in methods:
        lps = np.log(ps / (1 - ps))
        sub = np.flatnonzero(use)
        ti, nb = _match(lps[sub], t[sub], s.cell[sub], k, caliper_sd * lps[sub].std())
        nb_rows = np.where(nb >= 0, sub[np.maximum(nb, 0)], -1)
        t_rows = sub[ti]
        has = (nb_rows >= 0).any(1)
        # neighbours are distinct rows, averaged with their censoring / linkage weights
        wn = np.where(nb_rows >= 0, w[np.maximum(nb_rows, 0)], 0.0)
        y0 = (wn * y[np.maximum(nb_rows, 0)]).sum(1) / np.where(has, wn.sum(1), 1.0)
        tr = t_rows[has]
        est = _wmean(y[tr] - y0[has], rw[tr]) if has.any() else float("nan")
        out["matching"] = est
        out["_n_matched"] = int(has.sum())
        out["_n_unmatched"] = int((~has).sum())
        if point and has.any():
            # ATT = sum_i lam_i y_i: treated +a_i, comparison -sum_i a_i share_ij
            a = rw[tr] / rw[tr].sum()
            share = wn[has] / wn[has].sum(1)[:, None]
            rows = np.maximum(nb_rows[has], 0)
            lam = np.zeros(len(y))
            q = np.zeros(len(y))
            np.add.at(lam, rows.ravel(), -(a[:, None] * share).ravel())
            np.add.at(q, rows.ravel(), ((a ** 2)[:, None] * share ** 2).ravel())
            ctrl = np.flatnonzero(cu)
            sigma2 = np.zeros(len(y))
            sigma2[ctrl] = _same_arm_variance(y[ctrl], lps[ctrl], s.cell[ctrl])
            # Abadie-Imbens (2006) variance of the population ATT, given the propensity score
            var = float((a ** 2 * (y[tr] - y0[has] - est) ** 2).sum()
                        + ((lam ** 2 - q) * sigma2).sum())
            out["_se_ai"] = float(np.sqrt(max(var, 0.0)))
            out["_match_weights"] = (rw * t * np.isin(np.arange(len(y)), tr), -lam)
    out["_n_treated"] = int(tu.sum())
    out["_n_control"] = int(cu.sum())
    return out


def _replicate_weights(cluster: np.ndarray, n_clusters: int, rng: np.random.Generator
                       ) -> np.ndarray:
    """Frequency weights of one person-level bootstrap replicate (all trials of a person
    together): how many times each row's person was drawn."""
    counts = np.bincount(rng.integers(0, n_clusters, n_clusters), minlength=n_clusters)
    return counts[cluster].astype(float)


# ---------------------------------------------------------------- public entry point

def estimate_effects(dataset, outcome: str = "employed_12m",
                     methods: Sequence[str] = METHODS, *, n_boot: int = 200, seed: int = 0,
                     alpha: float = 0.05, categorical: Sequence[str] = DEFAULT_CATEGORICAL,
                     numeric: Sequence[str] = DEFAULT_NUMERIC, treatment: str = "treated",
                     censoring: str = "ipcw", linkage_weights: bool = False,
                     n_neighbors: int = 1, caliper: float = 0.2, match_cell: str | None =
                     "t0_month", ridge: float = 1.0, min_level: int = 1) -> EffectEstimates:
    """Estimate the effect on the treated (ATT) of an IAE hire within the grace period.

    Which ATT depends on the design's ``later_hires`` (comparison people hired after the grace
    period): ``"censor"`` (default) estimates hired within the grace period **versus never
    hired** (their outcome at a horizon is used only when the later hire came after it,
    re-weighted by the inverse probability of not being censored); ``"keep"`` estimates hired
    within the grace period **versus not hired within it** (a later hire and its effect stay in
    the comparison outcome); ``"exclude"`` drops later hires (a selected comparison arm).

    Args:
        dataset: an :class:`~appariement.evaluation.EvaluationDataset` (or its pandas frame:
            then later hires are not censored).
        outcome: an outcome column, e.g. ``employed_12m``, ``durable_24m``,
            ``months_employed_12m``; its horizon (``_12m``) selects the follow-up flags.
        methods: some of ``naive``, ``ipw``, ``matching``.
        n_boot: bootstrap replicates (0: point estimates only). Persons are resampled and
            every model re-fitted (frequency weights, warm starts: about 10 ms a replicate at
            2,000 candidates).
        seed: bootstrap seed.
        alpha: 1 - confidence level.
        categorical / numeric: covariates (columns known at time zero).
        treatment: ``"treated"`` (the design's arm). Another boolean column (``ever_hired``)
            re-labels the same rows, WITHOUT censoring: for showing the immortal-time bias only.
        censoring: comparison people hired after the grace period but before the horizon, under
            ``later_hires="censor"``: ``"ipcw"`` (weighted by the inverse probability of not
            being censored, given the covariates) or ``"drop"``.
        linkage_weights: drop unlinked rows and weight linked ones by the inverse probability
            of being linked given the covariates and the arm.
        n_neighbors / caliper: matching: neighbours per treated, caliper in standard deviations
            of the logit propensity score.
        match_cell: column matched exactly (None: no cells).
        ridge: L2 penalty of the logistic models.
        min_level: levels of a categorical covariate with fewer rows (in the two arms) are
            pooled into one ``(rare levels)`` level (1: no pooling).

    Returns:
        An :class:`EffectEstimates`. ``se`` / ``ci_low`` / ``ci_high`` are from the percentile
        bootstrap; for matching, ``se_ai`` / ``ci_low_ai`` / ``ci_high_ai`` add the
        Abadie-Imbens variance (the bootstrap is not valid in theory for nearest-neighbour
        matching with a fixed number of neighbours).

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
        ['naive', 'ipw', 'matching']
    """
    with single_blas_thread():
        return _estimate_effects(dataset, outcome, methods, n_boot=n_boot, seed=seed,
                                 alpha=alpha, categorical=categorical, numeric=numeric,
                                 treatment=treatment, censoring=censoring,
                                 linkage_weights=linkage_weights, n_neighbors=n_neighbors,
                                 caliper=caliper, match_cell=match_cell, ridge=ridge,
                                 min_level=min_level)


def _estimate_effects(dataset, outcome, methods, *, n_boot, seed, alpha, categorical, numeric,
                      treatment, censoring, linkage_weights, n_neighbors, caliper, match_cell,
                      ridge, min_level) -> EffectEstimates:
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ConfigError(f"methods {bad or list(methods)!r} not allowed; use some of "
                          f"{', '.join(METHODS)}")
    if censoring not in ("ipcw", "drop"):
        raise ConfigError(f"censoring={censoring!r} is not allowed; use 'ipcw' or 'drop'")
    match = re.search(r"_(\d+)m$", outcome)
    if not match:
        raise ConfigError(f"outcome {outcome!r} must be an outcome column ending in _<h>m, "
                          "e.g. employed_12m")
    h = int(match.group(1))
    design = getattr(dataset, "design", None)
    df = dataset.to_pandas() if hasattr(dataset, "to_pandas") else pd.DataFrame(dataset)
    if outcome not in df:
        raise ConfigError(f"outcome {outcome!r} is not a column of the evaluation dataset")
    if treatment not in df:
        raise ConfigError(f"treatment column {treatment!r} not in the evaluation dataset")
    df = df[df["arm"].isin(["treated", "comparison"])].reset_index(drop=True)
    if len(df) and not df["linked"].astype(bool).any():
        raise InputError("no trial of the treated and comparison arms is linked to the source, "
                         "so every outcome would read 'not employed'; check the links (their "
                         "decision column, or the design's match_threshold) before estimating")
    df["t0_year"] = pd.to_datetime(df["t0"]).dt.year
    diag: dict = {"outcome": outcome, "treatment": treatment, "rows_in_arms": int(len(df))}
    not_followed = ~df[f"observed_{h}m"].astype(bool)
    missing_y = df[outcome].isna()
    diag["dropped_not_followed_up"] = int(not_followed.sum())
    diag["dropped_missing_outcome"] = int((missing_y & ~not_followed).sum())
    df = df[~not_followed & (~missing_y | linkage_weights)].reset_index(drop=True)
    t = df[treatment].astype(bool).to_numpy()
    observed = np.ones(len(df), bool)
    later = design is not None and design.later_hires == "censor" and treatment == "treated"
    diag["estimand"] = _estimand(design, treatment)
    if later:
        cens = df[f"hired_later_by_{h}m"].astype(bool).to_numpy() & ~t
        observed &= ~cens
        diag["censored_later_hire"] = int(cens.sum())
    linked = df["linked"].astype(bool).to_numpy()
    if linkage_weights:
        observed &= linked
    y = pd.to_numeric(df[outcome].astype("float64"), errors="coerce").fillna(0.0).to_numpy()
    if min_level < 1:
        raise ConfigError(f"min_level must be at least 1, got {min_level!r}")
    Xraw, names = _design_matrix(df, categorical, numeric, int(min_level))
    cell = (pd.factorize(df[match_cell].astype(str))[0] if match_cell
            else np.zeros(len(df), int))
    cluster, uniques = pd.factorize(df["candidat_id"])
    # numeric covariates standardised; 0/1 dummies only centred, so the ridge penalty acts on
    # their own scale: a rare level (a 3-person département) is shrunk instead of fitted to
    # near-certain propensities, which made bootstrap replicates of the weights explode
    is_dummy = np.array(["=" in name for name in names], bool)
    Xm = Xraw - Xraw.mean(0) if Xraw.size else Xraw
    Xs = np.where(is_dummy[None, :], Xm, _standardise(Xraw)) if Xraw.size else Xraw
    X1 = np.column_stack([np.ones(len(df)), Xs])
    pen = np.full(X1.shape[1] + 1, float(ridge))  # + 1: the arm column of the linkage model
    pen[0] = 0.0
    s = _Sample(y=y, t=t, X1=X1, Xraw=Xraw, cell=cell, cluster=cluster,
                observed=observed, linked=linked,
                use_ipcw=later and censoring == "ipcw", use_iplw=linkage_weights, pen=pen)
    if t.sum() == 0 or (~t).sum() == 0:
        raise ConfigError(f"outcome {outcome!r}: no treated or no comparison row to compare "
                          f"({int(t.sum())} treated, {int((~t).sum())} comparison)")
    ones = np.ones(len(df))
    point = _estimate_once(s, ones, methods, n_neighbors, caliper, point=True)
    boots = {m: [] for m in methods}
    if n_boot:
        rng = np.random.default_rng(seed)
        for _ in range(int(n_boot)):
            fw = _replicate_weights(cluster, len(uniques), rng)
            if not (fw * t).any() or not (fw * ~t).any():
                continue
            res = _estimate_once(s, fw, methods, n_neighbors, caliper)
            for m in methods:
                boots[m].append(res[m])
    z = _normal_quantile(1 - alpha / 2)
    rows = []
    for m in methods:
        b = np.asarray([v for v in boots[m] if np.isfinite(v)])
        lo, hi = (np.quantile(b, [alpha / 2, 1 - alpha / 2]) if len(b) > 1
                  else (np.nan, np.nan))
        n_t = point["_n_matched"] if m == "matching" else point["_n_treated"]
        se_ai = point.get("_se_ai", np.nan) if m == "matching" else np.nan
        rows.append({"outcome": outcome, "method": m, "estimate": point[m],
                     "se": float(b.std(ddof=1)) if len(b) > 1 else np.nan,
                     "ci_low": float(lo), "ci_high": float(hi),
                     "se_ai": se_ai, "ci_low_ai": point[m] - z * se_ai,
                     "ci_high_ai": point[m] + z * se_ai, "n_treated": n_t,
                     "n_control": point["_n_control"], "n_boot": int(len(b))})
    table = pd.DataFrame(rows)
    balance = pd.DataFrame({"covariate": names})
    if names:
        use = _weights(s, ones) > 0
        tt = s.t
        balance["mean_treated"] = Xraw[tt].mean(0)
        balance["mean_control"] = Xraw[~tt].mean(0)
        balance["smd_before"] = standardised_differences(Xraw, tt)
        if "_ipw_weights" in point:
            wt, wc = point["_ipw_weights"]
            Xu, tu_ = Xraw[use], tt[use]
            balance["smd_ipw"] = standardised_differences(Xu, tu_, wc, wt)
            ps = point["_ps"]
            diag["propensity_range_treated"] = [float(ps[tt].min()), float(ps[tt].max())]
            diag["propensity_range_control"] = [float(ps[~tt].min()), float(ps[~tt].max())]
            diag["ess_control_ipw"] = float(wc.sum() ** 2 / (wc ** 2).sum())
        if "_match_weights" in point:
            tw, cw = point["_match_weights"]
            keep = (tw > 0) | (cw > 0)
            if (tw > 0).any() and (cw > 0).any():
                balance["smd_matched"] = standardised_differences(
                    Xraw[keep], tt[keep], cw[keep][~tt[keep]], tw[keep][tt[keep]])
    if "matching" in methods:
        diag["unmatched_treated"] = point["_n_unmatched"]
    diag["link_rate_by_arm"] = {
        "treated": float(linked[t].mean()) if t.any() else None,
        "comparison": float(linked[~t].mean()) if (~t).any() else None}
    return EffectEstimates(table=table, balance=balance, diagnostics=diag)


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
