"""Zhu et al.: anlotinib + PD-1 inhibitor in ESCC after progression on a PD-1 inhibitor (n = 29).

Only the abstract is available: PFS and OS medians, best response (9 PR, 16 SD, 4 PD), prior
resection (23) and the line of the combination (8 / 20 / 1), enrollment July 2020 to March 2022.
No event counts, follow-up, cutoff date, subgroup results or hazard ratios.
"""
from __future__ import annotations

import numpy as np

from engine.reconstruct.cohort import ArmCohort, fixed_variable
from engine.reconstruct.constraints import default_group_of, from_counts, from_results
from engine.reconstruct.evidence import StudyEvidence
from engine.reconstruct.linkage import potential_followup
from engine.reconstruct.study_common import (Covariate, StudyBuild, add_baseline, anchor_calibrate,
                                             count_group_from, pfs_os_cohort)
from engine.reconstruct.time_model import months_between

STUDY_ID = "zhu_escc_post_ici"
ARM = "combination"
SEED = 2020_07_29
ASSUMED_CUTOFF = "2023-12"

ASSUMPTIONS = [
    f"The abstract gives neither the data cutoff nor the follow-up: cutoff assumed {ASSUMED_CUTOFF} "
    "(21 months after the last enrollment, a year before online publication), entries spread "
    "evenly over July 2020 - March 2022, no loss to follow-up. Event counts follow from this.",
    "Shape beyond the medians (not reported): PD at the first scan for the 4 PD patients, "
    "PFS about 10% and OS about 25% at 24 months.",
    "PFS and OS are linked by a rank correlation of about 0.7; PFS never exceeds OS.",
    "Best response: PD among the earliest progressions, responders tend to have longer PFS.",
    "Baseline descriptors (prior resection, the abstract's line counts as printed) are assigned "
    "at random with the reported counts (no outcome data by them); the line of the combination "
    "stays unknown because the abstract's line counts can be read two ways. All patients had a "
    "prior PD-1 inhibitor (eligibility).",
    "Histology is squamous for every patient (ESCC cohort); sex, ECOG, PD-L1 and prior "
    "antiangiogenic therapy are not reported and stay unknown.",
]

COVARIATES: list[Covariate] = []  # every baseline count is taken as reported, at random


def _outcomes(ev: StudyEvidence, anchors: dict) -> ArmCohort:
    n = ev.arm_n(ARM)
    rng = np.random.default_rng(SEED)
    lo, hi = months_between("2022-03", ASSUMED_CUTOFF), months_between("2020-07", ASSUMED_CUTOFF)
    fu = potential_followup(n, lo, hi, rng)
    return pfs_os_cohort(ev, STUDY_ID, ARM, rng, anchors, fu, 1.0, None, ttr_median=1.6,
                         free_response=False, rho=0.7)


def build(ev: StudyEvidence) -> StudyBuild:
    targets = {"OS": {"median": ev.estimate(ARM, "OS", "median")},
               "PFS": {"median": ev.estimate(ARM, "PFS", "median")}}
    anchors = {
        "OS": {"median": targets["OS"]["median"], "shape": [(1.5, 0.98), (24.0, 0.25)]},
        "PFS": {"median": targets["PFS"]["median"], "shape": [(1.5, 0.95), (2.2, 0.86), (24.0, 0.10)]},
    }
    cohort = anchor_calibrate(lambda a: _outcomes(ev, a), anchors, targets)
    rng = np.random.default_rng(SEED + 1)
    n = cohort.n
    add_baseline(cohort, ev, rng, COVARIATES)
    cohort.add_variable(fixed_variable("histology", n, "squamous", column="histology"))
    constraints = from_results(ev, default_group_of)
    constraints += from_counts(ev, ARM, count_group_from(cohort.variables))
    return StudyBuild([cohort], constraints, ASSUMPTIONS)
