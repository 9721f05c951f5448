"""Store, rename and delete user cohorts. Each operation is one transaction.

A cohort is one row of ``user_cohorts`` (study_id ``user_<slug>``) and its rows in
``patients`` (origin 'user') and ``patient_attributes``. Storing either writes all of them or,
on any error and also when the process is killed part-way, nothing: DuckDB discards an
uncommitted transaction when the database is next opened. Only rows of the named user cohort
are ever changed; published studies and other cohorts cannot be reached from here.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timezone
from typing import Callable

import duckdb
import pandas as pd

from engine.build import ensure_patient_tables, insert_rows
from engine.ingest.problems import IngestError
from engine.schema import PATIENT_ATTRIBUTE_COLUMNS, PATIENT_COLUMNS

USER_PREFIX = "user_"
MAX_NAME_LENGTH = 80
CHUNK_ROWS = 5_000

Progress = Callable[[int, int], None]


def slugify(name: str) -> str:
    """'Hospital A: 2nd line' -> 'hospital_a_2nd_line' ('cohort' when nothing ASCII is left)."""
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")[:40].strip("_")
    return slug or "cohort"


def clean_name(name: str) -> str:
    """The cohort name as it will be shown; refused when empty, too long or multi-line."""
    text = (name or "").strip()
    if not text:
        raise IngestError("give the cohort a name", headline="Not stored: the cohort needs a name.")
    if len(text) > MAX_NAME_LENGTH:
        raise IngestError(f"the name has {len(text)} characters; at most {MAX_NAME_LENGTH}",
                          headline="Not stored: the name is too long.")
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise IngestError("the name must be one line of text without control characters",
                          headline="Not stored: the name cannot be used.")
    return text


def _name_taken(con, name: str, except_study: str | None = None) -> str | None:
    row = con.execute(
        "SELECT study_id FROM user_cohorts WHERE lower(name) = lower(?) AND study_id IS DISTINCT FROM ?",
        [name, except_study],
    ).fetchone()
    return row[0] if row else None


def _published_ids(con) -> set[str]:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'studies'"
    ).fetchone()[0]
    published = {r[0] for r in con.execute("SELECT study_id FROM studies").fetchall()} if exists else set()
    reconstructed = {r[0] for r in con.execute(
        "SELECT DISTINCT study_id FROM patients WHERE origin IS DISTINCT FROM 'user'").fetchall()}
    return published | reconstructed


def new_study_id(con, name: str) -> str:
    """``user_<slug>``, with a number appended when that id is taken."""
    base = USER_PREFIX + slugify(name)
    taken = {r[0] for r in con.execute("SELECT study_id FROM user_cohorts").fetchall()} | _published_ids(con)
    taken |= {r[0] for r in con.execute("SELECT DISTINCT study_id FROM patients").fetchall()}
    candidate, k = base, 2
    while candidate in taken:
        candidate, k = f"{base}_{k}", k + 1
    return candidate


def list_cohorts(con) -> pd.DataFrame:
    """Stored user cohorts, newest first."""
    return con.execute(
        """SELECT study_id, name, created_at, source_file, n_patients, sha256
           FROM user_cohorts ORDER BY created_at DESC, study_id"""
    ).df()


def cohort_rows(con, study_id: str) -> pd.DataFrame:
    """The stored patient rows of one user cohort, in upload order of patient id."""
    columns = ", ".join(f'"{c.name}"' for c in PATIENT_COLUMNS)
    return con.execute(
        f"SELECT {columns} FROM patients WHERE study_id = ? AND origin = 'user' ORDER BY patient_id",
        [study_id],
    ).df()


def _run_in_transaction(con, work):
    con.execute("BEGIN TRANSACTION")
    try:
        result = work()
        con.execute("COMMIT")
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass  # the transaction is already gone; nothing of it was committed
        raise
    return result


def store_cohort(
    con: duckdb.DuckDBPyConnection,
    patients: pd.DataFrame,
    attributes: pd.DataFrame,
    name: str,
    source_file: str | None,
    sha256: str | None,
    on_progress: Progress | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> str:
    """Store a validated cohort in one transaction and return its study_id.

    ``patients`` has our patient columns except study_id and origin; ``attributes`` has
    patient_id, variable, level. The name must not be taken by another cohort (any case).
    """
    name = clean_name(name)
    ensure_patient_tables(con)

    def work() -> str:
        other = _name_taken(con, name)
        if other:
            raise IngestError(f"a cohort named '{name}' is already stored ({other}); choose another name",
                              headline="Not stored: the name is taken.")
        study_id = new_study_id(con, name)
        con.execute(
            "INSERT INTO user_cohorts VALUES (?, ?, ?, ?, ?, ?)",
            [study_id, name, datetime.now(timezone.utc).isoformat(timespec="seconds"),
             source_file, len(patients), sha256],
        )
        rows = patients.assign(study_id=study_id, origin="user")
        total = len(rows)
        for start in range(0, total, chunk_rows):
            insert_rows(con, "patients", PATIENT_COLUMNS, rows.iloc[start:start + chunk_rows])
            if on_progress:
                on_progress(min(start + chunk_rows, total), total)
        if len(attributes):
            insert_rows(con, "patient_attributes", PATIENT_ATTRIBUTE_COLUMNS, attributes.assign(study_id=study_id))
        return study_id

    try:
        return _run_in_transaction(con, work)
    except duckdb.ConstraintException:
        raise IngestError("another cohort was stored under the same id at the same moment; try again") from None


def _require_user_cohort(con, study_id: str) -> str:
    row = con.execute("SELECT name FROM user_cohorts WHERE study_id = ?", [study_id]).fetchone()
    if row is None or not str(study_id).startswith(USER_PREFIX):
        raise IngestError(f"there is no stored user cohort '{study_id}'; published studies cannot be changed here",
                          headline="Nothing changed.")
    return row[0]


def rename_cohort(con, study_id: str, new_name: str) -> None:
    """Give a user cohort another name (its study_id, and so every link to it, stays)."""
    ensure_patient_tables(con)
    name = clean_name(new_name)

    def work() -> None:
        _require_user_cohort(con, study_id)
        other = _name_taken(con, name, except_study=study_id)
        if other:
            raise IngestError(f"a cohort named '{name}' is already stored ({other}); choose another name",
                              headline="Not renamed: the name is taken.")
        con.execute("UPDATE user_cohorts SET name = ? WHERE study_id = ?", [name, study_id])

    _run_in_transaction(con, work)


def delete_cohort(con, study_id: str) -> int:
    """Delete a user cohort and its rows; returns the number of patients deleted."""
    ensure_patient_tables(con)

    def work() -> int:
        _require_user_cohort(con, study_id)
        n = con.execute(
            "SELECT count(*) FROM patients WHERE study_id = ? AND origin = 'user'", [study_id]
        ).fetchone()[0]
        con.execute("DELETE FROM patients WHERE study_id = ? AND origin = 'user'", [study_id])
        con.execute("DELETE FROM patient_attributes WHERE study_id = ?", [study_id])
        con.execute("DELETE FROM user_cohorts WHERE study_id = ?", [study_id])
        return n

    return _run_in_transaction(con, work)
