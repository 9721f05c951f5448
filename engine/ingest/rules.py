"""Validation rules for an upload: one function per rule, each returning precise problems.

Every rule takes a :class:`Upload` (the file as read, the mapping, our columns after mapping)
and returns a list of :class:`Problem`. Row problems name the row as the user's spreadsheet
shows it and the column by the user's name (ours in brackets), and quote the cell:
``row 17, pfs_months: '-3' is negative``. Rules never change a value.

The rules that concern the file as a whole (size, encoding, empty file, sheet choice, header)
live in ``engine.ingest.readers``; identifier detection lives in ``engine.ingest.identifiers``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.ingest.columns import (
    EVENT_COLUMNS,
    EVENT_OF_TIME,
    LEVELS,
    TIME_COLUMNS,
    UPLOAD_COLUMNS,
)
from engine.ingest.mapping import Mapping, mapped_values
from engine.ingest.problems import Problem, show
from engine.ingest.readers import RawTable


@dataclass
class Upload:
    table: RawTable
    mapping: Mapping
    values: pd.DataFrame  # our columns after the level translation, text

    @classmethod
    def of(cls, table: RawTable, mapping: Mapping) -> "Upload":
        return cls(table, mapping, mapped_values(table, mapping))

    def mapped(self, ours: str) -> bool:
        theirs = self.mapping.columns.get(ours)
        return theirs is not None and theirs in self.table.frame.columns

    def raw(self, ours: str) -> pd.Series:
        return self.table.frame[self.mapping.columns[ours]]

    def row_problems(self, ours: str, mask: np.ndarray | pd.Series, message) -> list[Problem]:
        """One problem per row where ``mask`` holds; ``message(i)`` words it for position ``i``."""
        positions = np.flatnonzero(np.asarray(mask, dtype=bool))
        label = self.mapping.label(ours)
        return [Problem(message(i), row=int(self.table.row_numbers[i]), column=label) for i in positions]


def _numbers(text: pd.Series) -> pd.Series:
    """Text as float; NaN where empty or not a finite number."""
    numbers = pd.to_numeric(text.where(text != ""), errors="coerce")
    return numbers.where(np.isfinite(numbers.astype(float)))


# ---- the rules -------------------------------------------------------------------------------


def check_required_columns(up: Upload) -> list[Problem]:
    """patient_id is mapped; at least one endpoint has both its time and event column; a time
    column comes with its event column and the other way round; mapped columns exist."""
    problems = []
    for ours, theirs in up.mapping.columns.items():
        if theirs not in up.table.frame.columns:
            problems.append(Problem(f"the mapping names column '{theirs}' for {ours}, but the file has no such column"))
    if not up.mapped("patient_id"):
        problems.append(Problem("missing required column patient_id: map the column holding your de-identified patient codes"))
    pairs = [(t, EVENT_OF_TIME[t]) for t in TIME_COLUMNS]
    if not any(up.mapped(t) and up.mapped(e) for t, e in pairs):
        problems.append(Problem(
            "missing required columns: no outcome. Map at least one time and event pair "
            "(pfs_months + pfs_event, os_months + os_event, pfs2_months + pfs2_event, dor_months + dor_event)"
        ))
    for t, e in pairs:
        if up.mapped(t) and not up.mapped(e):
            problems.append(Problem(f"missing required column {e}: {up.mapping.label(t)} is mapped, its event column is not"))
        if up.mapped(e) and not up.mapped(t):
            problems.append(Problem(f"missing required column {t}: {up.mapping.label(e)} is mapped, its time column is not"))
    return problems


def check_columns_mapped_once(up: Upload) -> list[Problem]:
    """One column of the file feeds at most one of ours."""
    users: dict[str, list[str]] = {}
    for ours in UPLOAD_COLUMNS:
        theirs = up.mapping.columns.get(ours)
        if theirs is not None:
            users.setdefault(theirs, []).append(ours)
    return [
        Problem(f"is mapped to {' and '.join(ours)}; map it to one of them", column=f"'{theirs}'")
        for theirs, ours in users.items() if len(ours) > 1
    ]


def check_kept_columns(up: Upload) -> list[Problem]:
    """Columns kept as extra descriptors exist and are not also mapped to one of ours."""
    mapped = set(up.mapping.columns.values())
    problems = []
    for column in up.mapping.keep:
        if column not in up.table.frame.columns:
            problems.append(Problem(f"the mapping keeps column '{column}', but the file has no such column"))
        elif column in mapped:
            problems.append(Problem(f"column '{column}' is both mapped to one of ours and kept as an extra descriptor"))
    return problems


def check_required_values(up: Upload) -> list[Problem]:
    """Every row has a patient id, and an arm when an arm column is mapped."""
    problems = []
    for ours in ("patient_id", "arm_id"):
        if up.mapped(ours):
            problems += up.row_problems(ours, up.raw(ours) == "", lambda i: "empty; every patient needs one")
    return problems


def check_unique_patient_ids(up: Upload) -> list[Problem]:
    """No patient id appears twice."""
    if not up.mapped("patient_id"):
        return []
    ids = up.raw("patient_id")
    filled = ids != ""
    repeated = ids.duplicated(keep="first") & filled
    if not repeated.any():
        return []
    first_row = {}
    for i, value in enumerate(ids):
        if value != "" and value not in first_row:
            first_row[value] = int(up.table.row_numbers[i])
    return up.row_problems(
        "patient_id", repeated, lambda i: f"{show(ids.iat[i])} repeats row {first_row[ids.iat[i]]}"
    )


def check_times_numeric(up: Upload) -> list[Problem]:
    """Times are numbers (a dot for decimals, no units)."""
    problems = []
    for ours in TIME_COLUMNS:
        if up.mapped(ours):
            raw = up.raw(ours)
            bad = (raw != "") & _numbers(raw).isna()
            problems += up.row_problems(ours, bad, lambda i, r=raw: f"{show(r.iat[i])} is not a number of months")
    return problems


def check_times_not_negative(up: Upload) -> list[Problem]:
    """Times are 0 or more."""
    problems = []
    for ours in TIME_COLUMNS:
        if up.mapped(ours):
            raw = up.raw(ours)
            bad = (_numbers(raw) < 0).fillna(False)
            problems += up.row_problems(ours, bad, lambda i, r=raw: f"{show(r.iat[i])} is negative")
    return problems


def check_events_binary(up: Upload) -> list[Problem]:
    """Events are 1 (event observed) or 0 (censored), after the level mapping."""
    problems = []
    for ours in EVENT_COLUMNS:
        if up.mapped(ours):
            raw, mapped = up.raw(ours), up.values[ours]
            numbers = _numbers(mapped)
            bad = (mapped != "") & ~numbers.isin([0.0, 1.0])
            problems += up.row_problems(
                ours, bad, lambda i, r=raw: f"{show(r.iat[i])} is not 0 or 1 (1 = event, 0 = censored)"
            )
    return problems


def check_event_has_time(up: Upload) -> list[Problem]:
    """An event comes with its time, and a time with its event."""
    problems = []
    for t in TIME_COLUMNS:
        e = EVENT_OF_TIME[t]
        if not (up.mapped(t) and up.mapped(e)):
            continue
        time_raw, event_raw, event = up.raw(t), up.raw(e), up.values[e]
        problems += up.row_problems(
            t, (time_raw == "") & (event != ""),
            lambda i, er=event_raw, e=e: f"empty, but {e} is {show(er.iat[i])}: an event needs its time",
        )
        problems += up.row_problems(
            e, (event == "") & (time_raw != ""),
            lambda i, tr=time_raw, t=t: f"empty, but {t} is {show(tr.iat[i])}: a time needs its event (1 or 0)",
        )
    return problems


def check_levels_known(up: Upload) -> list[Problem]:
    """Level columns hold only our levels once the user's spellings are mapped."""
    problems = []
    for ours, levels in LEVELS.items():
        if not up.mapped(ours):
            continue
        raw, mapped = up.raw(ours), up.values[ours]
        bad = (mapped != "") & ~mapped.isin(levels)
        known = ", ".join(levels)
        problems += up.row_problems(
            ours, bad,
            lambda i, r=raw, known=known: f"{show(r.iat[i])} is not a known level ({known}); map it in the level step",
        )
    return problems


ROW_RULES = (
    check_required_values,
    check_unique_patient_ids,
    check_times_numeric,
    check_times_not_negative,
    check_events_binary,
    check_event_has_time,
    check_levels_known,
)


def validate(up: Upload) -> list[Problem]:
    """All problems: column problems first, then row problems in row order (column order within a row)."""
    column_problems = check_required_columns(up) + check_columns_mapped_once(up) + check_kept_columns(up)
    row_problems = [p for rule in ROW_RULES for p in rule(up)]
    labels = {up.mapping.label(c): k for k, c in enumerate(UPLOAD_COLUMNS)}
    row_problems.sort(key=lambda p: (p.row, labels.get(p.column, len(labels))))
    return column_problems + row_problems

