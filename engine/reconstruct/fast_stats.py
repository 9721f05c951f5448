"""Small, fast survival statistics used only *inside* the reconstruction's optimiser.

The optimiser evaluates tens of thousands of candidate cohorts, so it needs a Kaplan-Meier median
and a two-group Cox hazard ratio that cost microseconds on a hundred patients. These functions
follow the same rules as ``engine.survival`` (R ``survfit`` quantile rule including the
midpoint rule when the curve sits exactly at 0.5; Efron ties for the two-group Cox model), but
the fidelity table and the tests never use them: every reported-vs-reconstructed value is
recomputed with ``engine.survival`` (see ``fidelity.py``). ``tests/test_reconstruction.py``
checks that both agree on the reconstructed cohorts.
"""
from __future__ import annotations

import numpy as np

_TOL = float(np.sqrt(np.finfo(float).eps))


def km_levels(time: np.ndarray, event: np.ndarray):
    """Distinct event times, survival after each, and the last observed time.

    Returns (event_times, surv, t_max). Censored-only times do not create a level.
    """
    order = np.lexsort((-event, time))  # by time; events before censorings at ties
    return km_levels_sorted(time[order], event[order])


def km_levels_sorted(ts: np.ndarray, es: np.ndarray):
    """``km_levels`` for arrays already sorted by time (events first among ties)."""
    n = ts.size
    if n == 0:
        return np.empty(0), np.empty(0), 0.0
    at_risk = n - np.arange(n)
    surv = np.cumprod(np.where(es == 1, 1.0 - 1.0 / at_risk, 1.0))
    ev = es == 1
    if not ev.any():
        return np.empty(0), np.empty(0), float(ts[-1])
    same_next = np.empty(n, dtype=bool)
    same_next[:-1] = ts[1:] == ts[:-1]
    same_next[-1] = False
    if not same_next.any():
        return ts[ev], surv[ev], float(ts[-1])
    block_end = ~same_next
    starts = np.flatnonzero(np.r_[True, block_end[:-1]])
    d = np.add.reduceat(es, starts)
    ends = np.flatnonzero(block_end)
    keep = d > 0
    return ts[ends][keep], surv[ends][keep], float(ts[-1])


def km_median(time: np.ndarray, event: np.ndarray) -> float | None:
    """Kaplan-Meier median with R's rule (survival:::findq); None when not reached."""
    et, s, t_max = km_levels(time, event)
    return median_from_levels(et, s, t_max)


def median_from_levels(et: np.ndarray, s: np.ndarray, t_max: float, p: float = 0.5) -> float | None:
    if et.size == 0:
        return None
    y = 1.0 - s  # cumulative incidence, increasing
    if y[-1] < p:
        return None
    i1 = int(np.searchsorted(y + _TOL, p, side="left"))  # first i with y+tol >= p
    if i1 >= y.size:
        return None
    i2 = int(np.searchsorted(y - _TOL, p, side="left"))  # first i with y-tol >= p
    if i2 >= y.size:  # the curve ends exactly at p: midpoint with the last observed time
        return float((et[i1] + t_max) / 2.0)
    return float((et[i1] + et[i2]) / 2.0)


def km_survival_at(time: np.ndarray, event: np.ndarray, t: float) -> float:
    """S(t) of the Kaplan-Meier curve (right-continuous step function)."""
    et, s, _ = km_levels(time, event)
    k = int(np.searchsorted(et, t, side="right"))
    return 1.0 if k == 0 else float(s[k - 1])


