"""The My data page's cached file reading and checking.

In a module of their own (not in the page script, which Streamlit executes on every run) so that
each cached function is wrapped once per process; the page reruns on every mapping choice.
"""
from __future__ import annotations

import json

import streamlit as st

from engine.ingest import check, mapping_from_dict, read_upload


@st.cache_data(max_entries=4, show_spinner="Reading the file…")
def read_cached(data: bytes, name: str, sheet: str | None):
    return read_upload(data, name, sheet=sheet)


@st.cache_data(max_entries=8, show_spinner="Checking every row…")
def check_cached(data: bytes, name: str, sheet: str | None, mapping_json: str):
    return check(read_cached(data, name, sheet), mapping_from_dict(json.loads(mapping_json)))
