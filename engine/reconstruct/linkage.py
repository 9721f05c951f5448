"""Building linked outcome rows: follow-up and censoring, PFS <= OS, best response, DoR.

All randomness comes from the study's seeded ``numpy.random.Generator``; "random" orders are
permutations of deterministic quantile points, so the marginal distributions are exact.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from engine.reconstruct.cohort import Variable
from engine.reconstruct.time_model import TargetCurve, place_events, quantile_points


def potential_followup(n: int, lo: float, hi: float, rng: np.random.Generator,
                       skew: float = 1.0) -> np.ndarray:
    """Months from entry to data cutoff, entries spread over the enrollment window.

    lo/hi: follow-up of the last/first patient entered. ``skew`` > 1 puts more entries late in
    the window (shorter follow-up), < 1 early. Returned in a seeded random order.
    """
    fu = lo + (hi - lo) * quantile_points(n) ** skew
    return fu[rng.permutation(n)]


def latent_ranks(n: int, rng: np.random.Generator, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """Two correlated orderings (Gaussian copula) as survival levels in (0, 1).

    A patient's level for OS and for PFS; levels near 1 mean early events. Each margin is the
    exact set of quantile points, only their pairing is random.
    """
    q = quantile_points(n)
    z1 = ndtri(q)[rng.permutation(n)]
    z2 = rho * z1 + np.sqrt(1 - rho**2) * ndtri(q)[rng.permutation(n)]
    u1 = q[np.argsort(np.argsort(z1))]
    u2 = q[np.argsort(np.argsort(z2))]
    return 1 - u1, 1 - u2


def censor_by_followup(latent: np.ndarray, fu: np.ndarray, n_events: int | None,
                       eligible: np.ndarray | None = None) -> np.ndarray:
    """Boolean 'censored'. Without a reported event count: latent time beyond follow-up.
    With one: exactly n - n_events censored, those whose latent time exceeds their follow-up
    by the largest factor (restricted to ``eligible``)."""
    n = latent.size
    if n_events is None:
        cens = latent > fu
        if eligible is not None:
            cens &= eligible
        return cens
    k = n - n_events
    ratio = latent / fu
    if eligible is not None:
        ratio = np.where(eligible, ratio, -np.inf)
        if eligible.sum() < k:
            raise ValueError("fewer eligible patients than censorings required")
    cens = np.zeros(n, dtype=bool)
    if k > 0:
        cens[np.argsort(-ratio, kind="mergesort")[:k]] = True
    return cens


def fill_endpoint(level: np.ndarray, censored: np.ndarray, censor_time: np.ndarray,
                  curve: TargetCurve, t_min: float, t_max: float | None,
                  median_pin: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Times and events: censored patients at their censoring time; events placed along the
    curve (``place_events``) and handed out in the order of the patients' latent levels."""
    t = np.where(censored, censor_time, np.nan)
    ev_idx = np.flatnonzero(~censored)
    pin = ((0.5, median_pin),) if median_pin is not None else ()
    placed = place_events(ev_idx.size, censor_time[censored], curve, t_min, t_max, pin)
    order = ev_idx[np.argsort(-level[ev_idx], kind="mergesort")]  # high level = early event
    t[order] = placed
    e = (~censored).astype(int)
    return t, e


def cap_pfs_by_os(pfs_t, pfs_e, os_t):
    """Make PFS consistent with OS: PFS time <= OS time; a patient whose PFS would end after
    death gets a partner swap with a patient who can take the longer time, or else progression
    is dated at death (death counts as a PFS event). PFS-censored patients keep PFS = OS time."""
    pfs_t = pfs_t.copy()
    n = pfs_t.size
    for _ in range(3 * n):
        bad = np.flatnonzero((pfs_t > os_t + 1e-9) & (pfs_e == 1))
        if bad.size == 0:
            break
        i = int(bad[0])
        ok = np.flatnonzero((pfs_e == 1) & (pfs_t <= os_t[i]) & (pfs_t[i] <= os_t + 1e-9))
        if ok.size:
            j = int(ok[np.argmax(pfs_t[ok])])
            pfs_t[i], pfs_t[j] = pfs_t[j], pfs_t[i]
        else:
            pfs_t[i] = os_t[i]
    bad = (pfs_t > os_t) & (pfs_e == 1)
    pfs_t[bad] = os_t[bad]
    return pfs_t


def ttr_values(n: int, rng: np.random.Generator, median: float = 1.6) -> np.ndarray:
    """Time to first documented response: around the first scan (6-8 weeks), a few later."""
    q = quantile_points(n)
    v = median * np.exp(0.35 * ndtri(q))
    v = np.clip(np.round(v, 1), 1.2, 4.5)
    return v[rng.permutation(n)]


@dataclass
class ResponsePlan:
    counts: dict[str, int]  # CR, PR, SD, PD, NE
    pd_pool_factor: float = 1.4  # PD among the earliest pd_pool_factor * k PFS events
    pr_min_dor: float = 1.0  # responders: PFS at least TTR + this
    sd_min_pfs: float = 1.2  # stable disease needs a first scan
    pr_bias: float = 1.5  # 0 = responders random, larger = responders among longer PFS


