"""Kaplan-Meier, log-rank and Cox hazard ratio, matching R's ``survival`` package.

Everything works on *counts*: one row per distinct (group, time) with the number of events and
censorings there. The array functions (``kaplan_meier``, ``logrank``, ``cox_hr``) aggregate
patient rows to counts and call the ``*_from_counts`` functions, so the DuckDB fast path
(``engine.aggregate``) and the array path share one implementation. A million patients with
times in days become a few thousand rows of arithmetic.

R equivalents (survival 3.5):

* ``kaplan_meier``  -> ``survfit(Surv(time, status) ~ 1, conf.type=..., conf.int=...)``;
  ``table`` is ``summary(fit, censored=TRUE)``; ``median``/``median_ci`` are
  ``quantile(fit, 0.5)``; ``summary_at``/``survival_at`` are ``summary(fit, times=, extend=)``.
* ``logrank``       -> ``survdiff(Surv(time, status) ~ group)`` (rho = 0).
* ``cox_hr``        -> ``coxph(Surv(time, status) ~ group, ties="efron")`` with a two-level
  factor whose first level is ``reference``.

Degenerate input gives ``estimable=False`` with a ``reason``; values that are undefined are
``None``. Negative times or events outside {0, 1} raise ``ValueError``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import special

from engine.results import finite_or_none, label, not_estimable

CONF_TYPES = ("log-log", "log", "plain")
# R's quantile.survfit tolerance: sqrt(.Machine$double.eps)
R_QUANTILE_TOL = math.sqrt(np.finfo(float).eps)
TABLE_COLUMNS = ("time", "n_risk", "n_event", "n_censor", "surv", "std_err", "lower", "upper")
COUNT_COLUMNS = ("time", "n_event", "n_censor")
# Efron sums over tied events: exact term by term up to this many ties at one time,
# closed form (log-gamma / polygamma) above it.
EFRON_EXPAND_MAX = 16


# --------------------------------------------------------------------------- validation
def _check_conf(conf_level: float, conf_type: str) -> None:
    if conf_type not in CONF_TYPES:
        raise ValueError(f"conf_type must be one of {CONF_TYPES}, got {conf_type!r}")
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must be in (0, 1), got {conf_level!r}")


def _to_float(values: Any, what: str) -> np.ndarray:
    try:
        return pd.Series(values).to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be numeric: {exc}") from None


def _validate_time(t: np.ndarray, what: str = "time") -> None:
    bad = t[np.isinf(t) | (t < 0)]
    if bad.size:
        raise ValueError(f"{what} must be finite and >= 0; got {bad[:5].tolist()}")


def _validate_event(e: np.ndarray) -> None:
    bad = ~np.isin(e, (0.0, 1.0))
    if bad.any():
        shown = sorted({str(v) for v in e[bad][:20]})
        raise ValueError(f"event must be 0 (censored) or 1 (event); got {', '.join(shown)}")


def _validate_count(x: np.ndarray, what: str) -> None:
    if np.isnan(x).any() or (x < 0).any() or (x != np.round(x)).any():
        raise ValueError(f"{what} must be non-negative whole numbers")


def counts_from_arrays(time: Any, event: Any, group: Any = None) -> pd.DataFrame:
    """Aggregate patient rows to counts: columns ``[group,] time, n_event, n_censor``.

    Validates the input (``ValueError`` for negative/infinite times, events not in {0, 1},
    unequal lengths). NaN times are kept as a row with ``time`` NaN so that the estimators can
    report them as not estimable. Missing groups (None/NaN) are kept as a NaN group.
    """
    t = _to_float(time, "time")
    ev = pd.Series(event)
    e = _to_float(ev.astype(int) if ev.dtype == bool else ev, "event")
    if len(t) != len(e):
        raise ValueError(f"time and event differ in length ({len(t)} vs {len(e)})")
    _validate_time(t)
    _validate_event(e)
    frame = pd.DataFrame({"time": t, "event": e})
    keys = ["time"]
    if group is not None:
        g = pd.Series(group).reset_index(drop=True)
        if len(g) != len(t):
            raise ValueError(f"group and time differ in length ({len(g)} vs {len(t)})")
        frame.insert(0, "group", g)
        keys = ["group", "time"]
    out = frame.groupby(keys, sort=True, dropna=False)["event"].agg(["sum", "size"])
    out = out.reset_index().rename(columns={"sum": "n_event"})
    out["n_event"] = out["n_event"].astype(np.int64)
    out["n_censor"] = (out.pop("size") - out["n_event"]).astype(np.int64)
    return out


def _validated_columns(counts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The time, n_event and n_censor columns as float arrays, validated (no negative time,
    counts whole and not negative)."""
    t = _to_float(counts["time"], "time")
    d = _to_float(counts["n_event"], "n_event")
    c = _to_float(counts["n_censor"], "n_censor")
    _validate_time(t)
    _validate_count(d, "n_event")
    _validate_count(c, "n_censor")
    return t, d, c


