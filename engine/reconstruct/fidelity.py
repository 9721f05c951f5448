"""Check every reported value against the reconstructed rows, with the project's engine.

All Kaplan-Meier medians, landmark rates, event counts and two-group hazard ratios here come
from ``engine.survival`` (R survfit / coxph semantics), never from the optimiser's shortcuts.
The one exception is a multivariable hazard ratio (``engine.survival`` fits two-group models
only): it is computed with ``multivariable_cox`` (Efron ties), and the row says so.
"""
from __future__ import annotations

import numpy as np

from engine import survival
from engine.reconstruct.cohort import ArmCohort, Constraint
from engine.reconstruct.multivariable_cox import hazard_ratio
from engine.reconstruct.objective import tolerance_width

TOLERANCE_TEXT = {
    "median_overall": "max(0.3 mo, 5%)",
    "median_subgroup": "max(0.5 mo, 10%)",
    "rate": "3 percentage points",
    "hr": "within 15%, reported HR inside reconstructed 95% CI",
    "exact": "exact",
    "proportion": "nearest achievable count (half a patient)",
    "inside_ci": "inside the printed 95% CI",
    "followup": "max(1 mo, 10%)",
    "max_time": "0.05 mo",
    "not_reached": "not reached, as reported",
}


def _arrays(cohort: ArmCohort, endpoint: str, mask: np.ndarray):
    t, e = cohort.endpoint_arrays(endpoint)
    m = mask & ~np.isnan(t)
    return t[m], e[m].astype(int)


def _median(t: np.ndarray, e: np.ndarray):
    """KM median and CI from engine.survival; (value, lo, hi, note)."""
    km = survival.kaplan_meier(t, e)
    if km.estimable:
        return km.median, km.median_ci[0], km.median_ci[1], None
    if t.size == 1 and e[0] == 1:  # engine.survival does not fit a curve to one patient
        return float(t[0]), None, None, ("one patient: engine.survival does not fit a curve to a "
                                         "single patient; the patient's event time is the median "
                                         "R's survfit gives")
    return None, None, None, km.reason


def evaluate(c: Constraint, cohorts: dict[str, ArmCohort]) -> dict:
    """The fidelity row (as a dict) of one constraint."""
    cohort = cohorts[c.arm_id]
    rec = lo = hi = None
    note = c.note if c.note not in (None, "reverse_km") else None
    status_ok = False
    tol = tolerance_width(c)
    if c.statistic == "median":
        mask = c.group.mask(cohort)
        t, e = _arrays(cohort, c.endpoint, mask)
        rec, lo, hi, why = _median(t, e)
        if why:
            note = why
        if c.tolerance == "inside_ci":
            clo, chi = c.reported_ci
            status_ok = rec is not None and clo <= rec <= chi
        elif c.reported is None:
            status_ok = rec is None
            note = note or "not reached in the paper and in the reconstruction"
        else:
            status_ok = rec is not None and abs(rec - c.reported) <= tol + 1e-9
    elif c.statistic == "events":
        t, e = _arrays(cohort, c.endpoint, c.group.mask(cohort))
        rec = float(e.sum())
        status_ok = rec == c.reported
    elif c.statistic == "survival_rate":
        t, e = _arrays(cohort, c.endpoint, c.group.mask(cohort))
        km = survival.kaplan_meier(t, e)
        if km.estimable:
            rec, lo, hi = km.survival_at(c.timepoint)
        status_ok = rec is not None and abs(rec - c.reported) <= 0.03 + 1e-9
        if rec is None:
            note = f"no patient followed to {c.timepoint:g} months" if km.estimable else km.reason
    elif c.statistic == "hr":
        rec, lo, hi, note = _hr(c, cohorts, note)
        status_ok = (rec is not None and abs(rec / c.reported - 1) <= 0.15 + 1e-9
                     and lo is not None and lo <= c.reported <= hi)
    elif c.statistic == "proportion":
        g = c.group.mask(cohort)
        cats = ("CR", "PR") if c.endpoint == "ORR" else ("CR", "PR", "SD")
        hit = cohort.variables["best_response"].mask(cats) & g
        size = int(g.sum())
        rec = float(hit.sum()) / size if size else None
        status_ok = rec is not None and abs(rec - c.reported) * size <= 0.5 + 1e-9
    elif c.statistic == "count":
        rec = float(c.group.mask(cohort).sum()) if c.group.variable in cohort.variables else None
        status_ok = rec == c.reported
    elif c.statistic == "followup_median":
        t, e = _arrays(cohort, c.endpoint, c.group.mask(cohort))
        if c.note == "reverse_km":
            km = survival.kaplan_meier(t, 1 - e)
            rec = km.median
            note = "reverse Kaplan-Meier median follow-up (method not stated in the paper)"
        else:
            rec = float(np.median(t))
        status_ok = rec is not None and abs(rec - c.reported) <= tol + 1e-9
    elif c.statistic == "max_time":
        t, e = _arrays(cohort, c.endpoint, c.group.mask(cohort))
        rec = float(t.max())
        status_ok = abs(rec - c.reported) <= 0.05 + 1e-9
    if c.infeasible:
        status, reason = "infeasible", c.infeasible
    elif status_ok:
        status, reason = "holds", note
    else:
        status = "fails"
        reason = note or "the fit did not reach this value; the closest reconstruction is shown"
    return {
        "study_id": c.study_id, "arm_id": c.arm_id, "endpoint": c.endpoint,
        "statistic": "median" if c.statistic == "median" else c.statistic,
        "subgroup": c.subgroup, "level": c.level, "timepoint_months": c.timepoint,
        "reported": c.reported, "reconstructed": rec, "reconstructed_ci_low": lo,
        "reconstructed_ci_high": hi, "tolerance": TOLERANCE_TEXT.get(c.tolerance, c.tolerance),
        "status": status, "reason": reason, "source": c.source,
    }


