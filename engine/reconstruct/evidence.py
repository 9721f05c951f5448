"""Read one study's curated evidence (the tables returned by ``engine.validate.load_all``)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd


def clean(value):
    """None for empty cells (None / NaN), the value otherwise; whole floats stay floats."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def records(df: pd.DataFrame, study_id: str) -> list[dict]:
    if df is None or len(df) == 0:
        return []
    sub = df[df["study_id"] == study_id]
    return [{k: clean(v) for k, v in rec.items()} for rec in sub.to_dict("records")]


@dataclass
class StudyEvidence:
    study_id: str
    study: dict
    arms: list[dict]
    results: list[dict]
    baseline: list[dict]
    best_response: list[dict]
    filters: list[dict]
    notes: list[dict]

    @staticmethod
    def from_tables(tables: dict[str, pd.DataFrame], study_id: str) -> "StudyEvidence":
        study = records(tables["studies"], study_id)
        if not study:
            raise KeyError(f"no study row for {study_id}")
        return StudyEvidence(
            study_id,
            study[0],
            records(tables["arms"], study_id),
            records(tables["reported_results"], study_id),
            records(tables["baseline"], study_id),
            records(tables["best_response"], study_id),
            records(tables["filter_availability"], study_id),
            records(tables["notes"], study_id),
        )

    def arm_n(self, arm_id: str) -> int:
        return int(next(a["n"] for a in self.arms if a["arm_id"] == arm_id))

    def result(self, arm_id: str, endpoint: str, statistic: str, subgroup=None, level=None,
               timepoint=None, analysis=None) -> dict | None:
        """The first matching results row (None if the paper does not give it)."""
        for r in self.results:
            if (r["arm_id"] == arm_id and r["endpoint"] == endpoint and r["statistic"] == statistic
                    and r["subgroup"] == subgroup and r["level"] == level
                    and (timepoint is None or _close(r["timepoint_months"], timepoint))
                    and (analysis is None or r["analysis"] == analysis)):
                return r
        return None

    def estimate(self, arm_id: str, endpoint: str, statistic: str, **kw) -> float | None:
        r = self.result(arm_id, endpoint, statistic, **kw)
        return None if r is None or r["estimate"] is None else float(r["estimate"])

    def events(self, arm_id: str, endpoint: str) -> int | None:
        r = self.result(arm_id, endpoint, "median")
        return None if r is None or r["events"] is None else int(r["events"])

    def baseline_counts(self, arm_id: str, characteristic: str, exclude=()) -> dict[str, int]:
        out = {}
        for b in self.baseline:
            if (b["arm_id"] == arm_id and b["characteristic"] == characteristic
                    and b["n"] is not None and b["level"] not in exclude):
                out[b["level"]] = int(b["n"])
        return out

    def response_counts(self, arm_id: str) -> dict[str, int]:
        return {b["category"]: int(b["n"]) for b in self.best_response
                if b["arm_id"] == arm_id and b["subgroup"] is None}

    def whole_cohort_filter(self, variable: str) -> str | None:
        """The level every patient has, when filters.csv gives one level for the whole study."""
        total = int(self.study["n_total"])
        rows = [f for f in self.filters if f["variable"] == variable and f["level"] is not None
                and f["status"] in ("reported", "inferred")]
        for f in rows:
            if f["n"] is not None and int(f["n"]) == total:
                return f["level"]
        return None


def _close(a, b) -> bool:
    return a is not None and abs(float(a) - float(b)) < 1e-9
