"""Fit the covariate assignment to the reported values.

The cohort's outcome rows are built first (``time_model``, ``linkage``); here we decide *which*
patient carries which covariate level. A move swaps the levels of two patients of one variable,
so every level count stays exactly as reported. Moves are accepted by simulated annealing on the
sum of squared normalised errors of the constraints the variable takes part in (error 1 = at
the tolerance limit). Everything is driven by one seeded ``numpy.random.Generator``.
"""
from __future__ import annotations

import math

import numpy as np

from engine.reconstruct.cohort import ArmCohort, Constraint
from engine.reconstruct.objective import Evaluator, error


class Optimiser:
    """Simulated annealing over covariate swaps (and optional re-pairing of outcome times)."""

    def __init__(self, cohort: ArmCohort, constraints: list[Constraint], rng: np.random.Generator,
                 pair_moves: tuple[str, ...] = ()):
        self.cohort = cohort
        self.rng = rng
        self.cons = [c for c in constraints if c.fit
                     and c.arm_id == cohort.arm_id and c.reference_arm is None
                     and c.statistic in ("median", "survival_rate", "hr", "proportion",
                                         "events", "followup_median", "max_time")]
        self.pair_moves = tuple(ep for ep in pair_moves if ep in cohort.times)
        self.by_var: dict[str, list[int]] = {}
        self.by_ep: dict[str, list[int]] = {}
        for k, c in enumerate(self.cons):
            for v in c.variables:
                self.by_var.setdefault(v, []).append(k)
            self.by_ep.setdefault(c.endpoint, []).append(k)
            if c.endpoint == "DoR":
                self.by_ep.setdefault("PFS", []).append(k)
        # values that cannot all hold (feasibility.py) still pull, gently, towards the report
        self.w = np.array([c.weight * (0.05 if c.infeasible else 1.0) for c in self.cons])
        self.hard = np.array([c.infeasible is None for c in self.cons], dtype=bool)
        self.ev = Evaluator(cohort)
        self.err = np.array([self._err(k) for k in range(len(self.cons))])

    def _err(self, k: int) -> float:
        c = self.cons[k]
        return error(c, self.ev.value(c))

    def loss_of(self, ks, errs) -> float:
        return float(sum(self.w[k] * errs[i] ** 2 for i, k in enumerate(ks)))

    def worst(self) -> float:
        hard = self.err[self.hard]
        return float(hard.max()) if hard.size else 0.0

    def total_loss(self) -> float:
        return self.loss_of(range(len(self.cons)), self.err)

    def movable(self) -> list[str]:
        return [v for v, var in self.cohort.variables.items() if var.free and v in self.by_var
                and len(set(var.codes[var.codes >= 0])) > 1]

    def _guided_swap(self, names):
        """A swap aimed at the worst-fitting subgroup value: if a subgroup's median (or rate)
        is too long, trade one of its long-lived patients for a short-lived outsider, and the
        reverse; for a hazard ratio, move the group's outcome the way the HR must go."""
        cand = [k for k in range(len(self.cons)) if self.err[k] > 0.3
                and self.cons[k].group.variable in names
                and self.cons[k].statistic in ("median", "survival_rate", "hr")
                and not self.cons[k].adjust_for]
        if not cand:
            return None
        wts = np.array([self.w[k] * self.err[k] ** 2 for k in cand])
        k = cand[int(self.rng.choice(len(cand), p=wts / wts.sum()))]
        c = self.cons[k]
        val = self.ev.value(c)
        if val is None or c.reported is None:
            return None
        var = self.cohort.variables[c.group.variable]
        if var.allowed is not None:
            return None
        g = c.group.mask(self.cohort)
        out = (c.reference.mask(self.cohort) if c.reference is not None else ~g) & (var.codes >= 0)
        t, _ = self.cohort.endpoint_arrays(c.endpoint)
        if c.statistic == "hr":
            worse = val > c.reported  # group does worse than reported: give it longer times
            pivot = float(np.nanmedian(t[g | out]))
        else:
            worse = val < c.reported  # median / rate too short: give the group longer times
            pivot = val if c.statistic == "median" else c.timepoint
        if worse:
            ii = np.flatnonzero(g & (t < pivot))
            jj = np.flatnonzero(out & (t > pivot))
        else:
            ii = np.flatnonzero(g & (t > pivot))
            jj = np.flatnonzero(out & (t < pivot))
        if ii.size == 0 or jj.size == 0:
            return None
        i, j = int(ii[self.rng.integers(ii.size)]), int(jj[self.rng.integers(jj.size)])
        if var.codes[i] == var.codes[j]:
            return None
        return c.group.variable, (i, j)

    def _propose_swap(self, var) -> tuple[int, int] | None:
        codes = var.codes
        known = np.flatnonzero(codes >= 0)
        for _ in range(20):
            i = int(known[self.rng.integers(known.size)])
            j = int(known[self.rng.integers(known.size)])
            if codes[i] == codes[j]:
                continue
            if var.allowed is not None and not (var.allowed[i, codes[j]] and var.allowed[j, codes[i]]):
                continue
            return i, j
        return None

    def run(self, iters: int, t0: float = 0.3, t1: float = 0.002, stop_at: float = 0.9) -> None:
        names = self.movable()
        if not names:
            return
        self.stop_at = stop_at
        best = self._snapshot()
        soft = bool((~self.hard).any())
        polish_until = None  # after the hard values hold, a short polish for the soft ones
        for it in range(iters):
            if it % 25 == 0:
                best = min(best, self._snapshot(), key=lambda b: b[0])
            if self.worst() <= stop_at:
                if not soft:
                    break
                polish_until = it + 300 if polish_until is None else polish_until
                if it >= polish_until:
                    break
            temp = t0 * (t1 / t0) ** (it / max(iters - 1, 1))
            if self.pair_moves and self.rng.random() < 0.35:
                self._pair_step(temp)
                continue
            pair = self._guided_swap(names) if self.rng.random() < 0.5 else None
            if pair is None:
                weights = np.array([1e-3 + sum(self.w[k] * self.err[k] ** 2 for k in self.by_var[v])
                                    for v in names])
                v = names[int(self.rng.choice(len(names), p=weights / weights.sum()))]
                var = self.cohort.variables[v]
                pair = self._propose_swap(var)
                if pair is None:
                    continue
            else:
                v, pair = pair
                var = self.cohort.variables[v]
            i, j = pair

            def swap(codes=var.codes, i=i, j=j):
                codes[i], codes[j] = codes[j], codes[i]
                self.ev.new_state()

            self._metropolis(self.by_var[v], swap, temp)
        final = self._snapshot()
        if best[0] < final[0]:
            self._restore(best)

    def _snapshot(self):
        """(score, state): score ranks states by worst error, then total loss."""
        score = (round(max(self.worst(), getattr(self, "stop_at", 0.0)), 9), self.total_loss())
        state = ({v: var.codes.copy() for v, var in self.cohort.variables.items() if var.free},
                 {ep: (self.cohort.times[ep].copy(), self.cohort.events[ep].copy())
                  for ep in self.pair_moves},
                 self.err.copy())
        return score, state

    def _restore(self, snap) -> None:
        codes, times, err = snap[1]
        for v, c in codes.items():
            self.cohort.variables[v].codes = c
        for ep, (t, e) in times.items():
            self.cohort.times[ep] = t
            self.cohort.events[ep] = e
        self.err = err
        self.ev = Evaluator(self.cohort)

    def _pair_step(self, temp: float) -> None:
        """Swap one endpoint's times between two patients with an event (the cohort's curve of
        that endpoint is unchanged; only which patient carries which time). PFS never exceeds
        OS, and PFS times move only between patients with the same best response."""
        c = self.cohort
        ep = self.pair_moves[int(self.rng.integers(len(self.pair_moves)))]
        t, e = c.times[ep], c.events[ep]
        ev_idx = np.flatnonzero(e == 1)
        if ev_idx.size < 2:
            return
        i, j = (int(x) for x in ev_idx[self.rng.choice(ev_idx.size, 2, replace=False)])
        pfs, os_ = c.times.get("PFS"), c.times.get("OS")
        if ep == "OS" and pfs is not None and (pfs[i] > t[j] or pfs[j] > t[i]):
            return
        if ep == "PFS":
            if os_ is not None and (t[j] > os_[i] or t[i] > os_[j]):
                return
            br = c.variables.get("best_response")
            if br is not None and br.codes[i] != br.codes[j]:
                return

        def swap():
            t[i], t[j] = t[j], t[i]
            self.ev.invalidate(ep)
            self.ev.new_state()

        self._metropolis(sorted(set(self.by_ep.get(ep, []))), swap, temp)

    def _metropolis(self, ks, flip, temp: float) -> None:
        """Apply ``flip`` (a swap that is its own undo) and keep it by the Metropolis rule on
        the loss of constraints ``ks``; otherwise flip back."""
        old = self.err[ks].copy()
        flip()
        new = np.array([self._err(k) for k in ks])
        delta = self.loss_of(ks, new) - self.loss_of(ks, old)
        if delta <= 0 or self.rng.random() < math.exp(-delta / temp):
            self.err[ks] = new
        else:
            flip()