def _hr(c: Constraint, cohorts: dict[str, ArmCohort], note):
    if c.reference_arm is not None:
        a, r = cohorts[c.arm_id], cohorts[c.reference_arm]
        t1, e1 = _arrays(a, c.endpoint, np.ones(a.n, dtype=bool))
        t0, e0 = _arrays(r, c.endpoint, np.ones(r.n, dtype=bool))
        res = survival.cox_hr(np.r_[t1, t0], np.r_[e1, e0],
                              np.array(["exp"] * t1.size + ["ref"] * t0.size), reference="ref")
        return res.hr, res.ci_low, res.ci_high, note if res.estimable else res.reason
    cohort = cohorts[c.arm_id]
    g = c.group.mask(cohort)
    ref = c.reference.mask(cohort) if c.reference is not None else ~g
    use = g | ref
    t, e = cohort.endpoint_arrays(c.endpoint)
    use &= ~np.isnan(t)
    if c.adjust_for:
        X = np.column_stack([g[use]] + [a.mask(cohort)[use] for a in c.adjust_for])
        hr, lo, hi = hazard_ratio(t[use], e[use].astype(int), X)
        adj = ", ".join(f"{a.variable}" for a in c.adjust_for)
        return hr, lo, hi, (f"multivariable Cox with Efron ties (engine.reconstruct."
                            f"multivariable_cox; engine.survival fits two-group models only), "
                            f"adjusted for {adj}")
    labels = np.where(g[use], "level", "reference")
    res = survival.cox_hr(t[use], e[use].astype(int), labels, reference="reference")
    return res.hr, res.ci_low, res.ci_high, note if res.estimable else res.reason


def reclassify_with_notes(rows: list[dict], notes: list[dict]) -> None:
    """A subgroup value that still fails after fitting, and that the curators flagged as
    contradictory in notes.csv (the note names the subgroup and the value), is marked
    infeasible with their note as the reason."""
    contradictions = [n for n in notes if n["kind"] == "contradiction"]
    for row in rows:
        if row["status"] != "fails" or not row["subgroup"]:
            continue
        key = row["subgroup"].replace("_", " ")
        for n in contradictions:
            text = n["text"].lower()
            value = f"{row['reported']:g}" if row["reported"] is not None else None
            if (row["study_id"] == n["study_id"] and (key in text or row["subgroup"] in text)
                    and value is not None and value in text):
                row["status"] = "infeasible"
                row["reason"] = ("cannot be met together with the other reported values; "
                                 f"curators' note: {n['text']}")
                break
