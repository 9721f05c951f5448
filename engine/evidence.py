"""What the study overview, comparison, safety and data-notes pages show, assembled from the
evidence tables. No Streamlit here; every user choice arrives as a query parameter.

Every value carries its basis: ``reported`` (printed in the paper, with the paper's locator in
``source``), and every interval says where it comes from (``CI_REPORTED``: printed in the paper;
``CI_COMPUTED``: computed here from the counts the paper reports, exact Clopper-Pearson through
``engine.rates``). Values the curators marked ``ocr_corrected`` or ``derived`` keep that flag and its note.

The comparison page also shows cohorts users uploaded (``compare_cohorts``, ``compare_results``):
their values are computed here from their stored patient rows (``origin = 'user'``: Kaplan-Meier
medians, Clopper-Pearson rates), carry ``origin = 'user'`` and ``basis`` ``user data``, and are
never offered for pooling with the reported values.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import duckdb
import pandas as pd

from engine import meta, queries, rates
from engine.results import finite_or_none
from engine.schema import ENDPOINT_COLUMNS, FIDELITY_COLUMNS
from engine.survival import kaplan_meier
from engine.text import median_text

BASIS_REPORTED = "reported"
CI_REPORTED = "reported"
CI_COMPUTED = "computed from reported counts"
CI_COMPUTED_METHOD = "exact Clopper-Pearson (engine.rates.proportion)"

# Headline endpoints in display order: key -> (label, kind).
HEADLINE = {
    "ORR": ("Objective response rate", "rate"),
    "DCR": ("Disease control rate", "rate"),
    "PFS": ("Median PFS", "median"),
    "OS": ("Median OS", "median"),
    "G3TRAE": ("Grade ≥3 TRAE rate", "rate"),
}
RATE_ENDPOINTS = tuple(k for k, (_, kind) in HEADLINE.items() if kind == "rate")
MEDIAN_ENDPOINTS = tuple(k for k, (_, kind) in HEADLINE.items() if kind == "median")

# What a rate means, and the shared definition a study has to meet to enter a pooled estimate.
RATE_DEFINITIONS = {
    "ORR": "best overall response CR or PR (RECIST 1.1), over all treated patients of the arm",
    "DCR": "best overall response CR, PR or SD (RECIST 1.1), over all treated patients of the arm",
    "G3TRAE": "patients with at least one treatment-related AE of grade 3 or worse (CTCAE), "
    "over the arm's safety population",
}

AE_MEASURE_LABELS = {
    "any_trae": "Any TRAE",
    "grade3plus_trae": "Grade ≥3 TRAE",
    "serious_ae": "Serious AE",
    "dose_reduction": "Dose reduction",
    "dose_interruption": "Dose interruption",
    "discontinuation": "Discontinuation",
    "treatment_related_death": "Treatment-related death",
    "any_ae": "Any AE",
    "grade3plus_ae": "Grade ≥3 AE",
}

NOTE_KIND_LABELS = {
    "ocr_correction": "OCR correction",
    "contradiction": "Contradiction in the paper",
    "assumption": "Curation assumption",
    "omission": "Not reported",
    "definition": "Definition",
}

FLAG_MARKERS = {"ocr_corrected": "†", "derived": "‡"}
INCONSISTENT_MARKER = "⚠"

LINE_CATEGORIES = ("1st line", "2nd line", "3rd line or later")
# filter_availability line_of_therapy level -> the line categories it covers
_LINE_LEVELS = {
    "1": ("1st line",),
    "2": ("2nd line",),
    "3": ("3rd line or later",),
    "ge2": ("2nd line", "3rd line or later"),
    "ge3": ("3rd line or later",),
    "ge4": ("3rd line or later",),
}


# ---------------------------------------------------------------------------------------------
# formatting


def fmt_number(x: float | None, max_decimals: int = 3) -> str:
    """A number as the paper prints it: up to ``max_decimals`` decimals, trailing zeros dropped."""
    if x is None or (isinstance(x, float) and math.isnan(x)) or pd.isna(x):
        return "–"
    text = f"{float(x):.{max_decimals}f}".rstrip("0").rstrip(".")
    return text if text not in ("-0", "") else "0"


def fmt_percent(fraction: float | None, decimals: int = 1) -> str:
    if fraction is None or pd.isna(fraction):
        return "–"
    return f"{100 * float(fraction):.{decimals}f}%"


def _value_text(kind: str, estimate, ci_low, ci_high, not_reached: str | None) -> str:
    nr = set((not_reached or "").split(";")) - {""}
    if kind == "rate":
        est = fmt_percent(estimate)
        if pd.isna(ci_low) and pd.isna(ci_high):
            return est
        return f"{est} ({fmt_percent(ci_low).rstrip('%')}–{fmt_percent(ci_high)})"
    est = "not reached" if "estimate" in nr else f"{fmt_number(estimate)} mo"
    if "estimate" in nr and "ci_high" in nr and pd.isna(ci_low):
        return est
    hi = "NR" if "ci_high" in nr else fmt_number(ci_high)
    if pd.isna(ci_low) and hi == "–":
        return est
    return f"{est} ({fmt_number(ci_low)}–{hi})"


def _markers(flag: str | None, inconsistent: bool) -> str:
    out = FLAG_MARKERS.get(flag or "", "")
    return out + (INCONSISTENT_MARKER if inconsistent else "")


# ---------------------------------------------------------------------------------------------
# studies and filters


def _all_study_ids(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("SELECT study_id FROM studies ORDER BY study_id").fetchall()]


def _ids(con: duckdb.DuckDBPyConnection, study_ids) -> list[str]:
    return list(study_ids) if study_ids is not None else _all_study_ids(con)


def study_table(con: duckdb.DuckDBPyConnection, study_ids=None) -> pd.DataFrame:
    """One row per study with the descriptors the overview shows, the line categories it covers
    (``lines``, from the filter table) and the regimen of each arm (``regimens``)."""
    ids = _ids(con, study_ids)
    df = con.execute(
        """
        SELECT s.study_id, s.label, s.short_label, s.tumor_type, s.setting, s.line_of_therapy,
               s.design, s.partner_class, s.n_total, s.enrollment_period, s.data_cutoff,
               s.median_followup_months, s.followup_note, s.authors, s.journal, s.year, s.doi,
               s.registry_id, s.citation, s.source
        FROM studies s
        WHERE list_contains(?::VARCHAR[], s.study_id)
        ORDER BY s.tumor_type DESC, s.year, s.study_id
        """,
        [ids],
    ).df()
    levels = con.execute(
        """
        SELECT study_id, level FROM filter_availability
        WHERE variable = 'line_of_therapy' AND status IN ('reported', 'inferred')
          AND level IS NOT NULL AND list_contains(?::VARCHAR[], study_id)
        """,
        [ids],
    ).fetchall()
    lines: dict[str, set[str]] = {}
    for sid, level in levels:
        lines.setdefault(sid, set()).update(_LINE_LEVELS.get(level, ()))
    df["lines"] = [tuple(c for c in LINE_CATEGORIES if c in lines.get(s, ())) for s in df.study_id]
    arms = study_arms(con, ids)
    df["regimens"] = [
        [(a.label, a.regimen, int(a.n), bool(a.is_control)) for a in arms[arms.study_id == s].itertuples()]
        for s in df.study_id
    ]
    return df


def study_arms(con: duckdb.DuckDBPyConnection, study_ids=None) -> pd.DataFrame:
    return con.execute(
        """
        SELECT a.study_id, a.arm_id, a.label, a.regimen, a.n, a.is_control, a.source, s.short_label,
               s.tumor_type, s.partner_class
        FROM arms a JOIN studies s USING (study_id)
        WHERE list_contains(?::VARCHAR[], a.study_id)
        ORDER BY s.tumor_type DESC, s.year, a.study_id, a.is_control, a.arm_id
        """,
        [_ids(con, study_ids)],
    ).df()


def filter_studies(
    studies: pd.DataFrame, tumor_types=None, partner_classes=None, lines=None
) -> pd.DataFrame:
    """Keep the studies matching every non-empty choice (a study matches a line choice when it
    covers at least one of the chosen line categories)."""
    keep = pd.Series(True, index=studies.index)
    if tumor_types:
        keep &= studies.tumor_type.isin(list(tumor_types))
    if partner_classes:
        keep &= studies.partner_class.isin(list(partner_classes))
    if lines:
        chosen = set(lines)
        keep &= studies["lines"].map(lambda ls: bool(chosen & set(ls)))
    return studies[keep]


def citation_links(doi: str | None, registry_id: str | None) -> list[tuple[str, str]]:
    """(text, url) for the paper's DOI and its trial registry record, where they exist."""
    links = []
    if doi:
        links.append((f"doi:{doi}", f"https://doi.org/{doi}"))
    if registry_id:
        links.append((registry_id, f"https://clinicaltrials.gov/study/{registry_id}"))
    return links


