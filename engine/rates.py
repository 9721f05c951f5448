"""Response rates and other proportions: exact CI and two-group comparison, matching R.

* :func:`proportion` -> R ``binom.test(x, n, conf.level=...)`` (Clopper-Pearson interval).
* :func:`compare_proportions` -> R ``prop.test(c(x1, x2), c(n1, n2))`` (Pearson chi-square
  WITH Yates' continuity correction, R's default ``correct=TRUE``) and R ``fisher.test`` on
  the 2x2 table (two-sided p as R computes it). Fisher's test is recommended when any expected
  cell count is below 5.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from engine.results import not_estimable

# R fisher.test: tables whose probability is within this factor of the observed one count
# as "as extreme" (guards against floating-point ties).
_FISHER_REL_ERR = 1 + 1e-7


def _whole(value: float, what: str) -> int:
    if value is None or isinstance(value, bool) or not math.isfinite(float(value)) \
            or float(value) != round(float(value)) or float(value) < 0:
        raise ValueError(f"{what} must be a non-negative whole number, got {value!r}")
    return int(round(float(value)))


def _counts(x: float, n: float, what: str = "") -> tuple[int, int]:
    x, n = _whole(x, f"x{what}"), _whole(n, f"n{what}")
    if x > n:
        raise ValueError(f"x{what} ({x}) cannot exceed n{what} ({n})")
    return x, n


@dataclass(frozen=True)
class ProportionResult:
    """``estimate`` = x / n with the exact Clopper-Pearson interval (R ``binom.test``)."""

    x: int
    n: int
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    conf_level: float
    estimable: bool
    reason: str = ""
    method: str = "Clopper-Pearson exact interval (R binom.test)"


def proportion(x: int, n: int, conf_level: float = 0.95) -> ProportionResult:
    """Proportion with exact CI; ``n == 0`` is not estimable."""
    x, n = _counts(x, n)
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must be in (0, 1), got {conf_level!r}")
    if n == 0:
        return ProportionResult(x, n, None, None, None, conf_level, False,
                                not_estimable("no patients (n = 0)"))
    alpha = 1 - conf_level
    low = 0.0 if x == 0 else float(stats.beta.ppf(alpha / 2, x, n - x + 1))
    high = 1.0 if x == n else float(stats.beta.ppf(1 - alpha / 2, x + 1, n - x))
    return ProportionResult(x, n, x / n, low, high, conf_level, True)


def fisher_exact_p(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided Fisher exact p of the 2x2 table [[x1, n1-x1], [x2, n2-x2]], as R computes it:
    the sum of the probabilities of all tables (same margins) no more likely than the
    observed one, with R's relative tolerance 1e-7."""
    m, total_n, k = n1, n1 + n2, x1 + x2
    lo, hi = max(0, k - n2), min(k, n1)
    support = np.arange(lo, hi + 1)
    prob = stats.hypergeom.pmf(support, total_n, m, k)
    observed = prob[x1 - lo]
    return float(min(1.0, prob[prob <= observed * _FISHER_REL_ERR].sum()))


@dataclass(frozen=True)
class ComparisonResult:
    """Two proportions compared.

    ``chi2``/``chi2_p``: Pearson chi-square with Yates' continuity correction (R ``prop.test``
    default), None when a column of the table is empty. ``diff_ci``: R ``prop.test``'s
    continuity-corrected 95% CI of p1 - p2. ``fisher_p``: two-sided Fisher exact p (R
    ``fisher.test``). ``recommended`` is "fisher" when any expected count is < 5 (or the
    chi-square is undefined), else "chi2"; ``p`` is the recommended test's p-value.
    """

    x1: int
    n1: int
    x2: int
    n2: int
    p1: float | None
    p2: float | None
    difference: float | None
    diff_ci: tuple[float | None, float | None]
    chi2: float | None
    chi2_p: float | None
    fisher_p: float | None
    min_expected: float | None
    recommended: str | None
    p: float | None
    estimable: bool
    reason: str = ""
    chi2_method: str = ("Pearson chi-square with Yates continuity correction "
                        "(R prop.test, correct = TRUE)")


def compare_proportions(x1: int, n1: int, x2: int, n2: int) -> ComparisonResult:
    """Compare x1/n1 with x2/n2 (chi-square with Yates correction and Fisher exact)."""
    x1, n1 = _counts(x1, n1, "1")
    x2, n2 = _counts(x2, n2, "2")
    if n1 == 0 or n2 == 0:
        which = "1" if n1 == 0 else "2"
        return ComparisonResult(x1, n1, x2, n2, None, None, None, (None, None), None, None,
                                None, None, None, None, False,
                                not_estimable(f"no patients in group {which} (n = 0)"))
    p1, p2 = x1 / n1, x2 / n2
    delta = p1 - p2
    n = np.array([n1, n2], dtype=float)
    total, events = n1 + n2, x1 + x2
    observed = np.array([[x1, n1 - x1], [x2, n2 - x2]], dtype=float)
    expected = np.outer(n, [events, total - events]) / total
    min_expected = float(expected.min())
    yates = min(0.5, abs(delta) / float((1 / n).sum()))
    chi2 = chi2_p = None
    if expected.min() > 0:
        chi2 = float((((np.abs(observed - expected) - yates) ** 2) / expected).sum())
        chi2_p = float(stats.chi2.sf(chi2, 1))
    z = float(stats.norm.ppf(0.975))
    width = z * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2) + yates * float((1 / n).sum())
    diff_ci = (max(delta - width, -1.0), min(delta + width, 1.0))
    fisher_p = fisher_exact_p(x1, n1, x2, n2)
    use_fisher = chi2 is None or min_expected < 5
    recommended = "fisher" if use_fisher else "chi2"
    return ComparisonResult(x1, n1, x2, n2, p1, p2, delta, diff_ci, chi2, chi2_p, fisher_p,
                            min_expected, recommended, fisher_p if use_fisher else chi2_p, True)
