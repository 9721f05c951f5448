"""What the Explorer's three panels show, as plain data: survival curves, forest rows, AE rows and
footnotes for one :class:`engine.cohort.ViewState`.

Statistics come only from the project's engine: Kaplan–Meier, log-rank and the Cox hazard ratio
from :mod:`engine.survival`, the KM panel through the DuckDB fast path
:func:`engine.aggregate.subgroup_recompute`, the forest rows through
:func:`engine.survival.cox_hr_from_counts` on counts aggregated by one query. Both end in the same
Cox code, so the KM panel's HR and the forest plot's HR for the same split never disagree.

Honesty rules applied here (the figures only draw what these functions decide):

* every curve and estimate carries its kind: ``reported`` (printed in a paper), ``reconstructed``
  (computed from patient rows rebuilt from published summaries) or ``user`` (uploaded rows);
* small numbers: a group with fewer than :data:`MIN_PATIENTS` patients or :data:`MIN_EVENTS`
  events gets a warning, and no p-value is shown for a comparison involving it;
* medians that are not reached are written "not reached";
* curves from different studies carry a note that they are not a randomized comparison;
* adverse events are study-level as printed: a subgroup filter does not change them, and the
  panel says so.

Never imports Streamlit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from engine import cohort
from engine.aggregate import subgroup_recompute
from engine.cohort import ENDPOINT_LABELS, ViewState, level_label, variable_label
from engine.evidence import ae_incidence  # shared with the Safety page
from engine.results import finite_or_none
from engine.schema import ENDPOINT_COLUMNS, FILTER_VARIABLES
from engine.survival import cox_hr_from_counts
from engine.text import hr_text, median_text, p_text, wrap_words

MIN_PATIENTS = 10
MIN_EVENTS = 5
CONF_LEVEL = 0.95
CONF_TYPE = "log-log"

METHODS = (
    "Kaplan–Meier estimates with pointwise 95% CI (log-log, as R survfit); median with 95% CI "
    "from the CI curves (R quantile.survfit). Log-rank test (R survdiff). Hazard ratios from a Cox "
    "model with the group as the only covariate (Efron ties, as R coxph), Wald 95% CI."
)
SMALL_RULE = (
    f"p-values are shown only when every group has at least {MIN_PATIENTS} patients and "
    f"{MIN_EVENTS} events."
)
NOT_RANDOMIZED = "Curves or estimates from different studies are not a randomized comparison."
AE_NOT_FILTERED = (
    "Adverse events are study-level figures as printed in each paper: the subgroup filters do "
    "not apply to them."
)


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def is_small(n: int, events: int) -> bool:
    return n < MIN_PATIENTS or events < MIN_EVENTS


def time_grid(t_max: float) -> list[float]:
    """Evenly spaced times from 0 covering ``t_max`` (at most 8 steps, steps of 1–24 months)."""
    if not t_max or t_max <= 0:
        return [0.0, 1.0]
    for step in (1, 2, 3, 4, 6, 12, 24, 48):
        if t_max / step <= 8:
            break
    n = int(math.ceil(t_max / step - 1e-9))
    return [float(step * i) for i in range(n + 1)]


@dataclass(frozen=True)
class StudyInfo:
    study_id: str
    label: str
    kind: str  # published | user
    citation: str | None
    data_cutoff: str | None
    arms: dict[str, str]  # arm_id -> label
    control_arm: str | None


def study_info(con: duckdb.DuckDBPyConnection, studies: tuple[str, ...]) -> dict[str, StudyInfo]:
    """Labels, citations, cutoffs and arms of the selected cohorts (published and user)."""
    if not studies:
        return {}
    ph = ", ".join("?" for _ in studies)
    pub = con.execute(
        f"SELECT study_id, short_label, citation, data_cutoff FROM studies WHERE study_id IN ({ph})",
        list(studies)).fetchall()
    out: dict[str, StudyInfo] = {}
    arms = con.execute(
        f"SELECT study_id, arm_id, label, is_control FROM arms WHERE study_id IN ({ph}) ORDER BY is_control, arm_id",
        list(studies)).fetchall()
    arm_map: dict[str, dict[str, str]] = {}
    control: dict[str, str] = {}
    for s, a, lab, is_c in arms:
        arm_map.setdefault(s, {})[a] = lab
        if is_c:
            control[s] = a
    for s, lab, cit, cut in pub:
        out[s] = StudyInfo(s, lab, "published", cit, cut, arm_map.get(s, {}), control.get(s))
    missing = [s for s in studies if s not in out]
    if missing:
        ph2 = ", ".join("?" for _ in missing)
        for s, name, src in con.execute(
                f"SELECT study_id, name, source_file FROM user_cohorts WHERE study_id IN ({ph2})", missing).fetchall():
            user_arms = [r[0] for r in con.execute(
                "SELECT DISTINCT arm_id FROM patients WHERE study_id = ? ORDER BY 1", [s]).fetchall()]
            out[s] = StudyInfo(s, name, "user", f"uploaded file {src}" if src else "uploaded data", None,
                               {a: a for a in user_arms}, None)
    return out


# ---------------------------------------------------------------------------------------------
# What the papers print for the chosen studies and endpoint (does not change with the filters)
# ---------------------------------------------------------------------------------------------
@dataclass
class ViewEvidence:
    """Reported values the panels put beside the computed ones, fetched once per (studies,
    endpoint): the papers' HRs, the level pairs they compare, the variables they split by,
    the sources of the whole-arm results, and how many levels each variable has in the
    patient rows of these studies (filters left out)."""

    hrs: pd.DataFrame
    pairs: pd.DataFrame
    compared: tuple[str, ...]
    sources: dict[str, list[str]]
    n_levels: dict[str, int]


def view_evidence(con: duckdb.DuckDBPyConnection, studies, endpoint: str) -> ViewEvidence:
    studies = list(studies)
    ph = ", ".join("?" for _ in studies) or "NULL"
    compared = tuple(r[0] for r in con.execute(
        f"""SELECT DISTINCT subgroup FROM reported_results
            WHERE endpoint = ? AND study_id IN ({ph}) AND subgroup IS NOT NULL
              AND statistic IN ('hr', 'median') AND contrast IN ('between_levels', 'between_arms')
            ORDER BY 1""", [endpoint] + studies).fetchall())
    sources: dict[str, list[str]] = {}
    for study, text in con.execute(
            f"""SELECT DISTINCT study_id, source FROM reported_results
                WHERE study_id IN ({ph}) AND endpoint = ? AND statistic IN ('median', 'hr') AND subgroup IS NULL
                ORDER BY 1, 2""", studies + [endpoint]).fetchall():
        sources.setdefault(study, []).append(text)
    counts = ", ".join(f'count(DISTINCT "{c}")' for c in cohort.GROUPABLE_COLUMNS)
    row = con.execute(f"SELECT {counts} FROM patients WHERE study_id IN ({ph})", studies).fetchall()[0]
    return ViewEvidence(
        hrs=reported_hrs(con, studies, endpoint),
        pairs=_reported_pairs(con, studies, endpoint),
        compared=compared,
        sources=sources,
        n_levels=dict(zip(cohort.GROUPABLE_COLUMNS, (int(x) for x in row))),
    )


# ---------------------------------------------------------------------------------------------
# Kaplan–Meier panel
# ---------------------------------------------------------------------------------------------
@dataclass
class Curve:
    key: str
    label: str
    short_label: str
    study_id: str
    arm_id: str | None
    level: str | None
    kind: str
    n: int
    events: int
    time: list[float]
    surv: list[float]
    ci_low: list[float]
    ci_high: list[float]
    censor_time: list[float]
    censor_surv: list[float]
    median: float | None
    median_ci: tuple[float | None, float | None]
    median_text: str
    small: bool
    table: pd.DataFrame  # time, at_risk, events_cum, censored_cum on the panel's grid


@dataclass
class KMPanel:
    endpoint: str
    y_title: str
    curves: list[Curve]
    grid: list[float]
    kind: str  # reconstructed | user | mixed
    logrank_p: float | None = None
    logrank_text: str = ""
    hr: dict | None = None  # hr, ci_low, ci_high, comparison, reference, method
    hr_text: str = ""
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cross_study: bool = False
    message: str = ""  # set when nothing can be drawn
    n_missing_endpoint: int = 0

    def numbers(self) -> pd.DataFrame:
        """The numbers behind the figure: one row per curve and grid time (for the CSV)."""
        recs = []
        for c in self.curves:
            for r in c.table.itertuples(index=False):
                s, lo, hi = _survival_at(c, r.time)
                recs.append({
                    "curve": c.label, "time": r.time, "at_risk": r.at_risk, "events_cum": r.events_cum,
                    "censored_cum": r.censored_cum, "survival": s, "survival_ci_low": lo, "survival_ci_high": hi,
                    "kind": c.kind, "n": c.n, "events": c.events, "median_months": c.median,
                    "median_ci_low": c.median_ci[0], "median_ci_high": c.median_ci[1],
                    "endpoint": self.endpoint, "log_rank_p": self.logrank_p,
                    "hr": self.hr["hr"] if self.hr else None,
                    "hr_ci_low": self.hr["ci_low"] if self.hr else None,
                    "hr_ci_high": self.hr["ci_high"] if self.hr else None,
                    "hr_comparison": f"{self.hr['comparison']} vs {self.hr['reference']}" if self.hr else None,
                })
        return pd.DataFrame.from_records(recs)


def risk_table(km, grid: list[float]) -> pd.DataFrame:
    """Numbers at risk, cumulative events and cumulative censored at each grid time of a
    Kaplan–Meier result: R's ``summary(fit, times = grid, extend = TRUE)`` (``KMResult.summary_at``),
    with its per-interval counts summed up to each time."""
    s = km.summary_at(grid, extend=True)
    return pd.DataFrame({"time": s["time"].to_numpy(), "at_risk": s["n_risk"].to_numpy(np.int64),
                         "events_cum": s["n_event"].cumsum().to_numpy(np.int64),
                         "censored_cum": s["n_censor"].cumsum().to_numpy(np.int64)})


def _survival_at(c: Curve, t: float) -> tuple[float | None, float | None, float | None]:
    if not c.time or t > c.time[-1]:
        return None, None, None
    i = int(np.searchsorted(np.asarray(c.time), t, side="right")) - 1
    return c.surv[i], c.ci_low[i], c.ci_high[i]


def _group_parts(key: str) -> tuple[str, str | None, str | None]:
    study, arm, level = (key.split("|", 2) + ["", ""])[:3]
    arm = None if arm in ("", "*") else arm
    level = None if level == "" else level
    return study, arm, level


def _group_label(key: str, by: str, info: dict[str, StudyInfo], multi_study: bool,
                 multi_arm: set[str]) -> tuple[str, str]:
    """(legend label, short label for the risk table)."""
    study, arm, level = _group_parts(key)
    si = info.get(study)
    parts, short = [], []
    if multi_study:
        parts.append(si.label if si else study)
        short.append(_abbrev(si.label if si else study))
    if arm and (study in multi_arm or by == "arm"):
        if study in multi_arm or not multi_study:
            arm_lab = si.arms.get(arm, arm) if si else arm
            parts.append(arm_lab)
            short.append(_abbrev(arm_lab, 18))
    if by not in ("arm", "study"):
        lv = None if level == "~" else level
        text = f"{variable_label(by, short=True)}: {level_label(by, lv)}"
        parts.append(text)
        short.append(text)
    if not parts:
        name = si.label if si else study
        parts, short = [name], [_abbrev(name)]
    return " · ".join(parts), " · ".join(short)


def _abbrev(text: str, limit: int = 16) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _endpoint_filter(sql: str, endpoint: str) -> str:
    t, e = ENDPOINT_COLUMNS[endpoint]
    return f'SELECT * FROM ({sql}) AS g WHERE "{t}" IS NOT NULL AND "{e}" IS NOT NULL'


def km_panel(con: duckdb.DuckDBPyConnection, state: ViewState, info: dict[str, StudyInfo] | None = None,
             evidence: ViewEvidence | None = None) -> KMPanel:
    """Curves, risk table, log-rank and (two groups) HR for the view."""
    info = info if info is not None else study_info(con, state.studies)
    evidence = evidence if evidence is not None else view_evidence(con, state.studies, state.endpoint)
    endpoint = state.endpoint
    t_col, e_col = ENDPOINT_COLUMNS[endpoint]
    y_title = {"PFS": "Progression-free", "OS": "Alive", "PFS2": "Free of second progression"}[endpoint]
    panel = KMPanel(endpoint, y_title, [], [], "reconstructed")
    by = state.compare_by

    base_sql, params = cohort.grouped_relation(state)
    meta = con.execute(
        f"""SELECT grp, min(study_id), min(arm_id), count(*) AS n, count("{t_col}") AS n_time,
                   string_agg(DISTINCT origin, ',') AS origins
            FROM ({base_sql}) AS v GROUP BY grp""", params).fetchall()
    if not meta:
        panel.message = "No patient in this view. Widen the filters or add a study."
        return panel
    panel.n_missing_endpoint = sum(n - nt for _, _, _, n, nt, _ in meta)
    with_time = [m for m in meta if m[4] > 0]
    if not with_time:
        studies = ", ".join(sorted({info[m[1]].label if m[1] in info else m[1] for m in meta}))
        panel.message = f"{endpoint} has no patient rows in {studies}."
        return panel
    if panel.n_missing_endpoint:
        panel.notes.append(
            f"{panel.n_missing_endpoint} patient(s) in the view have no {endpoint} time and are not in the curves.")

    study_order = {s: i for i, s in enumerate(state.studies)}
    arm_order = {}
    for si in info.values():
        for i, a in enumerate(sorted(si.arms, key=lambda a: (a == si.control_arm, a))):
            arm_order[(si.study_id, a)] = i
    level_order = {lv: i for i, lv in enumerate(cohort.sort_levels([_group_parts(m[0])[2] or "" for m in with_time]))}

    def order(m):
        study, arm, level = _group_parts(m[0])
        return (study_order.get(study, 99), arm_order.get((study, arm), 9), level == "~", level_order.get(level or "", 0))

    with_time.sort(key=order)
    keys = [m[0] for m in with_time]
    origins = {m[0]: set((m[5] or "").split(",")) for m in with_time}
    multi_study = len({_group_parts(k)[0] for k in keys}) > 1
    panel.cross_study = multi_study
    arms_per_study: dict[str, set] = {}
    for k in keys:
        s, a, _ = _group_parts(k)
        arms_per_study.setdefault(s, set()).add(a)
    multi_arm = {s for s, arms in arms_per_study.items() if len(arms) > 1}

    reference = _km_reference(state, keys, info, evidence)
    res = subgroup_recompute(con, _endpoint_filter(base_sql, endpoint), params, t_col, e_col, "grp",
                             reference=reference, levels=keys, conf_level=CONF_LEVEL, conf_type=CONF_TYPE)

    t_max = 0.0
    for k in keys:
        km = res.km[k]
        if km.estimable and len(km.table):
            t_max = max(t_max, float(km.table["time"].max()))
    panel.grid = time_grid(t_max)

    all_origins: set[str] = set()
    for k in keys:
        km = res.km[k]
        label, short = _group_label(k, by, info, multi_study, multi_arm)
        study, arm, level = _group_parts(k)
        kind = "user" if origins[k] == {"user"} else ("mixed" if "user" in origins[k] else "reconstructed")
        all_origins |= origins[k]
        if not km.estimable:
            panel.warnings.append(f"{label}: {km.reason} ({km.n} patients, {km.events} events).")
            continue
        curve = km.curve()
        c_time, c_surv, c_low, c_high = (curve[c].to_numpy() for c in ("time", "surv", "lower", "upper"))
        tab = km.table
        censored = tab["n_censor"].to_numpy() > 0
        table = risk_table(km, panel.grid)
        c = Curve(
            key=k, label=label, short_label=short, study_id=study, arm_id=arm,
            level=None if level in (None, "~") else level, kind=kind, n=km.n, events=km.events,
            time=c_time.tolist(), surv=c_surv.tolist(), ci_low=c_low.tolist(), ci_high=c_high.tolist(),
            censor_time=tab["time"].to_numpy(float)[censored].tolist(),
            censor_surv=tab["surv"].to_numpy(float)[censored].tolist(),
            median=km.median, median_ci=km.median_ci, median_text=median_text(km.median, km.median_ci),
            small=is_small(km.n, km.events), table=table,
        )
        if c.small:
            panel.warnings.append(
                f"{label}: small numbers ({c.n} patients, {c.events} events); estimates are unstable.")
        panel.curves.append(c)
    panel.kind = "user" if all_origins == {"user"} else ("mixed" if "user" in all_origins else "reconstructed")
    if not panel.curves:
        panel.message = "No curve can be estimated in this view: " + " ".join(panel.warnings)
        return panel

    # comparisons: only between estimable groups
    if len(keys) >= 2:
        if any(is_small(res.km[k].n, res.km[k].events) for k in keys):
            panel.logrank_text = f"no p-value: a group has < {MIN_PATIENTS} patients or < {MIN_EVENTS} events"
        elif res.logrank.estimable:
            panel.logrank_p = res.logrank.p
            panel.logrank_text = f"Log-rank {p_text(res.logrank.p)}"
            if multi_study:
                panel.logrank_text += " (across studies: not a randomized comparison)"
        else:
            panel.logrank_text = f"Log-rank: {res.logrank.reason}"
    if len(keys) == 2:
        cox = res.cox
        cmp_label, ref_label = _contrast_labels(cox.comparison, cox.reference, by, info)
        if cox.estimable:
            panel.hr = dict(hr=cox.hr, ci_low=cox.ci_low, ci_high=cox.ci_high, comparison=cmp_label,
                            reference=ref_label, method="Cox, Efron ties; Wald CI")
            panel.hr_text = f"HR {hr_text(cox.hr, cox.ci_low, cox.ci_high)} ({cmp_label} vs {ref_label})"
        else:
            panel.hr_text = f"HR {cox.reason}"
    if multi_study:
        panel.notes.append(NOT_RANDOMIZED)
    return panel


def _contrast_labels(cmp_key, ref_key, by: str, info: dict[str, StudyInfo]) -> tuple[str, str]:
    """Short names for the two groups of an HR: only the part in which they differ."""
    if not cmp_key or not ref_key:
        return "", ""
    (s1, a1, l1), (s0, a0, l0) = _group_parts(cmp_key), _group_parts(ref_key)
    if s1 != s0:
        return (_abbrev(info[s1].label, 30) if s1 in info else s1), (_abbrev(info[s0].label, 30) if s0 in info else s0)
    if a1 != a0:
        si = info.get(s1)
        return (si.arms.get(a1, a1) if si else a1), (si.arms.get(a0, a0) if si else a0)
    lv1 = None if l1 == "~" else l1
    lv0 = None if l0 == "~" else l0
    return level_label(by, lv1), level_label(by, lv0)


def _km_reference(state: ViewState, keys: list[str], info: dict[str, StudyInfo],
                  evidence: ViewEvidence | None) -> str | None:
    """Reference group of the KM panel's HR (two groups): the control arm; for a split by a
    variable within one study, the paper's reference level where it reports one."""
    if len(keys) != 2:
        return None
    parts = [_group_parts(k) for k in keys]
    (s0, a0, l0), (s1, a1, l1) = parts
    if s0 == s1 and a0 != a1:
        ctrl = info[s0].control_arm if s0 in info else None
        for k, (_, a, _) in zip(keys, parts):
            if a == ctrl:
                return k
    if s0 == s1 and l0 != l1 and state.compare_by in FILTER_VARIABLES and evidence is not None:
        ref = _reported_reference(evidence.pairs, s0, state.compare_by, {l0, l1})
        if ref is not None:
            for k, (_, _, lv) in zip(keys, parts):
                if lv == ref:
                    return k
    return keys[0]


