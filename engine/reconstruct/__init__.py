"""Patient-level cohorts reconstructed from the published summaries of each study.

``reconstruct_all(tables)`` takes the curated tables (``engine.validate.load_all``) and returns
three DataFrames: ``patients`` (columns ``engine.schema.PATIENT_COLUMN_NAMES``,
origin='reconstructed', ids like 'zzu_escc_pd1-R001'), ``attributes`` (study-specific
descriptors, ``PATIENT_ATTRIBUTE_COLUMNS``) and ``fidelity`` (one row per reported value,
``FIDELITY_COLUMNS``: reported vs reconstructed, tolerance, holds / fails / infeasible).

Pure and deterministic: no files, no database, no global random state (each study draws from
its own seeded ``numpy.random.Generator``), identical output on every call. The method is
described in ``docs/reconstruction.md``; each study's assumptions are in
``engine/reconstruct/studies/<study_id>.py``.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import pandas as pd

from engine.reconstruct.evidence import StudyEvidence
from engine.reconstruct.fidelity import evaluate, reclassify_with_notes
from engine.reconstruct.tables import cohort_rows, frame
from engine.schema import FIDELITY_COLUMNS, PATIENT_ATTRIBUTE_COLUMNS, PATIENT_COLUMN_NAMES, STUDY_IDS

FIDELITY_NAMES = tuple(c.name for c in FIDELITY_COLUMNS)
ATTRIBUTE_NAMES = tuple(c.name for c in PATIENT_ATTRIBUTE_COLUMNS)


@dataclass
class Reconstruction:
    patients: pd.DataFrame
    attributes: pd.DataFrame
    fidelity: pd.DataFrame
    assumptions: dict[str, list[str]] = field(default_factory=dict)


def study_module(study_id: str):
    return importlib.import_module(f"engine.reconstruct.studies.{study_id}")


def reconstruct_study(tables: dict[str, pd.DataFrame], study_id: str):
    """(patient rows, attribute rows, fidelity rows, assumptions) of one study."""
    ev = StudyEvidence.from_tables(tables, study_id)
    built = study_module(study_id).build(ev)
    cohorts = {c.arm_id: c for c in built.cohorts}
    with_dor = any(c.endpoint == "DoR" for c in built.constraints)
    patients, attributes = cohort_rows(built.cohorts, with_dor)
    fidelity = [evaluate(c, cohorts) for c in built.constraints if c.arm_id in cohorts]
    reclassify_with_notes(fidelity, ev.notes)
    return patients, attributes, fidelity, built.assumptions


def reconstruct_all(tables: dict[str, pd.DataFrame]) -> Reconstruction:
    """Reconstruct every study present in ``tables`` (see the module docstring).

    A study whose reconstruction raises is left out of ``patients`` and gets one fidelity row
    with status 'fails' and the error as the reason, so the app can still start.
    """
    present = set(tables["studies"]["study_id"]) if len(tables["studies"]) else set()
    patients, attributes, fidelity, assumptions = [], [], [], {}
    for sid in STUDY_IDS:
        if sid not in present:
            continue
        try:
            p, a, f, notes = reconstruct_study(tables, sid)
        except Exception as exc:  # noqa: BLE001 - reported in the fidelity table instead
            fidelity.append({name: None for name in FIDELITY_NAMES} | {
                "study_id": sid, "arm_id": "all", "endpoint": "all", "statistic": "reconstruction",
                "status": "fails", "reason": f"reconstruction failed: {type(exc).__name__}: {exc}"})
            continue
        patients += p
        attributes += a
        fidelity += f
        assumptions[sid] = notes
    return Reconstruction(
        frame(patients, PATIENT_COLUMN_NAMES),
        frame(attributes, ATTRIBUTE_NAMES),
        frame(fidelity, FIDELITY_NAMES),
        assumptions,
    )
