"""Studies: what the five published anlotinib combination studies are and what they report."""
import pandas as pd
import streamlit as st

from components.provenance import badge_html
from components.session import db
from engine import evidence as ev
from components.frame import ensure_app_frame

ensure_app_frame()

st.title("Anlotinib combination studies")
st.caption(
    "One card per published cohort. Every result is **reported** by the paper (its locator in "
    "*Source*). Where the paper prints no CI for a rate, the CI shown is *computed from reported "
    f"counts* (exact Clopper-Pearson). {ev.FLAG_MARKERS['derived']} derived by arithmetic from printed "
    f"values · {ev.FLAG_MARKERS['ocr_corrected']} corrected OCR damage · {ev.INCONSISTENT_MARKER} the "
    "paper's figures disagree (see *Data notes*)."
)

con = db()
studies = ev.study_table(con)

f1, f2, f3 = st.columns(3)
tumors = f1.multiselect("Tumor type", sorted(studies.tumor_type.unique()), placeholder="All tumor types")
partners = f2.multiselect("Partner drug class", sorted(studies.partner_class.unique()), placeholder="All partner classes")
lines = f3.multiselect("Line of therapy", list(ev.LINE_CATEGORIES), placeholder="All lines",
                       help="A study matches when it includes patients treated in that line.")
shown = ev.filter_studies(studies, tumors, partners, lines)
st.caption(f"{len(shown)} of {len(studies)} studies shown.")
if shown.empty:
    st.info("No study matches these filters.")
    st.stop()

headline = ev.headline_results(con, shown.study_id.tolist())


def _facts(s) -> tuple[str, str, str]:
    """Three markdown blocks: population and design, patients and follow-up, regimen and citation."""
    followup = f"{ev.fmt_number(s.median_followup_months)} months" if pd.notna(s.median_followup_months) else "not reported"
    arms = "\n".join(
        f"- **{label}** (n={n}{', control' if control else ''}): {regimen}" for label, regimen, n, control in s.regimens
    )
    ids = [f"[{text}]({url})" for text, url in ev.citation_links(s.doi, s.registry_id)]
    cite = s.citation + (" · " + " · ".join(ids) if ids else " · no DOI or registry id in the paper")
    population = "\n".join([
        f"- **Tumor / setting:** {s.tumor_type} — {s.setting}",
        f"- **Line:** {s.line_of_therapy}",
        f"- **Design:** {s.design}",
        f"- **Partner drug class:** {s.partner_class}",
    ])
    patients = "\n".join([
        f"- **Patients:** {s.n_total} (enrolled {s.enrollment_period or 'period not reported'})",
        f"- **Data cutoff:** {s.data_cutoff or 'not reported'}",
        f"- **Median follow-up:** {followup}",
        f"- **Citation:** {cite}",
    ])
    return population, patients, f"**Regimen**\n{arms}"


for s in shown.itertuples():
    with st.container(border=True, key=f"card_{s.study_id}"):
        st.subheader(s.label)
        population, patients, regimen = _facts(s)
        c1, c2, c3 = st.columns([4, 3, 4], gap="medium")
        c1.markdown(population)
        c2.markdown(patients)
        c3.markdown(regimen)
        if pd.notna(s.followup_note) and s.followup_note:
            c2.caption(f"Follow-up: {s.followup_note}")
        rows = headline[headline.study_id == s.study_id]
        multi_arm = rows.arm_id.nunique() > 1
        table = pd.DataFrame({
            "Arm": rows.arm_label,
            "Endpoint": rows.endpoint_label,
            "Result (95% CI)": rows.text + rows.markers,
            "n": [f"{int(e)}/{int(n)}" if pd.notna(e) and pd.notna(n) and k == "rate" else (f"{int(n)}" if pd.notna(n) else "")
                  for e, n, k in zip(rows.events, rows.n, rows.kind)],
            "Value": rows.basis,
            "CI": rows.ci_basis,
            "Source": rows.source,
            "Note": rows.note,
        })
        if not multi_arm:
            table = table.drop(columns="Arm")
        st.markdown(badge_html("reported") + "&nbsp; **Headline results**", unsafe_allow_html=True)
        st.dataframe(
            table, hide_index=True, key=f"headline_{s.study_id}",
            column_config={
                "Result (95% CI)": st.column_config.TextColumn(width="medium"),
                "Value": st.column_config.TextColumn(help="reported: printed in the paper"),
                "CI": st.column_config.TextColumn(
                    help=f"reported: printed in the paper · computed from reported counts: {ev.CI_COMPUTED_METHOD}"),
                "Source": st.column_config.TextColumn("Source in the paper", width="medium"),
                "Note": st.column_config.TextColumn(width="large"),
            },
        )
