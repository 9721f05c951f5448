"""engine.survival against R (survival 3.5) reference values in tests/fixtures/r_survival.json.

The fixture is written by tests/r/make_fixtures.R (see its header to regenerate); the data
sets are stored in it, so these tests need no R. Tolerance 1e-6 (absolute), medians exact,
None where R gives NA. A last block cross-checks the log-rank and Cox results with lifelines.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.survival import (
    CONF_TYPES,
    counts_from_arrays,
    cox_hr,
    cox_hr_from_counts,
    kaplan_meier,
    kaplan_meier_from_counts,
    logrank,
    logrank_from_counts,
)

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "r_survival.json").read_text())
DATASETS = FIXTURE["datasets"]
R = FIXTURE["survival"]
TOL = 1e-6
COLUMNS = ["time", "n_risk", "n_event", "n_censor", "surv", "std_err", "lower", "upper"]


def as_array(values) -> np.ndarray:
    if not isinstance(values, list):
        values = [values]
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def assert_close(ours, theirs, what: str) -> None:
    a, b = as_array(list(ours)), as_array(theirs)
    assert a.shape == b.shape, f"{what}: {a.shape} rows vs R {b.shape}"
    assert np.array_equal(np.isnan(a), np.isnan(b)), f"{what}: NA pattern {a} vs R {b}"
    ok = ~np.isnan(a)
    if ok.any():
        assert np.max(np.abs(a[ok] - b[ok])) < TOL, f"{what}: {a} vs R {b}"


def curves():
    """(id, time, status, R results) for every single curve: whole data set and each group."""
    for name, ds in DATASETS.items():
        yield f"{name}", np.array(ds["time"]), np.array(ds["status"]), R[name]["km"], ds
        if "group" in ds:
            g = np.array(ds["group"])
            for lv, res in R[name]["km_by_group"].items():
                m = g == lv
                yield f"{name}[{lv}]", np.array(ds["time"])[m], np.array(ds["status"])[m], res, ds


CURVES = list(curves())
CASES = [pytest.param(c, ct, id=f"{c[0]}-{ct}") for c in CURVES for ct in CONF_TYPES]


@pytest.mark.parametrize("case,conf_type", CASES)
def test_km_table_matches_r(case, conf_type):
    _, time, status, res, _ = case
    km = kaplan_meier(time, status, conf_type=conf_type)
    assert km.estimable and km.reason == ""
    for col in COLUMNS:
        assert_close(km.table[col], res[conf_type]["table"][col], col)


@pytest.mark.parametrize("case,conf_type", CASES)
def test_km_median_and_ci_match_r_exactly(case, conf_type):
    _, time, status, res, _ = case
    km = kaplan_meier(time, status, conf_type=conf_type)
    r = res[conf_type]
    assert km.median == r["median"]
    assert km.median_ci == (r["median_lower"], r["median_upper"])


@pytest.mark.parametrize("case,conf_type", CASES)
@pytest.mark.parametrize("extend", [False, True])
def test_km_summary_at_times_matches_r(case, conf_type, extend):
    _, time, status, res, ds = case
    km = kaplan_meier(time, status, conf_type=conf_type)
    r = res[conf_type]["at_extend" if extend else "at"]
    got = km.summary_at(ds["times"], extend=extend)
    for col in COLUMNS:
        assert_close(got[col], r[col], col)
    for i, t in enumerate(as_array(r["time"])):
        est, lo, hi = km.survival_at(t, extend=extend)
        expected = [as_array(r[c])[i] for c in ("surv", "lower", "upper")]
        for ours, theirs in zip((est, lo, hi), expected):
            assert (ours is None) == math.isnan(theirs)
            if ours is not None:
                assert abs(ours - theirs) < TOL


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0]) for c in CURVES])
def test_km_conf_level_90(case):
    _, time, status, res, _ = case
    km = kaplan_meier(time, status, conf_level=0.90)
    r = res["log-log-90"]
    assert_close(km.table["lower"], r["lower"], "lower")
    assert_close(km.table["upper"], r["upper"], "upper")
    assert km.median_ci == (r["median_lower"], r["median_upper"])


def test_named_r_cases():
    """The edge cases spelled out: R's midpoint rule, not reached, lung."""
    half = kaplan_meier([1, 2, 3, 4], [1, 1, 1, 1])
    assert half.median == 2.5  # lifelines would say 2.0
    half_end = kaplan_meier([1, 2, 3, 4], [1, 1, 0, 0])
    assert half_end.median == 3.0  # midpoint of 2 and the last follow-up time 4
    nr = R["median_not_reached"]["km"]["log-log"]
    assert nr["median"] is None
    ds = DATASETS["median_not_reached"]
    assert kaplan_meier(ds["time"], ds["status"]).median is None
    up = DATASETS["upper_ci_not_reached"]
    km = kaplan_meier(up["time"], up["status"])
    assert km.median == 6.905 and km.median_ci == (2.1, None)
    lung = DATASETS["lung_sex"]
    km = kaplan_meier(lung["time"], lung["status"])
    assert (km.median, km.median_ci) == (310.0, (284.0, 361.0))


