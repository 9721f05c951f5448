"""My data: bring your own cohort. Upload, map, check, store; manage stored cohorts.

Layout and wiring only: reading, mapping, validation and storage are ``engine.ingest``.
"""
from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from components import ingest_cache
from components.provenance import md_escape
from components.session import db
from engine.export import csv_bytes
from engine.ingest import (
    IngestError,
    Mapping,
    SheetChoiceNeeded,
    mapping_for,
    store,
    summarize,
)
from engine.ingest.columns import DEFAULT_ARM, HELP, UPLOAD_COLUMNS, allowed_levels, kind
from engine.ingest.identifiers import check_no_identifiers
from engine.ingest.mapping import distinct_values
from engine.ingest.readers import MAX_FILE_BYTES
from engine.ingest.spellings import suggest_level
from engine.ingest.store import cohort_rows, delete_cohort, list_cohorts, rename_cohort
from engine.paths import DATA_DIR
from components.frame import ensure_app_frame

ensure_app_frame()

EXAMPLE = DATA_DIR / "example_cohort.csv"
TEMPLATE = DATA_DIR / "user_template.csv"
NOT_IN_FILE = "— not in my file —"
NOT_MAPPED = "— not mapped —"
MISSING = "(empty: unknown)"
MAX_LEVELS_SHOWN = 40


def show_problems(error_or_lines, headline: str | None = None) -> None:
    lines = error_or_lines.lines if isinstance(error_or_lines, IngestError) else list(error_or_lines)
    if isinstance(error_or_lines, IngestError):
        headline = headline or error_or_lines.headline
    st.error(headline or "Not stored.", icon=":material/error:")
    st.code("\n".join(lines), language=None, wrap_lines=True)


