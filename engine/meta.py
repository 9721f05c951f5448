"""Random-effects meta-analysis of the published studies (inverse variance), matching metafor.

* :func:`pool_proportions`: proportions pooled on the logit scale. A study with 0 or n events
  gets 0.5 added to both cells (events and non-events) - metafor ``escalc(measure="PLO")``
  default (``add=1/2, to="only0"``). Per-study CIs shown in the table are exact
  (Clopper-Pearson), as R meta prints them; pooling uses the logit values.
* :func:`pool_hazard_ratios`: log hazard ratios, SE = (log(hi) - log(lo)) / (2 * 1.959964)
  from a 95% CI.
* :func:`random_effects`: the generic engine on (yi, vi).

tau2 estimators: "REML" (default), "DL" (DerSimonian-Laird), "PM" (Paule-Mandel), all
truncated at 0, as ``metafor::rma(method=...)``. Q is Cochran's Q with fixed-effect weights;
I2 = max(0, (Q - df) / Q) * 100 (Higgins & Thompson; R meta's definition, and metafor's for
DL). The pooled CI is normal-based (metafor ``test="z"``). The 95% prediction interval uses a
t distribution on k - 2 df (Higgins et al. 2009, R meta's default) and needs k >= 3.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from engine.rates import proportion
from engine.results import not_estimable

METHODS = ("REML", "DL", "PM")
Z95_FOR_SE = 1.959964  # the constant used to turn a published 95% CI into an SE
CONTINUITY = 0.5


@dataclass(frozen=True)
class MetaResult:
    """Pooled estimate (back-transformed: proportion or HR) with heterogeneity statistics.

    ``mu``/``se`` are on the analysis scale (logit or log HR). ``studies`` has one row per
    pooled study: ``label, yi, vi, estimate, ci_low, ci_high, weight`` (weight in percent,
    random-effects), plus ``corrected`` for proportions (0.5 continuity correction applied).
    """

    estimable: bool
    reason: str
    method: str
    scale: str
    k: int
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    mu: float | None = None
    se: float | None = None
    tau2: float | None = None
    i2: float | None = None
    q: float | None = None
    df: int | None = None
    q_p: float | None = None
    pi_low: float | None = None
    pi_high: float | None = None
    pi_note: str = ""
    conf_level: float = 0.95
    studies: pd.DataFrame = field(default_factory=pd.DataFrame)
    excluded: tuple = ()


def _tau2_dl(y: np.ndarray, v: np.ndarray) -> float:
    w = 1 / v
    mu = (w * y).sum() / w.sum()
    q = (w * (y - mu) ** 2).sum()
    c = w.sum() - (w**2).sum() / w.sum()
    return max(0.0, (q - (len(y) - 1)) / c)


def _bracket_root(fn, start: float = 1.0) -> float:
    """Root of a function that is > 0 at 0 and decreasing: expand the bracket, then Brent."""
    hi = start
    while fn(hi) > 0:
        hi *= 4
        if hi > 1e12:
            raise ValueError("tau2 search diverged")
    return optimize.brentq(fn, 0.0, hi, xtol=1e-15, rtol=1e-15, maxiter=500)


def _tau2_reml(y: np.ndarray, v: np.ndarray) -> float:
    def score(tau2: float) -> float:  # d(restricted log-likelihood)/d(tau2), times 2
        w = 1 / (v + tau2)
        mu = (w * y).sum() / w.sum()
        return (w**2 * (y - mu) ** 2).sum() - w.sum() + (w**2).sum() / w.sum()

    return 0.0 if score(0.0) <= 0 else _bracket_root(score, max(_tau2_dl(y, v), 1e-4))


def _tau2_pm(y: np.ndarray, v: np.ndarray) -> float:
    k = len(y)

    def excess_q(tau2: float) -> float:  # generalized Q minus its expectation k - 1
        w = 1 / (v + tau2)
        mu = (w * y).sum() / w.sum()
        return (w * (y - mu) ** 2).sum() - (k - 1)

    return 0.0 if excess_q(0.0) <= 0 else _bracket_root(excess_q, max(_tau2_dl(y, v), 1e-4))


_TAU2 = {"DL": _tau2_dl, "REML": _tau2_reml, "PM": _tau2_pm}


def _identity(x: float) -> float:
    return x


def _expit(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def random_effects(yi: Sequence[float], vi: Sequence[float], method: str = "REML",
                   conf_level: float = 0.95, labels: Sequence[Any] | None = None,
                   back: Any = _identity, scale: str = "identity") -> MetaResult:
    """Random-effects pooling of effects ``yi`` with within-study variances ``vi``.

    ``back`` maps the analysis scale to the reported scale (e.g. ``math.exp``). Fewer than 2
    studies is not estimable; fewer than 3 gives no prediction interval (``pi_note`` says so).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    y = np.asarray(yi, dtype=float)
    v = np.asarray(vi, dtype=float)
    k = len(y)
    if len(v) != k:
        raise ValueError("yi and vi differ in length")
    if (v <= 0).any() or not np.isfinite(np.concatenate((y, v))).all():
        raise ValueError("each study needs a finite effect and a positive finite variance")
    names = list(labels) if labels is not None else [f"study {i + 1}" for i in range(k)]
    if k < 2:
        return MetaResult(False, not_estimable(f"pooling needs at least 2 studies (got {k})"),
                          method, scale, k)
    w_fixed = 1 / v
    mu_fixed = (w_fixed * y).sum() / w_fixed.sum()
    q = float((w_fixed * (y - mu_fixed) ** 2).sum())
    df = k - 1
    tau2 = float(_TAU2[method](y, v))
    w = 1 / (v + tau2)
    mu = float((w * y).sum() / w.sum())
    se = float(math.sqrt(1 / w.sum()))
    z = float(stats.norm.ppf(1 - (1 - conf_level) / 2))
    i2 = 100 * max(0.0, (q - df) / q) if q > 0 else 0.0
    pi_low = pi_high = None
    pi_note = ""
    if k >= 3:
        half = float(stats.t.ppf(1 - (1 - conf_level) / 2, k - 2)) * math.sqrt(tau2 + se**2)
        pi_low, pi_high = back(mu - half), back(mu + half)
    else:
        pi_note = "prediction interval not defined for fewer than 3 studies"
    studies = pd.DataFrame({
        "label": names, "yi": y, "vi": v,
        "estimate": [back(a) for a in y],
        "ci_low": [back(a - z * math.sqrt(b)) for a, b in zip(y, v)],
        "ci_high": [back(a + z * math.sqrt(b)) for a, b in zip(y, v)],
        "weight": 100 * w / w.sum()})
    return MetaResult(True, "", method, scale, k, back(mu), back(mu - z * se), back(mu + z * se),
                      mu, se, tau2, i2, q, df, float(stats.chi2.sf(q, df)), pi_low, pi_high,
                      pi_note, conf_level, studies)


