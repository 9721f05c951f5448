"""The mapping step: which of the user's columns is which of ours, and how their level
spellings translate to ours.

A mapping is plain data (JSON for the command line)::

    {"columns": {"pfs_months": "PFS (mo)", "pfs_event": "Progressed", "patient_id": "Code"},
     "levels":  {"prior_ici": {"Y": "yes", "N": "no"}, "pfs_event": {"Yes": "1", "No": "0"},
                 "pdl1_status": {"n.a.": ""}},
     "arm": "combination",
     "keep": ["smoking"]}

``columns`` maps our column -> the user's column. ``levels`` maps, per our column, the user's
spelling -> our level ("" = unknown, stored as NULL). ``arm`` labels every patient when no
column is mapped to ``arm_id``. ``keep`` lists other columns of the file to store as extra
descriptors (table ``patient_attributes``). Values the mapping does not mention are kept as
written, so a spelling nobody mapped is reported as an unknown level, never guessed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from engine.ingest.columns import DEFAULT_ARM, UPLOAD_COLUMNS, allowed_levels, kind
from engine.ingest.problems import IngestError
from engine.ingest.readers import RawTable
from engine.ingest.spellings import suggest_column, suggest_level


@dataclass
class Mapping:
    columns: dict[str, str] = field(default_factory=dict)  # ours -> user's column
    levels: dict[str, dict[str, str]] = field(default_factory=dict)  # ours -> {user's value -> our level}
    arm: str = DEFAULT_ARM
    keep: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"columns": dict(self.columns), "levels": {k: dict(v) for k, v in self.levels.items()},
                "arm": self.arm, "keep": list(self.keep)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    def user_column(self, ours: str) -> str | None:
        return self.columns.get(ours)

    def label(self, ours: str) -> str:
        """How messages name a column: ours, or 'theirs' (ours) when the names differ."""
        theirs = self.columns.get(ours)
        if theirs is None or theirs == ours:
            return ours
        return f"'{theirs}' ({ours})"


def mapping_from_dict(data: dict) -> Mapping:
    """A mapping from JSON data; unknown keys and our-column names are refused with a message."""
    if not isinstance(data, dict):
        raise IngestError("the mapping must be a JSON object with keys columns, levels, arm, keep")
    unknown = sorted(set(data) - {"columns", "levels", "arm", "keep"})
    problems = [f"mapping: unknown key '{k}' (use columns, levels, arm, keep)" for k in unknown]
    columns = data.get("columns") or {}
    levels = data.get("levels") or {}
    for ours in list(columns) + list(levels):
        if ours not in UPLOAD_COLUMNS:
            problems.append(f"mapping: '{ours}' is not one of our columns ({', '.join(UPLOAD_COLUMNS)})")
    for ours, table in levels.items():
        if not isinstance(table, dict):
            problems.append(f"mapping: levels of '{ours}' must be an object of 'your value': 'our level'")
    if problems:
        from engine.ingest.problems import Problem

        raise IngestError([Problem(p) for p in problems], headline="The mapping cannot be used.")
    return Mapping(
        columns={str(k): str(v) for k, v in columns.items() if v not in (None, "")},
        levels={k: {str(a): ("" if b is None else str(b)) for a, b in v.items()} for k, v in levels.items()},
        arm=str(data.get("arm") or DEFAULT_ARM),
        keep=[str(c) for c in data.get("keep") or []],
    )


def distinct_values(table: RawTable, user_column: str) -> list[str]:
    """The distinct non-empty values of a column, most frequent first."""
    counts = table.frame[user_column].value_counts(sort=True)
    return [v for v in counts.index if v != ""]


def suggest_levels(table: RawTable, ours: str, user_column: str) -> dict[str, str]:
    """Suggested translations for the values of ``user_column`` that are not already ours."""
    allowed = set(allowed_levels(ours))
    out = {}
    for value in distinct_values(table, user_column):
        if value in allowed:
            continue
        suggestion = suggest_level(ours, value)
        if suggestion is not None:
            out[value] = suggestion
    return out


def guess_mapping(table: RawTable) -> Mapping:
    """A first mapping from header names and common spellings, for the user to check."""
    columns: dict[str, str] = {}
    for header in table.columns:
        ours = suggest_column(header)
        if ours and ours not in columns:
            columns[ours] = header
    levels = {
        ours: suggest_levels(table, ours, theirs)
        for ours, theirs in columns.items()
        if kind(ours) in ("level", "event")
    }
    return Mapping(columns=columns, levels={k: v for k, v in levels.items() if v})


def complete(table: RawTable, mapping: Mapping) -> Mapping:
    """``mapping`` with level suggestions added for mapped columns it says nothing about."""
    levels = {k: dict(v) for k, v in mapping.levels.items()}
    for ours, theirs in mapping.columns.items():
        if kind(ours) in ("level", "event") and theirs in table.frame.columns:
            for value, level in suggest_levels(table, ours, theirs).items():
                levels.setdefault(ours, {}).setdefault(value, level)
    return Mapping(dict(mapping.columns), levels, mapping.arm, list(mapping.keep))


def overlay(base: Mapping, override: Mapping) -> Mapping:
    """``base`` with everything ``override`` states replacing it (the command line's --mapping)."""
    columns = {k: v for k, v in base.columns.items() if v not in override.columns.values()}
    columns.update(override.columns)
    levels = {k: dict(v) for k, v in base.levels.items()}
    for ours, table in override.levels.items():
        levels.setdefault(ours, {}).update(table)
    return Mapping(columns, levels, override.arm or base.arm, list(override.keep or base.keep))


def mapped_values(table: RawTable, mapping: Mapping) -> pd.DataFrame:
    """Our columns as text, level spellings translated; "" where the column is unmapped or empty.

    Free-text and time columns are taken as written. Unmapped spellings stay as written.
    """
    out = pd.DataFrame(index=table.frame.index)
    for ours in UPLOAD_COLUMNS:
        theirs = mapping.columns.get(ours)
        if theirs is None or theirs not in table.frame.columns:
            out[ours] = ""
            continue
        values = table.frame[theirs]
        translation = mapping.levels.get(ours)
        if translation and kind(ours) in ("level", "event"):
            values = values.map(lambda v, t=translation: t.get(v, v))
        out[ours] = values
    return out
