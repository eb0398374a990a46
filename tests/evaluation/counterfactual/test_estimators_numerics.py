"""The logistic fits behind the estimators on designs a real extract produces."""

from __future__ import annotations

import numpy as np

from appariement.evaluation.counterfactual.estimators import _newton


def test_a_singular_hessian_takes_the_least_norm_step_instead_of_raising():
    """Two equal unpenalised columns under large weights make the Hessian exactly singular
    in floating point (the demo's propensity model met it in a bootstrap replicate): the fit
    goes on, and the two coefficients share what one column's coefficient would be."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    y = (rng.random(400) < 1 / (1 + np.exp(-x))).astype(float)
    w = np.full(400, 1e8)
    X2 = np.column_stack([np.ones(400), x, x])
    beta2 = _newton(X2, y, w, np.zeros(3), None, 50, 1e-9)
    beta1 = _newton(X2[:, :2], y, w, np.zeros(2), None, 50, 1e-9)
    assert np.all(np.isfinite(beta2))
    assert np.isclose(beta2[1] + beta2[2], beta1[1], atol=1e-4)
