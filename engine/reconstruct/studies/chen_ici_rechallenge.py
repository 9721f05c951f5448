"""Chen et al.: ICI rechallenge + anlotinib in driver-negative advanced NSCLC (n = 14).

Reported and used: PFS median 11.7 months, longest observed PFS 14.7 months, best response
(4 PR, 9 SD, 1 PD), baseline counts (Tables 1-2) and the univariate PFS medians of Table 3
(15 factors, 33 medians). OS is defined but never reported, so OS stays unknown (NULL).
"""
from __future__ import annotations

import numpy as np

from engine.reconstruct.cohort import ArmCohort, Constraint, Group, Variable, counted_variable
from engine.reconstruct.constraints import from_counts, from_results
from engine.reconstruct.evidence import StudyEvidence
from engine.reconstruct.feasibility import mark_infeasible
from engine.reconstruct.linkage import ResponsePlan, response_variable, ttr_values
from engine.reconstruct.small_cohort import SmallCohortOptimiser, TimeMoves
from engine.reconstruct.study_common import (Covariate, StudyBuild, add_baseline, count_group_from,
                                             curve_from)
from engine.reconstruct.time_model import place_events

STUDY_ID = "chen_ici_rechallenge"
ARM = "combination"
SEED = 2024_09_30

ASSUMPTIONS = [
    "With 14 patients the PFS times themselves are fitted: starting from a curve through the "
    "reported median, single times (on a 0.1-month grid, up to the longest observed 14.7 months) "
    "and event flags are moved together with the covariate assignment until the Table 3 "
    "medians hold. Patients without an event are allowed but penalised, because the methods "
    "suggest patients without an observed event were excluded.",
    "Medians are computed with R's rule (midpoint when the curve sits exactly at 0.5); the paper "
    "used SPSS, which takes the first time the curve reaches 0.5.",
    "Metastatic sites: 8 site counts among 7 patients with distant metastases, so one patient "
    "has two sites; assumed bone + liver (patterns: 3 bone only, 1 bone and liver, 1 liver only, "
    "1 brain, 1 adrenal).",
    "Prior antiangiogenic therapy = the one patient whose initial chemo-ICI regimen included "
    "bevacizumab (Table 2).",
    "Best response is set after the times: the PD patient is the earliest progression, responders "
    "tend to have longer PFS.",
    "Joint distributions of the Table 1-3 factors are not reported; they follow from fitting the "
    "Table 3 medians, otherwise factors are unrelated. OS is not reported and stays unknown.",
]

MET_PATTERNS = {"none": 7, "bone": 3, "bone_liver": 1, "liver": 1, "brain": 1, "adrenal": 1}
SITE_LEVELS = {
    "bone": ("bone", "bone_liver"),
    "liver": ("liver", "bone_liver"),
    "brain": ("brain",),
    "adrenal": ("adrenal",),
}
WITH_METS = ("bone", "bone_liver", "liver", "brain", "adrenal")
BEV = "pemetrexed_platinum_bevacizumab_ici"

COVARIATES = [
    Covariate("sex"),
    Covariate("age", name="age_group", exclude=("mean",)),
    Covariate("ecog"),
    Covariate("histology"),
    Covariate("stage"),
    Covariate("smoking"),
    Covariate("pdl1_status"),
    Covariate("immune_maintenance"),
    Covariate("same_ici_rechallenge"),
    Covariate("initial_ici_best_response"),
    Covariate("initial_ici_pfs"),
    Covariate("initial_ici_regimen", free=False),
]
HANDLED = ("distant_metastasis", "bone_metastasis", "brain_metastasis", "liver_metastasis",
           "adrenal_metastasis", "prior_antiangiogenic", "prior_ici")


def group_of(sub: str, lvl: str) -> Group:
    if sub == "age":
        return Group("age_group", (lvl,))
    if sub == "metastasis":
        return Group("met_pattern", WITH_METS if lvl == "yes" else ("none",))
    if sub == "metastatic_site":
        return Group("met_pattern", SITE_LEVELS[lvl])
    return Group(sub, (lvl,))


