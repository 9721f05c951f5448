"""Turn a study's curated rows into the list of constraints the reconstruction must meet.

One constraint per reported number: overall medians and event counts, landmark rates, hazard
ratios, subgroup medians, response proportions, covariate counts and best-response counts.
Which patients a (subgroup, level) means is the study specification's business
(``group_of``); everything else is read from the curated tables as stored.
"""
from __future__ import annotations

from typing import Callable

from engine.reconstruct.cohort import Constraint, Group
from engine.reconstruct.evidence import StudyEvidence

GroupOf = Callable[[str, str], Group | None]

SURVIVAL = ("PFS", "OS", "PFS2", "DoR")


def default_group_of(subgroup: str, level: str) -> Group:
    return Group(subgroup, (level,))


def from_results(ev: StudyEvidence, group_of: GroupOf = default_group_of,
                 adjust_for: Callable[[dict], tuple[Group, ...]] | None = None) -> list[Constraint]:
    out: list[Constraint] = []
    for r in ev.results:
        ep, stat, sub, lvl = r["endpoint"], r["statistic"], r["subgroup"], r["level"]
        base = dict(study_id=ev.study_id, arm_id=r["arm_id"], endpoint=ep, subgroup=sub, level=lvl,
                    source=r["source"], reported_ci=(r["ci_low"], r["ci_high"]),
                    analysis=r["analysis"])
        group = Group() if sub is None else group_of(sub, lvl)
        if sub is not None and group is None:
            continue  # the specification does not model this subgroup (it says why)
        not_reached = (r["not_reached"] or "").split(";")
        if ep in SURVIVAL and stat == "median":
            est = None if "estimate" in not_reached else r["estimate"]
            if sub is None:
                out.append(Constraint(statistic="median", reported=est,
                                      tolerance="median_overall" if est is not None else "not_reached",
                                      group=group, **base))
                if r["events"] is not None:
                    out.append(Constraint(statistic="events", reported=float(r["events"]),
                                          tolerance="exact", group=group, **base))
            elif est is None and r["ci_low"] is not None and r["ci_high"] is not None:
                out.append(Constraint(statistic="median", reported=None, tolerance="inside_ci",
                                      group=group, note="median unreadable in the source; checked "
                                      "against its printed 95% CI", **base))
            else:
                out.append(Constraint(statistic="median", reported=est, tolerance="median_subgroup",
                                      group=group, **base))
                if r["events"] is not None:
                    out.append(Constraint(statistic="events", reported=float(r["events"]),
                                          tolerance="exact", group=group, **base))
        elif ep in SURVIVAL and stat == "survival_rate":
            out.append(Constraint(statistic="survival_rate", reported=r["estimate"], tolerance="rate",
                                  timepoint=float(r["timepoint_months"]), group=group, **base))
        elif stat == "hr":
            if r["contrast"] == "between_arms":
                out.append(Constraint(statistic="hr", reported=r["estimate"], tolerance="hr",
                                      reference_arm=r["reference_level"], group=group, **base))
                continue
            ref_level = r["reference_level"]
            note = None
            if ref_level in (None, "unspecified"):
                reference = None
                note = (f"coding not stated in the paper; read as '{lvl}' versus all other levels")
            else:
                reference = group_of(sub, ref_level)
            adj = adjust_for(r) if (adjust_for and r["analysis"] == "multivariate") else ()
            out.append(Constraint(statistic="hr", reported=r["estimate"], tolerance="hr",
                                  group=group, reference=reference, adjust_for=adj, note=note,
                                  **base))
        elif ep in ("ORR", "DCR") and stat == "proportion":
            out.append(Constraint(statistic="proportion", reported=r["estimate"],
                                  tolerance="proportion", group=group, fit=sub is not None,
                                  **base))
    return out


def from_counts(ev: StudyEvidence, arm_id: str, count_group: GroupOf) -> list[Constraint]:
    """Covariate counts (baseline.csv) and best-response counts of one arm."""
    out = []
    for b in ev.baseline:
        if b["arm_id"] != arm_id or b["n"] is None:
            continue
        g = count_group(b["characteristic"], b["level"])
        if g is None:
            continue
        out.append(Constraint(ev.study_id, arm_id, "baseline", "count", float(b["n"]), "exact",
                              subgroup=b["characteristic"], level=b["level"], source=b["source"],
                              group=g, fit=False))
    for b in ev.best_response:
        if b["arm_id"] != arm_id or b["subgroup"] is not None:
            continue
        out.append(Constraint(ev.study_id, arm_id, "best_response", "count", float(b["n"]), "exact",
                              level=b["category"], source=b["source"],
                              group=Group("best_response", (b["category"],)), fit=False))
    return out
