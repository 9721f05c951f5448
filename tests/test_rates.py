"""engine.rates against R (binom.test, prop.test with its default Yates correction,
fisher.test); reference values from tests/r/make_fixtures.R in tests/fixtures/r_survival.json."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.rates import compare_proportions, fisher_exact_p, proportion

RATES = json.loads((Path(__file__).parent / "fixtures" / "r_survival.json").read_text())["rates"]
TOL = 1e-9


@pytest.mark.parametrize("r", RATES["binom"], ids=lambda r: f"{r['x']}/{r['n']}@{r['conf_level']}")
def test_clopper_pearson_matches_binom_test(r):
    res = proportion(r["x"], r["n"], r["conf_level"])
    assert res.estimable
    assert res.estimate == pytest.approx(r["estimate"], abs=TOL)
    assert res.ci_low == pytest.approx(r["lower"], abs=TOL)
    assert res.ci_high == pytest.approx(r["upper"], abs=TOL)


def test_known_exact_interval():
    res = proportion(0, 10)
    assert (res.ci_low, res.ci_high) == (0.0, pytest.approx(0.3084971, abs=1e-7))


@pytest.mark.parametrize("r", RATES["two"], ids=lambda r: f"{r['x1']}/{r['n1']}-{r['x2']}/{r['n2']}")
def test_two_groups_match_prop_test_and_fisher_test(r):
    res = compare_proportions(r["x1"], r["n1"], r["x2"], r["n2"])
    assert res.estimable
    assert res.chi2 == pytest.approx(r["chisq"], abs=TOL)
    assert res.chi2_p == pytest.approx(r["chisq_p"], abs=TOL)
    assert res.fisher_p == pytest.approx(r["fisher_p"], abs=TOL)
    assert res.diff_ci[0] == pytest.approx(r["diff_low"], abs=TOL)
    assert res.diff_ci[1] == pytest.approx(r["diff_high"], abs=TOL)
    assert res.min_expected == pytest.approx(r["min_expected"], abs=TOL)
    expected_choice = "fisher" if r["min_expected"] < 5 else "chi2"
    assert res.recommended == expected_choice
    assert res.p == (res.fisher_p if expected_choice == "fisher" else res.chi2_p)
    assert "Yates" in res.chi2_method


def test_degenerate_and_invalid():
    assert proportion(0, 0).estimable is False
    assert proportion(0, 0).reason == "not estimable: no patients (n = 0)"
    assert compare_proportions(1, 5, 0, 0).reason == "not estimable: no patients in group 2 (n = 0)"
    none = compare_proportions(0, 10, 0, 12)  # no responders at all: chi-square undefined
    assert none.estimable and none.chi2 is None and none.fisher_p == 1.0
    assert none.recommended == "fisher" and none.p == 1.0
    with pytest.raises(ValueError, match="cannot exceed"):
        proportion(6, 5)
    with pytest.raises(ValueError, match="whole number"):
        proportion(2.5, 5)
    with pytest.raises(ValueError, match="whole number"):
        proportion(-1, 5)


def test_fisher_symmetric_table():
    # a perfectly balanced table: p = 1 (R fisher.test(matrix(c(3,3,3,3),2)))
    assert fisher_exact_p(3, 6, 3, 6) == pytest.approx(1.0)
