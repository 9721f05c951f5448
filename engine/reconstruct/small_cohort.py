"""Fitting a tiny cohort: the times themselves move together with the covariates."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.reconstruct import fast_stats as fs
from engine.reconstruct.cohort import ArmCohort, Constraint
from engine.reconstruct.objective import E_CAP, tolerance_width


@dataclass
class TimeMoves:
    """For tiny cohorts: the optimiser may also move single event times and event flags."""

    grid: np.ndarray
    censor_penalty: float = 0.05
    favoured: tuple[float, ...] = ()


class SmallCohortOptimiser:
    """For a tiny cohort whose fitted values are all medians of one endpoint: times, event flags
    and covariate levels are moved together, and every median is recomputed at once after each
    move (``fast_stats.batch_medians``)."""

    def __init__(self, cohort: ArmCohort, constraints: list[Constraint], endpoint: str,
                 rng: np.random.Generator, moves: TimeMoves):
        self.cohort, self.rng, self.moves, self.ep = cohort, rng, moves, endpoint
        self.meds = [c for c in constraints if c.arm_id == cohort.arm_id and c.fit
                     and c.endpoint == endpoint and c.statistic == "median"
                     and c.tolerance in ("median_overall", "median_subgroup")
                     and c.reported is not None]
        self.max_time = next((c.reported for c in constraints if c.arm_id == cohort.arm_id
                              and c.endpoint == endpoint and c.statistic == "max_time"), None)
        self.target = np.array([c.reported for c in self.meds])
        self.tol = np.array([tolerance_width(c) for c in self.meds])
        self.w = np.array([c.weight * (0.05 if c.infeasible else 1.0) for c in self.meds])
        self.hard = np.array([c.infeasible is None for c in self.meds])
        self.vars = [v for v, var in cohort.variables.items() if var.free
                     and any(v in c.variables for c in self.meds)]
        # group membership (constraints x patients), updated in place by swaps
        self.M = np.array([c.group.mask(cohort) for c in self.meds])
        self.rows_of = {v: np.array([k for k, c in enumerate(self.meds) if c.group.variable == v])
                        for v in self.vars}

    def _errors(self) -> np.ndarray:
        t, e = self.cohort.times[self.ep], self.cohort.events[self.ep]
        order = np.lexsort((-e, t))
        med = fs.batch_medians(t[order], e[order], self.M[:, order])
        err = np.where(np.isnan(med), E_CAP, np.minimum(E_CAP, np.abs(med - self.target) / self.tol))
        return err

    def _loss(self, err) -> float:
        c = self.cohort
        e = c.events[self.ep]
        loss = float((self.w * err**2).sum()) + self.moves.censor_penalty * float(e.size - e.sum())
        if self.max_time is not None:
            loss += (abs(c.times[self.ep].max() - self.max_time) / 0.05) ** 2
        return loss

    def run(self, iters: int, t0: float = 1.0, t1: float = 0.01) -> None:
        c = self.cohort
        t, e = c.times[self.ep], c.events[self.ep]
        err = self._errors()
        loss = self._loss(err)
        best = (loss, t.copy(), e.copy(), {v: c.variables[v].codes.copy() for v in self.vars})
        grid, fav = self.moves.grid, self.moves.favoured
        for it in range(iters):
            temp = t0 * (t1 / t0) ** (it / max(iters - 1, 1))
            u = self.rng.random()
            if u < 0.3:  # move one time
                i = int(self.rng.integers(c.n))
                old = (t[i], e[i])
                t[i] = fav[int(self.rng.integers(len(fav)))] if (fav and self.rng.random() < 0.5) \
                    else grid[int(self.rng.integers(grid.size))]
                undo = lambda i=i, old=old: (t.__setitem__(i, old[0]), e.__setitem__(i, old[1]))
            elif u < 0.35:  # event flag
                i = int(self.rng.integers(c.n))
                e[i] = 1 - e[i]
                undo = lambda i=i: e.__setitem__(i, 1 - e[i])
            else:
                if not self.vars:
                    continue
                name = self.vars[int(self.rng.integers(len(self.vars)))]
                var = c.variables[name]
                i, j = (int(x) for x in self.rng.choice(c.n, 2, replace=False))
                if var.codes[i] == var.codes[j] or var.codes[i] < 0 or var.codes[j] < 0:
                    continue
                rows = self.rows_of[name]

                def swap(var=var, i=i, j=j, rows=rows):
                    var.codes[[i, j]] = var.codes[[j, i]]
                    self.M[np.ix_(rows, [i, j])] = self.M[np.ix_(rows, [j, i])]

                swap()
                undo = swap
            new_err = self._errors()
            new_loss = self._loss(new_err)
            if new_loss <= loss or self.rng.random() < math.exp(-(new_loss - loss) / temp):
                err, loss = new_err, new_loss
                if loss < best[0]:
                    best = (loss, t.copy(), e.copy(), {v: c.variables[v].codes.copy() for v in self.vars})
                hard = err[self.hard]
                if (hard.size == 0 or hard.max() <= 0.9) and (
                        self.max_time is None or abs(t.max() - self.max_time) < 0.05):
                    break
            else:
                undo()
        _, bt, be, bcodes = best
        c.times[self.ep][:] = bt
        c.events[self.ep][:] = be
        for v, codes in bcodes.items():
            c.variables[v].codes = codes
        self.M = np.array([con.group.mask(c) for con in self.meds])
