"""Multivariable Cox proportional-hazards model with Efron ties (R ``coxph`` default).

``engine.survival`` fits two-group models only; the ESCC cohort reports hazard ratios adjusted
for two other factors, so the fidelity check needs a small multivariable fit. Newton-Raphson on
the Efron partial likelihood; the tests compare it with statsmodels ``PHReg(ties="efron")``.
"""
from __future__ import annotations

import math

import numpy as np


def cox_efron(time, event, X, max_iter: int = 50, tol: float = 1e-10):
    """Returns (beta, se) arrays; raises ValueError when the fit does not converge."""
    time = np.asarray(time, float)
    event = np.asarray(event, int)
    X = np.asarray(X, float)
    order = np.argsort(time, kind="mergesort")
    t, e, Z = time[order], event[order], X[order]
    n, p = Z.shape
    ev_pos = np.flatnonzero(e == 1)
    tev = t[ev_pos]
    new = np.r_[True, tev[1:] != tev[:-1]]
    block_start = np.flatnonzero(new)
    d = np.diff(np.r_[block_start, tev.size])
    first_at_risk = np.searchsorted(t, tev[new], side="left")  # risk set: time >= tau
    maxd = int(d.max())
    beta = np.zeros(p)
    for _ in range(max_iter):
        w = np.exp(Z @ beta)
        wz = w[:, None] * Z
        wzz = w[:, None, None] * Z[:, :, None] * Z[:, None, :]
        S0 = np.cumsum(w[::-1])[::-1][first_at_risk]
        S1 = np.cumsum(wz[::-1], axis=0)[::-1][first_at_risk]
        S2 = np.cumsum(wzz[::-1], axis=0)[::-1][first_at_risk]
        D0 = np.add.reduceat(w[ev_pos], block_start)
        D1 = np.add.reduceat(wz[ev_pos], block_start, axis=0)
        D2 = np.add.reduceat(wzz[ev_pos], block_start, axis=0)
        score = Z[ev_pos].sum(axis=0)
        info = np.zeros((p, p))
        for j in range(maxd):
            act = d > j
            f = np.where(act, j / d, 0.0)
            s0 = S0 - f * D0
            s1 = S1 - f[:, None] * D1
            s2 = S2 - f[:, None, None] * D2
            m = s1 / s0[:, None]
            score -= (m * act[:, None]).sum(axis=0)
            v = s2 / s0[:, None, None] - m[:, :, None] * m[:, None, :]
            info += (v * act[:, None, None]).sum(axis=0)
        step = np.linalg.solve(info, score)
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            se = np.sqrt(np.diag(np.linalg.inv(info)))
            return beta, se
    raise ValueError("multivariable Cox model did not converge")


def hazard_ratio(time, event, X, column: int = 0, z: float = 1.959963984540054):
    """(hr, ci_low, ci_high) of one column of X."""
    beta, se = cox_efron(time, event, X)
    b, s = float(beta[column]), float(se[column])
    return math.exp(b), math.exp(b - z * s), math.exp(b + z * s)