def test_km_from_counts_equals_arrays():
    ds = DATASETS["lung_sex"]
    counts = counts_from_arrays(ds["time"], ds["status"])
    shuffled = pd.concat([counts.iloc[::-1], counts.iloc[:5]]).reset_index(drop=True)
    shuffled.loc[len(counts):, ["n_event", "n_censor"]] = 0  # duplicate empty rows
    a = kaplan_meier(ds["time"], ds["status"])
    b = kaplan_meier_from_counts(shuffled)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert (a.median, a.median_ci) == (b.median, b.median_ci)


def test_curve_is_plot_ready():
    km = kaplan_meier([1, 2, 3, 4], [1, 1, 1, 1], conf_type="log-log")
    assert np.isnan(km.table["lower"].iloc[-1])  # R: NA where S = 0
    cv = km.curve()
    assert cv["time"].iloc[0] == 0 and cv["surv"].iloc[0] == 1
    assert not cv.isna().any().any()
    assert cv["lower"].iloc[-1] == 0 and cv["upper"].iloc[-1] == pytest.approx(0.6653253, abs=1e-7)
    early = kaplan_meier([1, 1, 2, 3], [0, 0, 1, 1]).curve()
    assert early["lower"].iloc[1] == 1 and early["upper"].iloc[1] == 1


# ------------------------------------------------------------------ log-rank and Cox
GROUPED = [name for name in DATASETS if "logrank" in R[name]]
TWO_GROUP = [name for name in DATASETS if "cox" in R[name]]


@pytest.mark.parametrize("name", GROUPED)
def test_logrank_matches_survdiff(name):
    ds, r = DATASETS[name], R[name]["logrank"]
    lr = logrank(ds["time"], ds["status"], ds["group"])
    assert lr.estimable
    assert list(lr.levels) == r["levels"]
    assert abs(lr.chisq - r["chisq"]) < TOL
    assert lr.df == r["df"]
    assert abs(lr.p - r["p"]) < TOL
    assert_close(list(lr.observed.values()), r["observed"], "observed")
    assert_close(list(lr.expected.values()), r["expected"], "expected")


@pytest.mark.parametrize("name", TWO_GROUP)
def test_cox_matches_coxph_efron(name):
    ds, r = DATASETS[name], R[name]["cox"]
    cx = cox_hr(ds["time"], ds["status"], ds["group"], reference=r["reference"])
    assert cx.estimable and cx.method == "Efron"
    assert cx.comparison == r["comparison"]
    for key in ("hr", "ci_low", "ci_high", "p", "beta", "se", "lr_p", "score_p"):
        assert abs(getattr(cx, key) - r[key]) < TOL, key
    for key in ("loglik", "loglik_null"):
        assert abs(getattr(cx, key) - r[key]) < TOL * max(1.0, abs(r[key])), key
    swapped = cox_hr(ds["time"], ds["status"], ds["group"], reference=r["comparison"])
    assert abs(swapped.hr - R[name]["cox_swapped"]["hr"]) < TOL


def test_lung_known_values():
    ds = DATASETS["lung_sex"]
    cx = cox_hr(ds["time"], ds["status"], ds["group"], reference="male")
    assert cx.hr == pytest.approx(0.5880028, abs=1e-6)  # the textbook coxph(~sex) value
    assert logrank(ds["time"], ds["status"], ds["group"]).chisq == pytest.approx(10.3267, abs=1e-4)


def test_counts_variants_equal_array_variants():
    ds = DATASETS["heavy_ties"]  # > 16 ties per time: closed-form Efron sums
    counts = counts_from_arrays(ds["time"], ds["status"], ds["group"])
    a = cox_hr(ds["time"], ds["status"], ds["group"], "control")
    b = cox_hr_from_counts(counts, "control")
    assert (a.hr, a.ci_low, a.ci_high, a.p, a.loglik) == (b.hr, b.ci_low, b.ci_high, b.p, b.loglik)
    la = logrank(ds["time"], ds["status"], ds["group"])
    lb = logrank_from_counts(counts)
    assert (la.chisq, la.p) == (lb.chisq, lb.p)