def cox_binary_sorted(ts: np.ndarray, es: np.ndarray, xs: np.ndarray, beta0: float = 0.0,
                      tol: float = 1e-10):
    """Two-group Cox model, Efron ties, on arrays sorted by time (events first at ties).

    Returns (hr, se_log_hr) for x = 1 versus x = 0, or (None, None) when not estimable.
    """
    n = ts.size
    ev = es == 1
    if n == 0 or not ev.any():
        return None, None
    xf = xs.astype(float)
    if xf.sum() in (0, n):
        return None, None
    pos = np.flatnonzero(ev)
    tev = ts[pos]
    new = np.r_[True, tev[1:] != tev[:-1]]
    first = pos[new]  # first event position of each distinct event time
    starts = np.flatnonzero(new)
    x_ev = xf[pos]
    d = np.add.reduceat(np.ones(pos.size), starts)
    d1 = np.add.reduceat(x_ev, starts)
    r1 = np.cumsum(xf[::-1])[::-1][first]
    r = (n - np.arange(n))[first]
    r0, d0 = r - r1, d - d1
    tot1 = d1.sum()
    if tot1 == 0 or tot1 == d.sum():
        return None, None
    maxd = int(d.max())
    beta = beta0
    info = 1.0
    for _ in range(30):
        eb = np.exp(beta)
        score = tot1
        info = 0.0
        for j in range(maxd):
            act = d > j
            frac = np.where(act, j / d, 0.0)
            a = (r1 - frac * d1) * eb
            den = r0 - frac * d0 + a
            m = np.where(act, a / np.where(den > 0, den, 1.0), 0.0)
            score -= m.sum()
            info += (m * (1.0 - m)).sum()
        if info <= 0:
            return None, None
        step = float(np.clip(score / info, -2.0, 2.0))
        beta += step
        if abs(step) < tol:
            break
    if not np.isfinite(beta) or abs(beta) > 20:
        return None, None
    return float(np.exp(beta)), float(1.0 / np.sqrt(info))


def cox_binary(time: np.ndarray, event: np.ndarray, x: np.ndarray):
    """Two-group Cox model with Efron ties; x is 0/1 (1 = the group whose HR is returned)."""
    order = np.lexsort((-event, time))
    return cox_binary_sorted(time[order], event[order], x[order])


def cox_multi(time: np.ndarray, event: np.ndarray, X: np.ndarray, iters: int = 20,
              beta0: np.ndarray | None = None):
    """Multivariable Cox model (Breslow ties; identical to Efron without tied event times).

    Returns the vector of log hazard ratios or None when the Newton iteration fails.
    """
    order = np.argsort(-time, kind="mergesort")  # descending time: risk sets are prefixes
    es, Xs = event[order].astype(float), X[order].astype(float)
    p = Xs.shape[1]
    beta = np.zeros(p) if beta0 is None else beta0.copy()
    for _ in range(iters):
        w = np.exp(Xs @ beta)
        s0 = np.cumsum(w)
        s1 = np.cumsum(w[:, None] * Xs, axis=0)
        s2 = np.cumsum(w[:, None, None] * Xs[:, :, None] * Xs[:, None, :], axis=0)
        ev = es > 0
        mean = s1[ev] / s0[ev, None]
        score = (Xs[ev] - mean).sum(axis=0)
        info = (s2[ev] / s0[ev, None, None] - mean[:, :, None] * mean[:, None, :]).sum(axis=0)
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            return None
        step = np.clip(step, -2, 2)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-7:
            break
    if not np.all(np.isfinite(beta)) or np.max(np.abs(beta)) > 20:
        return None
    return beta


def batch_medians(ts: np.ndarray, es: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Kaplan-Meier medians (R rule) of many subgroups at once.

    ts, es: all patients sorted by time (events first at ties); M: (groups x patients) boolean
    membership in the same order. Returns an array of medians (NaN = not reached / empty).
    """
    n = ts.size
    Mi = M.astype(np.int32)
    r = np.cumsum(Mi[:, ::-1], axis=1)[:, ::-1]
    member_event = M & (es == 1)[None, :]
    f = np.where(member_event, 1.0 - 1.0 / np.maximum(r, 1), 1.0)
    S = np.cumprod(f, axis=1)
    block_end = np.empty(n, dtype=bool)
    block_end[:-1] = ts[1:] != ts[:-1]
    block_end[-1] = True
    ends = np.flatnonzero(block_end)
    starts = np.empty(ends.size, dtype=np.intp)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    drops = np.add.reduceat(member_event.astype(np.int32), starts, axis=1) > 0  # G x B
    Y = 1.0 - S[:, ends]
    x = ts[ends]
    c1 = drops & (Y + _TOL >= 0.5)
    c2 = drops & (Y - _TOL >= 0.5)
    has1 = c1.any(axis=1)
    has2 = c2.any(axis=1)
    i1 = np.argmax(c1, axis=1)
    i2 = np.argmax(c2, axis=1)
    last_member = n - 1 - np.argmax(M[:, ::-1], axis=1)
    xmax = ts[last_member]
    out = np.where(has2, (x[i1] + x[i2]) / 2.0, (x[i1] + xmax) / 2.0)
    out = np.where(has1 & M.any(axis=1), out, np.nan)
    return out
