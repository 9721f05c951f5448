"""Read and validate the curated CSV files.

Every problem is reported with the file, the line (as a spreadsheet shows it: the header is line 1)
and the column, so that a curator can go straight to it. Validation never touches the database.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from engine.schema import FILE_BY_NAME, FILES, FILTER_VARIABLES, STUDY_IDS, FileSpec

MAX_REPORTED_PROBLEMS = 50


@dataclass(frozen=True)
class Problem:
    path: str
    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.path
        if self.line is not None:
            where += f" line {self.line}"
        if self.column:
            where += f", {self.column}"
        return f"{where}: {self.message}"


class DataValidationError(Exception):
    """The curated data cannot be loaded; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        shown = "\n".join(f"  - {p}" for p in problems[:MAX_REPORTED_PROBLEMS])
        more = len(problems) - MAX_REPORTED_PROBLEMS
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(f"{len(problems)} problem(s) in the data files:\n{shown}{tail}")


def _parse_value(raw: str, kind: str):
    """Return the typed value, or raise ValueError with a short reason."""
    if kind in ("int", "float"):
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"'{raw}' is not a number") from None
    if kind == "int":
        if not value.is_integer():
            raise ValueError(f"'{raw}' is not a whole number")
        return int(value)
    if kind == "float":
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"'{raw}' is not a finite number")
        return value
    if kind == "date_text":
        parts = raw.split("-")
        if not (1 <= len(parts) <= 3 and all(p.isdigit() for p in parts) and len(parts[0]) == 4):
            raise ValueError(f"'{raw}' is not YYYY, YYYY-MM or YYYY-MM-DD")
        return raw
    return raw


