"""Helpers the per-study specifications share."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from engine.reconstruct import fast_stats as fs
from engine.reconstruct.cohort import ArmCohort, Constraint, Group, Variable, counted_variable, fixed_variable
from engine.reconstruct.evidence import StudyEvidence
from engine.reconstruct.linkage import ResponsePlan, build_pfs_os, response_variable, ttr_values
from engine.reconstruct.time_model import TargetCurve

# patients-table columns filled from a variable of the same name
PATIENT_VARIABLE_COLUMNS = (
    "prior_ici", "prior_antiangiogenic", "pdl1_status", "kras_subtype", "egfr_mutation", "ecog",
    "line_of_therapy", "tumor_type", "sex", "age_group", "histology", "best_response",
)


@dataclass
class StudyBuild:
    """What a study specification returns."""

    cohorts: list[ArmCohort]
    constraints: list[Constraint]
    assumptions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Covariate:
    """A descriptor read from baseline.csv.

    ``characteristic``: baseline row name; ``name``: variable (= patients column when it is one
    of PATIENT_VARIABLE_COLUMNS, else a patient_attributes variable); ``exclude``: merged levels
    that overlap others (e.g. non_G12C); ``rest``: level for patients not in any printed level
    (e.g. 'no' when only the 'yes' count is printed), None = unknown (NULL).
    """

    characteristic: str
    name: str | None = None
    exclude: tuple[str, ...] = ()
    rest: str | None = None
    free: bool = True
    counts: dict | None = None  # explicit counts (assumption) instead of baseline rows

    @property
    def var(self) -> str:
        return self.name or self.characteristic


def covariate_variables(ev: StudyEvidence, arm_id: str, n: int, rng: np.random.Generator,
                        covs: list[Covariate], auto: bool = True,
                        skip: tuple[str, ...] = ()) -> list[Variable]:
    """Variables for the listed covariates and (``auto``) for every other categorical baseline
    characteristic of the arm, assigned at random with its counts (uncounted patients unknown).
    Characteristics whose levels overlap (counts add up to more than n) are left out unless
    listed with ``exclude``."""
    out = []
    covs = list(covs)
    if auto:
        listed = {cv.characteristic for cv in covs} | set(skip)
        chars = []
        for b in ev.baseline:
            if (b["arm_id"] == arm_id and b["n"] is not None and b["characteristic"] not in listed
                    and b["characteristic"] not in chars):
                chars.append(b["characteristic"])
        for ch in chars:
            if sum(ev.baseline_counts(arm_id, ch).values()) <= n:
                covs.append(Covariate(ch, free=False))
    for cv in covs:
        counts = dict(cv.counts) if cv.counts else ev.baseline_counts(arm_id, cv.characteristic, cv.exclude)
        if not counts:
            raise ValueError(f"{ev.study_id}: no baseline counts for {cv.characteristic}")
        left = n - sum(counts.values())
        if left < 0:
            raise ValueError(f"{ev.study_id}/{arm_id}: {cv.characteristic} counts {counts} exceed n={n}")
        if left and cv.rest is not None:
            counts[cv.rest] = counts.get(cv.rest, 0) + left
        column = cv.var if cv.var in PATIENT_VARIABLE_COLUMNS else None
        out.append(counted_variable(cv.var, counts, n, rng, column=column,
                                    attribute=None if column else cv.var, free=cv.free))
    return out


def filter_defaults(ev: StudyEvidence, n: int, skip: set[str]) -> list[Variable]:
    """Columns filled for everybody from filters.csv (e.g. tumor type, prior ICI by eligibility);
    a variable the study neither reports nor implies stays NULL."""
    out = []
    for col in ("prior_ici", "prior_antiangiogenic", "pdl1_status", "kras_subtype", "egfr_mutation",
                "ecog", "line_of_therapy", "tumor_type"):
        if col in skip:
            continue
        out.append(fixed_variable(col, n, ev.whole_cohort_filter(col), column=col))
    return out


def add_baseline(cohort: ArmCohort, ev: StudyEvidence, rng: np.random.Generator,
                 covs: list[Covariate], skip: tuple[str, ...] = (),
                 also_skip: frozenset[str] = frozenset()) -> None:
    """Add the covariate variables (``covariate_variables``, drawing from ``rng``) and then the
    filters.csv defaults for the columns no variable (nor ``also_skip``) fills yet."""
    for var in covariate_variables(ev, cohort.arm_id, cohort.n, rng, covs, skip=skip):
        cohort.add_variable(var)
    for var in filter_defaults(ev, cohort.n, skip=set(cohort.variables) | set(also_skip)):
        cohort.add_variable(var)


def count_group_from(variables: dict[str, Variable], aliases: dict[tuple[str, str], Group] | None = None):
    """Map a baseline (characteristic, level) row to the patients it counts."""
    aliases = aliases or {}

    def group_of(char: str, level: str) -> Group | None:
        if (char, level) in aliases:
            return aliases[(char, level)]
        if char in variables and level in variables[char].levels:
            return Group(char, (level,))
        return None

    return group_of


def anchor_calibrate(build: Callable[[dict], ArmCohort], anchors: dict, targets: dict,
                     rounds: int = 8) -> ArmCohort:
    """Re-build the outcome rows while nudging the curve anchors until the cohort's own
    Kaplan-Meier medians and landmark rates hit the reported ones.

    ``anchors``: {endpoint: {'median': t, 'rates': {time: s}, ...}} (mutated copy);
    ``targets``: {endpoint: {'median': m, 'rates': {time: s}}}.
    """
    cur = {ep: {"median": a.get("median"), "rates": dict(a.get("rates", {})), **{
        k: v for k, v in a.items() if k not in ("median", "rates")}} for ep, a in anchors.items()}
    best = None
    for _ in range(rounds):
        cohort = build(cur)
        worst = 0.0
        for ep, tg in targets.items():
            t, e = cohort.endpoint_arrays(ep)
            m = ~np.isnan(t)
            if tg.get("median") is not None:
                got = fs.km_median(t[m], e[m])
                if got is not None:
                    err = tg["median"] - got
                    worst = max(worst, abs(err) / max(0.3, 0.05 * tg["median"]))
                    cur[ep]["median"] = cur[ep]["median"] + 0.8 * err
            for x, s in tg.get("rates", {}).items():
                got = fs.km_survival_at(t[m], e[m], x)
                worst = max(worst, abs(s - got) / 0.03)
                cur[ep]["rates"][x] = float(np.clip(cur[ep]["rates"][x] * (s / max(got, 1e-3)) ** 0.8,
                                                    1e-3, 0.999))
        if best is None or worst < best[0]:
            best = (worst, cohort)
        if worst < 0.15:
            break
    return best[1]


def curve_from(anchor: dict) -> TargetCurve:
    pts = list(anchor.get("shape", []))
    if anchor.get("median") is not None:
        pts.append((anchor["median"], 0.5))
    pts += [(t, s) for t, s in anchor.get("rates", {}).items()]
    return TargetCurve.through(pts, anchor.get("tail_hazard"))


def pfs_os_cohort(ev: StudyEvidence, study_id: str, arm_id: str, rng: np.random.Generator,
                  anchors: dict, fu: np.ndarray, t_min: float, t_max: float | None,
                  ttr_median: float, free_response: bool, **pfs_os) -> ArmCohort:
    """One arm's linked PFS and OS rows (``build_pfs_os`` through the anchors' curves and the
    reported medians; ``pfs_os``: its further keywords), then time to response and best
    response, drawn from ``rng`` in that order."""
    n = ev.arm_n(arm_id)
    pfs_t, pfs_e, os_t, os_e = build_pfs_os(
        n, rng, curve_from(anchors["OS"]), curve_from(anchors["PFS"]), fu,
        ev.estimate(arm_id, "OS", "median"), ev.estimate(arm_id, "PFS", "median"), t_min, t_max,
        **pfs_os)
    cohort = ArmCohort(study_id, arm_id, n, {"OS": os_t, "PFS": pfs_t}, {"OS": os_e, "PFS": pfs_e})
    cohort.ttr = ttr_values(n, rng, median=ttr_median)
    plan = ResponsePlan(ev.response_counts(arm_id))
    cohort.add_variable(response_variable(pfs_t, pfs_e, cohort.ttr, plan, rng, free=free_response))
    return cohort
