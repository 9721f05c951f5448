"""Build the DuckDB database from the curated files in ``data/``.

    python -m engine.build [--db PATH] [--data DIR]

Validation runs first and touches nothing. The load then runs in one transaction against the
existing database file: either every published-evidence table is replaced, or (on any error,
or if the process dies) the database stays as it was. Tables holding user data are never
dropped by a build.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd

from engine.paths import DATA_DIR, DEFAULT_DB, ENGINE_DIR
from engine.reconstruct import reconstruct_all
from engine.schema import FIDELITY_COLUMNS, FILES, PATIENT_ATTRIBUTE_COLUMNS, PATIENT_COLUMNS
from engine.validate import DataValidationError, consistency_warnings, load_all

_SQL_TYPES = {"text": "VARCHAR", "date_text": "VARCHAR", "int": "BIGINT", "float": "DOUBLE"}

# Published-evidence tables are rebuilt from data/ on every build.
EVIDENCE_TABLES = tuple(spec.table for spec in FILES if spec.table != "adverse_events_raw") + (
    "adverse_events",
    "reconstruction_fidelity",
    "reconstruction_assumptions",
    "build_info",
)


def fingerprint(data_dir: Path = DATA_DIR) -> str:
    """Hash of every input of the build: the curated files and the engine code that turns them
    into tables. A changed hash means the database is stale."""
    h = hashlib.sha256()
    inputs = sorted((data_dir / "studies").rglob("*.csv")) + sorted(ENGINE_DIR.rglob("*.py"))
    for path in inputs:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _create_and_fill(con: duckdb.DuckDBPyConnection, table: str, columns, df: pd.DataFrame) -> None:
    con.execute(f'DROP TABLE IF EXISTS "{table}"')
    con.execute(f'CREATE TABLE "{table}" ({_ddl(columns)})')
    insert_rows(con, table, columns, df)


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, columns, df: pd.DataFrame) -> None:
    """Append ``df`` to ``table`` with each column cast to its declared type."""
    if len(df):
        frame = df[[c.name for c in columns]].astype(object).where(df.notna(), None)
        con.register("_incoming", frame)
        casts = ", ".join(f'CAST("{c.name}" AS {_SQL_TYPES[c.kind]})' for c in columns)
        con.execute(f'INSERT INTO "{table}" SELECT {casts} FROM _incoming')
        con.unregister("_incoming")


def _write_evidence(con: duckdb.DuckDBPyConnection, tables: dict[str, pd.DataFrame]) -> None:
    for spec in FILES:
        _create_and_fill(con, spec.table, spec.columns, tables[spec.table])
    # The AE table the app reads carries the harmonized term next to the original one.
    con.execute("DROP TABLE IF EXISTS adverse_events")
    con.execute(
        """
        CREATE TABLE adverse_events AS
        SELECT a.study_id, a.arm_id, a.term, m.term_harmonized, m.category, a.grade,
               a.n, a.percent, a.denominator, a.source, a.flag, a.note
        FROM adverse_events_raw a
        JOIN ae_term_map m ON m.study_id = a.study_id AND m.term = a.term
        """
    )
    con.execute("DROP TABLE adverse_events_raw")


USER_COHORT_COLUMNS_DDL = (
    '"study_id" VARCHAR PRIMARY KEY, "name" VARCHAR NOT NULL, "created_at" VARCHAR NOT NULL, '
    '"source_file" VARCHAR, "n_patients" BIGINT, "sha256" VARCHAR'
)


def _ddl(columns) -> str:
    return ", ".join(f'"{c.name}" {_SQL_TYPES[c.kind]}' for c in columns)


def ensure_patient_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Tables that hold both reconstructed and user rows. Created once, never dropped by a build."""
    con.execute(f"CREATE TABLE IF NOT EXISTS patients ({_ddl(PATIENT_COLUMNS)})")
    con.execute(f"CREATE TABLE IF NOT EXISTS patient_attributes ({_ddl(PATIENT_ATTRIBUTE_COLUMNS)})")
    con.execute(f"CREATE TABLE IF NOT EXISTS user_cohorts ({USER_COHORT_COLUMNS_DDL})")


def _write_reconstruction(con: duckdb.DuckDBPyConnection, rec) -> None:
    """Replace the reconstructed rows; user cohorts in the same tables are left untouched."""
    con.execute("DELETE FROM patients WHERE origin = 'reconstructed'")
    con.execute("DELETE FROM patient_attributes WHERE study_id IN (SELECT study_id FROM studies)")
    insert_rows(con, "patients", PATIENT_COLUMNS, rec.patients)
    insert_rows(con, "patient_attributes", PATIENT_ATTRIBUTE_COLUMNS, rec.attributes)
    _create_and_fill(con, "reconstruction_fidelity", FIDELITY_COLUMNS, rec.fidelity)
    con.execute("DROP TABLE IF EXISTS reconstruction_assumptions")
    con.execute("CREATE TABLE reconstruction_assumptions (study_id VARCHAR, text VARCHAR)")
    rows = [(sid, text) for sid, texts in sorted(rec.assumptions.items()) for text in texts]
    if rows:
        con.executemany("INSERT INTO reconstruction_assumptions VALUES (?, ?)", rows)


def build(db_path: Path = DEFAULT_DB, data_dir: Path = DATA_DIR, con: duckdb.DuckDBPyConnection | None = None) -> list[str]:
    """Validate ``data_dir`` and (re)load it into the database in one transaction.

    Returns consistency warnings (recorded contradictions the notes explain). Raises
    DataValidationError before touching the database when a file is malformed.
    """
    tables = load_all(data_dir)  # raises before anything is written
    reconstruction = reconstruct_all(tables)  # pure: computed before the transaction opens
    stamp = fingerprint(data_dir)
    own = con is None
    if own:
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(db_path))
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            _write_evidence(con, tables)
            ensure_patient_tables(con)
            _write_reconstruction(con, reconstruction)
            con.execute("DROP TABLE IF EXISTS build_info")
            con.execute("CREATE TABLE build_info (fingerprint VARCHAR, built_at VARCHAR)")
            con.execute(
                "INSERT INTO build_info VALUES (?, ?)",
                [stamp, datetime.now(timezone.utc).isoformat(timespec="seconds")],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        if own:
            con.close()
    return consistency_warnings(tables)


def stored_fingerprint(con: duckdb.DuckDBPyConnection) -> str | None:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'build_info'"
    ).fetchone()[0]
    if not exists:
        return None
    row = con.execute("SELECT fingerprint FROM build_info").fetchone()
    return row[0] if row else None


def ensure_built(con: duckdb.DuckDBPyConnection, data_dir: Path = DATA_DIR) -> bool:
    """Build into ``con`` when the database is new or ``data/`` changed. Returns True if built."""
    if stored_fingerprint(con) == fingerprint(data_dir):
        return False
    build(data_dir=data_dir, con=con)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help="database file (default: %(default)s)")
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="curated data folder")
    args = parser.parse_args(argv)
    try:
        warnings = build(args.db, args.data)
    except DataValidationError as exc:
        print(f"Build stopped; the database was not changed.\n{exc}", file=sys.stderr)
        return 1
    with duckdb.connect(str(args.db), read_only=True) as con:
        counts = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in EVIDENCE_TABLES}
    print(f"Built {args.db}")
    for table, n in counts.items():
        print(f"  {table:<22} {n:>6} rows")
    if warnings:
        print(f"{len(warnings)} value(s) the papers print inconsistently (see the notes table):")
        for w in warnings:
            print(f"  - {w}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
