"""App-wide resources shared by every page: one cached database connection per process."""
from __future__ import annotations

import os
from pathlib import Path

import duckdb
import streamlit as st

from engine.db import open_database
from engine.paths import DEFAULT_DB


def database_path() -> Path:
    return Path(os.environ.get("EXPLORER_DB", DEFAULT_DB))


@st.cache_resource(show_spinner="Building the study database from data/ (first start only)...")
def _connection(path: str) -> duckdb.DuckDBPyConnection:
    return open_database(Path(path))


def db() -> duckdb.DuckDBPyConnection:
    """A cursor on the shared connection (cursors are safe to use from Streamlit's threads)."""
    return _connection(str(database_path())).cursor()