# ---------------------------------------------------------------------------------------------
# headline results


def headline_results(con: duckdb.DuckDBPyConnection, study_ids=None) -> pd.DataFrame:
    """Whole-arm headline results (ORR, DCR, median PFS, median OS, grade >=3 TRAE rate) of every
    arm of the given studies, one row per arm and endpoint.

    Columns: study_id, short_label, tumor_type, partner_class, arm_id, arm_label, is_control,
    endpoint, endpoint_label, kind (rate | median), n, events, estimate, ci_low, ci_high,
    ci_basis (CI_REPORTED | CI_COMPUTED | ''), not_reached, basis, source, flag, note,
    inconsistent (a reported CI that excludes its own estimate), text (formatted value with CI),
    markers. Fractions for rates, months for medians. An arm without a value for an endpoint has
    a row with basis 'not reported'.
    """
    ids = _ids(con, study_ids)
    arms = study_arms(con, ids)
    res = con.execute(
        """
        SELECT study_id, arm_id, endpoint, n, events, estimate, ci_low, ci_high, ci_level,
               not_reached, source, flag, note
        FROM reported_results
        WHERE subgroup IS NULL AND timepoint_months IS NULL AND contrast IS NULL
          AND ((endpoint IN ('ORR', 'DCR') AND statistic = 'proportion')
               OR (endpoint IN ('PFS', 'OS') AND statistic = 'median'))
          AND list_contains(?::VARCHAR[], study_id)
        ORDER BY study_id, arm_id, endpoint, source
        """,
        [ids],
    ).df()
    res = res.drop_duplicates(["study_id", "arm_id", "endpoint"], keep="first")
    tox = con.execute(
        """
        SELECT study_id, arm_id, 'G3TRAE' AS endpoint, denominator AS n, n AS events, percent,
               source, flag, note
        FROM ae_summary
        WHERE measure = 'grade3plus_trae' AND list_contains(?::VARCHAR[], study_id)
        """,
        [ids],
    ).df()
    rows = []
    for arm in arms.itertuples():
        for endpoint, (label, kind) in HEADLINE.items():
            base = dict(
                study_id=arm.study_id, short_label=arm.short_label, tumor_type=arm.tumor_type,
                partner_class=arm.partner_class, arm_id=arm.arm_id, arm_label=arm.label,
                is_control=bool(arm.is_control), arm_n=int(arm.n), endpoint=endpoint,
                endpoint_label=label, kind=kind,
            )
            src = tox if endpoint == "G3TRAE" else res
            hit = src[(src.study_id == arm.study_id) & (src.arm_id == arm.arm_id) & (src.endpoint == endpoint)]
            if hit.empty:
                rows.append({**base, **_empty_value()})
                continue
            r = hit.iloc[0]
            rows.append({**base, **(_tox_value(r) if endpoint == "G3TRAE" else _result_value(r, kind))})
    out = pd.DataFrame(rows, columns=_HEADLINE_COLUMNS)
    out["text"] = [
        _value_text(k, e, lo, hi, nr) if b == BASIS_REPORTED else "not reported"
        for k, e, lo, hi, nr, b in zip(out.kind, out.estimate, out.ci_low, out.ci_high, out.not_reached, out.basis)
    ]
    out["markers"] = [_markers(f, i) for f, i in zip(out.flag, out.inconsistent)]
    return out