def short_hash(text: str) -> str:
    """A widget-key fragment for user text (a column name or a value)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]


def example_frame(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


st.title("My data: bring your own cohort")
st.caption(
    "Add your institution's patient-level cohort and analyse it beside the published studies. "
    "**De-identified data only**: files with names, dates of birth, medical record numbers, phone "
    "numbers or e-mail addresses are refused. Stored cohorts are marked as user data everywhere."
)

flash = st.session_state.pop("my_data_flash", None)
if flash:
    st.success(flash, icon=":material/check_circle:")

con = db()
stored = list_cohorts(con)
tab_add, tab_stored = st.tabs(["Add a cohort", f"Stored cohorts ({len(stored)})"])

# ---- stored cohorts: list, download, rename, delete with confirmation ---------------------------
with tab_stored:
    if stored.empty:
        st.info("No cohort stored yet.")
    else:
        st.dataframe(
            stored[["name", "study_id", "n_patients", "created_at", "source_file"]],
            column_config={"name": "Cohort", "study_id": "Id", "n_patients": st.column_config.NumberColumn("Patients", format="%d"),
                           "created_at": "Stored (UTC)", "source_file": "From file"},
            hide_index=True, width="stretch",
        )
        names = dict(zip(stored.study_id, stored.name))
        chosen = st.selectbox("Cohort", list(names), format_func=lambda s: f"{names[s]} ({s})", key="manage_cohort")
        st.download_button(
            "Stored rows (CSV)", lambda study=chosen: csv_bytes(cohort_rows(db(), study)), file_name=f"{chosen}.csv",
            mime="text/csv", key="download_stored", icon=":material/download:", on_click="ignore",
            help="Exactly what was stored. Cells a spreadsheet would run as formulas are escaped with an apostrophe.",
        )
        r1, r2 = st.columns([3, 1], vertical_alignment="bottom")
        new_name = r1.text_input("New name", value=names[chosen], key=f"rename_{chosen}", max_chars=80)
        if r2.button("Rename", key="rename_cohort", icon=":material/edit:"):
            try:
                rename_cohort(con, chosen, new_name)
            except IngestError as exc:
                show_problems(exc)
            else:
                st.session_state["my_data_flash"] = f"Renamed to '{md_escape(new_name.strip())}'."
                st.rerun()
        if st.session_state.get("confirm_delete") == chosen:
            n = int(stored.set_index("study_id").n_patients[chosen])
            st.warning(f"Delete '{md_escape(names[chosen])}' and its {n} patients? This cannot be undone.",
                       icon=":material/warning:")
            d1, d2 = st.columns(2)
            if d1.button("Yes, delete", type="primary", key="delete_confirm", icon=":material/delete_forever:"):
                removed = delete_cohort(con, chosen)
                st.session_state.pop("confirm_delete", None)
                st.session_state["my_data_flash"] = f"Deleted '{md_escape(names[chosen])}' ({removed} patients)."
                st.rerun()
            if d2.button("Cancel", key="delete_cancel"):
                st.session_state.pop("confirm_delete", None)
                st.rerun()
        elif st.button("Delete…", key="delete_cohort", icon=":material/delete:"):
            st.session_state["confirm_delete"] = chosen
            st.rerun()

# ---- add a cohort: file, mapping, check, store -------------------------------------------------
with tab_add:
    st.subheader("1. Your file")
    c1, c2, c3 = st.columns(3)
    c1.download_button(
        "Template (CSV)", lambda: csv_bytes(example_frame(TEMPLATE)), file_name="anlotinib_cohort_template.csv",
        mime="text/csv", icon=":material/download:", key="download_template", on_click="ignore",
        help="Our column names with two example rows. The format is described under 'Column format'.",
    )
    c2.download_button(
        "Synthetic example cohort (CSV)", lambda: csv_bytes(example_frame(EXAMPLE)), file_name="example_cohort.csv",
        mime="text/csv", icon=":material/download:", key="download_example", on_click="ignore",
        help="60 invented patients in a hospital's own spelling (Y/N, pos/neg): not real data.",
    )
    if c3.button("Try it with the synthetic example", icon=":material/science:", key="use_example"):
        st.session_state["my_data_use_example"] = True

    with st.expander("Column format"):
        st.markdown(
            "One row per patient, one header row. Times are months (a dot for decimals); events are "
            "1 (event observed) or 0 (censored). Required: a patient code and at least one time and event "
            "pair. An empty cell means *not known*. Your own column names and spellings are matched to "
            f"ours in the next step. Files up to {MAX_FILE_BYTES // (1024 * 1024)} MB: CSV (UTF-8, "
            "UTF-16, GB18030 or Windows-1252), Excel .xlsx, or Parquet."
        )
        st.dataframe(pd.DataFrame({"column": list(HELP), "meaning and levels": list(HELP.values())}),
                     hide_index=True, width="stretch")

    uploaded = st.file_uploader(
        "Patient-level file", type=["csv", "tsv", "txt", "xlsx", "parquet"], key="upload_file",
        help="Nothing is stored until you press 'Store cohort' below.",
    )
    if uploaded is not None:
        data, source_name = uploaded.getvalue(), uploaded.name
    elif st.session_state.get("my_data_use_example"):
        data, source_name = EXAMPLE.read_bytes(), EXAMPLE.name
        st.info("Using the **synthetic example cohort** (invented patients). Upload a file to use your own.")
    else:
        data = None

    table = None
    if data is not None:
        try:
            table = ingest_cache.read_cached(data, source_name, None)
        except SheetChoiceNeeded as choice:
            st.warning(choice.problems[0].message, icon=":material/tab:")
            sheet = st.selectbox("Which sheet holds the patients?", choice.sheets, index=None, key="upload_sheet")
            if sheet is None:
                st.stop()
            try:
                table = ingest_cache.read_cached(data, source_name, sheet)
            except IngestError as exc:
                show_problems(exc, "This sheet cannot be read. Nothing was stored.")
                st.stop()
        except IngestError as exc:
            show_problems(exc, "This file cannot be read. Nothing was stored.")
            st.stop()

    if table is None:
        st.stop()

    described = f"{len(table)} rows, {len(table.columns)} columns"
    if table.encoding:
        described += f", read as {table.encoding}"
    if table.sheet:
        described += f", sheet '{md_escape(table.sheet)}'"
    st.caption(f"**{md_escape(table.source_name)}**: {described}.")

    identifiers = check_no_identifiers(table)
    if identifiers:
        show_problems([str(p) for p in identifiers],
                      "Refused: this file looks like it carries direct identifiers. Remove these columns "
                      "and upload the file again. Nothing was stored.")
        st.stop()

    # ---- 2. mapping -------------------------------------------------------------------------------
    st.subheader("2. Match your columns to ours")
    token = f"{table.sha256[:12]}_{table.sheet or ''}"
    guess = mapping_for(table)
    options = [NOT_IN_FILE] + table.columns
    columns: dict[str, str] = {}
    grid = st.columns(3)
    for i, ours in enumerate(UPLOAD_COLUMNS):
        theirs = guess.columns.get(ours)
        choice = grid[i % 3].selectbox(
            ours, options, index=options.index(theirs) if theirs in options else 0,
            key=f"map_{token}_{ours}", help=HELP.get(ours),
        )
        if choice != NOT_IN_FILE:
            columns[ours] = choice

    arm = DEFAULT_ARM
    if "arm_id" not in columns:
        arm = st.text_input("Arm label for every patient (no arm column mapped)", DEFAULT_ARM,
                            key=f"arm_{token}").strip() or DEFAULT_ARM

    levels: dict[str, dict[str, str]] = {}
    level_columns = [o for o in UPLOAD_COLUMNS if o in columns and kind(o) in ("level", "event")]
    if level_columns:
        st.markdown("**Your spellings → our levels** (a value left *not mapped* is reported as an unknown level)")
    for ours in level_columns:
        theirs = columns[ours]
        counts = table.frame[theirs].value_counts()
        values = distinct_values(table, theirs)
        allowed = list(allowed_levels(ours))
        choices = [NOT_MAPPED] + allowed + [MISSING]
        with st.expander(f"{ours} ← '{md_escape(theirs)}' ({len(values)} distinct values)", expanded=False):
            if len(values) > MAX_LEVELS_SHOWN:
                st.warning(f"{len(values)} distinct values: is this the right column? The first "
                           f"{MAX_LEVELS_SHOWN} are shown; map the others with the command line's --mapping.")
            table_of_levels: dict[str, str] = {}
            for value in values[:MAX_LEVELS_SHOWN]:
                suggestion = value if value in allowed else suggest_level(ours, value)
                default = MISSING if suggestion == "" else (suggestion if suggestion in allowed else NOT_MAPPED)
                picked = st.selectbox(
                    f"'{md_escape(value)}' ({counts[value]} patient{'' if counts[value] == 1 else 's'})", choices,
                    index=choices.index(default),
                    key=f"lvl_{token}_{ours}_{short_hash(theirs)}_{short_hash(value)}",
                )
                if picked == MISSING:
                    table_of_levels[value] = ""
                elif picked != NOT_MAPPED:
                    table_of_levels[value] = picked
            levels[ours] = {k: v for k, v in table_of_levels.items() if k != v}

    unused = [c for c in table.columns if c not in columns.values()]
    keep = st.multiselect(
        "Also keep these columns as extra descriptors (stored as written)", unused, default=[],
        key=f"keep_{token}", help="Other columns are not stored.",
    )
    mapping = Mapping(columns=columns, levels={k: v for k, v in levels.items() if v}, arm=arm, keep=keep)

    # ---- 3. check -----------------------------------------------------------------------------------
    st.subheader("3. Check")
    result = ingest_cache.check_cached(data, source_name, table.sheet, mapping.to_json())
    if not result.ok:
        n = len(result.problems)
        show_problems(summarize(result.problems),
                      f"{n} problem{'s' if n != 1 else ''} to fix before this cohort can be stored "
                      "(rows as your spreadsheet numbers them; the header is row 1).")
    else:
        summary = result.summary()
        parts = [f"**{summary['patients']} patients**"]
        parts += [f"arm {md_escape(a)}: {k}" for a, k in summary["arms"].items()]
        parts += [f"{e}: {c['patients']} with a time, {c['events']} events" for e, c in summary["endpoints"].items()]
        st.success("Every check passed. " + " · ".join(parts), icon=":material/task_alt:")
        if summary["unused_columns"]:
            st.caption("Not stored: " + ", ".join(md_escape(c) for c in summary["unused_columns"]))
    st.download_button(
        "This mapping (JSON, for the command line's --mapping)", mapping.to_json().encode("utf-8"),
        file_name="mapping.json", mime="application/json", key="download_mapping", icon=":material/data_object:",
    )

    # ---- 4. store -----------------------------------------------------------------------------------
    st.subheader("4. Store")
    name = st.text_input("Cohort name (as the Explorer will show it)", key="cohort_name", max_chars=80,
                         placeholder="e.g. Hospital A, anlotinib + PD-1, 2021-2023")
    if st.button("Store cohort", type="primary", disabled=not result.ok, key="store_cohort",
                 icon=":material/save:"):
        try:
            study_id = store(con, result, name)
        except IngestError as exc:
            show_problems(exc)
        else:
            st.session_state["my_data_flash"] = (
                f"Stored '{md_escape(name.strip())}' ({result.summary()['patients']} patients) as {md_escape(study_id)}. "
                "It now appears in the Explorer as user data."
            )
            st.rerun()
