"""Speed of one subgroup recompute: ``python -m engine.bench [--sizes ...] [--repeats N]``.

For each size, synthetic patients (two arms, an ECOG filter column, times in days converted to
months; fixed seed) are stored in an in-memory DuckDB table. One recompute is what the
Explorer does on a filter change: filter + Kaplan-Meier for both arms + log-rank + Cox HR.

* engine: ``engine.aggregate.subgroup_recompute`` (one DuckDB aggregation, then arithmetic on
  the counts), timed end to end including the query.
* lifelines: ``KaplanMeierFitter`` x2, ``logrank_test``, ``CoxPHFitter`` (``batch_mode`` on
  above 10,000 rows) on the filtered rows, which are fetched from DuckDB before the clock
  starts (so lifelines is not charged for the filter).

Reported: median wall-clock (and CPU) time over the repeats, the ratio of wall times, and the largest absolute difference over
KM estimates and CI limits (log-log, lifelines' default), log-rank chi-square and p, and
HR, CI and p of the Cox model.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Callable

import duckdb
import numpy as np
import pandas as pd

from engine.aggregate import subgroup_recompute

SEED = 20240501
RELATION = "SELECT * FROM patients WHERE ecog <= ?"
PARAMS = [1]
ARMS = ("control", "combination")


def synthetic_patients(n: int, seed: int = SEED) -> pd.DataFrame:
    """Two arms, ECOG 0-2, exponential event times (days), uniform censoring, in months."""
    rng = np.random.default_rng(seed)
    arm = rng.integers(0, 2, n)
    ecog = rng.choice([0, 1, 2], size=n, p=[0.4, 0.45, 0.15])
    scale = np.where(arm == 1, 300.0, 220.0) * np.where(ecog == 2, 0.7, 1.0)
    event_day = np.ceil(rng.exponential(scale))
    censor_day = np.ceil(rng.uniform(30, 1800, n))
    return pd.DataFrame({
        "arm": np.array(ARMS)[arm],
        "ecog": ecog.astype(np.int8),
        "pfs_months": np.round(np.minimum(event_day, censor_day) / 30.4375, 4),
        "progressed": (event_day <= censor_day).astype(np.int8),
    })


def _median_ms(fn: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    """Median wall-clock and CPU (all threads of this process) milliseconds, last result."""
    result = fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return 1000 * statistics.median(wall), 1000 * statistics.median(cpu), result


def _engine(con: duckdb.DuckDBPyConnection):
    return subgroup_recompute(con, RELATION, PARAMS, "pfs_months", "progressed", "arm",
                              reference=ARMS[0])


def _lifelines(rows: pd.DataFrame) -> dict:
    from lifelines import CoxPHFitter, KaplanMeierFitter
    from lifelines.statistics import logrank_test

    out = {}
    masks = {arm: (rows["arm"] == arm).to_numpy() for arm in ARMS}
    t, e = rows["pfs_months"].to_numpy(), rows["progressed"].to_numpy()
    for arm, m in masks.items():
        out[arm] = KaplanMeierFitter().fit(t[m], e[m])
    a, b = masks[ARMS[0]], masks[ARMS[1]]
    out["logrank"] = logrank_test(t[a], t[b], e[a], e[b])
    frame = pd.DataFrame({"pfs_months": t, "progressed": e, "x": b.astype(np.int8)})
    out["cox"] = CoxPHFitter().fit(frame, "pfs_months", "progressed",
                                   batch_mode=len(frame) > 10_000,
                                   fit_options={"precision": 1e-10})
    return out


def max_difference(ours, theirs: dict) -> float:
    """Largest absolute difference between the engine's and lifelines' numbers."""
    diffs = []
    for arm in ARMS:
        tab = ours.km[arm].table
        kmf = theirs[arm]
        sf = kmf.survival_function_.iloc[:, 0].reindex(tab["time"]).to_numpy()
        ci = kmf.confidence_interval_.reindex(tab["time"]).to_numpy()
        for a, b in ((sf, tab["surv"]), (ci[:, 0], tab["lower"]), (ci[:, 1], tab["upper"])):
            both = np.isfinite(a) & np.isfinite(b.to_numpy())
            diffs.append(np.max(np.abs(a[both] - b.to_numpy()[both])))
    lr = theirs["logrank"]
    diffs += [abs(ours.logrank.chisq - lr.test_statistic), abs(ours.logrank.p - lr.p_value)]
    cph = theirs["cox"]
    ci = np.exp(cph.confidence_intervals_.loc["x"].to_numpy())
    diffs += [abs(ours.cox.hr - float(cph.hazard_ratios_["x"])), abs(ours.cox.ci_low - ci[0]),
              abs(ours.cox.ci_high - ci[1]), abs(ours.cox.p - float(cph.summary.loc["x", "p"]))]
    return float(max(diffs))


def run(sizes: list[int], repeats: int, lifelines_repeats: int) -> list[dict]:
    rows_out = []
    for n in sizes:
        con = duckdb.connect()
        patients = synthetic_patients(n)
        con.register("patients_df", patients)
        con.execute("CREATE TABLE patients AS SELECT * FROM patients_df")
        con.unregister("patients_df")
        engine_ms, engine_cpu, ours = _median_ms(lambda: _engine(con), repeats)
        filtered = con.execute(RELATION, PARAMS).df()
        ll_ms, ll_cpu, theirs = _median_ms(lambda: _lifelines(filtered), lifelines_repeats)
        rows_out.append({
            "patients": n, "filtered": len(filtered), "agg_rows": len(ours.counts),
            "engine_ms": engine_ms, "engine_cpu": engine_cpu, "lifelines_ms": ll_ms,
            "lifelines_cpu": ll_cpu, "ratio": ll_ms / engine_ms,
            "max_abs_diff": max_difference(ours, theirs), "hr": ours.cox.hr,
        })
        con.close()
    return rows_out


def print_table(rows: list[dict], repeats: int, lifelines_repeats: int) -> None:
    print("Subgroup recompute = filter (ecog <= 1) + KM x2 + log-rank + Cox HR (Efron)")
    print(f"median of {repeats} engine / {lifelines_repeats} lifelines repeats after a warm-up; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print("ms = wall clock; cpu = CPU time of all threads (less sensitive to other load)")
    head = (f"{'patients':>10} {'filtered':>9} {'agg rows':>9} {'engine ms':>10} {'(cpu)':>7} "
            f"{'lifelines ms':>13} {'(cpu)':>8} {'speed-up':>9} {'max |diff|':>11} {'HR':>7}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['patients']:>10,} {r['filtered']:>9,} {r['agg_rows']:>9,} "
              f"{r['engine_ms']:>10.1f} {r['engine_cpu']:>7.1f} {r['lifelines_ms']:>13.1f} "
              f"{r['lifelines_cpu']:>8.1f} {r['ratio']:>8.1f}x "
              f"{r['max_abs_diff']:>11.1e} {r['hr']:>7.4f}")
    big = [r for r in rows if r["patients"] >= 1_000_000]
    for r in big:
        ok_time = r["engine_ms"] < 100
        ok_ratio = r["ratio"] >= 10
        ok_diff = r["max_abs_diff"] < 1e-6
        print(f"targets at {r['patients']:,}: < 100 ms {'OK' if ok_time else 'MISSED'}, "
              f">= 10x lifelines {'OK' if ok_ratio else 'MISSED'}, "
              f"max |diff| < 1e-6 {'OK' if ok_diff else 'MISSED'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=9, help="engine repeats (median)")
    parser.add_argument("--lifelines-repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rows = run(args.sizes, args.repeats, args.lifelines_repeats)
    print_table(rows, args.repeats, args.lifelines_repeats)


if __name__ == "__main__":
    main()