def _reported_reference(pairs: pd.DataFrame, study: str, variable: str, levels: set) -> str | None:
    """The paper's reference level when it compares exactly these two levels (HR rows first)."""
    sub = pairs[(pairs.study_id == study) & (pairs.subgroup == variable)] if len(pairs) else pairs
    for level, ref in zip(sub.level, sub.reference_level):
        if {level, ref} == levels:
            return ref
    return None


# ---------------------------------------------------------------------------------------------
# Forest rows
# ---------------------------------------------------------------------------------------------
FOREST_COLUMNS = [
    "label", "estimate", "ci_low", "ci_high", "kind", "left_text", "value_text", "hover", "header",
    "indent", "group", "study_id", "variable", "level", "reference_level", "n", "events", "source",
    "small",
]


def reported_hrs(con: duckdb.DuckDBPyConnection, studies, endpoint: str) -> pd.DataFrame:
    """Hazard ratios the papers print for the studies and endpoint (``reported_results``)."""
    studies = list(studies)
    if not studies:
        return pd.DataFrame()
    ph = ", ".join("?" for _ in studies)
    return con.execute(
        f"""SELECT study_id, arm_id, contrast, subgroup, level, reference_level, analysis, n, events,
                   estimate, ci_low, ci_high, ci_level, p_value, p_qualifier, source, flag, note
            FROM reported_results
            WHERE statistic = 'hr' AND endpoint = ? AND study_id IN ({ph})
            ORDER BY study_id, subgroup NULLS FIRST, analysis NULLS FIRST""",
        [endpoint] + studies).df()


