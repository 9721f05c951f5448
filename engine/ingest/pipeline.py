"""From a file to a stored cohort: read, map, check, convert, store.

The page and the command line run the same steps, so they report the same messages:

    table = read_path("cohort.xlsx", sheet="Patients")
    result = check(table, complete(table, guess_mapping(table)))
    if result.ok:
        store(con, result, name="Hospital A")
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from engine.ingest.columns import (
    ENDPOINT_OF_TIME,
    EVENT_OF_TIME,
    EVENT_COLUMNS,
    TIME_COLUMNS,
    UPLOAD_COLUMNS,
)
from engine.ingest.identifiers import check_no_identifiers
from engine.ingest.mapping import Mapping, complete, guess_mapping, overlay
from engine.ingest.problems import IngestError, Problem
from engine.ingest.readers import MAX_FILE_BYTES, RawTable, read_path
from engine.ingest.rules import Upload, validate
from engine.ingest.store import Progress, store_cohort


@dataclass
class CheckResult:
    upload: Upload
    problems: list[Problem]
    patients: pd.DataFrame | None = None  # typed rows ready to store; None when there are problems
    attributes: pd.DataFrame | None = None
    unused_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> dict:
        """Patients, arms and, per endpoint, patients with a time and events."""
        if self.patients is None:
            return {}
        p = self.patients
        endpoints = {}
        for t in TIME_COLUMNS:
            if p[t].notna().any():
                endpoints[ENDPOINT_OF_TIME[t]] = {"patients": int(p[t].notna().sum()),
                                                  "events": int(p[EVENT_OF_TIME[t]].sum())}
        return {
            "patients": len(p),
            "arms": {str(k): int(v) for k, v in p["arm_id"].value_counts().sort_index().items()},
            "endpoints": endpoints,
            "extra_descriptors": list(self.upload.mapping.keep),
            "unused_columns": list(self.unused_columns),
        }


def _text(values: pd.Series) -> pd.Series:
    return values.where(values != "", None).astype(object)


def to_patient_rows(up: Upload) -> pd.DataFrame:
    """Our columns with their types (text, float months, 0/1 events); NULL where empty."""
    v = up.values
    out = pd.DataFrame(index=v.index)
    for ours in UPLOAD_COLUMNS:
        column = v[ours]
        if ours in TIME_COLUMNS:
            out[ours] = pd.to_numeric(column.where(column != ""), errors="raise").astype(float)
        elif ours in EVENT_COLUMNS:
            out[ours] = pd.to_numeric(column.where(column != ""), errors="raise").astype("Int64")
        else:
            out[ours] = _text(column)
    if not up.mapped("arm_id"):
        out["arm_id"] = up.mapping.arm
    return out.reset_index(drop=True)


def to_attribute_rows(up: Upload) -> pd.DataFrame:
    """Kept columns as (patient_id, variable, level) rows; empty cells are left out."""
    parts = []
    ids = up.raw("patient_id")
    for column in up.mapping.keep:
        values = up.table.frame[column]
        filled = values != ""
        parts.append(pd.DataFrame({"patient_id": ids[filled], "variable": column, "level": values[filled]}))
    if not parts:
        return pd.DataFrame(columns=["patient_id", "variable", "level"])
    return pd.concat(parts, ignore_index=True)


def check(table: RawTable, mapping: Mapping) -> CheckResult:
    """Every problem of the upload under ``mapping``; typed rows when there is none."""
    up = Upload.of(table, mapping)
    problems = check_no_identifiers(table) + validate(up)
    mapped = set(mapping.columns.values()) | set(mapping.keep)
    unused = [c for c in table.columns if c not in mapped]
    if problems:
        return CheckResult(up, problems, unused_columns=unused)
    return CheckResult(up, [], to_patient_rows(up), to_attribute_rows(up), unused)


def mapping_for(table: RawTable, stated: Mapping | None = None) -> Mapping:
    """Our guess from headers and spellings, with whatever the user stated on top."""
    guessed = guess_mapping(table)
    return complete(table, overlay(guessed, stated) if stated else guessed)


def store(con, result: CheckResult, name: str, on_progress: Progress | None = None) -> str:
    if not result.ok:
        raise IngestError(result.problems)
    table = result.upload.table
    return store_cohort(con, result.patients, result.attributes, name, table.source_name, table.sha256,
                        on_progress=on_progress)


def ingest_file(
    con,
    path: Path | str,
    name: str,
    sheet: str | None = None,
    mapping: Mapping | None = None,
    on_progress: Progress | None = None,
    max_bytes: int = MAX_FILE_BYTES,
) -> tuple[str, CheckResult]:
    """Read, map (guess + ``mapping``), check and store a file; raises IngestError on any problem."""
    table = read_path(path, sheet=sheet, max_bytes=max_bytes)
    result = check(table, mapping_for(table, mapping))
    return store(con, result, name, on_progress), result  # store() raises IngestError on problems


__all__ = ["CheckResult", "check", "ingest_file", "mapping_for", "store", "to_patient_rows"]
