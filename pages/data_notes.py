"""Data notes: how far to trust each number, study by study."""
import pandas as pd
import streamlit as st

from components.session import db
from engine import evidence as ev
from components.frame import ensure_app_frame

ensure_app_frame()

st.title("Data notes")
st.caption(
    "What the curators found while entering each paper: damaged text copies they corrected, places "
    "where a paper contradicts itself, values they derived by arithmetic, and how closely the "
    "reconstructed patient-level data reproduce the reported figures. All notes are our own words."
)

con = db()
studies = ev.study_table(con)

summary = ev.trust_summary(con)
st.dataframe(
    pd.DataFrame({
        "Study": summary.short_label, "Values corrected for OCR": summary.ocr_corrected,
        "Values derived": summary.derived, "Contradictions in the paper": summary.contradictions,
        "Curation assumptions": summary.assumptions,
        "Fidelity checks holding": summary.fidelity.fillna("not built"),
    }),
    hide_index=True, key="trust_summary",
)
labels = dict(zip(studies.study_id, studies.short_label))
study_id = st.selectbox("Study", list(labels), format_func=labels.get, key="notes_study")
s = studies[studies.study_id == study_id].iloc[0]
st.markdown(f"**{s.label}** — {s.citation}")

notes = ev.study_notes(con, [study_id])
flagged = ev.flagged_values(con, [study_id])
fid = ev.fidelity(con, [study_id])

st.subheader("Notes")
kinds = st.multiselect(
    "Kinds of note", list(ev.NOTE_KIND_LABELS), default=["ocr_correction", "contradiction"],
    format_func=ev.NOTE_KIND_LABELS.get, key="notes_kinds",
)
shown = notes[notes.kind.isin(kinds)]
if shown.empty:
    st.info("No note of these kinds for this study.")
for kind in kinds:
    part = shown[shown.kind == kind]
    if part.empty:
        continue
    st.markdown(f"**{ev.NOTE_KIND_LABELS[kind]}** ({len(part)})")
    st.markdown("\n".join(f"- {r.text} *({r.source})*" for r in part.itertuples()))

st.subheader("Values corrected for OCR damage")
st.caption("The text copy of the paper was damaged at these places; the stored value is the correction, "
           "and *How* says what the text showed and why the correction holds.")
ocr = flagged[flagged.flag == "ocr_corrected"]
if ocr.empty:
    st.info("No stored value of this study needed an OCR correction.")
else:
    st.table(pd.DataFrame({
        "Table": ocr.table, "Arm": ocr.arm_id, "Item": ocr["item"], "Stored value": ocr.value,
        "How": ocr.note.fillna(""), "Where in the paper": ocr.source,
    }).set_index("Table"))

derived = flagged[flagged.flag == "derived"]
with st.expander(f"Values derived by arithmetic ({len(derived)})"):
    st.caption("Not printed in the paper, but following arithmetically from values it prints.")
    if derived.empty:
        st.info("No derived values.")
    else:
        st.dataframe(
            pd.DataFrame({
                "Table": derived.table, "Arm": derived.arm_id, "Item": derived["item"], "Value": derived.value,
                "How": derived.note.fillna(""), "Where in the paper": derived.source,
            }),
            hide_index=True, key="derived_table",
            column_config={"How": st.column_config.TextColumn(width="large")},
        )

st.subheader("Reconstruction fidelity")
st.caption("Reported value next to the value recomputed from the reconstructed patient-level data, "
           "with the tolerance it was held to. 'infeasible' means the paper gives too little to check.")
if fid is None:
    st.info("No reconstructed patient-level data are built into this database yet, so there is no fidelity table.")
elif fid.empty:
    st.info("No reconstruction exists for this study.")
else:
    st.dataframe(
        fid.rename(columns={
            "arm_id": "Arm", "endpoint": "Endpoint", "statistic": "Statistic", "subgroup": "Subgroup",
            "level": "Level", "timepoint_months": "Time (mo)", "reported": "Reported",
            "reconstructed": "Reconstructed", "reconstructed_ci_low": "Rebuilt CI low",
            "reconstructed_ci_high": "Rebuilt CI high", "tolerance": "Tolerance", "status": "Status",
            "reason": "Reason", "source": "Source",
        }).drop(columns=["study_id"]),
        hide_index=True, key="fidelity_table",
    )