def auto_forest_variables(con: duckdb.DuckDBPyConnection, state: ViewState,
                          evidence: ViewEvidence | None = None) -> tuple[str, ...]:
    """Forest variables when the user chose none: the compare-by variable and the filter
    variables the papers compare for this endpoint (HR or medians by level), else the first
    variables with two or more levels in these studies. Filters do not change the choice, so
    rows do not come and go while the user filters."""
    evidence = evidence or view_evidence(con, state.studies, state.endpoint)
    multi = evidence.n_levels
    chosen = []
    if state.compare_by in cohort.GROUPABLE_COLUMNS:
        chosen.append(state.compare_by)
    chosen += [v for v in FILTER_VARIABLES if v in evidence.compared and v not in chosen]
    chosen = [v for v in chosen if multi.get(v, 0) >= 2 or v in evidence.compared]
    if not chosen:
        chosen = [v for v in FILTER_VARIABLES if multi.get(v, 0) >= 2][:3]
    return tuple(chosen[:4])


def _reported_pairs(con, studies, endpoint: str) -> pd.DataFrame:
    """(study, variable, level, reference) pairs the papers compare (HR first, then medians)."""
    studies = list(studies)
    if not studies:
        return pd.DataFrame(columns=["study_id", "subgroup", "level", "reference_level"])
    ph = ", ".join("?" for _ in studies)
    return con.execute(
        f"""SELECT study_id, subgroup, level, reference_level FROM reported_results
            WHERE endpoint = ? AND study_id IN ({ph}) AND contrast = 'between_levels'
              AND statistic IN ('hr', 'median') AND subgroup IS NOT NULL
              AND reference_level IS NOT NULL AND reference_level <> 'unspecified'
            ORDER BY study_id, subgroup, statistic = 'hr' DESC, level""", [endpoint] + studies).df()


