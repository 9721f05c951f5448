"""Anlotinib Combination Explorer: entry point and navigation.

    streamlit run app.py
"""
import streamlit as st

st.set_page_config(
    page_title="Anlotinib Combination Explorer",
    page_icon=":material/biotech:",
    layout="wide",
)

PAGES = [
    st.Page("pages/overview.py", title="Studies", icon=":material/table_view:", default=True),
]

st.navigation(PAGES).run()
