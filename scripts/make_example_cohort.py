"""Write data/example_cohort.csv: a SYNTHETIC institutional cohort to try "My data" with.

    python scripts/make_example_cohort.py [--n 60] [--seed 20240607] [--out data/example_cohort.csv]

No row describes a real patient. The file imitates what a hospital's data manager might export:
its own column names ("Patient code", "PFS_mo", "Prior IO") and spellings ("Y"/"N", "pos"/"neg",
"M"/"F"), so that the mapping step has something to do. 60 patients with advanced NSCLC treated
with anlotinib plus a PD-1 inhibitor in the second line or later. Times are months from the start
of the combination; PFS events are progression or death, OS events death. Follow-up ends at a
data cutoff 30 months after the first patient started (accrual over 24 months), so later
patients are censored earlier. The same seed always gives the same file.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "data" / "example_cohort.csv"
SEED = 20240607

COLUMNS = [
    "Patient code", "Arm", "Prior IO", "Prior antiangiogenic", "PD-L1", "EGFR", "ECOG PS", "Line",
    "Tumor type", "Sex", "Age group", "Histology", "Smoking", "BOR", "PFS_mo", "PFS_status",
    "OS_mo", "OS_status", "Dataset",
]


def make_cohort(n: int = 60, seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    prior_io = rng.random(n) < 0.55
    pdl1 = rng.choice(["pos", "neg", "unknown"], size=n, p=[0.35, 0.35, 0.30])
    ecog = rng.choice(["0", "1", "2"], size=n, p=[0.25, 0.60, 0.15])
    line = rng.choice(["2", "3", "4"], size=n, p=[0.55, 0.30, 0.15])
    squamous = rng.random(n) < 0.35
    egfr = np.where(squamous, "WT", rng.choice(["WT", "19del", "L858R"], size=n, p=[0.84, 0.08, 0.08]))
    sex = np.where(rng.random(n) < np.where(squamous, 0.85, 0.6), "M", "F")
    smoking = np.where(sex == "M", rng.choice(["current", "former", "never"], size=n, p=[0.3, 0.5, 0.2]),
                       rng.choice(["current", "former", "never"], size=n, p=[0.05, 0.15, 0.8]))
    age_group = np.where(rng.random(n) < 0.4, ">=65", "<65")

    # Progression-free survival: exponential, median about 5.5 months, shifted by risk factors.
    hazard = math.log(2) / 5.5
    hazard = hazard * np.where(prior_io, 1.3, 1.0) * np.where(pdl1 == "pos", 0.8, 1.0)
    hazard = hazard * np.where(ecog == "2", 1.6, 1.0) * np.where(line == "4", 1.2, 1.0)
    pfs_true = rng.exponential(1 / hazard)
    post_progression = rng.exponential(8.0 / math.log(2), size=n)
    os_true = pfs_true + post_progression

    accrual = rng.uniform(0, 24, size=n)
    follow_up = 30 - accrual  # months from start to the data cutoff
    lost = rng.random(n) < 0.05
    follow_up = np.where(lost, follow_up * rng.uniform(0.2, 0.8, size=n), follow_up)

    pfs_event = pfs_true <= follow_up
    pfs = np.where(pfs_event, pfs_true, follow_up)
    os_event = os_true <= follow_up
    os_ = np.where(os_event, os_true, follow_up)
    pfs = np.maximum(np.round(pfs, 1), 0.1)
    os_ = np.maximum(np.round(os_, 1), pfs)

    # Best response follows the progression time loosely: early progressors mostly PD.
    bor = np.where(pfs < 2.0, rng.choice(["PD", "SD", "NE"], size=n, p=[0.7, 0.2, 0.1]),
                   rng.choice(["PR", "SD"], size=n, p=[0.3, 0.7]))

    return pd.DataFrame({
        "Patient code": [f"SYN-{i:03d}" for i in range(1, n + 1)],
        "Arm": "combination",
        "Prior IO": np.where(prior_io, "Y", "N"),
        "Prior antiangiogenic": np.where(rng.random(n) < 0.2, "Y", "N"),
        "PD-L1": pdl1,
        "EGFR": egfr,
        "ECOG PS": ecog,
        "Line": line,
        "Tumor type": "NSCLC",
        "Sex": sex,
        "Age group": age_group,
        "Histology": np.where(squamous, "squamous", "adenocarcinoma"),
        "Smoking": smoking,
        "BOR": bor,
        "PFS_mo": [f"{v:.1f}" for v in pfs],
        "PFS_status": pfs_event.astype(int),
        "OS_mo": [f"{v:.1f}" for v in os_],
        "OS_status": os_event.astype(int),
        "Dataset": "SYNTHETIC example - not real patients",
    })[COLUMNS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    make_cohort(args.n, args.seed).to_csv(args.out, index=False, lineterminator="\n")
    print(f"wrote {args.out} ({args.n} synthetic patients, seed {args.seed})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
