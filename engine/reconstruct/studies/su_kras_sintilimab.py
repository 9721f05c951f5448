"""Su et al.: sintilimab + anlotinib in pretreated KRAS-mutant NSCLC (n = 27, 3 centres).

Reported and used: PFS and OS medians, median follow-up 30.3 months, enrollment window and
last follow-up date, best response (9 PR, 16 SD, 2 PD), PFS/OS medians and HRs by prior
antiangiogenic therapy, PFS/OS medians by KRAS G12C vs other subtypes, PFS medians by NLR and
PLR (median splits), baseline counts. Event counts are not reported: they follow from the
follow-up model below.
"""
from __future__ import annotations

import numpy as np

from engine.reconstruct.cohort import ArmCohort, Constraint, Group
from engine.reconstruct.constraints import from_counts, from_results
from engine.reconstruct.evidence import StudyEvidence
from engine.reconstruct.fast_stats import km_median
from engine.reconstruct.feasibility import mark_infeasible
from engine.reconstruct.linkage import potential_followup
from engine.reconstruct.optimise import Optimiser, prognostic_start
from engine.reconstruct.study_common import (Covariate, StudyBuild, add_baseline, anchor_calibrate,
                                             count_group_from, pfs_os_cohort)
from engine.reconstruct.time_model import months_between

STUDY_ID = "su_kras_sintilimab"
ARM = "combination"
SEED = 2024_03_04
NON_G12C = ("G12V", "G12D", "other")

ASSUMPTIONS = [
    "Entry dates spread over the enrollment window (2019-04 to 2022-06) with more patients in "
    "the later part, calibrated so that the reverse Kaplan-Meier median follow-up is close to "
    "the reported 30.3 months; no loss to follow-up; cutoff 2024-03-04.",
    "Event counts are not reported; a patient is censored when the model's event time lies "
    "beyond the patient's follow-up.",
    "Shape beyond the reported medians (not reported): few events in the first 6 weeks "
    "(inclusion required 2 completed cycles), about a quarter progressed by the second scan "
    "(3 months; the 6 patients with prior antiangiogenic therapy have a median PFS of 3.0), PFS "
    "about 8% at 24 months; the OS tail (22-32% at 24 months) is chosen together with the entry "
    "pattern to match the follow-up.",
    "PFS and OS are linked by a rank correlation of about 0.7; PFS never exceeds OS. To fit the "
    "subgroup values of this small cohort the optimiser may also swap two patients' PFS (or OS) "
    "times, which leaves the cohort's curves unchanged.",
    "Best response: 2 PD among the earliest progressions, responders tend to have longer PFS.",
    "NLR and PLR groups (median splits, sizes not reported): assumed 13 high and 14 low.",
    "G12C vs other subtypes: G12V, G12D and other are modelled separately and pooled as "
    "non-G12C for the reported comparison; which non-G12C patient has which subtype is random.",
    "Covariates without reported outcome associations (sex, ECOG, histology, metastatic sites, "
    "prior chemotherapy, prior ICI, line) are assigned at random with the reported counts; "
    "patients not counted for a metastatic site or prior chemotherapy are stored as 'no'.",
]

COVARIATES = [
    Covariate("sex", free=False),
    Covariate("ecog", free=False),
    Covariate("histology", free=False),
    Covariate("kras_subtype", exclude=("non_G12C",)),
    Covariate("prior_antiangiogenic"),
    Covariate("prior_ici", free=False),
    Covariate("line_of_therapy", free=False),
    Covariate("brain_metastasis", rest="no", free=False),
    Covariate("liver_metastasis", rest="no", free=False),
    Covariate("bone_metastasis", rest="no", free=False),
    Covariate("prior_chemotherapy", rest="no", free=False),
    Covariate("nlr", counts={"high": 13, "low": 14}),
    Covariate("plr", counts={"high": 13, "low": 14}),
]


def group_of(sub: str, lvl: str) -> Group:
    if sub == "kras_subtype" and lvl == "non_G12C":
        return Group("kras_subtype", NON_G12C)
    return Group(sub, (lvl,))


def _outcomes(ev: StudyEvidence, anchors: dict) -> ArmCohort:
    n = ev.arm_n(ARM)
    rng = np.random.default_rng(SEED)
    cutoff = ev.study["data_cutoff"]
    lo, hi = months_between("2022-06", cutoff), months_between("2019-04", cutoff)
    fu = potential_followup(n, lo, hi, rng, skew=anchors["entry"]["skew"])
    return pfs_os_cohort(ev, STUDY_ID, ARM, rng, anchors, fu, 1.2, None, ttr_median=1.5,
                         free_response=False, rho=0.7)


def build(ev: StudyEvidence) -> StudyBuild:
    targets = {"OS": {"median": ev.estimate(ARM, "OS", "median")},
               "PFS": {"median": ev.estimate(ARM, "PFS", "median")}}
    fu_target = float(ev.study["median_followup_months"])
    best = None
    # The OS tail (not reported) and the entry pattern decide how many patients are alive at
    # the cutoff and for how long they were followed: choose the pair that reproduces the
    # reported median follow-up (reverse Kaplan-Meier).
    for os24 in (0.22, 0.27, 0.32):
        for skew in (1.0, 1.5, 2.0, 3.0):
            anchors = {
                "OS": {"median": targets["OS"]["median"],
                       "shape": [(1.5, 0.98), (24.0, os24), (36.0, 0.7 * os24)]},
                "PFS": {"median": targets["PFS"]["median"],
                        "shape": [(1.4, 0.96), (3.3, 0.76), (24.0, 0.08)]},
                "entry": {"skew": skew},
            }
            cohort = anchor_calibrate(lambda a: _outcomes(ev, a), anchors, targets, rounds=4)
            fu_med = km_median(cohort.times["OS"], 1 - cohort.events["OS"])
            gap = abs((fu_med or 0.0) - fu_target)
            if best is None or gap < best[0] - 1e-9:
                best = (gap, cohort)
    cohort = best[1]
    rng = np.random.default_rng(SEED + 1)
    add_baseline(cohort, ev, rng, COVARIATES)

    constraints = from_results(ev, group_of)
    constraints += from_counts(ev, ARM, count_group_from(
        cohort.variables, {("kras_subtype", "non_G12C"): Group("kras_subtype", NON_G12C)}))
    constraints.append(Constraint(STUDY_ID, ARM, "OS", "followup_median", fu_target, "followup",
                                  source="Abstract; Results: Efficacy outcomes", fit=False,
                                  note="reverse_km"))
    mark_infeasible(cohort, constraints)
    for name in cohort.variables:
        prognostic_start(cohort, name, constraints, rng, endpoint_order=("PFS", "OS"))
    Optimiser(cohort, constraints, rng, pair_moves=("OS", "PFS")).run(4000)
    return StudyBuild([cohort], constraints, ASSUMPTIONS)
