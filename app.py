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
    st.Page("pages/explorer.py", title="Subgroup Explorer", icon=":material/query_stats:"),
    st.Page("pages/compare.py", title="Compare studies", icon=":material/compare_arrows:"),
    st.Page("pages/safety.py", title="Safety", icon=":material/health_and_safety:"),
    st.Page("pages/data_notes.py", title="Data notes", icon=":material/fact_check:"),
    st.Page("pages/my_data.py", title="My data", icon=":material/upload_file:"),
]

st.navigation(PAGES).run()
