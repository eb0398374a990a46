"""Transparent estimators of the effect of an IAE hire on later employment (ATT).

Three estimates side by side, on the evaluation dataset of
:func:`appariement.evaluation.build_evaluation_dataset`:

* ``naive``: difference of means, treated minus comparison (no adjustment; shown to see the bias);
* ``ipw``: logistic propensity score on the time-zero covariates, comparison people weighted by
  ``ps / (1 - ps)`` (the ATT weights);
* ``matching``: nearest neighbours on the logit of the propensity score, within cells of the
  application month (exact), with replacement and a caliper.

Confidence intervals: percentile bootstrap resampling persons (all trials of a person together),
re-fitting every model in each replicate. Extra weights, multiplied in: inverse probability of
censoring (comparison people hired after the grace period, design ``later_hires="censor"``) and,
as an option, inverse probability of being linked (``linkage_weights=True``; valid only when
linkage failures are unrelated to the outcome given the covariates and the arm).

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

from .._log import get_logger
from ..errors import ConfigError
from ..io.contract import CRITERIA_COLUMNS

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


def fit_logistic(X: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None, *,
                 ridge: float = 1.0, max_iter: int = 50, tol: float = 1e-6) -> np.ndarray:
    """Logistic regression by Newton steps, with a small ridge penalty (not on the intercept).

    The penalty keeps the fit finite with sparse categories (a département with only treated
    people) and costs nothing when the data are informative.

    Args:
        X: covariates (n, p), without the intercept column.
        y: 0/1 outcome.
        weights: observation weights (default 1).
        ridge: L2 penalty on the coefficients (0: plain maximum likelihood).
        max_iter / tol: Newton iterations and convergence tolerance.

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
    beta = np.zeros(X1.shape[1])
    for _ in range(max_iter):
        p = _sigmoid(X1 @ beta)
        grad = X1.T @ (w * (y - p)) - pen * beta
        # einsum runs single-threaded: multithreaded BLAS thrashes on a busy shared machine
        hess = (np.einsum("ni,nj->ij", X1 * (w * p * (1 - p))[:, None], X1)
                + np.diag(pen) + 1e-10 * np.eye(len(pen)))
        step = np.linalg.solve(hess, grad)
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            break
    return beta


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

def _design_matrix(df: pd.DataFrame, categorical: Sequence[str], numeric: Sequence[str]
                   ) -> tuple[np.ndarray, list[str]]:
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
    X: np.ndarray          # standardised, for the models
    Xraw: np.ndarray       # as is, for the balance table
    cell: np.ndarray       # integer matching cell
    cluster: np.ndarray    # integer person code
    observed: np.ndarray   # outcome observed (not censored)
    linked: np.ndarray
    use_ipcw: bool
    use_iplw: bool


def _weights(s: _Sample, idx: np.ndarray, ridge: float) -> np.ndarray:
    """Censoring and linkage weights on the rows ``idx`` (0 where the outcome is unusable)."""
    w = np.ones(len(idx))
    obs = s.observed[idx]
    X, t = s.X[idx], s.t[idx]
    if s.use_ipcw:
        ctrl = ~t
        if ctrl.any() and (~obs[ctrl]).any():
            beta = fit_logistic(X[ctrl], obs[ctrl].astype(float), ridge=ridge)
            p = np.clip(_predict(X[ctrl], beta), 0.02, 1.0)
            w[ctrl] = np.where(obs[ctrl], 1.0 / p, 0.0)
    if s.use_iplw:
        lk = s.linked[idx]
        Z = np.column_stack([X, t.astype(float)])
        beta = fit_logistic(Z, lk.astype(float), ridge=ridge)
        p = np.clip(_predict(Z, beta), 0.02, 1.0)
        w = w * np.where(lk, 1.0 / p, 0.0)
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


def _estimate_once(s: _Sample, idx: np.ndarray, methods: Sequence[str], ridge: float, k: int,
                   caliper_sd: float, want_balance: bool = False) -> dict:
    w = _weights(s, idx, ridge)
    y, t, X = s.y[idx], s.t[idx], s.X[idx]
    use = w > 0
    out: dict = {}
    tu = t & use
    cu = ~t & use
    if "naive" in methods:
        out["naive"] = _wmean(y[tu], w[tu]) - _wmean(y[cu], w[cu])
    need_ps = "ipw" in methods or "matching" in methods
    if need_ps:
        beta = fit_logistic(X, t.astype(float), ridge=ridge)
        ps = np.clip(_predict(X, beta), 1e-6, 1 - 1e-6)
    if "ipw" in methods:
        odds = ps / (1 - ps)
        wc = w[cu] * odds[cu]
        out["ipw"] = _wmean(y[tu], w[tu]) - _wmean(y[cu], wc)
        if want_balance:
            out["_ipw_weights"] = (w[tu], wc)
            out["_ps"] = ps
    if "matching" in methods:
        lps = np.log(ps / (1 - ps))
        sub = np.flatnonzero(use)
        ti, nb = _match(lps[sub], t[sub], s.cell[idx][sub], k, caliper_sd * lps[sub].std())
        nb_rows = np.where(nb >= 0, sub[np.maximum(nb, 0)], -1)
        t_rows = sub[ti]
        has = (nb_rows >= 0).any(1)
        wn = np.where(nb_rows >= 0, w[np.maximum(nb_rows, 0)], 0.0)
        y0 = (wn * y[np.maximum(nb_rows, 0)]).sum(1) / np.where(has, wn.sum(1), 1.0)
        tr = t_rows[has]
        out["matching"] = _wmean(y[tr] - y0[has], w[tr]) if has.any() else float("nan")
        out["_n_matched"] = int(has.sum())
        out["_n_unmatched"] = int((~has).sum())
        if want_balance:
            cw = np.zeros(len(idx))
            share = np.where(has[:, None], wn / np.where(has, wn.sum(1), 1.0)[:, None], 0.0)
            np.add.at(cw, np.maximum(nb_rows, 0).ravel(), share.ravel())
            tw = np.zeros(len(idx))
            tw[tr] = 1.0
            out["_match_weights"] = (tw, cw)
    out["_n_treated"] = int(tu.sum())
    out["_n_control"] = int(cu.sum())
    return out