def read_table(path: Path, spec: FileSpec, rel: str, problems: list[Problem]) -> pd.DataFrame:
    """Parse one CSV against its spec; append problems, return the typed rows that parsed."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problems.append(Problem(rel, None, None, f"not valid UTF-8 ({exc.reason} at byte {exc.start})"))
        return pd.DataFrame(columns=["_line", *spec.names])
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None:
        problems.append(Problem(rel, 1, None, "file is empty (a header row is required)"))
        return pd.DataFrame(columns=["_line", *spec.names])
    header = [h.strip() for h in header]
    missing = [c for c in spec.names if c not in header]
    extra = [c for c in header if c not in spec.names]
    if missing:
        problems.append(Problem(rel, 1, None, f"missing column(s): {', '.join(missing)}"))
    if extra:
        problems.append(Problem(rel, 1, None, f"unknown column(s): {', '.join(extra)}"))
    if missing or extra:
        return pd.DataFrame(columns=["_line", *spec.names])

    rows: list[dict] = []
    for line_no, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            problems.append(
                Problem(rel, line_no, None, f"{len(cells)} cells where the header has {len(header)}")
            )
            continue
        record = {"_line": line_no}
        for col in spec.columns:
            raw = cells[header.index(col.name)].strip()
            if raw == "":
                if col.required:
                    problems.append(Problem(rel, line_no, col.name, "required value is empty"))
                record[col.name] = None
                continue
            try:
                value = _parse_value(raw, col.kind)
            except ValueError as exc:
                problems.append(Problem(rel, line_no, col.name, str(exc)))
                record[col.name] = None
                continue
            if col.allowed is not None and value not in col.allowed:
                problems.append(
                    Problem(rel, line_no, col.name, f"'{raw}' is not one of: {', '.join(col.allowed)}")
                )
            if col.min_value is not None and value < col.min_value:
                problems.append(Problem(rel, line_no, col.name, f"{raw} is below {col.min_value:g}"))
            if col.max_value is not None and value > col.max_value:
                problems.append(Problem(rel, line_no, col.name, f"{raw} is above {col.max_value:g}"))
            record[col.name] = value
        rows.append(record)
    if spec.one_row and len(rows) != 1:
        problems.append(Problem(rel, None, None, f"must hold exactly one data row, found {len(rows)}"))
    return pd.DataFrame(rows, columns=["_line", *spec.names])


def _row_checks(spec: FileSpec, df: pd.DataFrame, rel: str, arms: set[str], problems: list[Problem]):
    for rec in df.to_dict("records"):
        line = rec["_line"]
        if "arm_exists" in spec.checks and rec.get("arm_id") not in arms:
            problems.append(Problem(rel, line, "arm_id", f"'{rec.get('arm_id')}' is not an arm in arms.csv"))
        if "n_le_denominator" in spec.checks:
            n, d = rec.get("n"), rec.get("denominator")
            if n is not None and d is not None and n > d:
                problems.append(Problem(rel, line, "n", f"{n} is larger than the denominator {d}"))
        if "n_or_percent" in spec.checks and rec.get("n") is None and rec.get("percent") is None:
            problems.append(Problem(rel, line, "n", "neither n nor percent is given"))
        if "subgroup_level" in spec.checks and (rec.get("subgroup") is None) != (rec.get("level") is None):
            problems.append(Problem(rel, line, "level", "subgroup and level must be given together"))
        if "fractions" in spec.checks and rec.get("statistic") in ("proportion", "survival_rate"):
            for col in ("estimate", "ci_low", "ci_high"):
                v = rec.get(col)
                if v is not None and v > 1:
                    problems.append(
                        Problem(rel, line, col, f"{v:g} is above 1 (proportions are fractions, not percents)")
                    )
        if "hr_contrast" in spec.checks and rec.get("statistic") == "hr":
            contrast = rec.get("contrast")
            if contrast is None:
                problems.append(Problem(rel, line, "contrast", "an hr row needs a contrast"))
            elif contrast == "between_arms" and rec.get("reference_level") not in arms:
                problems.append(
                    Problem(rel, line, "reference_level", "a between_arms hr needs the control arm id here")
                )
            elif contrast == "between_levels" and (rec.get("subgroup") is None or rec.get("reference_level") is None):
                problems.append(
                    Problem(rel, line, "reference_level", "a between_levels hr needs subgroup, level and reference_level")
                )


def study_dirs(data_dir: Path) -> list[Path]:
    root = data_dir / "studies"
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []


def load_all(data_dir: Path) -> dict[str, pd.DataFrame]:
    """Validate every study folder and return one DataFrame per table (without ``_line``).

    Raises DataValidationError listing every problem found, so nothing half-valid is loaded.
    """
    problems: list[Problem] = []
    frames: dict[str, list[pd.DataFrame]] = {spec.table: [] for spec in FILES}
    dirs = study_dirs(data_dir)
    seen = {d.name for d in dirs}
    for sid in STUDY_IDS:
        if sid not in seen:
            problems.append(Problem(f"data/studies/{sid}", None, None, "study folder is missing"))
    for folder in dirs:
        sid = folder.name
        if sid not in STUDY_IDS:
            problems.append(Problem(f"data/studies/{sid}", None, None, f"unknown study_id '{sid}'"))
            continue
        tables: dict[str, pd.DataFrame] = {}
        for spec in FILES:
            rel = f"data/studies/{sid}/{spec.filename}"
            path = folder / spec.filename
            if not path.exists():
                problems.append(Problem(rel, None, None, "file is missing"))
                continue
            df = read_table(path, spec, rel, problems)
            wrong = df[df["study_id"].notna() & (df["study_id"] != sid)]
            for rec in wrong.to_dict("records"):
                problems.append(
                    Problem(rel, rec["_line"], "study_id", f"'{rec['study_id']}' does not match the folder '{sid}'")
                )
            tables[spec.filename] = df
        arms = set(tables.get("arms.csv", pd.DataFrame(columns=["arm_id"]))["arm_id"].dropna())
        for filename, df in tables.items():
            _row_checks(FILE_BY_NAME[filename], df, f"data/studies/{sid}/{filename}", arms, problems)
        _cross_checks(sid, tables, problems)
        for filename, df in tables.items():
            frames[FILE_BY_NAME[filename].table].append(df.drop(columns="_line"))
    if problems:
        raise DataValidationError(problems)
    out = {}
    for spec in FILES:
        parts = [f for f in frames[spec.table] if len(f)]
        out[spec.table] = pd.concat([p.astype(object) for p in parts], ignore_index=True) if parts else pd.DataFrame(columns=spec.names)
    return out


def _cross_checks(sid: str, tables: dict[str, pd.DataFrame], problems: list[Problem]) -> None:
    base = f"data/studies/{sid}"
    terms = tables.get("ae_terms.csv")
    aes = tables.get("adverse_events.csv")
    if terms is not None and aes is not None:
        mapped = set(terms["term"].dropna())
        for rec in aes.to_dict("records"):
            if rec["term"] is not None and rec["term"] not in mapped:
                problems.append(
                    Problem(f"{base}/adverse_events.csv", rec["_line"], "term", f"'{rec['term']}' has no row in ae_terms.csv")
                )
        dup = terms[terms.duplicated("term", keep="first")]
        for rec in dup.to_dict("records"):
            problems.append(Problem(f"{base}/ae_terms.csv", rec["_line"], "term", f"'{rec['term']}' is mapped twice"))
    filters = tables.get("filters.csv")
    if filters is not None and len(filters):
        present = set(filters["variable"].dropna())
        for var in FILTER_VARIABLES:
            if var not in present:
                problems.append(Problem(f"{base}/filters.csv", None, "variable", f"no row for filter variable '{var}'"))
    study = tables.get("study.csv")
    arms = tables.get("arms.csv")
    if study is not None and arms is not None and len(study) == 1 and len(arms):
        n_total, n_arms = study["n_total"].iloc[0], int(arms["n"].fillna(0).sum())
        if n_total is not None and n_total != n_arms:
            problems.append(
                Problem(f"{base}/arms.csv", None, "n", f"arm sizes add up to {n_arms}, study.csv says n_total={n_total}")
            )


def consistency_warnings(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Things that are not load errors but that the notes should explain (papers contradict
    themselves): an estimate outside its own CI, a percent that does not match n/denominator."""
    out = []
    rr = tables["reported_results"]
    for rec in rr.to_dict("records"):
        e, lo, hi = rec["estimate"], rec["ci_low"], rec["ci_high"]
        if pd.notna(e) and pd.notna(lo) and pd.notna(hi) and not (lo <= e <= hi):
            out.append(
                f"{rec['study_id']}: {rec['endpoint']} {rec['statistic']} {_text(rec['subgroup'])} {_text(rec['level'])}"
                f" estimate {e:g} outside its CI {lo:g}-{hi:g}"
            )
    return out


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
