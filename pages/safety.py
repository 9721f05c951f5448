"""Safety: adverse events side by side across the studies, and the per-study safety totals."""
import pandas as pd
import streamlit as st

from components.safety_plot import GRADE_TITLES, ae_bars, ae_heatmap
from components.session import db
from engine import evidence as ev
from components.frame import ensure_app_frame

ensure_app_frame()

st.title("Safety across studies")
st.caption(
    "Treatment-related adverse events as **reported** by each paper, mapped to one shared list of "
    "terms. Percentages are of each arm's safety population (the denominator N in every column). "
    "Grey or missing means the paper does not report that term, not zero: several papers list only "
    "the more frequent events (ALTER-L058: events in ≥10% of either arm). Hover a cell for the "
    f"paper's own term. {ev.FLAG_MARKERS['derived']} derived from printed values · "
    f"{ev.FLAG_MARKERS['ocr_corrected']} corrected OCR damage."
)

con = db()
studies = ev.study_table(con)
labels = dict(zip(studies.study_id, studies.short_label))
chosen = st.multiselect(
    "Studies", list(labels), default=list(labels), format_func=labels.get, key="safety_studies",
)
if not chosen:
    st.info("Choose at least one study.")
    st.stop()

incidence = ev.ae_incidence(con, chosen)
columns = list(dict.fromkeys(incidence.column))

c1, c2, c3, c4 = st.columns([3, 2, 2, 2])
sort_by = c1.selectbox(
    "Sort terms by", ["highest incidence in any arm", *columns], key="safety_sort",
    help="Orders the terms by the chosen arm's incidence in the grade shown first.",
)
cutoff = c2.slider("Incidence cut-off (%)", 0, 50, 10, step=1, key="safety_cutoff",
                   help="Keep terms reaching this any-grade incidence (grade ≥3 where any grade is not printed) in at least one arm.")
view = c3.segmented_control("View", ["Heatmap", "Grouped bars"], default="Heatmap", key="safety_view")
grade_choice = c4.segmented_control("Grades", ["Both", "Any grade", "Grade ≥3"], default="Both", key="safety_grades")
include_other = (incidence.term_harmonized == "Other").any() and st.toggle(
    "Include terms without a shared name (mapped to 'Other')", value=False, key="safety_other")

grades = {"Both": ("any", ">=3"), "Any grade": ("any",), "Grade ≥3": (">=3",)}[grade_choice or "Both"]
sort_col = None if sort_by not in columns else sort_by
matrix = ev.ae_matrix(incidence, grades[0], columns, sort_by=sort_col, cutoff=cutoff, include_other=include_other)
terms = list(matrix.index)

st.markdown("**Denominators (safety population):** " + " · ".join(
    f"{c.split(' (N=')[0]}: N={c.split(' (N=')[1].rstrip(')')}" for c in columns
))
if not terms:
    st.info("No adverse event term reaches this cut-off in the chosen studies.")
else:
    st.caption(f"{len(terms)} terms at or above {cutoff}%.")
    if view == "Grouped bars":
        fig = ae_bars(incidence, terms, columns)
    else:
        fig = ae_heatmap(incidence, terms, columns, grades)
    st.plotly_chart(fig, key="safety_chart", config={"displaylogo": False})
    with st.expander("Table of the values in the figure"):
        for grade in grades:
            st.markdown(f"**{GRADE_TITLES[grade]} incidence (%)**")
            table = matrix if grade == grades[0] else ev.ae_matrix(incidence, grade, columns, cutoff=cutoff,
                                                                   include_other=include_other)
            table = table.reindex(terms).round(1)
            table.index.name = "Harmonized term"
            st.dataframe(table, key=f"safety_table_{grade}")

st.subheader("Safety totals per study")
st.caption("As reported; counts over the arm's safety population. 'not reported' means the paper gives no figure.")
totals = ev.ae_totals(con, chosen)
st.dataframe(ev.ae_totals_wide(totals), key="safety_totals")
flagged = totals[totals.flag.notna() | totals.note.notna()]
if not flagged.empty:
    with st.expander("Notes on the totals"):
        st.dataframe(
            pd.DataFrame({
                "Study arm": flagged.column, "Measure": flagged.measure_label, "Value": flagged.text,
                "Flag": flagged.flag.fillna(""), "Note": flagged.note.fillna(""), "Source": flagged.source,
            }),
            hide_index=True, key="safety_totals_notes",
        )
