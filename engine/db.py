"""Open the database, building it from ``data/`` first when it is missing or stale."""
from __future__ import annotations

from pathlib import Path

import duckdb

from engine.build import ensure_built
from engine.paths import DATA_DIR, DEFAULT_DB


def open_database(db_path: Path = DEFAULT_DB, data_dir: Path = DATA_DIR) -> duckdb.DuckDBPyConnection:
    """A read-write connection to an up-to-date database (built on first use, no manual step)."""
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db_path))
    try:
        ensure_built(con, data_dir)
    except BaseException:
        con.close()
        raise
    return con