_HEADLINE_COLUMNS = [
    "study_id", "short_label", "tumor_type", "partner_class", "arm_id", "arm_label", "is_control", "arm_n",
    "endpoint", "endpoint_label", "kind", "n", "events", "estimate", "ci_low", "ci_high", "ci_basis",
    "not_reached", "basis", "source", "flag", "note", "inconsistent",
]


def _empty_value() -> dict:
    return dict(
        n=None, events=None, estimate=None, ci_low=None, ci_high=None, ci_basis="", not_reached=None,
        basis="not reported", source="", flag=None, note="", inconsistent=False,
    )


def _nullable_int(x):
    return None if pd.isna(x) else int(x)


def _result_value(r, kind: str) -> dict:
    n, events = _nullable_int(r.n), _nullable_int(r.events)
    est, lo, hi = r.estimate, r.ci_low, r.ci_high
    has_ci = not (pd.isna(lo) and pd.isna(hi))
    ci_basis = CI_REPORTED if has_ci or (r.not_reached and "ci_high" in r.not_reached and not pd.isna(lo)) else ""
    if kind == "rate" and not has_ci and n and events is not None:
        ci = rates.proportion(events, n)
        lo, hi, ci_basis = ci.ci_low, ci.ci_high, CI_COMPUTED
    inconsistent = bool(has_ci and not pd.isna(est) and not (lo - 1e-9 <= est <= hi + 1e-9))
    note = r.note or ""
    if inconsistent:
        note = f"The paper's CI excludes its own estimate. {note}".strip()
    return dict(
        n=n, events=events, estimate=finite_or_none(est), ci_low=finite_or_none(lo), ci_high=finite_or_none(hi),
        ci_basis=ci_basis, not_reached=r.not_reached, basis=BASIS_REPORTED, source=r.source,
        flag=r.flag, note=note, inconsistent=inconsistent,
    )


def _tox_value(r) -> dict:
    """Grade >=3 TRAE rate: the printed count over the safety population, with a computed CI."""
    den, n = int(r.n), _nullable_int(r.events)
    note = r.note or ""
    if n is not None:
        ci = rates.proportion(n, den)
        est, lo, hi, ci_basis = n / den, ci.ci_low, ci.ci_high, CI_COMPUTED
        if not pd.isna(r.percent) and abs(r.percent - 100 * n / den) >= 0.1:
            note = f"Shown as {n}/{den}; the paper prints {fmt_number(r.percent, 1)}%. {note}".strip()
    else:
        est, lo, hi, ci_basis = float(r.percent) / 100, None, None, ""
    return dict(
        n=den, events=n, estimate=est, ci_low=lo, ci_high=hi, ci_basis=ci_basis, not_reached=None,
        basis=BASIS_REPORTED, source=r.source, flag=r.flag, note=note, inconsistent=False,
    )


# ---------------------------------------------------------------------------------------------
# user cohorts beside the published studies (comparison page)

ORIGIN_REPORTED = "reported"
ORIGIN_USER = "user"
BASIS_USER = "user data"
BASIS_NOT_AVAILABLE = "not available"
USER_LABEL_SUFFIX = " (user data)"
NOT_AVAILABLE_FOR_USER = "not available for user data"
USER_MEDIAN_CI = "95% CI of the median from the log-log pointwise band, as R survfit"
USER_MEDIAN_METHOD = f"Kaplan-Meier on the uploaded patient rows (engine.survival.kaplan_meier); {USER_MEDIAN_CI}"
USER_RATE_METHOD = "exact Clopper-Pearson (engine.rates.proportion) on the uploaded patient rows"
USER_RATE_DENOMINATOR = (
    "n = patients with a best response recorded (CR, PR, SD, PD or NE; NE counts as no response)"
)
USER_POOLING_NOTE = (
    "User cohorts are not offered for pooling: their rates are computed from uploaded patient rows, "
    "not reported under the papers' shared definition, and a pooled value must not mix the two."
)
_RESPONDERS = {"ORR": ("CR", "PR"), "DCR": ("CR", "PR", "SD")}


