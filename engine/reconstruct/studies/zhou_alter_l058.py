"""ALTER-L058: 3rd-generation EGFR TKI + anlotinib (n = 100) vs EGFR TKI alone (n = 50) at
oligoprogression on 1st-line TKI; retrospective, non-randomised.

Reported and used: PFS medians and events (86 / 40), PFS HR 0.38 (0.26-0.56); PFS2 medians and
events (86 / 40), PFS2 HR 0.54 (0.36-0.80); no deaths at the cutoff (OS immature); best
response per arm; baseline counts per arm (Table 1); enrollment window and cutoff 2024-11-20.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri

from engine.reconstruct import fast_stats as fs
from engine.reconstruct.cohort import ArmCohort
from engine.reconstruct.constraints import default_group_of, from_counts, from_results
from engine.reconstruct.evidence import StudyEvidence
from engine.reconstruct.linkage import (ResponsePlan, censor_by_followup, fill_endpoint,
                                        latent_ranks, potential_followup, response_variable,
                                        ttr_values)
from engine.reconstruct.study_common import StudyBuild, add_baseline, count_group_from
from engine.reconstruct.time_model import TargetCurve, quantile_points

STUDY_ID = "zhou_alter_l058"
EXP, CTL = "tki_anlotinib", "tki_alone"
SEEDS = {EXP: 2024_11_20, CTL: 2024_11_21}

ASSUMPTIONS = [
    "Follow-up from the start of treatment for oligoprogression to the cutoff (2024-11-20) is "
    "spread evenly between about 4 and 55 months (1st-line TKI started 2020-01 to 2023-12, "
    "oligoprogression at least 3 months later); the patients censored for PFS (14 and 10) are "
    "those progression-free at the cutoff, mostly the later entrants.",
    "Combination arm: almost no progression before 4.2 months (inclusion required at least 6 "
    "anlotinib cycles), steep around the median, a tail of about 30% at 14 and 15% at 24 months. "
    "TKI-alone arm: some progression from the first scan, 15% progression-free at 8 months; its "
    "tail beyond 12 months is set so that the Cox HR between arms is 0.38 (the curves are far "
    "from proportional: the required-6-cycles rule removes early events from one arm only).",
    "OS: no deaths were reported; every patient is censored at the end of follow-up.",
    "PFS2 = time on 1st-line TKI before oligoprogression + PFS, with the same event. The 1st-line "
    "duration is log-normal (at least 3 months), unrelated to PFS; its median in each arm and "
    "its spread are set so that the PFS2 medians and the PFS2 HR 0.54 hold.",
    "Best response: PD among the earliest progressions (PD counts are derived by the curators as "
    "the remainder, NE patients would be hidden among them), responders tend to have longer PFS.",
    "Baseline factors (sex, ECOG, EGFR mutation, histology, smoking, stage, brain metastases, "
    "TKI agent) are assigned at random with each arm's counts; no outcome data by these factors "
    "exist, so filtered curves by them carry no information beyond the arm's curve.",
]


def _pfs_arm(n: int, n_events: int, curve: TargetCurve, median: float, seed: int, fu_lo: float):
    rng = np.random.default_rng(seed)
    lvl, _ = latent_ranks(n, rng, 0.5)
    fu = potential_followup(n, fu_lo, 55.0, rng)
    latent = np.array([curve.inverse(s) for s in lvl])
    cens = censor_by_followup(latent, fu, n_events)
    t, e = fill_endpoint(lvl, cens, fu, curve, 0.5, None, median)
    t = np.round(t, 2)
    # OS: follow-up to the cutoff; a progression after the nominal follow-up means the patient
    # entered earlier, so follow-up is extended to at least a month after progression
    os_t = np.round(np.where(e == 1, np.maximum(fu, t + 1.0), np.maximum(fu, t)), 2)
    return t, e, os_t, rng


def _curves(ctl_tail: float, med_exp: float, med_ctl: float):
    exp = TargetCurve.through([(4.2, 0.99), (med_exp, 0.5), (14.0, 0.30), (24.0, 0.15)])
    ctl = TargetCurve.through([(1.5, 0.95), (med_ctl, 0.5), (8.0, 0.15), (12.0, ctl_tail)])
    return exp, ctl


def _hr(t1, e1, t0, e0) -> float:
    hr, _ = fs.cox_binary(np.r_[t1, t0], np.r_[e1, e0], np.r_[np.ones(t1.size), np.zeros(t0.size)])
    return hr


def _first_line_durations(n: int, median: float, sigma: float, rng_perm: np.ndarray) -> np.ndarray:
    q = quantile_points(n)
    d = 3.0 + (median - 3.0) * np.exp(sigma * ndtri(q))
    return d[rng_perm]


def build(ev: StudyEvidence) -> StudyBuild:
    n = {a: ev.arm_n(a) for a in (EXP, CTL)}
    nev = {a: ev.events(a, "PFS") for a in (EXP, CTL)}
    med = {a: ev.estimate(a, "PFS", "median") for a in (EXP, CTL)}
    hr_pfs = ev.estimate(EXP, "PFS", "hr")
    # 1) PFS: bisection on the TKI-alone tail (log scale) for the between-arm HR
    lo, hi = math.log(0.002), math.log(0.2)
    best = None
    for _ in range(18):
        mid = 0.5 * (lo + hi)
        exp_c, ctl_c = _curves(math.exp(mid), med[EXP], med[CTL])
        a = _pfs_arm(n[EXP], nev[EXP], exp_c, med[EXP], SEEDS[EXP], 4.5)
        b = _pfs_arm(n[CTL], nev[CTL], ctl_c, med[CTL], SEEDS[CTL], 3.0)
        hr = _hr(a[0], a[1], b[0], b[1])
        if best is None or abs(math.log(hr / hr_pfs)) < best[0]:
            best = (abs(math.log(hr / hr_pfs)), a, b)
        if hr > hr_pfs:  # a heavier TKI-alone tail weakens the contrast
            hi = mid
        else:
            lo = mid
    arms = {EXP: best[1], CTL: best[2]}

    # 2) PFS2 = 1st-line duration + PFS: per-arm medians and a common spread
    med2 = {a: ev.estimate(a, "PFS2", "median") for a in (EXP, CTL)}
    hr2 = ev.estimate(EXP, "PFS2", "hr")
    perms = {a: arms[a][3].permutation(n[a]) for a in (EXP, CTL)}

    def pfs2_for(sigma):
        out = {}
        for a in (EXP, CTL):
            t, e = arms[a][0], arms[a][1]
            m1 = max(med2[a] - med[a], 4.0)
            for _ in range(25):  # fixed-point on the 1st-line median for the PFS2 median
                t2 = np.round(t + _first_line_durations(n[a], m1, sigma, perms[a]), 2)
                got = fs.km_median(t2, e)
                if got is None or abs(got - med2[a]) < 0.02:
                    break
                m1 = max(m1 + (med2[a] - got), 3.5)
            out[a] = t2
        return out

    best2 = None
    for sigma in np.linspace(0.05, 0.9, 18):
        t2 = pfs2_for(float(sigma))
        hr = _hr(t2[EXP], arms[EXP][1], t2[CTL], arms[CTL][1])
        score = abs(math.log(hr / hr2))
        if best2 is None or score < best2[0]:
            best2 = (score, t2)
    pfs2 = best2[1]

    cohorts, constraints = [], []
    for a in (EXP, CTL):
        t, e, os_t, rng = arms[a]
        c = ArmCohort(STUDY_ID, a, n[a],
                      {"PFS": t, "PFS2": pfs2[a], "OS": os_t},
                      {"PFS": e, "PFS2": e.copy(), "OS": np.zeros(n[a], dtype=int)})
        c.ttr = ttr_values(n[a], rng, median=1.6)
        c.add_variable(response_variable(t, e, c.ttr, ResponsePlan(ev.response_counts(a)), rng,
                                         free=False))
        crng = np.random.default_rng(SEEDS[a] + 7)
        add_baseline(c, ev, crng, [])
        cohorts.append(c)
        constraints += from_counts(ev, a, count_group_from(c.variables))
    constraints = from_results(ev, default_group_of) + constraints
    return StudyBuild(cohorts, constraints, ASSUMPTIONS)