def _comparisons(pairs: pd.DataFrame, study: str, variable: str, stored: dict[str, tuple[int, int]]
                 ) -> list[tuple[str, str, set, set]]:
    """(level, reference_level, stored values of level, stored values of reference) to compare.

    The paper's own comparisons first (so reconstructed and reported HRs answer the same
    question; a pair printed both ways is taken once); else each stored level against the
    largest one."""
    out: list[tuple[str, str, set, set]] = []
    seen: set[frozenset] = set()
    sub = pairs[(pairs.study_id == study) & (pairs.subgroup == variable)] if len(pairs) else pairs
    for level, ref in zip(sub.level, sub.reference_level):
        key = frozenset((level, ref))
        if key in seen:
            continue
        seen.add(key)
        a, _ = cohort.expand_levels(variable, [level])
        b, _ = cohort.expand_levels(variable, [ref])
        a &= set(stored)
        b &= set(stored)
        if a or b:
            out.append((level, ref, a, b))
    if out:
        return out
    present = [lv for lv in cohort.sort_levels(stored) if stored[lv][0] > 0]
    if len(present) < 2:
        return [(lv, "", {lv}, set()) for lv in present]
    ref = max(present, key=lambda lv: (stored[lv][0], -present.index(lv)))
    return [(lv, ref, {lv}, {ref}) for lv in present if lv != ref]