# ------------------------------------------------------------------ degenerate input
def reason_of(result) -> str:
    assert result.estimable is False
    assert result.reason.startswith("not estimable: ")
    return result.reason


@pytest.mark.parametrize("time,event,fragment", [
    ([], [], "no patients"),
    ([5.0], [1], "only 1 patient"),
    ([1, 2, 3], [0, 0, 0], "no events"),
    ([1, np.nan, 3], [1, 1, 0], "missing (NaN) time"),
])
def test_km_degenerate(time, event, fragment):
    km = kaplan_meier(time, event)
    assert fragment in reason_of(km)
    assert km.median is None and km.median_ci == (None, None)
    assert km.table.empty and km.curve().empty
    assert km.survival_at(1.0) == (None, None, None)


def test_logrank_and_cox_degenerate():
    t, e = [1, 2, 3, 4, 5, 6], [1, 0, 1, 1, 0, 1]
    assert "at least 2 groups" in reason_of(logrank(t, e, ["a"] * 6))
    assert "no events" in reason_of(logrank(t, [0] * 6, ["a", "b"] * 3))
    assert "no patients in group 'c'" in reason_of(logrank(t, e, ["a", "b"] * 3, levels=["a", "b", "c"]))
    assert "no patients" in reason_of(logrank([], [], []))
    # all events in one group: the log-rank test exists, the HR does not
    g = ["no", "no", "no", "yes", "yes", "yes"]
    ev = [1, 1, 1, 0, 0, 0]
    assert logrank(t, ev, g).estimable
    assert reason_of(cox_hr(t, ev, g, reference="no")) == "not estimable: no events in group 'yes'"
    only_no = cox_hr(t[:3], ev[:3], g[:3], reference="no", comparison="yes")
    assert reason_of(only_no) == "not estimable: no patients in group 'yes'"
    assert "only group 'no' has patients" in reason_of(cox_hr(t[:3], ev[:3], g[:3], reference="no"))
    assert reason_of(cox_hr([], [], [], reference="no")) == "not estimable: no patients"
    assert "no patients in group 'no'" in reason_of(cox_hr(t[3:], e[3:], g[3:], reference="no"))
    # every 'yes' event happens after the last 'no' patient left: the HR estimate goes to 0
    mono = cox_hr([1, 2, 3, 4, 5, 6], [0, 1, 0, 1, 1, 0], ["no", "no", "yes", "yes", "yes", "yes"],
                  reference="no")
    assert "infinite" in reason_of(mono)
    assert "missing (NaN) time" in reason_of(cox_hr([1, np.nan, 3, 4], [1, 1, 1, 1], ["a", "b"] * 2, "a"))
    assert "missing (NaN) time" in reason_of(logrank([1, np.nan, 3, 4], [1, 1, 1, 1], ["a", "b"] * 2))


def test_cox_monotone_likelihood():
    # group 'b' events all occur when no 'a' patient is at risk -> HR infinite
    t = [1, 2, 3, 4, 5, 6]
    e = [1, 1, 1, 1, 1, 1]
    g = ["a", "a", "a", "b", "b", "b"]
    res = cox_hr(t, e, g, reference="a")
    assert "infinite" in reason_of(res)
    assert res.hr is None and res.ci_low is None and res.p is None


def test_missing_groups_are_left_out_and_counted():
    t = [1, 2, 3, 4, 5, 6, 7]
    e = [1, 0, 1, 1, 0, 1, 1]
    g = ["a", "b", None, "a", "b", "a", "b"]
    lr = logrank(t, e, g)
    assert lr.n_missing_group == 1 and list(lr.levels) == ["a", "b"]
    ref = logrank([1, 2, 4, 5, 6, 7], [1, 0, 1, 0, 1, 1], ["a", "b", "a", "b", "a", "b"])
    assert lr.chisq == pytest.approx(ref.chisq, abs=1e-12)