def compare_cohorts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The cohorts the comparison page offers: the published studies (in the overview's order),
    then the user cohorts by name. Columns: study_id, short_label, tumor_type, kind
    ('published' | 'user'), option_label (a user cohort's name + ' (user data)')."""
    published = study_table(con)[["study_id", "short_label", "tumor_type"]].assign(kind="published")
    users = queries.cohorts(con)
    users = users[users.kind == "user"].rename(columns={"label": "short_label"})
    users = users[["study_id", "short_label", "tumor_type", "kind"]].sort_values(["short_label", "study_id"])
    frames = [f for f in (published, users) if not f.empty] or [published]
    out = pd.concat(frames, ignore_index=True)
    out["option_label"] = [
        f"{lb}{USER_LABEL_SUFFIX}" if k == "user" else lb for lb, k in zip(out.short_label, out.kind)
    ]
    return out.reset_index(drop=True)


def _user_cohort_info(con: duckdb.DuckDBPyConnection, study_ids) -> pd.DataFrame:
    cohorts = queries.cohorts(con)
    cohorts = cohorts[(cohorts.kind == "user") & cohorts.study_id.isin(list(study_ids))]
    files = con.execute(
        "SELECT study_id, source_file FROM user_cohorts WHERE list_contains(?::VARCHAR[], study_id)",
        [list(study_ids)],
    ).df()
    return cohorts.merge(files, on="study_id", how="left").sort_values(["label", "study_id"])


def user_headline_results(con: duckdb.DuckDBPyConnection, study_ids=None) -> pd.DataFrame:
    """The headline endpoints of user cohorts, one row per arm and endpoint, with the columns of
    ``headline_results`` plus ``origin`` ('user').

    Computed from the stored patient rows (``origin = 'user'``): median PFS/OS by
    ``engine.survival.kaplan_meier`` on the patients with that time and event recorded (median and
    95% CI; 'not reached' when the curve stays above 0.5; the reason when not estimable); ORR and
    DCR by ``engine.rates.proportion`` (Clopper-Pearson) over the patients with a best response
    recorded. The grade >=3 TRAE rate cannot be computed from patient rows: ``basis`` 'not
    available'. ``study_ids=None`` means every user cohort; ids of published studies are ignored."""
    if study_ids is None:
        study_ids = [r[0] for r in con.execute("SELECT study_id FROM user_cohorts").fetchall()]
    info = _user_cohort_info(con, study_ids)
    ids = list(info.study_id)
    t_pfs, e_pfs = ENDPOINT_COLUMNS["PFS"]
    t_os, e_os = ENDPOINT_COLUMNS["OS"]
    rows_all = con.execute(
        f"""
        SELECT study_id, arm_id, best_response, "{t_pfs}" AS pfs_time, "{e_pfs}" AS pfs_event,
               "{t_os}" AS os_time, "{e_os}" AS os_event
        FROM patients
        WHERE origin = ? AND list_contains(?::VARCHAR[], study_id)
        ORDER BY study_id, arm_id, patient_id
        """,
        [ORIGIN_USER, ids],
    ).df()
    out = []
    for c in info.itertuples():
        rows = rows_all[rows_all.study_id == c.study_id]
        source = f"uploaded file {c.source_file}" if isinstance(c.source_file, str) and c.source_file else "uploaded data"
        for arm_id, arm in rows.groupby("arm_id", sort=True):
            for endpoint, (label, kind) in HEADLINE.items():
                base = dict(
                    study_id=c.study_id, short_label=c.label,
                    tumor_type=None if pd.isna(c.tumor_type) else c.tumor_type, partner_class=None,
                    arm_id=arm_id, arm_label=str(arm_id), is_control=False, arm_n=len(arm),
                    endpoint=endpoint, endpoint_label=label, kind=kind,
                )
                if endpoint in MEDIAN_ENDPOINTS:
                    value = _user_median(arm, endpoint.lower())
                elif endpoint in _RESPONDERS:
                    value = _user_rate(arm, endpoint)
                else:
                    value = _user_missing(NOT_AVAILABLE_FOR_USER,
                                          "The uploaded patient rows carry no adverse-event grades.")
                out.append({**base, **value, "source": source})
    columns = _HEADLINE_COLUMNS + ["text", "markers", "origin"]
    return pd.DataFrame(out, columns=columns)


def _user_value(**kw) -> dict:
    return dict(dict(
        n=None, events=None, estimate=None, ci_low=None, ci_high=None, ci_basis="", not_reached=None,
        basis=BASIS_USER, flag=None, note="", inconsistent=False, markers="", origin=ORIGIN_USER,
    ), **kw)


def _user_missing(text: str, note: str) -> dict:
    return _user_value(basis=BASIS_NOT_AVAILABLE, text=text, note=note)


def _user_median(arm: pd.DataFrame, prefix: str) -> dict:
    """Kaplan-Meier median of one arm's rows with the endpoint recorded."""
    endpoint = prefix.upper()
    have = arm[arm[f"{prefix}_time"].notna() & arm[f"{prefix}_event"].notna()]
    left_out = len(arm) - len(have)
    if have.empty:
        return _user_missing(f"{endpoint} not recorded", f"No patient of this arm has {endpoint} recorded.")
    km = kaplan_meier(have[f"{prefix}_time"].astype(float), have[f"{prefix}_event"].astype(int))
    note = f"{km.n} patients with {endpoint} recorded, {km.events} events."
    if left_out:
        note += f" {left_out} without {endpoint} time left out."
    if not km.estimable:
        return _user_value(n=km.n, events=km.events, text=km.reason, note=note)
    lo, hi = km.median_ci
    nr = [part for part, v in (("estimate", km.median), ("ci_high", hi)) if v is None]
    return _user_value(
        n=km.n, events=km.events, estimate=km.median, ci_low=lo, ci_high=hi, ci_basis=USER_MEDIAN_METHOD,
        not_reached=";".join(nr) or None, text=median_text(km.median, km.median_ci), note=note,
    )


def _user_rate(arm: pd.DataFrame, endpoint: str) -> dict:
    """ORR or DCR of one arm over the patients with a best response recorded."""
    recorded = arm.best_response.dropna()
    left_out = len(arm) - len(recorded)
    if recorded.empty:
        return _user_missing("no best response recorded", "No patient of this arm has a best response recorded.")
    x = int(recorded.isin(_RESPONDERS[endpoint]).sum())
    res = rates.proportion(x, len(recorded))
    note = USER_RATE_DENOMINATOR + "."
    if left_out:
        note += f" {left_out} without one left out."
    return _user_value(
        n=res.n, events=res.x, estimate=res.estimate, ci_low=res.ci_low, ci_high=res.ci_high,
        ci_basis=USER_RATE_METHOD, text=_value_text("rate", res.estimate, res.ci_low, res.ci_high, None),
        note=note,
    )


def compare_results(con: duckdb.DuckDBPyConnection, study_ids=None) -> pd.DataFrame:
    """What the comparison page draws: ``headline_results`` of the chosen published studies
    (``origin`` 'reported'), then ``user_headline_results`` of the chosen user cohorts (``origin``
    'user'), in that order. ``study_ids=None`` means every published study and user cohort."""
    cohorts = queries.cohorts(con)  # which ids are published and which are user cohorts; order comes from SQL
    ids = list(cohorts.study_id) if study_ids is None else list(study_ids)
    published = [s for s in ids if s in set(cohorts.study_id[cohorts.kind == "published"])]
    users = [s for s in ids if s in set(cohorts.study_id[cohorts.kind == "user"])]
    reported = headline_results(con, published).assign(origin=ORIGIN_REPORTED)
    user = user_headline_results(con, users)
    frames = [f for f in (reported, user) if not f.empty]
    if not frames:
        return reported
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# pooling of rates


@dataclass(frozen=True)
class PoolingCheck:
    """Whether a set of cohorts may be pooled for one rate, and why not."""

    ok: bool
    reasons: tuple[str, ...]
    cohorts: pd.DataFrame  # the rows that enter the pool


def rate_counts(con: duckdb.DuckDBPyConnection, endpoint: str, study_ids=None) -> pd.DataFrame:
    """Events and denominators of one headline rate for every experimental (non-control) arm, with
    whether the arm meets the shared definition (``meets_definition``) and why not (``why_not``).

    The shared definition requires the paper to print the count and the denominator to be the
    whole arm (all treated, or the whole safety population for toxicity)."""
    if endpoint not in RATE_ENDPOINTS:
        raise ValueError(f"not a rate endpoint: {endpoint}")
    df = headline_results(con, study_ids)
    df = df[(df.endpoint == endpoint) & (~df.is_control)].copy()
    why = []
    for r in df.itertuples():
        if r.basis != BASIS_REPORTED:
            why.append("not reported")
        elif r.events is None or pd.isna(r.events) or r.n is None or pd.isna(r.n):
            why.append("count or denominator not reported")
        elif endpoint != "G3TRAE" and int(r.n) != int(r.arm_n):
            why.append(f"denominator {int(r.n)} is not the whole arm ({int(r.arm_n)})")
        else:
            why.append("")
    df["why_not"] = why
    df["meets_definition"] = df.why_not == ""
    return df.reset_index(drop=True)


def pooling_check(counts: pd.DataFrame, study_ids) -> PoolingCheck:
    """Pooling is offered for a rate when at least two selected studies report it under the shared
    definition and all of them share one tumor type."""
    chosen = counts[counts.study_id.isin(list(study_ids))]
    usable = chosen[chosen.meets_definition]
    reasons = [f"{r.short_label}: {r.why_not}" for r in chosen[~chosen.meets_definition].itertuples()]
    ok = True
    if usable.study_id.nunique() < 2:
        ok = False
        reasons.append("pooling needs at least two studies reporting this rate under the same definition")
    if usable.tumor_type.nunique() > 1:
        ok = False
        reasons.append("the selection mixes tumor types (NSCLC and ESCC); pool within one tumor type")
    return PoolingCheck(ok, tuple(reasons), usable.reset_index(drop=True))


POOLING_METHODS = {
    "REML": "restricted maximum likelihood (REML)",
    "PM": "Paule-Mandel",
    "DL": "DerSimonian-Laird",
}
POOLING_CAVEAT = (
    "These are non-randomized cohorts of different populations, treated with different partner "
    "drugs and lines; a pooled rate summarizes what was reported, it is not an estimate of effect."
)


@dataclass(frozen=True)
class PooledRate:
    """A random-effects pooled rate (fractions) with its heterogeneity, ready to show."""

    endpoint: str
    study_ids: tuple[str, ...]
    labels: tuple[str, ...]
    k: int
    events: int
    n: int
    estimate: float
    ci_low: float
    ci_high: float
    pi_low: float | None
    pi_high: float | None
    pi_note: str
    i2: float
    tau2: float
    q: float
    q_p: float
    method: str
    method_text: str
    continuity_corrected: tuple[str, ...]

    @property
    def i2_text(self) -> str:
        return f"{self.i2:.0f}%"


def pool_rates(cohorts: pd.DataFrame, endpoint: str, method: str = "REML", level: float = 0.95) -> PooledRate:
    """Random-effects pooled proportion of the cohorts (events over n), pooled on the logit scale by
    ``engine.meta.pool_proportions`` (inverse variance, tau2 by ``method``, floored at 0)."""
    if method not in POOLING_METHODS:
        raise ValueError(f"method must be one of {tuple(POOLING_METHODS)}")
    res = meta.pool_proportions(
        [int(e) for e in cohorts.events], [int(n) for n in cohorts.n], method=method,
        conf_level=level, labels=list(cohorts.short_label),
    )
    if not res.estimable:
        raise ValueError(res.reason)
    corrected = tuple(res.studies.label[res.studies.corrected]) if "corrected" in res.studies else ()
    text = (
        f"Random-effects meta-analysis of proportions on the logit scale (inverse variance), "
        f"between-study variance τ² by {POOLING_METHODS[method]}, floored at 0; I² from Cochran's Q; "
        f"{int(level * 100)}% CI normal-based"
        + ("; prediction interval from a t distribution on k − 2 df." if res.pi_low is not None else ".")
        + (f" 0.5 added to the cells of {', '.join(corrected)} (0 or all events)." if corrected else "")
    )
    return PooledRate(
        endpoint=endpoint, study_ids=tuple(cohorts.study_id), labels=tuple(cohorts.short_label),
        k=res.k, events=int(sum(int(e) for e in cohorts.events)), n=int(sum(int(n) for n in cohorts.n)),
        estimate=res.estimate, ci_low=res.ci_low, ci_high=res.ci_high, pi_low=res.pi_low,
        pi_high=res.pi_high, pi_note=res.pi_note, i2=res.i2, tau2=res.tau2, q=res.q, q_p=res.q_p,
        method=method, method_text=text, continuity_corrected=corrected,
    )


# ---------------------------------------------------------------------------------------------
# adverse events


def ae_incidence(con: duckdb.DuckDBPyConnection, study_ids=None) -> pd.DataFrame:
    """Incidence of each harmonized AE term per arm, any grade and grade >=3, long format.

    One row per (arm, harmonized term, grade). When the paper lists several original terms that
    map to the same harmonized term, the highest of them is shown (patients may overlap, so the
    rows are never added) and ``terms`` lists every original term with its own figure. ``percent``
    is the printed percent where the paper prints one, else n over the denominator
    (``percent_basis``)."""
    ids = _ids(con, study_ids)
    raw = con.execute(
        """
        SELECT a.study_id, a.arm_id, s.short_label, r.label AS arm_label, r.is_control,
               a.term, a.term_harmonized, a.category, a.grade, a.n, a.percent, a.denominator,
               a.source, a.flag, a.note
        FROM adverse_events a
        JOIN studies s USING (study_id)
        JOIN arms r ON r.study_id = a.study_id AND r.arm_id = a.arm_id
        WHERE a.grade IN ('any', '>=3') AND list_contains(?::VARCHAR[], a.study_id)
        ORDER BY s.tumor_type DESC, s.year, a.study_id, r.is_control, a.arm_id, a.term_harmonized, a.term
        """,
        [ids],
    ).df()
    if raw.empty:
        return raw.assign(column="", percent_basis="", terms="", n_terms=0, markers="")
    raw["percent_basis"] = ["printed" if not pd.isna(p) else "n / denominator" for p in raw.percent]
    raw["percent"] = [
        p if not pd.isna(p) else (100 * n / d if not pd.isna(n) else float("nan"))
        for p, n, d in zip(raw.percent, raw.n, raw.denominator)
    ]
    raw["column"] = _column_labels(raw)
    raw["line"] = [
        f"{t}: {_count_text(n, p, d)}{FLAG_MARKERS.get(f or '', '')}" for t, n, p, d, f in
        zip(raw.term, raw.n, raw.percent, raw.denominator, raw.flag)
    ]
    keys = ["study_id", "arm_id", "term_harmonized", "grade"]
    raw = raw.sort_values(keys + ["percent"], ascending=[True] * 4 + [False], na_position="last")
    agg = raw.groupby(keys, sort=False).agg(
        terms=("line", " · ".join), n_terms=("term", "size"),
        notes=("note", lambda s: " | ".join(x for x in s if isinstance(x, str) and x)),
    ).reset_index()
    top = raw.drop_duplicates(keys, keep="first").drop(columns=["line", "note"])
    out = top.merge(agg, on=keys)
    out["markers"] = [FLAG_MARKERS.get(f or "", "") for f in out.flag]
    arm_order = {(a.study_id, a.arm_id): i for i, a in enumerate(study_arms(con, ids).itertuples())}
    out["arm_order"] = [arm_order[(s, a)] for s, a in zip(out.study_id, out.arm_id)]
    return out.sort_values(["arm_order", "term_harmonized", "grade"]).reset_index(drop=True)


def _column_labels(frame: pd.DataFrame) -> list[str]:
    """Column heading of each row's arm in AE views: study, the arm when the study has several
    arms in ``frame``, denominator."""
    multi = frame.groupby("study_id").arm_id.transform("nunique") > 1
    return [f"{s}: {a} (N={int(d)})" if m else f"{s} (N={int(d)})"
            for s, a, d, m in zip(frame.short_label, frame.arm_label, frame.denominator, multi)]


def _count_text(n, percent, denominator) -> str:
    if pd.isna(n):
        return f"{fmt_number(percent, 1)}% of {int(denominator)}"
    return f"{int(n)}/{int(denominator)} ({fmt_number(percent, 1)}%)"


def ae_matrix(incidence: pd.DataFrame, grade: str, columns=None, sort_by: str | None = None,
              cutoff: float = 0.0, include_other: bool = False) -> pd.DataFrame:
    """Harmonized terms x arm columns of incidence percent for one grade ('any' or '>=3').

    Rows keep the terms whose any-grade incidence (or grade >=3 when any grade is not printed)
    reaches ``cutoff`` percent in at least one shown column; ordered by ``sort_by`` (a column
    label, descending) or by the highest incidence across columns. NaN = not reported."""
    inc = incidence if include_other else incidence[incidence.term_harmonized != "Other"]
    if columns is not None:
        inc = inc[inc.column.isin(list(columns))]
    order = list(dict.fromkeys(inc.column)) if columns is None else [c for c in columns if c in set(inc.column)]
    wide_any = inc[inc.grade == "any"].pivot_table(index="term_harmonized", columns="column", values="percent", aggfunc="max")
    wide_g3 = inc[inc.grade == ">=3"].pivot_table(index="term_harmonized", columns="column", values="percent", aggfunc="max")
    terms = sorted(set(wide_any.index) | set(wide_g3.index))
    wide_any = wide_any.reindex(index=terms, columns=order)
    wide_g3 = wide_g3.reindex(index=terms, columns=order)
    screen = wide_any.combine_first(wide_g3)
    keep = screen.max(axis=1, skipna=True).fillna(-1) >= cutoff
    shown = wide_any if grade == "any" else wide_g3
    shown = shown[keep]
    screen = screen[keep]
    if sort_by and sort_by in shown.columns:
        key = shown[sort_by].fillna(-1)
        shown = shown.assign(_k=key, _m=screen.max(axis=1)).sort_values(["_k", "_m"], ascending=False).drop(columns=["_k", "_m"])
    else:
        shown = shown.assign(_m=screen.max(axis=1)).sort_values("_m", ascending=False).drop(columns="_m")
    return shown


def ae_totals(con: duckdb.DuckDBPyConnection, study_ids=None) -> pd.DataFrame:
    """Per-arm safety totals (any TRAE, grade >=3, serious AEs, dose reductions, interruptions,
    discontinuations, treatment-related deaths) as reported, long format with a display text."""
    df = con.execute(
        """
        SELECT a.study_id, a.arm_id, s.short_label, r.label AS arm_label, r.is_control, a.measure,
               a.n, a.percent, a.denominator, a.source, a.flag, a.note
        FROM ae_summary a
        JOIN studies s USING (study_id)
        JOIN arms r ON r.study_id = a.study_id AND r.arm_id = a.arm_id
        WHERE list_contains(?::VARCHAR[], a.study_id)
        ORDER BY s.tumor_type DESC, s.year, a.study_id, r.is_control, a.arm_id
        """,
        [_ids(con, study_ids)],
    ).df()
    df["measure_label"] = df.measure.map(AE_MEASURE_LABELS)
    df["text"] = [
        (f"{int(n)}/{int(d)}" if not pd.isna(n) else f"–/{int(d)}")
        + (f" ({fmt_number(p, 1)}%)" if not pd.isna(p) else "")
        + FLAG_MARKERS.get(f or "", "")
        for n, p, d, f in zip(df.n, df.percent, df.denominator, df.flag)
    ]
    df["column"] = _column_labels(df)
    return df


def ae_totals_wide(totals: pd.DataFrame) -> pd.DataFrame:
    """Arms (rows, with their denominators) x measures of display texts; 'not reported' where the
    paper gives nothing."""
    measures = [m for m in AE_MEASURE_LABELS if m in set(totals.measure)]
    arms = list(dict.fromkeys(totals.column))
    wide = totals.pivot_table(index="column", columns="measure", values="text", aggfunc="first")
    wide = wide.reindex(index=arms, columns=measures).fillna("not reported")
    wide.columns = [AE_MEASURE_LABELS[m] for m in wide.columns]
    wide.index.name = "Study arm (safety population)"
    return wide


# ---------------------------------------------------------------------------------------------
# data notes


def study_notes(con: duckdb.DuckDBPyConnection, study_ids=None, kinds=None) -> pd.DataFrame:
    kinds = list(kinds) if kinds is not None else list(NOTE_KIND_LABELS)
    df = con.execute(
        """
        SELECT n.study_id, s.short_label, n.kind, n.text, n.source
        FROM notes n JOIN studies s USING (study_id)
        WHERE list_contains(?::VARCHAR[], n.study_id) AND list_contains(?::VARCHAR[], n.kind)
        """,
        [_ids(con, study_ids), kinds],
    ).df()
    df["kind_label"] = df.kind.map(NOTE_KIND_LABELS)
    order = {k: i for i, k in enumerate(NOTE_KIND_LABELS)}
    return df.sort_values(["study_id", "kind"], key=lambda s: s.map(order) if s.name == "kind" else s).reset_index(drop=True)


def flagged_values(con: duckdb.DuckDBPyConnection, study_ids=None, flags=("ocr_corrected", "derived")) -> pd.DataFrame:
    """Every stored value the curators corrected (OCR) or derived, across the evidence tables:
    study_id, table, arm_id, item (what the value is), value, flag, note, source."""
    df = con.execute(
        """
        SELECT study_id, 'Results' AS "table", arm_id,
               endpoint || ' ' || statistic
                 || coalesce(' · ' || subgroup || '=' || level, '')
                 || coalesce(' · ' || CAST(timepoint_months AS VARCHAR) || ' mo', '') AS item,
               coalesce(CAST(estimate AS VARCHAR), not_reached, '') AS value, flag, note, source
        FROM reported_results WHERE flag IS NOT NULL
        UNION ALL
        SELECT study_id, 'Best response', arm_id,
               category || coalesce(' · ' || subgroup || '=' || level, ''),
               CAST(n AS VARCHAR) || '/' || CAST(denominator AS VARCHAR), flag, note, source
        FROM best_response WHERE flag IS NOT NULL
        UNION ALL
        SELECT study_id, 'Baseline', arm_id, characteristic || ' = ' || level,
               coalesce(CAST(n AS VARCHAR), CAST(value AS VARCHAR), ''), flag, note, source
        FROM baseline WHERE flag IS NOT NULL
        UNION ALL
        SELECT study_id, 'Adverse events', arm_id, term || ' (grade ' || grade || ')',
               coalesce(CAST(n AS VARCHAR), '') || '/' || CAST(denominator AS VARCHAR), flag, note, source
        FROM adverse_events WHERE flag IS NOT NULL
        UNION ALL
        SELECT study_id, 'Safety totals', arm_id, measure,
               coalesce(CAST(n AS VARCHAR), '') || '/' || CAST(denominator AS VARCHAR), flag, note, source
        FROM ae_summary WHERE flag IS NOT NULL
        """
    ).df()
    ids = set(_ids(con, study_ids))
    df = df[df.study_id.isin(ids) & df.flag.isin(list(flags))]
    return df.sort_values(["study_id", "flag", "table", "item"], ascending=[True, False, True, True]).reset_index(drop=True)


def trust_summary(con: duckdb.DuckDBPyConnection, study_ids=None) -> pd.DataFrame:
    """Per study: values corrected for OCR damage, values derived, contradictions and assumptions
    noted, and fidelity checks holding (None when no reconstruction is built)."""
    ids = _ids(con, study_ids)
    studies = study_table(con, ids)[["study_id", "short_label"]]
    flagged = flagged_values(con, ids)
    notes = study_notes(con, ids)
    fid = fidelity(con, ids)
    out = studies.assign(
        ocr_corrected=[int(((flagged.study_id == s) & (flagged.flag == "ocr_corrected")).sum()) for s in studies.study_id],
        derived=[int(((flagged.study_id == s) & (flagged.flag == "derived")).sum()) for s in studies.study_id],
        contradictions=[int(((notes.study_id == s) & (notes.kind == "contradiction")).sum()) for s in studies.study_id],
        assumptions=[int(((notes.study_id == s) & (notes.kind == "assumption")).sum()) for s in studies.study_id],
    )
    if fid is None:
        out["fidelity"] = None
    else:
        out["fidelity"] = [
            f"{int(((fid.study_id == s) & (fid.status == 'holds')).sum())}/{int((fid.study_id == s).sum())}"
            if (fid.study_id == s).any() else "no reconstruction" for s in studies.study_id
        ]
    return out.reset_index(drop=True)


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchone()[0]
    )


def fidelity(con: duckdb.DuckDBPyConnection, study_ids=None) -> pd.DataFrame | None:
    """Reconstruction fidelity rows (reported vs rebuilt values) of the given studies, or None when
    no reconstruction has been built into this database."""
    if not has_table(con, "reconstruction_fidelity"):
        return None
    cols = ", ".join(f'"{c.name}"' for c in FIDELITY_COLUMNS)
    return con.execute(
        f"""
        SELECT {cols} FROM reconstruction_fidelity
        WHERE list_contains(?::VARCHAR[], study_id)
        ORDER BY study_id, arm_id, endpoint, statistic, subgroup NULLS FIRST, level, timepoint_months
        """,
        [_ids(con, study_ids)],
    ).df()