def _tally(groups, times, events, censors) -> dict:
    """{(group, time): [events, censored]} summed over rows (plain Python: the views hold a few
    hundred rows, where pandas' per-call overhead dominates)."""
    acc: dict = {}
    for g, t, e, c in zip(groups, times, events, censors):
        cell = acc.get((g, t))
        if cell is None:
            acc[(g, t)] = [int(e), int(c)]
        else:
            cell[0] += int(e)
            cell[1] += int(c)
    return acc


def _counts_frame(acc: dict) -> pd.DataFrame:
    """A tally as the engine's counts table (group, time, n_event, n_censor), sorted by group
    and time."""
    keys = sorted(acc)
    return pd.DataFrame({
        "group": pd.Series([k[0] for k in keys], dtype=object),
        "time": np.array([k[1] for k in keys], dtype=float),
        "n_event": np.array([acc[k][0] for k in keys], dtype=np.int64),
        "n_censor": np.array([acc[k][1] for k in keys], dtype=np.int64),
    })


def forest_rows(con: duckdb.DuckDBPyConnection, state: ViewState, variables: tuple[str, ...] | None = None,
                info: dict[str, StudyInfo] | None = None, evidence: ViewEvidence | None = None) -> pd.DataFrame:
    """HR rows per level of ``variables`` computed from the view's patient rows, each followed by
    the paper's HR for the same comparison where it printed one.

    Two-arm studies: HR of the experimental arm vs the control arm within each level (and for
    all patients in the view). Single-arm studies: HR of a level vs a reference level (the
    paper's reference where it has one, else the largest level). Columns: ``FOREST_COLUMNS``.
    """
    info = info if info is not None else study_info(con, state.studies)
    evidence = evidence or view_evidence(con, state.studies, state.endpoint)
    variables = tuple(variables) if variables else auto_forest_variables(con, state, evidence)
    t_col, e_col = ENDPOINT_COLUMNS[state.endpoint]
    hrs = evidence.hrs
    filtered = bool(state.active_filters)
    filtered_vars = {f.variable for f in state.active_filters}
    rows: list[dict] = []
    multi_study = len(state.studies) > 1

    def add(**kw):
        r = {c: None for c in FOREST_COLUMNS}
        r.update(header=False, indent=0, left_text="", value_text="", hover="", kind="reconstructed", small=False)
        r.update(kw)
        rows.append(r)

    def reported_row(r, label, indent):
        nr = "" if pd.isna(r.n) else f"n={int(r.n)}"
        analysis = "adjusted" if r.analysis == "multivariate" else ""
        p = ""
        if not pd.isna(r.p_value):
            p = f"p {r.p_qualifier} {r.p_value:g}" if isinstance(r.p_qualifier, str) and r.p_qualifier else f"p = {r.p_value:g}"
        hover = f"Printed in the paper: {r.source}"
        if filtered:
            hover += "<br>Whole study population: the Explorer's filters do not apply"
        if isinstance(r.note, str) and r.note:
            hover += "<br>" + "<br>".join(wrap_words(r.note, 60))
        est, lo, hi = finite_or_none(r.estimate), finite_or_none(r.ci_low), finite_or_none(r.ci_high)
        add(label=f"{label} (paper{', ' + analysis if analysis else ''})", estimate=est, ci_low=lo, ci_high=hi,
            kind="reported", left_text=nr,
            value_text=hr_text(est, lo, hi) if not pd.isna(r.ci_low) else f"{r.estimate:.2f} (CI not printed)",
            hover=hover + (f"<br>{p}" if p else ""), indent=indent, study_id=r.study_id, variable=r.subgroup,
            level=r.level, reference_level=r.reference_level, n=None if pd.isna(r.n) else int(r.n),
            source=r.source, group=r.subgroup or "overall")

    # One aggregation query for the whole view: patients per study, arm, origin, level of every
    # forest variable, time and event. Every comparison below sums these counts.
    cols = [cohort.check_column(v) for v in variables]
    base_sql, params = cohort.relation(state)
    var_sel = "".join(f'"{c}", ' for c in cols)
    crossed = con.execute(
        f"""SELECT study_id, arm_id, origin, {var_sel}CAST("{t_col}" AS DOUBLE) AS time,
                   CAST(sum("{e_col}") AS BIGINT) AS n_event, CAST(count(*) - sum("{e_col}") AS BIGINT) AS n_censor
            FROM ({base_sql}) AS v WHERE "{t_col}" IS NOT NULL AND "{e_col}" IS NOT NULL
            GROUP BY ALL""", params).df()
    pairs = evidence.pairs
    # the aggregated rows as arrays, and the papers' HRs as records: a view has a few hundred
    # rows, so plain loops beat pandas' per-call overhead here
    study_of = crossed["study_id"].to_numpy()
    arm_all = crossed["arm_id"].to_numpy()
    origin_all = crossed["origin"].to_numpy()
    var_all = {c: crossed[c].to_numpy() for c in cols}
    time_all = crossed["time"].to_numpy(dtype=float)
    event_all = crossed["n_event"].to_numpy()
    censor_all = crossed["n_censor"].to_numpy()
    hr_recs = list(hrs.itertuples()) if len(hrs) else []

    for study in state.studies:
        si = info.get(study)
        if si is None:
            continue
        idx = np.flatnonzero(study_of == study)
        arm_of = arm_all[idx]
        t_of, e_of, c_of = time_all[idx], event_all[idx], censor_all[idx]
        arms = sorted(set(arm_of))
        two_arm = len(arms) == 2
        kind = "user" if set(origin_all[idx]) == {"user"} else "reconstructed"
        if multi_study:
            add(label=si.label, header=True, study_id=study, group="study")
        ind = 1 if multi_study else 0
        study_hrs = [r for r in hr_recs if r.study_id == study]
        if two_arm:
            ctrl = si.control_arm if si.control_arm in arms else arms[0]
            exp = [a for a in arms if a != ctrl][0]
            vs = f"{si.arms.get(exp, exp)} vs {si.arms.get(ctrl, ctrl)}"
            counts = _counts_frame(_tally(arm_of, t_of, e_of, c_of))  # all patients in the view
            _add_hr_row(add, counts, exp, ctrl, "All patients in view" if filtered else "All patients", kind, ind,
                        study=study, variable=None, level=None, ref=None, note=vs)
            for r in study_hrs:
                if pd.isna(r.subgroup) and r.contrast == "between_arms":
                    reported_row(r, "All patients", ind)
        for var in cols:
            levels = ["~" if pd.isna(v) else v for v in var_all[var][idx]]
            # {(level, arm, time): [events, censored]}
            tally = _tally(zip(levels, arm_of), t_of, e_of, c_of)
            stored: dict[str, list[int]] = {}
            for ((lv, _arm), _t), (e, c) in sorted(tally.items()):
                if lv != "~":
                    cell = stored.setdefault(lv, [0, 0])
                    cell[0] += e + c
                    cell[1] += e
            stored = {lv: (n, e) for lv, (n, e) in stored.items()}
            var_hrs = [r for r in study_hrs if r.subgroup == var]
            if len(stored) < 2 and not var_hrs and var != state.compare_by:
                continue  # one level (or none) and nothing printed: no row would say anything
            add(label=variable_label(var), header=True, indent=ind, study_id=study, variable=var, group=var)
            if not stored:
                all_null = bool(tally) and {lv for (lv, _a), _t in tally} == {"~"}
                add(label="not reported in this study" if all_null else "no patients in view",
                    indent=ind + 1, study_id=study, variable=var, group=var, value_text="")
                for r in var_hrs:
                    reported_row(r, _pair_label(var, r.level, r.reference_level, two_arm), ind + 1)
                continue
            if two_arm:
                for lv in cohort.sort_levels(stored):
                    sub = _counts_frame({(a, t): v for ((l, a), t), v in tally.items() if l == lv})
                    _add_hr_row(add, sub, exp, ctrl, level_label(var, lv), kind, ind + 1, study=study,
                                variable=var, level=lv, ref=None, note=vs, filtered=var in filtered_vars)
                    for r in var_hrs:
                        if r.level == lv and r.contrast == "between_arms":
                            reported_row(r, level_label(var, lv), ind + 1)
                continue
            for level, ref, a_vals, b_vals in _comparisons(pairs, study, var, stored):
                label = _pair_label(var, level, ref, False)
                if not ref:
                    add(label=f"{level_label(var, level)} only in this view", indent=ind + 1, study_id=study,
                        variable=var, level=level, group=var, value_text="no comparison",
                        left_text=f"{stored[level][0]}/{stored[level][1]}")
                    continue
                both: dict = {}
                for ((l, _a), t), (e, c) in tally.items():
                    if l in a_vals or l in b_vals:
                        cell = both.setdefault(("cmp" if l in a_vals else "ref", t), [0, 0])
                        cell[0] += e
                        cell[1] += c
                _add_hr_row(add, _counts_frame(both), "cmp", "ref", label, kind, ind + 1, study=study, variable=var,
                            level=level, ref=ref, note=f"{level_label(var, level)} vs {level_label(var, ref)}",
                            filtered=var in filtered_vars)
                for r in var_hrs:
                    if r.level == level and r.reference_level == ref:
                        reported_row(r, label, ind + 1)
    return pd.DataFrame(rows, columns=FOREST_COLUMNS)