@pytest.mark.parametrize("time,event,message", [
    ([1, -2, 3], [1, 0, 1], "time must be finite and >= 0"),
    ([1, 2, 3], [1, 2, 0], "event must be 0 (censored) or 1 (event)"),
    ([1, 2, 3], [1, np.nan, 0], "event must be 0 (censored) or 1 (event)"),
    ([1, 2], [1, 0, 1], "differ in length"),
])
def test_validation_errors(time, event, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        kaplan_meier(time, event)


def test_other_validation_errors():
    with pytest.raises(ValueError, match="conf_type"):
        kaplan_meier([1, 2], [1, 1], conf_type="logit")
    with pytest.raises(ValueError, match="two-level"):
        cox_hr([1, 2, 3], [1, 1, 1], ["a", "b", "c"], reference="a")
    with pytest.raises(ValueError, match="n_event"):
        kaplan_meier_from_counts(pd.DataFrame({"time": [1.0], "n_event": [-1], "n_censor": [0]}))
    # booleans are accepted as events
    assert kaplan_meier([1, 2, 3], [True, False, True]).events == 2


# ------------------------------------------------------------------ lifelines cross-check
def test_cross_check_with_lifelines():
    from lifelines import CoxPHFitter, KaplanMeierFitter
    from lifelines.statistics import logrank_test, multivariate_logrank_test

    rng = np.random.default_rng(42)
    n = 500
    g = rng.integers(0, 2, n)
    t = np.round(rng.exponential(np.where(g == 1, 14, 10)), 1) + 0.1
    c = np.round(rng.uniform(0, 30, n), 1) + 0.1
    time, event = np.minimum(t, c), (t <= c).astype(int)
    labels = np.where(g == 1, "yes", "no")

    ours = cox_hr(time, event, labels, reference="no")
    df = pd.DataFrame({"time": time, "event": event, "x": g})
    cph = CoxPHFitter().fit(df, "time", "event", fit_options={"precision": 1e-12})
    assert ours.hr == pytest.approx(float(cph.hazard_ratios_["x"]), abs=1e-6)
    ci = np.exp(cph.confidence_intervals_.loc["x"].to_numpy())
    assert (ours.ci_low, ours.ci_high) == pytest.approx(tuple(ci), abs=1e-6)
    assert ours.p == pytest.approx(float(cph.summary.loc["x", "p"]), abs=1e-6)
    assert ours.loglik == pytest.approx(cph.log_likelihood_, abs=1e-6)

    ours_lr = logrank(time, event, labels)
    theirs = logrank_test(time[g == 0], time[g == 1], event[g == 0], event[g == 1])
    assert ours_lr.chisq == pytest.approx(theirs.test_statistic, abs=1e-6)
    assert ours_lr.p == pytest.approx(theirs.p_value, abs=1e-6)

    g3 = rng.integers(0, 3, n)
    ours3 = logrank(time, event, g3)
    theirs3 = multivariate_logrank_test(time, g3, event)
    assert ours3.chisq == pytest.approx(theirs3.test_statistic, abs=1e-6)
    assert ours3.df == 2

    km = kaplan_meier(time[g == 1], event[g == 1])  # log-log == lifelines' default CI
    kmf = KaplanMeierFitter().fit(time[g == 1], event[g == 1])
    sf = kmf.survival_function_.iloc[:, 0].reindex(km.table["time"]).to_numpy()
    ci = kmf.confidence_interval_.reindex(km.table["time"]).to_numpy()
    assert np.max(np.abs(sf - km.table["surv"].to_numpy())) < 1e-10
    assert np.nanmax(np.abs(ci[:, 0] - km.table["lower"].to_numpy())) < 1e-8
    assert np.nanmax(np.abs(ci[:, 1] - km.table["upper"].to_numpy())) < 1e-8


def test_efron_closed_form_equals_term_by_term(monkeypatch):
    """Above EFRON_EXPAND_MAX ties the Efron sums use log-gamma/polygamma closed forms; with a
    small group (1%) and ~60 ties per time they must equal the term-by-term sums."""
    import engine.survival as survival

    rng = np.random.default_rng(5)
    n = 20_000
    g = (rng.random(n) < 0.01).astype(int)
    t = np.ceil(rng.exponential(np.where(g == 1, 8, 10)) / 0.1) * 0.1
    c = np.ceil(rng.uniform(0, 30, n) / 0.1) * 0.1
    time, event = np.minimum(t, c), (t <= c).astype(int)
    closed = cox_hr(time, event, g, reference=0)
    monkeypatch.setattr(survival, "EFRON_EXPAND_MAX", 10**9)
    exact = cox_hr(time, event, g, reference=0)
    assert closed.hr == pytest.approx(exact.hr, rel=1e-12)
    assert closed.se == pytest.approx(exact.se, rel=1e-12)
    assert closed.loglik == pytest.approx(exact.loglik, rel=1e-12)
    # R 4.2 / survival 3.5-3 on these data, coxph(ties = "efron",
    # control = coxph.control(eps = 1e-14)): HR 1.3125814147022. With R's default eps = 1e-9
    # (a relative change of a log-likelihood of -124316) R stops one step early at
    # 1.31258179024173, 4e-7 away; the fixtures' smaller data sets agree to < 1e-8.
    assert closed.hr == pytest.approx(1.3125814147022, abs=1e-12)
    assert closed.loglik == pytest.approx(-124316.315809847, abs=1e-6)