def response_variable(pfs_t, pfs_e, ttr, plan: ResponsePlan, rng: np.random.Generator,
                      free: bool) -> Variable:
    """Best response with exact counts, linked to PFS: not evaluable = shortest observation,
    progressive disease = earliest progressions, responders tend to have longer PFS."""
    n = pfs_t.size
    levels = ("CR", "PR", "SD", "PD", "NE")
    k = {lv: int(plan.counts.get(lv, 0)) for lv in levels}
    if sum(k.values()) != n:
        raise ValueError(f"best response counts {k} do not add up to n={n}")
    codes = np.full(n, -1)
    order = np.argsort(pfs_t, kind="mergesort")
    ne = order[:k["NE"]]
    codes[ne] = 4
    rest_events = [i for i in order if codes[i] < 0 and pfs_e[i] == 1]
    pool_size = min(len(rest_events), max(k["PD"], int(np.ceil(plan.pd_pool_factor * k["PD"]))))
    pd_pool = np.array(rest_events[:pool_size], dtype=int)
    codes[pd_pool[:k["PD"]]] = 3
    remaining = np.flatnonzero(codes < 0)
    can_respond = pfs_t[remaining] >= ttr[remaining] + plan.pr_min_dor
    cand = remaining[can_respond]
    rank = (np.argsort(np.argsort(pfs_t[cand])) + 0.5) / max(cand.size, 1)
    score = plan.pr_bias * rank + rng.random(cand.size)
    n_resp = k["CR"] + k["PR"]
    if cand.size < n_resp:
        raise ValueError("not enough patients with PFS long enough to be responders")
    chosen = cand[np.argsort(-score, kind="mergesort")[:n_resp]]
    codes[chosen[:k["CR"]]] = 0
    codes[chosen[k["CR"]:]] = 1
    codes[codes < 0] = 2
    allowed = np.zeros((n, 5), dtype=bool)
    allowed[:, 4] = False
    allowed[ne, 4] = True
    allowed[pd_pool, 3] = True
    allowed[:, 2] = pfs_t >= plan.sd_min_pfs
    allowed[:, 0] = allowed[:, 1] = pfs_t >= ttr + plan.pr_min_dor
    allowed[ne] = False
    allowed[ne, 4] = True
    allowed[np.arange(n), codes] = True  # the start is always allowed
    return Variable("best_response", levels, codes, column="best_response", allowed=allowed, free=free)


def build_pfs_os(n: int, rng: np.random.Generator, os_curve: TargetCurve, pfs_curve: TargetCurve,
                 fu: np.ndarray, os_median: float | None, pfs_median: float | None,
                 t_min: float, t_max: float | None, rho: float = 0.75,
                 n_os_events: int | None = None, n_pfs_events: int | None = None,
                 ltfu: np.ndarray | None = None, ltfu_time: np.ndarray | None = None):
    """Linked PFS and OS rows for one arm.

    Every patient has a potential follow-up ``fu`` (entry to cutoff). Patients lost to
    follow-up (``ltfu``) are censored for both endpoints at ``ltfu_time``. Of the others, those
    whose latent death time lies beyond their follow-up are alive at the cutoff (or exactly
    ``n - n_os_events`` of them, when the paper gives the number of deaths); of those alive, the
    ones whose latent progression time lies beyond follow-up are progression-free at the cutoff
    (or exactly as many as the PFS event count leaves). Event times are then placed along the
    target curves (``place_events``) in the order of the latent times.
    Returns (pfs_t, pfs_e, os_t, os_e).
    """
    lvl_os, lvl_pfs = latent_ranks(n, rng, rho)
    ltfu = np.zeros(n, dtype=bool) if ltfu is None else ltfu
    censor_time = fu.copy()
    if ltfu.any():
        censor_time[ltfu] = ltfu_time
    latent_os = np.array([os_curve.inverse(s) for s in lvl_os])
    latent_pfs = np.minimum([pfs_curve.inverse(s) for s in lvl_pfs], latent_os)
    k_ltfu = int(ltfu.sum())
    alive = censor_by_followup(latent_os, fu, None if n_os_events is None else n_os_events + k_ltfu,
                               eligible=~ltfu)
    pf = censor_by_followup(latent_pfs, fu, None if n_pfs_events is None else n_pfs_events + k_ltfu,
                            eligible=alive)
    os_cens, pfs_cens = ltfu | alive, ltfu | pf
    os_t, os_e = fill_endpoint(lvl_os, os_cens, censor_time, os_curve, t_min, t_max, os_median)
    pfs_t, pfs_e = fill_endpoint(lvl_pfs, pfs_cens, censor_time, pfs_curve, t_min, t_max, pfs_median)
    os_t, pfs_t = np.round(os_t, 2), np.round(pfs_t, 2)
    pfs_t = cap_pfs_by_os(pfs_t, pfs_e, os_t)
    return pfs_t, pfs_e, os_t, os_e