def _pair_label(var, level, ref, two_arm) -> str:
    if two_arm or not ref:
        return level_label(var, level)
    return f"{level_label(var, level)} vs {level_label(var, ref)}"


def _add_hr_row(add, counts: pd.DataFrame, cmp_group: Any, ref_group: Any, label: str, kind: str, indent: int, *,
                study: str, variable, level, ref=None, note: str = "", filtered: bool = False) -> None:
    """One computed HR row (cmp vs ref) from per-time counts with a ``group`` column.
    ``filtered``: the view filters on ``variable`` (an empty side is then the filter's doing)."""
    groups = counts["group"].to_numpy()
    events, censored = counts["n_event"].to_numpy(), counts["n_censor"].to_numpy()

    def ne(g):
        mask = groups == g
        return int(events[mask].sum() + censored[mask].sum()), int(events[mask].sum())

    (n1, e1), (n0, e0) = ne(cmp_group), ne(ref_group)
    left = f"{n1}/{e1} vs {n0}/{e0}"
    small = is_small(n1, e1) or is_small(n0, e0)
    if n1 == 0 or n0 == 0:
        add(label=label, indent=indent, study_id=study, variable=variable, level=level, reference_level=ref,
            left_text=left, value_text="filtered out" if filtered else "not estimable", kind=kind,
            group=variable or "overall", n=n1 + n0, events=e1 + e0, small=small,
            hover=("the filter on this variable leaves only one side in the view" if filtered
                   else "one side has no patients in this view"))
        return
    cox = cox_hr_from_counts(counts[["group", "time", "n_event", "n_censor"]], reference=ref_group, comparison=cmp_group,
                             conf_level=CONF_LEVEL)
    hover = f"{note}<br>n/events: {left}<br>Cox model, Efron ties; Wald 95% CI"
    if small:
        hover += f"<br>⚠ small numbers (< {MIN_PATIENTS} patients or < {MIN_EVENTS} events in a group)"
    if not cox.estimable:
        add(label=label, indent=indent, study_id=study, variable=variable, level=level, reference_level=ref,
            left_text=left, value_text="not estimable", kind=kind, group=variable or "overall",
            hover=hover + "<br>" + cox.reason, n=n1 + n0, events=e1 + e0, small=small)
        return
    add(label=label + (" ⚠" if small else ""), estimate=cox.hr, ci_low=cox.ci_low, ci_high=cox.ci_high, kind=kind,
        left_text=left, value_text=hr_text(cox.hr, cox.ci_low, cox.ci_high), hover=hover, indent=indent,
        study_id=study, variable=variable, level=level, reference_level=ref, n=n1 + n0, events=e1 + e0,
        group=variable or "overall", small=small)