def _present(values: Sequence[Any]) -> np.ndarray:
    return pd.Series(list(values), dtype=object).notna().to_numpy()


def pool_proportions(events: Sequence[int], n: Sequence[int], method: str = "REML",
                     conf_level: float = 0.95, labels: Sequence[Any] | None = None
                     ) -> MetaResult:
    """Pool proportions events/n on the logit scale; the result is a proportion.

    Studies with a missing count are left out and named in ``excluded``.
    """
    if len(events) != len(n):
        raise ValueError("events and n differ in length")
    names = list(labels) if labels is not None else [f"study {i + 1}" for i in range(len(n))]
    keep = _present(events) & _present(n)
    excluded = tuple(lb for lb, ok in zip(names, keep) if not ok)
    x = [proportion(e, m) for e, m, ok in zip(events, n, keep) if ok]  # validates counts
    for p, lb in zip(x, [lb for lb, ok in zip(names, keep) if ok]):
        if p.n == 0:
            raise ValueError(f"study {lb!r} has n = 0")
    xs = np.array([p.x for p in x], dtype=float)
    ns = np.array([p.n for p in x], dtype=float)
    corrected = (xs == 0) | (xs == ns)
    add = np.where(corrected, CONTINUITY, 0.0)
    yi = np.log((xs + add) / (ns - xs + add))
    vi = 1 / (xs + add) + 1 / (ns - xs + add)
    result = random_effects(yi, vi, method, conf_level,
                            [lb for lb, ok in zip(names, keep) if ok], _expit, "logit")
    studies = result.studies
    if len(studies):
        exact = [proportion(p.x, p.n, conf_level) for p in x]
        studies = studies.assign(estimate=[p.estimate for p in exact],
                                 ci_low=[p.ci_low for p in exact],
                                 ci_high=[p.ci_high for p in exact],
                                 events=xs.astype(int), n=ns.astype(int), corrected=corrected)
    return replace(result, studies=studies, excluded=excluded)


def pool_hazard_ratios(hr: Sequence[float], ci_low: Sequence[float], ci_high: Sequence[float],
                       method: str = "REML", conf_level: float = 0.95,
                       labels: Sequence[Any] | None = None) -> MetaResult:
    """Pool hazard ratios given with their 95% CIs (log scale); the result is an HR.

    Studies with a missing HR or CI limit are left out and named in ``excluded``.
    """
    if not len(hr) == len(ci_low) == len(ci_high):
        raise ValueError("hr, ci_low and ci_high differ in length")
    names = list(labels) if labels is not None else [f"study {i + 1}" for i in range(len(hr))]
    keep = _present(hr) & _present(ci_low) & _present(ci_high)
    arr = [np.asarray([a for a, ok in zip(col, keep) if ok], dtype=float)
           for col in (hr, ci_low, ci_high)]
    keep_float = keep.copy()
    keep_float[keep] = np.isfinite(arr[0]) & np.isfinite(arr[1]) & np.isfinite(arr[2])
    h, lo, hi = (a[keep_float[keep]] for a in arr)
    excluded = tuple(lb for lb, ok in zip(names, keep_float) if not ok)
    if (h <= 0).any() or (lo <= 0).any() or (hi <= lo).any():
        raise ValueError("hazard ratios and CI limits must be > 0 with ci_low < ci_high")
    yi = np.log(h)
    se = (np.log(hi) - np.log(lo)) / (2 * Z95_FOR_SE)
    result = random_effects(yi, se**2, method, conf_level,
                            [lb for lb, ok in zip(names, keep_float) if ok], math.exp, "log HR")
    return replace(result, excluded=excluded)

