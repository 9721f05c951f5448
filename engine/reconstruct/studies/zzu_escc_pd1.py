"""ZZU ESCC cohort: anlotinib + PD-1 inhibitor, metastatic ESCC, 2nd line or later (n = 87).

Reported and used: PFS (69 events, median, 12/24-month rates), OS (59 deaths, median, 12/24-month
rates), DoR of the 19 responders (median, 12-month rate), best response (19 PR, 45 SD, 18 PD,
5 NE), median follow-up 9.5 months (range 0.7-33.6), 11 patients still on treatment and 7 lost
to follow-up at the cutoff, PFS by prior ICI (medians, HR 0.72) and by line, the OS table
(medians and univariate HRs for 11 factors, multivariable HRs for ECOG, metastatic sites and
prior ICI), the ORR among ICI-naive patients.
"""
from __future__ import annotations

import numpy as np

from engine.reconstruct.cohort import ArmCohort, Constraint, Group, fixed_variable
from engine.reconstruct.constraints import from_counts, from_results
from engine.reconstruct.evidence import StudyEvidence
from engine.reconstruct.feasibility import mark_infeasible
from engine.reconstruct.linkage import potential_followup
from engine.reconstruct.optimise import Optimiser, prognostic_start
from engine.reconstruct.study_common import (Covariate, StudyBuild, add_baseline, anchor_calibrate,
                                             count_group_from, pfs_os_cohort)
from engine.reconstruct.time_model import quantile_points

STUDY_ID = "zzu_escc_pd1"
ARM = "combination"
SEED = 2025_07_05

ASSUMPTIONS = [
    "Entry: patients alive at the cutoff entered between 2022-09 and 2024-12, so that the "
    "longest follow-up is the reported 33.6 months; earlier entrants all died before the cutoff.",
    "Censoring: the 7 patients lost to follow-up are censored for PFS and OS at a time spread "
    "over 1-20 months; the 11 patients still on treatment are progression-free at the cutoff; "
    "the other 10 censored for OS progressed but were alive at the cutoff (28 = 59 deaths "
    "short of 87, 18 = 69 PFS events short of 87).",
    "PFS and OS are linked by a rank correlation of about 0.75 (Gaussian copula); PFS never "
    "exceeds OS, a death before documented progression counts as the PFS event.",
    "Best response: the 5 non-evaluable patients are those with the shortest observation, the 18 "
    "PD patients come from the earliest progressions, responders need PFS at least 0.5 month "
    "longer than their time to response.",
    "DoR = PFS minus time to response (median 1.6 months as reported, mostly at the first or "
    "second scan); responders are chosen so that the DoR median and 12-month rate hold.",
    "Age groups: the paper gives only the median age 63 and no group sizes; assumed 44 patients "
    "aged 63 or more and 43 younger.",
    "Covariates with outcome results are placed by the optimiser to reproduce the Table 2 medians "
    "and HRs; joint distributions are not reported, covariates are otherwise unrelated. Prior "
    "taxane, platinum and targeted therapy (no outcome data) are assigned at random; Table 1 "
    "lists only the exposed patients, the others are stored as 'no'.",
    "The single HR printed for primary site and for PD-1 agent (3 levels, coding not stated) is "
    "read as the first-listed level versus the other two.",
    "Histology is squamous for every patient (ESCC cohort).",
]

COVARIATES = [
    Covariate("sex"),
    Covariate("ecog"),
    Covariate("primary_site"),
    Covariate("prior_resection"),
    Covariate("line_of_therapy"),
    Covariate("prior_ici"),
    Covariate("metastatic_sites"),
    Covariate("radiotherapy_combined"),
    Covariate("anlotinib_starting_dose"),
    Covariate("pd1_agent"),
    Covariate("age", name="age_group", counts={"ge63": 44, "lt63": 43}),
    Covariate("prior_taxane", rest="no", free=False),
    Covariate("prior_platinum", rest="no", free=False),
    Covariate("prior_targeted_therapy", rest="no", free=False),
    Covariate("tumor_type", free=False),
]