# ---------------------------------------------------------------------------------------------
# Adverse events
# ---------------------------------------------------------------------------------------------
@dataclass
class AEPanel:
    rows: pd.DataFrame  # term, series, any_pct, g3_pct, any_text, g3_text, hover + ids
    terms: list[str]
    series: list[str]
    note: str  # study-level / filters-do-not-apply note
    missing: list[str]  # studies without AE rows
    hidden_terms: int  # terms below the cut-off
    truncated_terms: int = 0  # terms above the cut-off left out by the "most terms" limit

    def numbers(self) -> pd.DataFrame:
        cols = ["study_id", "arm_id", "series", "term", "any_n", "any_pct", "g3_n", "g3_pct", "denominator",
                "original_terms", "source"]
        return self.rows[[c for c in cols if c in self.rows.columns]].copy()


def ae_panel(con: duckdb.DuckDBPyConnection, state: ViewState, info: dict[str, StudyInfo] | None = None) -> AEPanel:
    """Incidence per harmonized term and arm, any grade and grade >=3, filtered by the view's
    cut-off and sorted as asked (``state.ae_sort``: any | g3 | term)."""
    info = info if info is not None else study_info(con, state.studies)
    published = [s for s in state.studies if s in info and info[s].kind == "published"]
    inc = ae_incidence(con, published) if published else pd.DataFrame()
    missing = [info[s].label if s in info else s for s in state.studies if s not in set(inc.get("study_id", []))]
    note = AE_NOT_FILTERED if state.active_filters else "Adverse events are study-level figures as printed in each paper."
    if inc.empty:
        return AEPanel(pd.DataFrame(columns=["term", "series"]), [], [], note, missing, 0)
    inc = inc[inc.term_harmonized != "Other"]
    keys = ["study_id", "arm_id", "term_harmonized"]
    wide = inc.pivot_table(index=keys, columns="grade", values="percent", aggfunc="max")
    wide = wide.rename(columns={"any": "any_pct", ">=3": "g3_pct"}).reset_index()
    for col in ("any_pct", "g3_pct"):
        if col not in wide:
            wide[col] = np.nan
    ninfo = inc.pivot_table(index=keys, columns="grade", values="n", aggfunc="max").rename(
        columns={"any": "any_n", ">=3": "g3_n"}).reset_index()
    wide = wide.merge(ninfo, on=keys, how="left")
    for col in ("any_n", "g3_n"):
        if col not in wide:
            wide[col] = np.nan
    first = inc.sort_values("grade").drop_duplicates(keys)
    meta = inc.groupby(keys).agg(
        denominator=("denominator", "max"),
        original_terms=("terms", lambda s: " · ".join(dict.fromkeys(s))),
        source=("source", lambda s: "; ".join(dict.fromkeys(x for x in s if isinstance(x, str)))),
        markers=("markers", lambda s: "".join(sorted(set("".join(x for x in s if isinstance(x, str)))))),
    ).reset_index()
    wide = wide.merge(meta, on=keys, how="left").merge(
        first[keys + ["short_label", "arm_label", "is_control"]], on=keys, how="left")
    multi_arm = wide.groupby("study_id")["arm_id"].nunique()
    one_study = wide.study_id.nunique() == 1

    def series_name(s, sl, al, d):
        study = info[s].label if s in info else sl
        if multi_arm.get(s, 1) > 1:
            name = al if one_study else f"{study}: {al}"
        else:
            name = study
        return f"{name} (N={int(d)})"

    wide["series"] = [series_name(*x) for x in zip(wide.study_id, wide.short_label, wide.arm_label, wide.denominator)]
    wide = wide.rename(columns={"term_harmonized": "term"})

    def pct(x):
        return "" if pd.isna(x) else (f"{x:.0f}" if x >= 10 or x == 0 else f"{x:.1f}")

    wide["any_text"] = [pct(x) for x in wide.any_pct]
    wide["g3_text"] = [("≥3: " + pct(x)) if not pd.isna(x) and pd.isna(a) else pct(x)
                       for x, a in zip(wide.g3_pct, wide.any_pct)]
    wide["hover"] = [
        f"<b>{t}</b><br>{s}<br>any grade: {_count(an, ap, d)}<br>grade ≥3: {_count(gn, gp, d)}"
        f"<br>paper's term(s): {'<br>'.join(wrap_words(ot, 70))}<br>source: {src}"
        + ("<br>† corrected reading of the text, ‡ derived (see Data notes)" if m else "")
        for t, s, an, ap, gn, gp, d, ot, src, m in zip(
            wide.term, wide.series, wide.any_n, wide.any_pct, wide.g3_n, wide.g3_pct, wide.denominator,
            wide.original_terms, wide.source, wide.markers)
    ]
    # cut-off on any grade (grade >=3 where any grade is not printed)
    screen = wide.any_pct.fillna(wide.g3_pct)
    term_max = screen.groupby(wide.term).max()
    keep_terms = term_max[term_max >= state.ae_min].index
    hidden = int((term_max < state.ae_min).sum())
    wide = wide[wide.term.isin(keep_terms)]
    if state.ae_sort == "term":
        terms = sorted(keep_terms)
    else:
        col = "any_pct" if state.ae_sort == "any" else "g3_pct"
        key = wide.groupby("term")[col].max().fillna(-1)
        second = wide.assign(_s=screen).groupby("term")["_s"].max().fillna(-1)
        terms = sorted(keep_terms, key=lambda t: (-key.get(t, -1), -second.get(t, -1), t))
    truncated = 0
    if state.ae_top and len(terms) > state.ae_top:
        if state.ae_sort == "term":  # keep the most frequent, shown alphabetically
            top = set(sorted(terms, key=lambda t: -term_max.get(t, -1))[: state.ae_top])
            terms = [t for t in terms if t in top]
        else:
            terms = terms[: state.ae_top]
        truncated = len(keep_terms) - len(terms)
        wide = wide[wide.term.isin(terms)]
    order = {s: i for i, s in enumerate(state.studies)}
    series_df = wide.drop_duplicates("series").assign(
        _o=lambda d: [order.get(s, 99) for s in d.study_id]).sort_values(["_o", "is_control", "arm_id"])
    return AEPanel(wide.reset_index(drop=True), terms, list(series_df.series), note, missing, hidden, truncated)