COUNT_ALIASES = {
    ("distant_metastasis", "yes"): Group("met_pattern", WITH_METS),
    ("distant_metastasis", "no"): Group("met_pattern", ("none",)),
    ("bone_metastasis", "yes"): Group("met_pattern", SITE_LEVELS["bone"]),
    ("liver_metastasis", "yes"): Group("met_pattern", SITE_LEVELS["liver"]),
    ("brain_metastasis", "yes"): Group("met_pattern", SITE_LEVELS["brain"]),
    ("adrenal_metastasis", "yes"): Group("met_pattern", SITE_LEVELS["adrenal"]),
    ("prior_antiangiogenic", "yes"): Group("initial_ici_regimen", (BEV,)),
    ("prior_antiangiogenic", "no"): Group("initial_ici_regimen",
                                          ("taxane_platinum_ici", "pemetrexed_platinum_ici")),
    ("age", "le65"): Group("age_group", ("le65",)),
    ("age", "gt65"): Group("age_group", ("gt65",)),
}


def _met_variable(n: int, rng: np.random.Generator) -> Variable:
    var = counted_variable("met_pattern", MET_PATTERNS, n, rng)
    yes_no = {lv: ("no" if lv == "none" else "yes") for lv in MET_PATTERNS}
    var.outputs = {"distant_metastasis": yes_no}
    for site, levels in SITE_LEVELS.items():
        var.outputs[f"{site}_metastasis"] = {lv: ("yes" if lv in levels else "no") for lv in MET_PATTERNS}
    return var


def build(ev: StudyEvidence) -> StudyBuild:
    n = ev.arm_n(ARM)
    rng = np.random.default_rng(SEED)
    median = ev.estimate(ARM, "PFS", "median")
    t_max = 14.7
    curve = curve_from({"median": median, "shape": [(1.5, 0.97), (4.5, 0.8), (8.0, 0.68)]})
    pfs_t = np.round(place_events(n, np.empty(0), curve, 1.0, t_max, ((0.5, median),)), 1)
    pfs_e = np.ones(n, dtype=int)
    cohort = ArmCohort(STUDY_ID, ARM, n, {"PFS": pfs_t}, {"PFS": pfs_e})
    add_baseline(cohort, ev, rng, COVARIATES, skip=HANDLED, also_skip={"prior_antiangiogenic"})
    cohort.add_variable(_met_variable(n, rng))
    regimen = cohort.variables["initial_ici_regimen"]
    regimen.outputs = {"initial_ici_regimen": {lv: lv for lv in regimen.levels},
                       "prior_antiangiogenic": {lv: ("yes" if lv == BEV else "no")
                                                for lv in regimen.levels}}

    constraints = from_results(ev, group_of)
    constraints.append(Constraint(STUDY_ID, ARM, "PFS", "max_time", t_max, "max_time",
                                  source="Results: Clinical effect",
                                  note="longest observed PFS"))
    constraints += from_counts(ev, ARM, count_group_from(cohort.variables, COUNT_ALIASES))
    mark_infeasible(cohort, constraints)
    for c in constraints:
        if c.subgroup == "metastasis" and c.level == "yes" and c.statistic == "median":
            c.infeasible = (
                "contradicts the site medians: of the 7 patients with distant metastases, the "
                "brain (1.7) and adrenal (2.3) patients and at least two of the four bone "
                "patients (bone median 7.4) progressed before about 8 months, so the median of "
                "these 7 cannot reach 11.7 (even if one of them has two sites)")
    favoured = tuple(sorted({c.reported for c in constraints
                             if c.statistic == "median" and c.reported is not None}))
    moves = TimeMoves(np.round(np.arange(1.0, t_max + 1e-9, 0.1), 1), 0.05, favoured)
    SmallCohortOptimiser(cohort, constraints, "PFS", rng, moves).run(6000)

    cohort.ttr = ttr_values(n, rng, median=1.6)
    plan = ResponsePlan(ev.response_counts(ARM), pr_min_dor=0.3)
    cohort.add_variable(response_variable(cohort.times["PFS"], cohort.events["PFS"], cohort.ttr,
                                          plan, rng, free=False))
    return StudyBuild([cohort], constraints, ASSUMPTIONS)
