"""The objective the optimisers minimise: each constraint's statistic on the current cohort
(fast versions, see ``fast_stats``) and its distance to the reported value in tolerance units."""
from __future__ import annotations

import math

import numpy as np

from engine.reconstruct import fast_stats as fs
from engine.reconstruct.cohort import ArmCohort, Constraint

E_CAP = 6.0


def tolerance_width(c: Constraint) -> float:
    rep = c.reported or 0.0
    if c.tolerance == "median_overall":
        return max(0.3, 0.05 * rep)
    if c.tolerance == "median_subgroup":
        return max(0.5, 0.10 * rep)
    if c.tolerance == "rate":
        return 0.03
    if c.tolerance == "hr":
        return math.log(1.15)
    if c.tolerance == "followup":
        return max(1.0, 0.10 * rep)
    return 1.0


class Evaluator:
    """Keeps each endpoint sorted by time once, so that a subgroup statistic costs a mask."""

    def __init__(self, cohort: ArmCohort):
        self.cohort = cohort
        self._sorted: dict[str, tuple] = {}
        self._mv_cache: dict = {}
        self._mv_beta: dict = {}

    def invalidate(self, endpoint: str) -> None:
        self._sorted.pop(endpoint, None)
        if endpoint == "PFS":
            self._sorted.pop("DoR", None)

    def new_state(self) -> None:
        self._mv_cache.clear()

    def sorted(self, endpoint: str):
        if endpoint not in self._sorted:
            if endpoint == "DoR":
                t = self.cohort.times["PFS"] - self.cohort.ttr
                e = self.cohort.events["PFS"]
            else:
                t, e = self.cohort.times[endpoint], self.cohort.events[endpoint]
            valid = ~np.isnan(t)
            order = np.flatnonzero(valid)[np.lexsort((-e[valid], t[valid]))]
            self._sorted[endpoint] = (order, t[order], e[order])
        return self._sorted[endpoint]

    def subset(self, endpoint: str, mask: np.ndarray):
        order, ts, es = self.sorted(endpoint)
        m = mask[order]
        return ts[m], es[m], m

    def value(self, c: Constraint):
        cohort = self.cohort
        if c.statistic in ("median", "survival_rate", "events", "followup_median", "max_time"):
            mask = c.group.mask(cohort)
            if c.endpoint == "DoR":
                mask = mask & cohort.variables["best_response"].mask(("CR", "PR"))
            ts, es, _ = self.subset(c.endpoint, mask)
            if c.statistic == "median":
                return fs.median_from_levels(*fs.km_levels_sorted(ts, es))
            if c.statistic == "survival_rate":
                et, s, _ = fs.km_levels_sorted(ts, es)
                k = int(np.searchsorted(et, c.timepoint, side="right"))
                return 1.0 if k == 0 else float(s[k - 1])
            if c.statistic == "events":
                return float(es.sum())
            if c.statistic == "max_time":
                return float(ts[-1]) if ts.size else None
            if c.note == "reverse_km":
                rev = 1 - es
                order = np.lexsort((-rev, ts))
                return fs.median_from_levels(*fs.km_levels_sorted(ts[order], rev[order]))
            return float(np.median(ts)) if ts.size else None
        if c.statistic == "hr":
            g = c.group.mask(cohort)
            ref = c.reference.mask(cohort) if c.reference is not None else ~g
            use = g | ref
            if c.adjust_for:
                names = frozenset([c.group, *c.adjust_for])
                ck = (c.endpoint, names)
                if ck not in self._mv_cache:
                    groups = sorted(names, key=lambda gr: (gr.variable, gr.levels))
                    t, e = cohort.times[c.endpoint], cohort.events[c.endpoint]
                    X = np.column_stack([gr.mask(cohort) for gr in groups])
                    beta = fs.cox_multi(t, e, X, beta0=self._mv_beta.get(ck))
                    if beta is not None:
                        self._mv_beta[ck] = beta
                    self._mv_cache[ck] = None if beta is None else dict(zip(groups, np.exp(beta)))
                res = self._mv_cache[ck]
                return None if res is None else float(res[c.group])
            ts, es, m = self.subset(c.endpoint, use)
            order = self._sorted[c.endpoint][0]
            hr, _ = fs.cox_binary_sorted(ts, es, g[order][m], self._mv_beta.get(id(c), 0.0), tol=1e-7)
            if hr is not None:
                self._mv_beta[id(c)] = math.log(hr)
            return hr
        if c.statistic == "count":
            return float(c.group.mask(cohort).sum())
        if c.statistic == "proportion":
            g = c.group.mask(cohort)
            cats = ("CR", "PR") if c.endpoint == "ORR" else ("CR", "PR", "SD")
            hit = cohort.variables["best_response"].mask(cats)
            return float((hit & g).sum()) / max(int(g.sum()), 1), int(g.sum())
        raise ValueError(c.statistic)


def error(c: Constraint, value) -> float:
    """Normalised distance to the reported value (1.0 = at the tolerance limit)."""
    if c.tolerance == "inside_ci":
        lo, hi = c.reported_ci
        if value is None:
            return E_CAP
        width = max((hi - lo) / 4.0, 0.5)
        return 0.0 if lo <= value <= hi else min(E_CAP, 1.0 + min(abs(value - lo), abs(value - hi)) / width)
    if c.reported is None:  # reported as not reached
        return 0.0 if value is None else E_CAP
    if value is None:
        return E_CAP
    if c.statistic == "hr":
        return min(E_CAP, abs(math.log(value / c.reported)) / tolerance_width(c))
    if c.statistic == "proportion":  # value = (fraction, group size): nearest achievable count
        frac, size = value
        return min(E_CAP, abs(frac - c.reported) * size / 0.5)
    if c.statistic == "events":
        return min(E_CAP, abs(value - c.reported))
    if c.statistic == "max_time":
        return min(E_CAP, abs(value - c.reported) / 0.05)
    return min(E_CAP, abs(value - c.reported) / tolerance_width(c))