def _count(n, p, d) -> str:
    if pd.isna(p):
        return "not reported"
    if pd.isna(n):
        return f"{p:.1f}% of {int(d)}"
    return f"{int(n)}/{int(d)} ({p:.1f}%)"


# ---------------------------------------------------------------------------------------------
# Footnotes
# ---------------------------------------------------------------------------------------------
def footnotes(con: duckdb.DuckDBPyConnection, state: ViewState, info: dict[str, StudyInfo] | None = None,
              notices: list | None = None, evidence: ViewEvidence | None = None) -> list[str]:
    """Lines that make a screenshot stand on its own: sources and data cutoffs, what kind of data
    each panel shows, the active filters, and the methods."""
    info = info if info is not None else study_info(con, state.studies)
    lines = []
    sources = (evidence or view_evidence(con, state.studies, state.endpoint)).sources
    for s in state.studies:
        si = info.get(s)
        if si is None:
            continue
        if si.kind == "user":
            lines.append(f"{si.label}: user-uploaded patient data ({si.citation}).")
            continue
        src = "; ".join(dict.fromkeys(p.strip() for text in sources.get(s, []) for p in text.split(";") if p.strip()))
        cutoff = si.data_cutoff or "not reported"
        basis = f"{state.endpoint} rebuilt from {src}" if src else f"no whole-arm {state.endpoint} printed"
        lines.append(f"{si.label} — {si.citation} Data cutoff {cutoff}. Curves: reconstructed patient rows ({basis}).")
    lines.append(f"Endpoint: {ENDPOINT_LABELS[state.endpoint]}. Filters: {cohort.describe_filters(state)}.")
    for n in notices or []:
        lines.append(getattr(n, "text", str(n)))
    lines.append(METHODS + " " + SMALL_RULE)
    lines.append(
        "Forest plot: circles = computed from reconstructed patient rows, triangles = from user data, "
        "squares = printed in the paper (whole study population). Adverse events: reported "
        "study-level incidence; the filters do not apply.")
    if len(state.studies) > 1:
        lines.append(NOT_RANDOMIZED)
    return lines


def data_version(con: duckdb.DuckDBPyConnection) -> str:
    """Changes whenever the data behind the Explorer changes (rebuild, new or deleted upload):
    part of every cache key of the page."""
    row = con.execute(
        """SELECT (SELECT max(fingerprint) FROM build_info),
                  (SELECT count(*) FROM patients), (SELECT count(*) FROM user_cohorts),
                  (SELECT coalesce(max(created_at), '') FROM user_cohorts)""").fetchall()[0]
    return "|".join(str(x) for x in row)
