"""Detect reported values that cannot hold together, before fitting.

The Kaplan-Meier curve of a cohort split into complete, non-overlapping subgroups is (without
censoring exactly, with censoring approximately) a weighted mix of the subgroup curves, so the
cohort median lies between the smallest and the largest subgroup median. When every subgroup
median, even stretched to the edge of its tolerance, stays below (or above) the cohort median
at the edge of its tolerance, one of the subgroup values must give way. We keep the cohort
median and the subgroup values furthest from it, and mark the subgroup value closest to the
cohort median as infeasible (it is then left free and reported as it comes out).
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from engine.reconstruct.cohort import ArmCohort, Constraint
from engine.reconstruct.objective import tolerance_width


def mark_infeasible(cohort: ArmCohort, constraints: list[Constraint]) -> None:
    overall = {c.endpoint: c for c in constraints
               if c.arm_id == cohort.arm_id and c.statistic == "median" and c.subgroup is None
               and c.reported is not None}
    by_var: dict[tuple[str, str], list[Constraint]] = defaultdict(list)
    for c in constraints:
        if (c.arm_id == cohort.arm_id and c.statistic == "median" and c.subgroup is not None
                and c.reported is not None and c.tolerance == "median_subgroup"
                and c.infeasible is None):
            by_var[(c.endpoint, c.subgroup)].append(c)
    for (ep, sub), cs in by_var.items():
        if ep not in overall or len(cs) < 2:
            continue
        masks = [c.group.mask(cohort) for c in cs]
        total = np.sum(masks, axis=0)
        if not np.all(total == 1):  # not a complete split into disjoint groups
            continue
        m = overall[ep]
        lo_all, hi_all = m.reported - tolerance_width(m), m.reported + tolerance_width(m)
        ups = [c.reported + tolerance_width(c) for c in cs]
        downs = [c.reported - tolerance_width(c) for c in cs]
        levels = ", ".join(f"{c.level} {c.reported:g}" for c in cs)
        if max(ups) < lo_all:
            k = int(np.argmax(ups))
            cs[k].infeasible = (
                f"all {sub} subgroup medians ({levels}) lie below the overall median "
                f"{m.reported:g} even at the edge of their tolerance; a cohort's median cannot "
                f"exceed the largest median of its complete subgroups, so the overall value and "
                f"the other level(s) were kept and this level left free")
        elif min(downs) > hi_all:
            k = int(np.argmin(downs))
            cs[k].infeasible = (
                f"all {sub} subgroup medians ({levels}) lie above the overall median "
                f"{m.reported:g} even at the edge of their tolerance; a cohort's median cannot be "
                f"below the smallest median of its complete subgroups, so the overall value and "
                f"the other level(s) were kept and this level left free")
