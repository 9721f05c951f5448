"""engine.meta against R metafor 3.8 (rma with method DL / REML / PM; escalc PLO for
proportions), values in tests/fixtures/r_survival.json from tests/r/make_fixtures.R.
The prediction interval is checked against R's qt()-based hand computation on metafor's
estimates (t on k - 2 df, as R meta); DerSimonian-Laird is also cross-checked against
statsmodels' combine_effects, and a two-study example against a hand computation here."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from engine.meta import pool_hazard_ratios, pool_proportions, random_effects

META = json.loads((Path(__file__).parent / "fixtures" / "r_survival.json").read_text())["meta"]
TOL = 1e-6
CASES = [pytest.param(name, method, id=f"{name}-{method}")
         for name in META for method in ("DL", "REML", "PM")]


def expit(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def run(name: str, method: str):
    m = META[name]
    if m["kind"] == "proportion":
        return pool_proportions(m["events"], m["n"], method=method), expit
    return pool_hazard_ratios(m["hr"], m["ci_low"], m["ci_high"], method=method), math.exp


@pytest.mark.parametrize("name,method", CASES)
def test_matches_metafor(name, method):
    res, back = run(name, method)
    r = META[name][method]
    assert res.estimable and res.method == method
    np.testing.assert_allclose(res.studies["yi"], META[name]["yi"], atol=1e-12)
    np.testing.assert_allclose(res.studies["vi"], META[name]["vi"], atol=1e-12)
    assert res.mu == pytest.approx(r["mu"], abs=TOL)
    assert res.se == pytest.approx(r["se"], abs=TOL)
    assert res.tau2 == pytest.approx(r["tau2"], abs=TOL)
    assert res.q == pytest.approx(r["Q"], abs=TOL)
    assert res.df == r["df"]
    assert res.q_p == pytest.approx(r["Q_p"], abs=TOL)
    assert res.i2 == pytest.approx(r["I2_higgins"], abs=TOL)
    assert res.estimate == pytest.approx(back(r["mu"]), abs=TOL)
    assert res.ci_low == pytest.approx(back(r["ci_low"]), abs=TOL)
    assert res.ci_high == pytest.approx(back(r["ci_high"]), abs=TOL)
    np.testing.assert_allclose(res.studies["weight"], r["weights"], atol=TOL)
    if r["pi_low"] is None:
        assert res.pi_low is None and res.pi_high is None
        assert res.pi_note == "prediction interval not defined for fewer than 3 studies"
    else:
        assert res.pi_low == pytest.approx(back(r["pi_low"]), abs=TOL)
        assert res.pi_high == pytest.approx(back(r["pi_high"]), abs=TOL)


def test_tau2_and_i2_floored_at_zero():
    res, _ = run("prop_homogeneous", "DL")
    assert res.tau2 == 0.0 and res.i2 == 0.0
    assert META["prop_homogeneous"]["DL"]["Q"] < 3  # Q < df: unfloored I2 would be negative


def test_continuity_correction_only_for_zero_or_all_events():
    res = pool_proportions([0, 5, 10], [10, 10, 10])
    assert res.studies["corrected"].tolist() == [True, False, True]
    assert res.studies["yi"].iloc[0] == pytest.approx(math.log(0.5 / 10.5))
    assert res.studies["vi"].iloc[0] == pytest.approx(1 / 0.5 + 1 / 10.5)
    assert res.studies["ci_low"].iloc[0] == 0.0  # per-study CI is Clopper-Pearson


def test_dl_against_statsmodels():
    from statsmodels.stats.meta_analysis import combine_effects

    m = META["hr_hetero"]
    sm = combine_effects(np.array(m["yi"]), np.array(m["vi"]), method_re="dl")
    res = pool_hazard_ratios(m["hr"], m["ci_low"], m["ci_high"], method="DL")
    assert res.tau2 == pytest.approx(sm.tau2, abs=1e-10)
    assert res.mu == pytest.approx(sm.mean_effect_re, abs=1e-10)
    assert res.se == pytest.approx(sm.sd_eff_w_re, abs=1e-10)
    assert res.q == pytest.approx(sm.q, abs=1e-10)


def test_two_studies_by_hand():
    # y = (0, 1), v = (0.1, 0.1): Q = 5, DL tau2 = (5 - 1) / (20 - 10) = 0.4
    res = random_effects([0.0, 1.0], [0.1, 0.1], method="DL")
    assert res.q == pytest.approx(5.0) and res.tau2 == pytest.approx(0.4)
    assert res.mu == pytest.approx(0.5) and res.se == pytest.approx(math.sqrt(0.5 / 2))
    assert res.i2 == pytest.approx(80.0)
    assert res.pi_low is None


def test_not_estimable_and_exclusions():
    one = pool_hazard_ratios([0.7], [0.5], [0.9])
    assert one.estimable is False
    assert one.reason == "not estimable: pooling needs at least 2 studies (got 1)"
    res = pool_hazard_ratios([0.7, 0.8, None, 0.6], [0.5, 0.6, 0.4, 0.4], [0.9, 1.1, 0.9, 0.9],
                             labels=["A", "B", "C", "D"])
    assert res.k == 3 and res.excluded == ("C",)
    with pytest.raises(ValueError):
        pool_hazard_ratios([0.7, 0.8], [0.9, 0.6], [0.5, 1.1])
    with pytest.raises(ValueError):
        pool_proportions([3, 12], [10, 10])
    with pytest.raises(ValueError):
        random_effects([0.1, 0.2], [0.1, 0.1], method="ML")
