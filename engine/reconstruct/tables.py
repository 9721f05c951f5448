"""Turn reconstructed cohorts into the ``patients`` and ``patient_attributes`` rows."""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.reconstruct.cohort import ArmCohort
from engine.schema import ENDPOINT_COLUMNS, PATIENT_COLUMN_NAMES

ORIGIN = "reconstructed"  # patients.origin of every reconstructed row


def _level(var, k: int):
    return None if k < 0 else var.levels[k]


def cohort_rows(cohorts: list[ArmCohort], with_dor: bool, start: int = 1):
    """(patient rows, attribute rows) of one study's arms; ids '<study>-R001', ... ."""
    patients, attributes = [], []
    k = start
    for c in cohorts:
        for i in range(c.n):
            pid = f"{c.study_id}-R{k:03d}"
            k += 1
            row = {name: None for name in PATIENT_COLUMN_NAMES}
            row.update(study_id=c.study_id, arm_id=c.arm_id, patient_id=pid, origin=ORIGIN)
            attrs: dict[str, str | None] = {}
            for var in c.variables.values():
                level = _level(var, int(var.codes[i]))
                if var.outputs:
                    pairs = [(name, None if level is None else mapping[level])
                             for name, mapping in var.outputs.items()]
                elif var.column:
                    pairs = [(var.column, level)]
                else:
                    pairs = [(var.attribute or var.name, level)]
                for name, value in pairs:
                    if name in row and name not in ("study_id", "arm_id", "patient_id", "origin"):
                        row[name] = value
                    else:
                        attrs[name] = value
            for ep, (tcol, ecol) in ENDPOINT_COLUMNS.items():
                if ep == "DoR":
                    continue
                if ep in c.times and not np.isnan(c.times[ep][i]):
                    row[tcol] = round(float(c.times[ep][i]), 2)
                    row[ecol] = int(c.events[ep][i])
            if with_dor and row["best_response"] in ("CR", "PR") and row["pfs_months"] is not None:
                row["dor_months"] = round(float(c.times["PFS"][i] - c.ttr[i]), 2)
                row["dor_event"] = row["pfs_event"]
            patients.append(row)
            for name in sorted(attrs):
                attributes.append({"study_id": c.study_id, "patient_id": pid, "variable": name,
                                   "level": attrs[name]})
    return patients, attributes


def frame(rows: list[dict], columns) -> pd.DataFrame:
    """Object columns holding Python values (int stays int, missing is None)."""
    cols = list(columns)
    data = {c: pd.Series([r.get(c) for r in rows], dtype=object) for c in cols}
    return pd.DataFrame(data, columns=cols)
