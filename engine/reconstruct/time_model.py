"""Time model: a piecewise-exponential target curve and deterministic placement of event times.

``TargetCurve`` is a survival function through anchor points (time, survival): between anchors
the hazard is constant (log-survival is linear), after the last anchor the last hazard goes on
(or a given tail hazard). Anchors come from what a paper reports: the median (S = 0.5), landmark
rates (S at 12 and 24 months), plus study-specific shape points (e.g. almost no progression
before a minimum treatment duration).

``place_events`` puts a given number of event times on the time axis so that the Kaplan-Meier
curve of the cohort follows the target curve as closely as the cohort size allows, given a fixed
set of censoring times: walking along the curve, each event is placed where the target crosses
the middle of the step that the event causes (with the current number at risk). This is the
"inverse Kaplan-Meier" idea used by curve-reconstruction methods, run forwards from a target
instead of from digitised points. It is deterministic: no random numbers are drawn here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TargetCurve:
    times: tuple[float, ...]  # strictly increasing, starting with 0
    surv: tuple[float, ...]  # strictly decreasing, starting with 1
    tail_hazard: float | None = None  # hazard after the last anchor (default: last segment's)

    @staticmethod
    def through(points: list[tuple[float, float]], tail_hazard: float | None = None) -> "TargetCurve":
        pts = sorted({(0.0, 1.0), *[(float(t), float(s)) for t, s in points]})
        times, surv = [pts[0][0]], [pts[0][1]]
        for t, s in pts[1:]:
            if t <= times[-1]:
                continue
            s = min(s, surv[-1] * (1 - 1e-9))  # keep strictly decreasing
            times.append(t)
            surv.append(max(s, 1e-9))
        return TargetCurve(tuple(times), tuple(surv), tail_hazard)

    def _hazards(self) -> np.ndarray:
        t = np.asarray(self.times)
        ls = np.log(np.asarray(self.surv))
        return -(np.diff(ls) / np.diff(t))

    def inverse(self, s: float) -> float:
        """Time at which the curve reaches survival s (0 < s <= 1)."""
        if s >= 1.0:
            return 0.0
        times = np.asarray(self.times)
        ls = np.log(np.asarray(self.surv))
        target = np.log(max(s, 1e-300))
        haz = self._hazards()
        k = int(np.searchsorted(-ls, -target, side="left"))  # first anchor with ls <= target
        if k < len(times):
            if ls[k] == target:
                return float(times[k])
            k0 = k - 1
            return float(times[k0] + (ls[k0] - target) / haz[k0])
        h = self.tail_hazard if self.tail_hazard is not None else haz[-1]
        return float(times[-1] + (ls[-1] - target) / max(h, 1e-9))


def place_events(
    n_events: int,
    censor_times: np.ndarray,
    curve: TargetCurve,
    t_min: float = 0.0,
    t_max: float | None = None,
    pin: tuple[tuple[float, float], ...] = (),
) -> np.ndarray:
    """Event times (sorted) whose Kaplan-Meier curve, together with ``censor_times``, tracks
    ``curve``.

    ``pin`` holds (survival level, time) pairs: the event whose step crosses that level is put
    exactly at that time (used for the reported median), as long as the order of events allows.
    Events that would fall after ``t_max`` are spread evenly between the previous event and
    ``t_max`` (the curve's tail beyond the last reported point carries no information).
    """
    cens = np.sort(np.asarray(censor_times, dtype=float))
    r = n_events + cens.size
    ci = 0
    s = 1.0
    prev = t_min
    out = np.empty(n_events)
    for k in range(n_events):
        while True:
            s_next = s * (1.0 - 1.0 / r)
            level = 0.5 * (s + s_next)
            te = max(curve.inverse(level), prev)
            for lvl, t_pin in pin:
                if s > lvl >= s_next - 1e-12:
                    te = max(t_pin, prev)
            if ci < cens.size and cens[ci] < te:
                r -= 1
                ci += 1
                continue
            break
        if t_max is not None and te > t_max:
            left = n_events - k
            out[k:] = np.linspace(prev, t_max, left + 1)[1:]
            return out
        out[k] = te
        s = s_next
        r -= 1
        prev = te
    return out


def quantile_points(n: int) -> np.ndarray:
    """Plotting positions (i - 0.5) / n, i = 1..n: the deterministic 'sample' of a distribution."""
    return (np.arange(1, n + 1) - 0.5) / n


def months_between(start: str, end: str) -> float:
    """Months (30.4375 days) between two ISO dates (YYYY-MM or YYYY-MM-DD; YYYY-MM = the 15th)."""
    return (_date(end) - _date(start)).days / 30.4375


def _date(text: str):
    from datetime import date

    parts = [int(p) for p in text.split("-")]
    if len(parts) == 2:
        return date(parts[0], parts[1], 15)
    if len(parts) == 1:
        return date(parts[0], 7, 1)
    return date(parts[0], parts[1], parts[2])