def prognostic_start(cohort: ArmCohort, var_name: str, constraints: list[Constraint],
                     rng: np.random.Generator, endpoint_order=("OS", "PFS")) -> None:
    """Initial assignment: levels with longer reported medians go to patients with longer
    times, blurred by noise; the blur giving the smallest error on this variable is kept."""
    var = cohort.variables[var_name]
    mine = [c for c in constraints if var_name in c.variables and c.statistic == "median"
            and c.reported is not None and c.infeasible is None and c.group.variable == var_name
            and c.arm_id == cohort.arm_id]
    if not mine or var.allowed is not None:
        return
    ep = next((p for p in endpoint_order if any(c.endpoint == p for c in mine)), mine[0].endpoint)
    t, e = cohort.endpoint_arrays(ep)
    t = np.nan_to_num(t, nan=0.0)
    base = (np.argsort(np.argsort(t + 0.5 * (1 - e) * t)) + 0.5) / cohort.n  # censored count longer
    level_score = {lv: 0.0 for lv in var.levels}
    for lv in var.levels:
        vals = [c.reported for c in mine if c.endpoint == ep and lv in c.group.levels]
        level_score[lv] = float(np.mean(vals)) if vals else float("nan")
    known = np.flatnonzero(var.codes >= 0)
    counts = [(var.codes == k).sum() for k in range(len(var.levels))]
    fill = np.nanmean([v for v in level_score.values()]) if any(
        not math.isnan(v) for v in level_score.values()) else 0.0
    order_levels = sorted(range(len(var.levels)),
                          key=lambda k: -(fill if math.isnan(level_score[var.levels[k]]) else level_score[var.levels[k]]))
    best = None
    opt_cons = [c for c in constraints if var_name in c.variables and c.arm_id == cohort.arm_id
                and c.infeasible is None and c.fit and c.reference_arm is None]
    evaluator = Evaluator(cohort)
    for sigma in (0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.2, 2.0, 5.0) * 2:
        score = base[known] + sigma * rng.standard_normal(known.size)
        ranked = known[np.argsort(-score)]
        codes = var.codes.copy()
        pos = 0
        for k in order_levels:
            codes[ranked[pos:pos + counts[k]]] = k
            pos += counts[k]
        saved = var.codes
        var.codes = codes
        evaluator.new_state()
        loss = sum(error(c, evaluator.value(c)) ** 2 for c in opt_cons)
        var.codes = saved
        if best is None or loss < best[0]:
            best = (loss, codes)
    var.codes = best[1]
