"""engine.aggregate: the DuckDB fast path gives the same numbers as the array path and R."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from engine.aggregate import counts_by_time, subgroup_recompute
from engine.survival import counts_from_arrays, cox_hr, kaplan_meier, logrank

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "r_survival.json").read_text())
LUNG = FIXTURE["datasets"]["lung_sex"]
R_LUNG = FIXTURE["survival"]["lung_sex"]


@pytest.fixture()
def con():
    connection = duckdb.connect()
    n = len(LUNG["time"])
    patients = pd.DataFrame({
        "pfs_months": LUNG["time"], "progressed": LUNG["status"], "sex": LUNG["group"],
        "site": np.where(np.arange(n) % 3 == 0, "A", "B")})
    connection.register("patients_df", patients)
    connection.execute("CREATE TABLE patients AS SELECT * FROM patients_df")
    yield connection
    connection.close()


def test_counts_match_array_aggregation(con):
    got = counts_by_time(con, "SELECT * FROM patients", [], "pfs_months", "progressed", "sex")
    want = counts_from_arrays(LUNG["time"], LUNG["status"], LUNG["group"])
    assert list(got.columns) == ["group", "time", "n_event", "n_censor"]
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    ungrouped = counts_by_time(con, "SELECT * FROM patients", None, "pfs_months", "progressed")
    assert list(ungrouped.columns) == ["time", "n_event", "n_censor"]
    assert int(ungrouped["n_event"].sum()) == int(np.sum(LUNG["status"])) == 165


def test_subgroup_recompute_matches_r(con):
    res = subgroup_recompute(con, "SELECT * FROM patients WHERE site IN (?, ?)", ["A", "B"],
                             "pfs_months", "progressed", "sex", reference="female")
    assert res.levels == ("female", "male") and res.n == 228
    for level in res.levels:
        r = R_LUNG["km_by_group"][level]["log-log"]
        km = res.km[level]
        assert km.median == r["median"]
        assert km.median_ci == (r["median_lower"], r["median_upper"])
        np.testing.assert_allclose(km.table["surv"], r["table"]["surv"], atol=1e-6)
    assert res.logrank.chisq == pytest.approx(R_LUNG["logrank"]["chisq"], abs=1e-6)
    assert res.logrank.p == pytest.approx(R_LUNG["logrank"]["p"], abs=1e-6)
    assert res.cox.reference == "female" and res.cox.comparison == "male"
    for key in ("hr", "ci_low", "ci_high", "p", "loglik"):
        assert getattr(res.cox, key) == pytest.approx(R_LUNG["cox"][key], abs=1e-6)


def test_filtered_subgroup_equals_array_path(con):
    res = subgroup_recompute(con, "SELECT * FROM patients WHERE site = ?", ["A"],
                             "pfs_months", "progressed", "sex", reference="male")
    keep = np.arange(len(LUNG["time"])) % 3 == 0
    t, e, g = (np.array(LUNG[k])[keep] for k in ("time", "status", "group"))
    for level in ("female", "male"):
        km = kaplan_meier(t[g == level], e[g == level])
        pd.testing.assert_frame_equal(res.km[level].table, km.table)
        assert (res.km[level].median, res.km[level].median_ci) == (km.median, km.median_ci)
    lr = logrank(t, e, g)
    assert (res.logrank.chisq, res.logrank.p) == (lr.chisq, lr.p)
    cx = cox_hr(t, e, g, reference="male")
    assert (res.cox.hr, res.cox.ci_low, res.cox.ci_high, res.cox.p) == (cx.hr, cx.ci_low, cx.ci_high, cx.p)


def test_user_values_are_parameters_not_sql(con):
    res = subgroup_recompute(con, "SELECT * FROM patients WHERE site = ?", ["A' OR '1'='1"],
                             "pfs_months", "progressed", "sex")
    assert res.n == 0 and res.km == {}
    assert res.logrank.reason == "not estimable: no patients"
    assert res.cox.estimable is False


def test_degenerate_subgroups(con):
    one = subgroup_recompute(con, "SELECT * FROM patients WHERE sex = ?", ["male"],
                             "pfs_months", "progressed", "sex")
    assert one.levels == ("male",) and one.km["male"].estimable
    assert "only 'male'" in one.logrank.reason
    assert one.cox.reason == "not estimable: a hazard ratio needs exactly 2 groups (got 1)"
    fixed = subgroup_recompute(con, "SELECT * FROM patients WHERE sex = ?", ["male"],
                               "pfs_months", "progressed", "sex", levels=["female", "male"])
    assert fixed.km["female"].reason == "not estimable: no patients"
    assert fixed.cox.reason == "not estimable: no patients in group 'female'"
    censored = subgroup_recompute(con, "SELECT * FROM patients WHERE progressed = ?", [0],
                                  "pfs_months", "progressed", "sex")
    assert censored.logrank.reason == "not estimable: no events"
    assert censored.km["male"].reason.startswith("not estimable: no events")


def test_nulls_and_invalid_events():
    con = duckdb.connect()
    con.execute("CREATE TABLE p (t DOUBLE, e INTEGER, g VARCHAR, ok BOOLEAN)")
    con.execute("INSERT INTO p VALUES (1, 1, 'a', true), (2, 0, 'b', true), (3, 1, NULL, true),"
                " (4, 1, 'a', true), (5, 1, 'b', true), (NULL, 1, 'a', false), (6, 2, 'b', false),"
                " (7, NULL, 'a', false)")
    res = subgroup_recompute(con, "SELECT * FROM p WHERE ok = ?", [True], "t", "e", "g")
    assert res.n_missing_group == 1 and res.levels == ("a", "b")
    assert res.logrank.n_missing_group == 1
    with_nan = subgroup_recompute(con, "SELECT * FROM p WHERE t IS NULL OR ok = ?", [True],
                                  "t", "e", "g")
    assert with_nan.km["a"].reason == "not estimable: 1 patient(s) with missing (NaN) time"
    assert with_nan.cox.estimable is False
    with pytest.raises(ValueError, match="event must be 0"):
        counts_by_time(con, "SELECT * FROM p", [], "t", "e", "g")
    con.execute("CREATE TABLE q AS SELECT t, e = 1 AS died FROM p WHERE ok")
    counts = counts_by_time(con, "SELECT * FROM q", [], "t", "died")
    assert counts["n_event"].tolist() == [1, 0, 1, 1, 1]
