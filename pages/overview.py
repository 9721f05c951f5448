"""Studies: what the five published anlotinib combination studies are."""
import streamlit as st

from components.session import db
from engine import queries

st.title("Anlotinib combination studies")
st.caption("Published cohorts in the evidence base. Every value on this page is **reported** by the paper named in its row.")

studies = queries.studies(db())
st.dataframe(
    studies[["short_label", "tumor_type", "setting", "line_of_therapy", "design", "n_total", "data_cutoff", "citation", "doi"]],
    column_config={
        "short_label": "Study",
        "tumor_type": "Tumor",
        "setting": "Population",
        "line_of_therapy": "Line",
        "design": "Design",
        "n_total": st.column_config.NumberColumn("N", format="%d"),
        "data_cutoff": "Data cutoff",
        "citation": "Citation",
        "doi": "DOI / registry",
    },
    hide_index=True,
    use_container_width=True,
)
