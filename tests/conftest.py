"""Shared fixtures: one database built from the bundled data/ for the whole test session."""
from __future__ import annotations

import duckdb
import pytest

from engine.db import open_database


@pytest.fixture(scope="session")
def built_db_path(tmp_path_factory):
    """Path of a database built from the repository's data/ (never data/explorer.duckdb)."""
    path = tmp_path_factory.mktemp("db") / "explorer.duckdb"
    open_database(path).close()
    return path


@pytest.fixture()
def con(built_db_path):
    """A read-only connection to the session's built database."""
    connection = duckdb.connect(str(built_db_path), read_only=True)
    yield connection
    connection.close()