MULTIVARIABLE = {
    "ecog": Group("ecog", ("0",)),
    "prior_ici": Group("prior_ici", ("yes",)),
    "metastatic_sites": Group("metastatic_sites", ("lt3",)),
}


def group_of(sub: str, lvl: str) -> Group:
    if sub == "line_of_therapy" and lvl == "ge3":
        return Group("line_of_therapy", ("3", "ge4"))
    if sub == "age":
        return Group("age_group", (lvl,))
    return Group(sub, (lvl,))


def adjust_for(row: dict) -> tuple[Group, ...]:
    return tuple(g for k, g in MULTIVARIABLE.items() if k != row["subgroup"])


def _outcomes(ev: StudyEvidence, anchors: dict) -> ArmCohort:
    n = ev.arm_n(ARM)
    rng = np.random.default_rng(SEED)
    t_max = 33.6
    fu = potential_followup(n, 6.2, t_max, rng)
    n_ltfu = 7
    ltfu = np.zeros(n, dtype=bool)
    ltfu[rng.choice(n, n_ltfu, replace=False)] = True
    ltfu_time = 1.0 + 19.0 * quantile_points(n_ltfu)[rng.permutation(n_ltfu)]
    # 59 deaths, 69 PFS events: 28 alive = 7 lost + 21 at cutoff, 18 PFS-censored = 7 lost + 11
    # still on treatment (Figure 1).
    return pfs_os_cohort(ev, STUDY_ID, ARM, rng, anchors, fu, 0.7, t_max, ttr_median=1.6,
                         free_response=True, rho=0.75, n_os_events=ev.events(ARM, "OS"),
                         n_pfs_events=ev.events(ARM, "PFS"), ltfu=ltfu, ltfu_time=ltfu_time)


def build(ev: StudyEvidence) -> StudyBuild:
    targets = {
        ep: {"median": ev.estimate(ARM, ep, "median"),
             "rates": {t: ev.estimate(ARM, ep, "survival_rate", timepoint=t) for t in (12.0, 24.0)}}
        for ep in ("OS", "PFS")
    }
    anchors = {
        "OS": {"median": targets["OS"]["median"], "rates": dict(targets["OS"]["rates"]),
               "shape": [(1.0, 0.975), (4.0, 0.82)]},
        "PFS": {"median": targets["PFS"]["median"], "rates": dict(targets["PFS"]["rates"]),
                "shape": [(1.0, 0.95), (2.2, 0.75)]},
    }
    cohort = anchor_calibrate(lambda a: _outcomes(ev, a), anchors, targets)
    rng = np.random.default_rng(SEED + 1)
    n = cohort.n
    add_baseline(cohort, ev, rng, COVARIATES)
    cohort.add_variable(fixed_variable("histology", n, "squamous", column="histology"))

    constraints = from_results(ev, group_of, adjust_for)
    constraints += from_counts(ev, ARM, count_group_from(cohort.variables))
    constraints.append(Constraint(STUDY_ID, ARM, "OS", "followup_median", 9.5, "followup",
                                  source="Results: Survival outcomes",
                                  note="median observed follow-up of all patients (method not stated)"))
    constraints.append(Constraint(STUDY_ID, ARM, "OS", "max_time", 33.6, "max_time",
                                  source="Results: Survival outcomes", fit=False,
                                  note="longest follow-up (range 0.7-33.6 months)"))
    mark_infeasible(cohort, constraints)
    for name in cohort.variables:
        prognostic_start(cohort, name, constraints, rng)
    # responders first (DoR depends only on who responds), then everything together
    Optimiser(cohort, [c for c in constraints if c.endpoint == "DoR"], rng).run(3000)
    Optimiser(cohort, constraints, rng).run(12000)
    return StudyBuild([cohort], constraints, ASSUMPTIONS)