def _bootstrap_index(cluster: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    order = np.argsort(cluster, kind="stable")
    codes = cluster[order]
    starts = np.r_[0, np.flatnonzero(np.diff(codes)) + 1]
    sizes = np.diff(np.r_[starts, len(codes)])
    pick = rng.integers(0, len(starts), len(starts))
    lens = sizes[pick]
    base = np.repeat(starts[pick], lens)
    within = np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens)
    return order[base + within]


# ---------------------------------------------------------------- public entry point

def estimate_effects(dataset, outcome: str = "employed_12m",
                     methods: Sequence[str] = METHODS, *, n_boot: int = 200, seed: int = 0,
                     alpha: float = 0.05, categorical: Sequence[str] = DEFAULT_CATEGORICAL,
                     numeric: Sequence[str] = DEFAULT_NUMERIC, treatment: str = "treated",
                     censoring: str = "ipcw", linkage_weights: bool = False,
                     n_neighbors: int = 1, caliper: float = 0.2, match_cell: str | None =
                     "t0_month", ridge: float = 1.0) -> EffectEstimates:
    """Estimate the effect on the treated (ATT) of an IAE hire within the grace period.

    Args:
        dataset: an :class:`~appariement.evaluation.EvaluationDataset` (or its pandas frame
            plus ``design`` attribute-less use: then later hires are not censored).
        outcome: an outcome column, e.g. ``employed_12m``, ``durable_24m``,
            ``months_employed_12m``; its horizon (``_12m``) selects the follow-up flags.
        methods: some of ``naive``, ``ipw``, ``matching``.
        n_boot: bootstrap replicates (0: point estimates only).
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

    Returns:
        An :class:`EffectEstimates`.

    Raises:
        ConfigError: unknown method, outcome or option.

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
    if later:
        cens = df[f"hired_later_by_{h}m"].astype(bool).to_numpy() & ~t
        observed &= ~cens
        diag["censored_later_hire"] = int(cens.sum())
    linked = df["linked"].astype(bool).to_numpy()
    if linkage_weights:
        observed &= linked
    y = pd.to_numeric(df[outcome].astype("float64"), errors="coerce").fillna(0.0).to_numpy()
    Xraw, names = _design_matrix(df, categorical, numeric)
    cell = (pd.factorize(df[match_cell].astype(str))[0] if match_cell
            else np.zeros(len(df), int))
    cluster = pd.factorize(df["candidat_id"])[0]
    s = _Sample(y=y, t=t, X=_standardise(Xraw), Xraw=Xraw, cell=cell, cluster=cluster,
                observed=observed, linked=linked,
                use_ipcw=later and censoring == "ipcw", use_iplw=linkage_weights)
    if later and censoring == "drop":
        s.use_ipcw = False
    if t.sum() == 0 or (~t).sum() == 0:
        raise ConfigError(f"outcome {outcome!r}: no treated or no comparison row to compare "
                          f"({int(t.sum())} treated, {int((~t).sum())} comparison)")
    all_idx = np.arange(len(df))
    point = _estimate_once(s, all_idx, methods, ridge, n_neighbors, caliper, want_balance=True)
    boots = {m: [] for m in methods}
    if n_boot:
        rng = np.random.default_rng(seed)
        for _ in range(int(n_boot)):
            idx = _bootstrap_index(cluster, rng)
            if s.t[idx].all() or not s.t[idx].any():
                continue
            res = _estimate_once(s, idx, methods, ridge, n_neighbors, caliper)
            for m in methods:
                boots[m].append(res[m])
    rows = []
    for m in methods:
        b = np.asarray([v for v in boots[m] if np.isfinite(v)])
        lo, hi = (np.quantile(b, [alpha / 2, 1 - alpha / 2]) if len(b) > 1
                  else (np.nan, np.nan))
        n_t = point["_n_matched"] if m == "matching" else point["_n_treated"]
        rows.append({"outcome": outcome, "method": m, "estimate": point[m],
                     "se": float(b.std(ddof=1)) if len(b) > 1 else np.nan,
                     "ci_low": float(lo), "ci_high": float(hi), "n_treated": n_t,
                     "n_control": point["_n_control"], "n_boot": int(len(b))})
    table = pd.DataFrame(rows)
    balance = pd.DataFrame({"covariate": names})
    if names:
        use = _weights(s, all_idx, ridge) > 0
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
            diag["unmatched_treated"] = point["_n_unmatched"]
    diag["link_rate_by_arm"] = {
        "treated": float(linked[t].mean()) if t.any() else None,
        "comparison": float(linked[~t].mean()) if (~t).any() else None}
    return EffectEstimates(table=table, balance=balance, diagnostics=diag)
