"""Keep every page inside app.py's frame (navigation, wide layout, page titles).

The pages live in ``pages/``. Until some session has run ``app.py``, Streamlit treats that
folder as a legacy multipage app and runs a page script directly when the first visitor of a
freshly started server opens its URL (a shared Explorer link, say): no navigation, no layout.
``ensure_app_frame()`` as the first line of a page detects that case, switches the server to
``st.navigation`` mode and reruns, so the same URL (with its query parameters) is served
through ``app.py``. Streamlit pinned at 1.67 (see requirements.txt); covered by a browser test.
"""
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def ensure_app_frame() -> None:
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