def _count_arrays(counts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Validated, sorted, de-duplicated (time, n_event, n_censor) plus patients with NaN time."""
    missing = [c for c in COUNT_COLUMNS if c not in counts.columns]
    if missing:
        raise ValueError(f"counts needs columns {COUNT_COLUMNS}; missing {missing}")
    t, d, c = _validated_columns(counts)
    nan_t = np.isnan(t)
    n_missing = int(d[nan_t].sum() + c[nan_t].sum())
    t, d, c = t[~nan_t], d[~nan_t], c[~nan_t]
    if t.size > 1 and not np.all(np.diff(t) > 0):
        t, inv = np.unique(t, return_inverse=True)
        d = np.bincount(inv, weights=d, minlength=t.size)
        c = np.bincount(inv, weights=c, minlength=t.size)
    keep = (d + c) > 0
    if not keep.all():
        t, d, c = t[keep], d[keep], c[keep]
    return t, d, c, n_missing


# --------------------------------------------------------------------------- Kaplan-Meier
def _confint(surv: np.ndarray, se: np.ndarray, conf_type: str, z: float):
    """R's ``survfit_confint`` (conf.lower = "usual"); ``se`` is the SE of the cumulative
    hazard (Greenwood). Returns NaN exactly where R returns NA/NaN."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if conf_type == "plain":
            se2 = z * se * surv
            return np.maximum(surv - se2, 0.0), np.minimum(surv + se2, 1.0)
        if conf_type == "log":
            xx = np.where(surv == 0, np.nan, surv)
            return np.exp(np.log(xx) - z * se), np.minimum(np.exp(np.log(xx) + z * se), 1.0)
        xx = np.where((surv == 0) | (surv == 1), np.nan, surv)
        se2 = z * se / np.log(xx)
        loglog = np.log(-np.log(xx))
        return np.exp(-np.exp(loglog - se2)), np.exp(-np.exp(loglog + se2))


def _findq(x: np.ndarray, y: np.ndarray, p: float, tol: float = R_QUANTILE_TOL) -> float | None:
    """R's ``survival:::findq`` for one probability: the time where the cumulative failure
    curve ``y`` (step function at times ``x``, NaN = undefined) reaches ``p``.

    Reproduces R's rules: the first time the curve passes ``p``; the midpoint of the flat
    stretch when it sits at ``p`` (within ``tol``); the midpoint up to the last follow-up time
    when it sits at ``p`` until the end; ``None`` when never reached.
    """
    finite = y[~np.isnan(y)]
    if finite.size == 0 or finite.max() < p:
        return None
    xmax = x[-1]
    # duplicated(): keep first occurrence of each value, NaN counting as one value
    key = np.where(np.isnan(y), np.inf, y)
    _, first = np.unique(key, return_index=True)
    first.sort()
    x, y = x[first], y[first]
    valid = ~np.isnan(y)
    pos = np.flatnonzero(valid)

    def approx_index(shift: float) -> int | None:
        # approx(y + shift, index, p, method="constant", f=1): knots sorted by value first
        # (the confidence limits need not be monotone), then the knot at or right of p
        knots = y[valid] + shift
        order = np.argsort(knots, kind="stable")
        knots = knots[order]
        if p < knots[0] or p > knots[-1]:
            return None
        return int(pos[order][np.searchsorted(knots, p, side="left")])

    i1, i2 = approx_index(tol), approx_index(-tol)
    if not np.isnan(y[-1]) and abs(p - y[-1]) < tol:
        return None if i1 is None else float((x[i1] + xmax) / 2)
    if i1 is None or i2 is None:
        return None
    return float((x[i1] + x[i2]) / 2)


@dataclass(frozen=True)
class KMResult:
    """A Kaplan-Meier curve as R's survfit reports it.

    ``table``: one row per distinct time (events and censorings), columns
    ``time, n_risk, n_event, n_censor, surv, std_err, lower, upper`` as
    ``summary(fit, censored=TRUE)``; ``std_err`` is R's SE of S(t); ``lower``/``upper`` are NaN
    exactly where R gives NA (S(t) = 0 for every type, S(t) = 1 for log-log). Use ``curve()``
    for plotting. Empty when not estimable.
    """

    table: pd.DataFrame
    median: float | None
    median_ci: tuple[float | None, float | None]
    n: int
    events: int
    conf_type: str
    conf_level: float
    estimable: bool
    reason: str = ""

    def summary_at(self, times: Iterable[float], extend: bool = False) -> pd.DataFrame:
        """R's ``summary(fit, times=times, extend=extend)``: columns as ``table``.

        The curve is right-continuous (a time equal to an event time includes that event).
        ``n_event``/``n_censor`` count what happened since the previous requested time,
        ``n_risk`` is the number at risk at the time. Times after the last follow-up time are
        dropped when ``extend`` is False (R's default) and carry the last value with
        ``n_risk`` 0 when True.
        """
        cols = list(TABLE_COLUMNS)
        req = np.sort(np.asarray([float(v) for v in times], dtype=float))
        req = req[np.isfinite(req)]
        if not self.estimable or req.size == 0:
            return pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
        tab = self.table
        t0 = tab["time"].to_numpy(float)
        arrays = {c: tab[c].to_numpy(float) for c in cols}
        if t0[0] != 0:  # survfit0: prepend the curve's start (time 0, S = 1)
            start = {"time": 0.0, "n_risk": arrays["n_risk"][0], "n_event": 0.0,
                     "n_censor": 0.0, "surv": 1.0, "std_err": 0.0, "lower": 1.0, "upper": 1.0}
            arrays = {c: np.concatenate(([start[c]], arrays[c])) for c in cols}
        times0 = arrays["time"]
        if not extend:
            req = req[req <= times0[-1]]
        n_le = np.searchsorted(times0, req, side="right")  # R findInterval
        row = np.maximum(n_le, 1) - 1
        n_lt = np.searchsorted(times0, req, side="left")
        out = {"time": req, "n_risk": np.append(arrays["n_risk"], 0.0)[n_lt]}
        for c in ("n_event", "n_censor"):
            cum = np.concatenate(([0.0], np.cumsum(arrays[c])))[n_le]
            out[c] = np.diff(np.concatenate(([0.0], cum)))
        for c in ("surv", "std_err", "lower", "upper"):
            out[c] = arrays[c][row]
        frame = pd.DataFrame(out, columns=cols)
        return frame.astype({"n_risk": np.int64, "n_event": np.int64, "n_censor": np.int64})

    def survival_at(self, t: float, extend: bool = False
                    ) -> tuple[float | None, float | None, float | None]:
        """(estimate, lower, upper) at time ``t`` as R ``summary(fit, times=t, extend=extend)``.

        ``extend=False`` (R's default): all three are None after the last follow-up time.
        ``extend=True``: the last value is carried on. None also where R gives NA.
        """
        row = self.summary_at([t], extend=extend)
        if row.empty:
            return None, None, None
        r = row.iloc[0]
        return finite_or_none(r["surv"]), finite_or_none(r["lower"]), finite_or_none(r["upper"])

    def curve(self) -> pd.DataFrame:
        """Plot-ready step coordinates starting at (0, 1): ``time, n_risk, surv, lower, upper``.

        Display convention (not R): where R's band is undefined it is filled, 1 where
        S(t) = 1 and, where S(t) = 0, lower 0 and upper carried from the previous step.
        Contains no NaN. Empty when not estimable.
        """
        cols = ["time", "n_risk", "surv", "lower", "upper"]
        if not self.estimable:
            return pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
        t, n, s, lo, hi = (self.table[c].to_numpy(float) for c in cols)
        if t[0] != 0:
            t, n, s, lo, hi = (np.concatenate(([first], a))
                               for first, a in ((0.0, t), (n[0], n), (1.0, s), (1.0, lo), (1.0, hi)))
        at_one, at_zero = s >= 1, s <= 0
        lo = np.where(at_one & np.isnan(lo), 1.0, lo)
        hi = np.where(at_one & np.isnan(hi), 1.0, hi)
        lo = np.where(at_zero & np.isnan(lo), 0.0, lo)
        return pd.DataFrame({"time": t, "n_risk": n, "surv": s, "lower": _ffill_or_one(lo),
                             "upper": _ffill_or_one(hi)})


def _ffill_or_one(a: np.ndarray) -> np.ndarray:
    """Carry the last known value forward over NaN; 1 before the first known value."""
    known = ~np.isnan(a)
    last = np.maximum.accumulate(np.where(known, np.arange(a.size), -1))
    return np.where(last >= 0, a[np.maximum(last, 0)], 1.0)


def _empty_km(n: int, events: int, conf_type: str, conf_level: float, reason: str) -> KMResult:
    table = pd.DataFrame({c: pd.Series(dtype=float) for c in TABLE_COLUMNS})
    return KMResult(table, None, (None, None), n, events, conf_type, conf_level, False,
                    not_estimable(reason))


def kaplan_meier_from_counts(counts: pd.DataFrame, conf_level: float = 0.95,
                             conf_type: str = "log-log") -> KMResult:
    """Kaplan-Meier from a per-time counts table (columns ``time, n_event, n_censor``;
    other columns are ignored; duplicate times are summed)."""
    _check_conf(conf_level, conf_type)
    return _km_core(*_count_arrays(counts), conf_level, conf_type)


def _km_core(t: np.ndarray, d: np.ndarray, c: np.ndarray, n_missing: int, conf_level: float,
             conf_type: str) -> KMResult:
    """KM on validated arrays: distinct sorted times, events and censorings (> 0 in total)."""
    n = int(d.sum() + c.sum()) + n_missing
    events = int(d.sum())
    if n_missing:
        return _empty_km(n, events, conf_type, conf_level,
                         f"{n_missing} patient(s) with missing (NaN) time")
    if n == 0:
        return _empty_km(n, events, conf_type, conf_level, "no patients")
    if n == 1:
        return _empty_km(n, events, conf_type, conf_level, "only 1 patient")
    if events == 0:
        return _empty_km(n, events, conf_type, conf_level,
                         f"no events (all {n} patients censored)")
    removed = d + c
    n_risk = n - np.concatenate(([0.0], np.cumsum(removed)[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - d / n_risk)
        greenwood = np.where(d > 0, d / (n_risk * (n_risk - d)), 0.0)
        se = np.sqrt(np.cumsum(greenwood))  # SE of the cumulative hazard (R's std.err)
        std_err = se * surv
    z = float(special.ndtri(1 - (1 - conf_level) / 2))
    lower, upper = _confint(surv, se, conf_type, z)
    table = pd.DataFrame({
        "time": t, "n_risk": n_risk.astype(np.int64), "n_event": d.astype(np.int64),
        "n_censor": c.astype(np.int64), "surv": surv, "std_err": std_err,
        "lower": lower, "upper": upper})
    x = np.concatenate(([0.0], t))
    median = _findq(x, np.concatenate(([0.0], 1 - surv)), 0.5)
    med_lo = _findq(x, np.concatenate(([0.0], 1 - lower)), 0.5)
    med_hi = _findq(x, np.concatenate(([0.0], 1 - upper)), 0.5)
    return KMResult(table, median, (med_lo, med_hi), n, events, conf_type, conf_level, True)


def kaplan_meier(time: Any, event: Any, conf_level: float = 0.95,
                 conf_type: str = "log-log") -> KMResult:
    """Kaplan-Meier from patient rows (``event`` 1 = event, 0 = censored).

    ``conf_type``: "log-log" (R ``conf.type="log-log"``, lifelines' default), "log" (R's
    default, upper limit capped at 1) or "plain" (capped to [0, 1]).
    """
    _check_conf(conf_level, conf_type)
    return kaplan_meier_from_counts(counts_from_arrays(time, event), conf_level, conf_type)


# --------------------------------------------------------------------------- grouped counts
@dataclass(frozen=True)
class _Grid:
    """Counts of several groups on the union of their times: arrays of shape (groups, times)."""

    levels: tuple
    times: np.ndarray
    d: np.ndarray
    c: np.ndarray
    n_missing_time: np.ndarray
    n_missing_group: int

    @property
    def n_risk(self) -> np.ndarray:
        removed = self.d + self.c
        return np.cumsum(removed[:, ::-1], axis=1)[:, ::-1]

    @property
    def n_by_group(self) -> np.ndarray:
        return self.d.sum(axis=1) + self.c.sum(axis=1) + self.n_missing_time

    def km(self, i: int, conf_level: float = 0.95, conf_type: str = "log-log") -> KMResult:
        """Kaplan-Meier of group number ``i`` (same code as ``kaplan_meier_from_counts``)."""
        _check_conf(conf_level, conf_type)
        d, c = self.d[i], self.c[i]
        rows = (d + c) > 0
        return _km_core(self.times[rows], d[rows], c[rows], int(self.n_missing_time[i]),
                        conf_level, conf_type)

    def reordered(self, levels: Sequence) -> "_Grid":
        """The same grid with its groups in the order ``levels`` (the same set of levels)."""
        levels = tuple(levels)
        if levels == self.levels:
            return self
        rows = [self.levels.index(lv) for lv in levels]
        if sorted(rows) != list(range(len(self.levels))):
            raise ValueError(f"levels {levels} are not a reordering of {self.levels}")
        return _Grid(levels, self.times, self.d[rows], self.c[rows], self.n_missing_time[rows], self.n_missing_group)

    def missing_time_reason(self) -> str | None:
        total = int(self.n_missing_time.sum())
        return f"{total} patient(s) with missing (NaN) time" if total else None


def _sorted_levels(values: Sequence) -> list:
    uniq = list(dict.fromkeys(values))
    try:
        return sorted(uniq)
    except TypeError:
        return uniq


def _grid(counts: pd.DataFrame, levels: Sequence | None = None) -> _Grid:
    """Build the group x time grid from a counts table with a ``group`` column."""
    if "group" not in counts.columns:
        raise ValueError("counts needs a 'group' column for a group comparison")
    for col in COUNT_COLUMNS:
        if col not in counts.columns:
            raise ValueError(f"counts needs columns ('group',) + {COUNT_COLUMNS}")
    g = counts["group"].reset_index(drop=True)
    missing_group = g.isna().to_numpy()
    t, d, c = _validated_columns(counts)
    n_missing_group = int(d[missing_group].sum() + c[missing_group].sum())
    g, t, d, c = g[~missing_group], t[~missing_group], d[~missing_group], c[~missing_group]
    codes, uniques = pd.factorize(g, sort=False)  # vectorised: a few distinct groups
    uniques = list(uniques)
    if levels is None:
        size = np.bincount(codes, weights=d + c, minlength=len(uniques))
        levels = _sorted_levels([lv for lv, n in zip(uniques, size) if n > 0])
    levels = tuple(levels)
    index = {lv: i for i, lv in enumerate(levels)}
    unknown = [lv for lv in uniques if lv not in index]
    if unknown:
        raise ValueError(f"groups {sorted(map(str, unknown))} are not among levels {levels}")
    gi = np.array([index[lv] for lv in uniques], dtype=np.int64)[codes]
    nan_t = np.isnan(t)
    n_missing_time = np.bincount(gi[nan_t], weights=d[nan_t] + c[nan_t], minlength=len(levels))
    gi, t, d, c = gi[~nan_t], t[~nan_t], d[~nan_t], c[~nan_t]
    times, ti = np.unique(t, return_inverse=True)
    shape = (len(levels), times.size)
    dd = np.zeros(shape)
    cc = np.zeros(shape)
    np.add.at(dd, (gi, ti), d)
    np.add.at(cc, (gi, ti), c)
    return _Grid(levels, times, dd, cc, n_missing_time, n_missing_group)


# --------------------------------------------------------------------------- log-rank
@dataclass(frozen=True)
class LogRankResult:
    """R ``survdiff`` (rho = 0): ``chisq`` on ``df`` degrees of freedom, p-value ``p``.

    ``table`` has one row per group: ``group, n, observed, expected``; ``observed`` and
    ``expected`` are the same numbers as dicts keyed by group.
    """

    chisq: float | None
    df: int | None
    p: float | None
    levels: tuple
    table: pd.DataFrame
    estimable: bool
    reason: str = ""
    n_missing_group: int = 0
    method: str = "log-rank (R survdiff, rho = 0)"

    @property
    def observed(self) -> dict:
        return dict(zip(self.table["group"], self.table["observed"]))

    @property
    def expected(self) -> dict:
        return dict(zip(self.table["group"], self.table["expected"]))


def _logrank_core(grid: _Grid) -> LogRankResult:
    n_by = grid.n_by_group
    observed = grid.d.sum(axis=1)
    table = pd.DataFrame({"group": list(grid.levels), "n": n_by.astype(np.int64),
                          "observed": observed, "expected": np.full(len(grid.levels), np.nan)})

    def fail(reason: str) -> LogRankResult:
        return LogRankResult(None, None, None, grid.levels, table, False, not_estimable(reason),
                             grid.n_missing_group)

    if (reason := grid.missing_time_reason()) is not None:
        return fail(reason)
    if not grid.levels:
        return fail("no patients")
    if len(grid.levels) < 2:
        return fail(f"a comparison needs at least 2 groups with patients "
                    f"(only {label(grid.levels[0])})")
    empty = [lv for lv, n in zip(grid.levels, n_by) if n == 0]
    if empty:
        return fail(f"no patients in group {label(empty[0])}")
    if observed.sum() == 0:
        return fail("no events")
    at_event = grid.d.sum(axis=0) > 0
    n_risk = grid.n_risk[:, at_event]
    d = grid.d[:, at_event].sum(axis=0)
    n = n_risk.sum(axis=0)
    share = n_risk / n
    expected = share @ d
    factor = np.where(n > 1, d * (n - d) / np.maximum(n - 1, 1), 0.0)
    weighted = share * factor
    var = np.diag(weighted.sum(axis=1)) - weighted @ share.T
    table["expected"] = expected
    keep = np.flatnonzero(expected > 0)
    if keep.size < 2:
        return fail("fewer than 2 groups with patients at risk at an event time")
    diff = (observed - expected)[keep][1:]
    vv = var[np.ix_(keep, keep)][1:, 1:]
    try:
        chisq = float(diff @ np.linalg.solve(vv, diff))
    except np.linalg.LinAlgError:
        return fail("singular variance matrix")
    if not math.isfinite(chisq):
        return fail("variance is zero")
    df = int(keep.size - 1)
    return LogRankResult(chisq, df, float(special.chdtrc(df, chisq)), grid.levels, table, True,
                         "", grid.n_missing_group)


def logrank_from_counts(counts: pd.DataFrame, levels: Sequence | None = None) -> LogRankResult:
    """Log-rank test from counts (columns ``group, time, n_event, n_censor``).

    ``levels`` fixes the group order (and makes an absent level a 'no patients' result);
    by default the sorted groups present. Rows with a missing group are left out and
    counted in ``n_missing_group``.
    """
    return _logrank_core(_grid(counts, levels))


def logrank(time: Any, event: Any, group: Any, levels: Sequence | None = None) -> LogRankResult:
    """Log-rank test of 2 or more groups from patient rows (R ``survdiff``, rho = 0)."""
    return logrank_from_counts(counts_from_arrays(time, event, group), levels)


# --------------------------------------------------------------------------- Cox (Efron)
class _EfronBinary:
    """Efron partial likelihood of a 0/1 covariate on aggregated counts.

    At an event time with d = d0 + d1 tied events and n0, n1 at risk, Efron's likelihood has
    the denominators D_k = (n0 - k/d d0) + w (n1 - k/d d1), k = 0..d-1, w = exp(beta).
    Terms are summed exactly for d <= EFRON_EXPAND_MAX; above that the sums over k have closed
    forms, with a = d S0 / T0 (S0 = n0 + w n1, T0 = d0 + w d1):
    sum log D_k = d log(T0/d) + lgamma(a+1) - lgamma(a-d+1),
    sum 1/D_k = d/T0 (psi(a+1) - psi(a-d+1)), sum 1/D_k^2 = (d/T0)^2 (psi'(a-d+1) - psi'(a+1)).
    """

    def __init__(self, n0: np.ndarray, n1: np.ndarray, d0: np.ndarray, d1: np.ndarray):
        d = d0 + d1
        small = d <= EFRON_EXPAND_MAX
        ds = d[small].astype(np.int64)
        owner = np.repeat(np.arange(ds.size), ds)
        k = np.arange(owner.size) - np.repeat(np.cumsum(ds) - ds, ds)
        frac = k / ds[owner]
        self.a0 = n0[small][owner] - frac * d0[small][owner]
        self.a1 = n1[small][owner] - frac * d1[small][owner]
        big = ~small
        self.n0, self.n1, self.d0, self.d1, self.d = n0[big], n1[big], d0[big], d1[big], d[big]
        self.events1 = float(d1.sum())

    def evaluate(self, beta: float, loglik: bool = True) -> tuple[float, float, float]:
        """(log partial likelihood or NaN, score, information) at ``beta``."""
        w = math.exp(beta)
        den = self.a0 + w * self.a1
        q = w * self.a1 / den
        sum_q = q.sum()
        info = (q * (self.a0 / den)).sum()
        log_den = np.log(den).sum() if loglik else 0.0
        if self.d.size:
            n0, n1, d0, d1, d = self.n0, self.n1, self.d0, self.d1, self.d
            s0, t0 = n0 + w * n1, d0 + w * d1
            c = w * d1 / t0
            r = w * (n1 * d0 - n0 * d1) / t0
            a, scale = d * s0 / t0, d / t0
            g1 = scale * (special.digamma(a + 1) - special.digamma(a - d + 1))
            g2 = scale**2 * (special.polygamma(1, a - d + 1) - special.polygamma(1, a + 1))
            sum_q += (d * c + r * g1).sum()
            info += (d * w * d1 * d0 / t0**2 + r * (1 - 2 * c) * g1 - r * r * g2).sum()
            if loglik:
                log_den += (d * np.log(t0 / d) + special.gammaln(a + 1)
                            - special.gammaln(a - d + 1)).sum()
        ll = beta * self.events1 - log_den if loglik else math.nan
        return ll, self.events1 - sum_q, info

    def solve(self, max_iter: int = 200) -> float:
        """The MLE of beta: Newton-Raphson kept inside a sign-change bracket of the score
        (the log-likelihood is concave, so this always converges when the MLE is finite)."""
        beta, lo, hi = 0.0, -math.inf, math.inf
        for _ in range(max_iter):
            _, score, info = self.evaluate(beta, loglik=False)
            if score == 0 or info <= 0:
                break
            if score > 0:
                lo = beta
            else:
                hi = beta
            new = beta + max(-5.0, min(5.0, score / info))
            if not lo < new < hi:
                new = (lo + hi) / 2
            if abs(new - beta) <= 1e-13 * (1 + abs(beta)):
                return new
            beta = new
        return beta


@dataclass(frozen=True)
class CoxResult:
    """Hazard ratio of ``comparison`` versus ``reference`` from R
    ``coxph(Surv(time, status) ~ group, ties="efron")``.

    ``p`` is the Wald p-value (R ``summary(fit)$coefficients[, "Pr(>|z|)"]``), ``lr_p`` the
    likelihood-ratio and ``score_p`` the score (log-rank) test. ``loglik`` is the log partial
    likelihood at the estimate (R ``fit$loglik[2]``), ``loglik_null`` at beta = 0.
    """

    hr: float | None
    ci_low: float | None
    ci_high: float | None
    p: float | None
    loglik: float | None
    reference: Any
    comparison: Any
    estimable: bool
    reason: str = ""
    beta: float | None = None
    se: float | None = None
    loglik_null: float | None = None
    lr_p: float | None = None
    score_p: float | None = None
    n: int = 0
    events: int = 0
    n_by_group: dict = field(default_factory=dict)
    events_by_group: dict = field(default_factory=dict)
    conf_level: float = 0.95
    n_missing_group: int = 0
    method: str = "Efron"


def _cox_core(grid: _Grid, reference: Any, comparison: Any, conf_level: float) -> CoxResult:
    n_by = grid.n_by_group
    ev_by = grid.d.sum(axis=1)
    base = dict(reference=reference, comparison=comparison, n=int(n_by.sum()),
                events=int(ev_by.sum()), n_by_group=dict(zip(grid.levels, n_by.astype(int).tolist())),
                events_by_group=dict(zip(grid.levels, ev_by.astype(int).tolist())),
                conf_level=conf_level, n_missing_group=grid.n_missing_group)

    def fail(reason: str) -> CoxResult:
        return CoxResult(None, None, None, None, None, estimable=False,
                         reason=not_estimable(reason), **base)

    if (reason := grid.missing_time_reason()) is not None:
        return fail(reason)
    for lv, n in zip(grid.levels, n_by):
        if n == 0:
            return fail(f"no patients in group {label(lv)}")
    if ev_by.sum() == 0:
        return fail("no events")
    for lv, e in zip(grid.levels, ev_by):
        if e == 0:
            return fail(f"no events in group {label(lv)}")
    at_event = grid.d.sum(axis=0) > 0
    n_risk = grid.n_risk[:, at_event]
    d0, d1 = grid.d[0, at_event], grid.d[1, at_event]
    n0, n1 = n_risk[0], n_risk[1]
    d = d0 + d1
    if ev_by[1] - d[n1 > 0].sum() >= 0 or ev_by[1] - d[n0 == 0].sum() <= 0:
        return fail("the hazard ratio is infinite (monotone likelihood: the events of one "
                    "group all occur while the other group has no patients at risk)")
    model = _EfronBinary(n0, n1, d0, d1)
    beta = model.solve()
    loglik, _, info = model.evaluate(beta)
    loglik0, score0, info0 = model.evaluate(0.0)
    if not (info > 0 and math.isfinite(beta) and math.isfinite(loglik)):
        return fail("the Cox model did not converge")
    se = 1 / math.sqrt(info)
    z = float(special.ndtri(1 - (1 - conf_level) / 2))
    return CoxResult(
        hr=math.exp(beta), ci_low=math.exp(beta - z * se), ci_high=math.exp(beta + z * se),
        p=float(2 * special.ndtr(-abs(beta / se))), loglik=float(loglik), estimable=True,
        beta=beta, se=se, loglik_null=float(loglik0),
        lr_p=float(special.chdtrc(1, max(0.0, 2 * (loglik - loglik0)))),
        score_p=float(special.chdtrc(1, score0**2 / info0)), **base)


def _two_levels(present: Sequence, reference: Any, comparison: Any) -> tuple[Any, Any]:
    others = [lv for lv in present if lv != reference]
    if comparison is None:
        if len(others) > 1:
            raise ValueError(f"cox_hr needs a two-level group; got levels {list(present)}")
        if not others:
            return reference, None
        comparison = others[0]
    extra = [lv for lv in others if lv != comparison]
    if extra:
        raise ValueError(f"cox_hr needs a two-level group; got levels {list(present)}")
    return reference, comparison


def cox_hr_from_counts(counts: pd.DataFrame, reference: Any, comparison: Any = None,
                       conf_level: float = 0.95) -> CoxResult:
    """Cox hazard ratio (Efron ties) of ``comparison`` vs ``reference`` from counts
    (columns ``group, time, n_event, n_censor``). ``comparison`` defaults to the other group
    present. More than two groups is a ``ValueError``."""
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must be in (0, 1), got {conf_level!r}")
    grid = _grid(counts)
    reference, comparison = _two_levels(list(grid.levels), reference, comparison)
    if comparison is None:
        grid = _grid(counts, [reference])
        n = int(grid.n_by_group.sum())
        why = "no patients" if n == 0 else f"only group {label(reference)} has patients"
        return CoxResult(None, None, None, None, None, reference, None, False,
                         not_estimable(why), n=n, n_missing_group=grid.n_missing_group)
    pair = [reference, comparison]  # a level may be absent from the counts: then a grid with its empty row
    grid = grid.reordered(pair) if set(grid.levels) == set(pair) else _grid(counts, pair)
    return _cox_core(grid, reference, comparison, conf_level)


def cox_hr(time: Any, event: Any, group: Any, reference: Any, comparison: Any = None,
           conf_level: float = 0.95) -> CoxResult:
    """Cox hazard ratio (Efron ties, as R's default) of a two-level ``group``."""
    return cox_hr_from_counts(counts_from_arrays(time, event, group), reference, comparison,
                              conf_level)
