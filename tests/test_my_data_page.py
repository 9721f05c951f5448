"""The "My data" page (AppTest): upload, sheet choice, level mapping, validation report, store,
rename, delete with confirmation; refusal of identifiers; template and example downloads."""
from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from engine.paths import DATA_DIR, ROOT

PAGE = str(ROOT / "pages" / "my_data.py")
CORPUS = Path(__file__).parent / "malformed"


@pytest.fixture()
def db_path(built_db_path, tmp_path, monkeypatch) -> Path:
    path = tmp_path / "explorer.duckdb"
    shutil.copy(built_db_path, path)
    monkeypatch.setenv("EXPLORER_DB", str(path))
    return path


def page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def upload(at: AppTest, path: Path, mime: str = "text/csv") -> AppTest:
    at.file_uploader(key="upload_file").set_value((path.name, path.read_bytes(), mime))
    at.run()
    assert not at.exception, at.exception
    return at


def rows(db_path: Path, sql: str, *params):
    with duckdb.connect(str(db_path)) as con:
        return con.execute(sql, list(params)).fetchall()


def store_button(at: AppTest):
    return at.button(key="store_cohort")


def test_upload_store_rename_delete(db_path):
    at = page()
    assert at.tabs[1].label == "Stored cohorts (0)"
    upload(at, CORPUS / "valid.csv")
    assert at.success[0].value == ("Every check passed. **20 patients** · arm combination: 20 · "
                                   "PFS: 20 with a time, 16 events · OS: 20 with a time, 6 events")
    assert not store_button(at).disabled

    at.text_input(key="cohort_name").input("Hospital B").run()
    store_button(at).click().run()
    assert not at.exception, at.exception
    assert rows(db_path, "SELECT study_id, name, n_patients, source_file FROM user_cohorts") == \
        [("user_hospital_b", "Hospital B", 20, "valid.csv")]
    assert rows(db_path, "SELECT count(*), min(origin), max(origin) FROM patients WHERE study_id = 'user_hospital_b'") == \
        [(20, "user", "user")]
    assert at.tabs[1].label == "Stored cohorts (1)"
    assert at.success[0].value.startswith("Stored 'Hospital B' (20 patients) as user\\_hospital\\_b.")

    # the same name again is refused with its message, nothing added
    store_button(at).click().run()
    assert [e.value for e in at.error] == ["Not stored: the name is taken."]
    assert at.code[0].value == "a cohort named 'Hospital B' is already stored (user_hospital_b); choose another name"
    assert rows(db_path, "SELECT count(*) FROM user_cohorts") == [(1,)]

    at.text_input(key="rename_user_hospital_b").input("Hospital B (2021-2023)").run()
    at.button(key="rename_cohort").click().run()
    assert rows(db_path, "SELECT name FROM user_cohorts") == [("Hospital B (2021-2023)",)]

    # delete asks first; cancel keeps it; confirm removes the cohort and only its rows
    reconstructed = rows(db_path, "SELECT count(*) FROM patients WHERE origin <> 'user'")
    at.button(key="delete_cohort").click().run()
    assert at.warning[0].value == "Delete 'Hospital B \\(2021\\-2023\\)' and its 20 patients? This cannot be undone."
    assert rows(db_path, "SELECT count(*) FROM user_cohorts") == [(1,)]
    at.button(key="delete_cancel").click().run()
    assert rows(db_path, "SELECT count(*) FROM user_cohorts") == [(1,)]
    at.button(key="delete_cohort").click().run()
    at.button(key="delete_confirm").click().run()
    assert not at.exception, at.exception
    assert rows(db_path, "SELECT count(*) FROM user_cohorts") == [(0,)]
    assert rows(db_path, "SELECT count(*) FROM patients WHERE study_id = 'user_hospital_b'") == [(0,)]
    assert rows(db_path, "SELECT count(*) FROM patients WHERE origin <> 'user'") == reconstructed
    assert at.tabs[1].label == "Stored cohorts (0)"


def test_validation_report_names_row_and_column_and_blocks_storing(db_path):
    at = upload(page(), CORPUS / "negative_time.csv")
    assert at.error[0].value == ("1 problem to fix before this cohort can be stored (rows as your spreadsheet "
                                 "numbers them; the header is row 1).")
    assert at.code[0].value == "row 17, pfs_months: '-3' is negative"
    assert store_button(at).disabled


def test_report_shows_20_problems_and_counts_the_rest(db_path):
    at = upload(page(), CORPUS / "many_problems.csv")
    lines = at.code[0].value.splitlines()
    assert len(lines) == 21
    assert lines[0] == "row 2, os_months: '-1' is negative"
    assert lines[-1] == "... and 15 more problems"


def test_identifiers_are_refused_naming_the_column(db_path):
    at = upload(page(), CORPUS / "identifier_name_column.csv")
    assert at.error[0].value.startswith("Refused: this file looks like it carries direct identifiers.")
    assert at.code[0].value == ("column 'Patient name': its name says it holds names; remove the column "
                                "(only de-identified data can be stored)")
    assert len(at.button) == 1  # only 'Try it with the synthetic example': no mapping, no store button


def test_unreadable_file_is_reported(db_path):
    at = upload(page(), CORPUS / "utf16_without_bom.csv")
    assert at.error[0].value == "This file cannot be read. Nothing was stored."
    assert at.code[0].value.startswith("cannot read the file's text encoding")


def test_sheet_choice_then_level_mapping(db_path):
    at = upload(page(), CORPUS / "several_sheets.xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert at.warning[0].value == ("the workbook has 2 sheets ('Patients', 'Codes'); say which one holds the patients")
    at.selectbox(key="upload_sheet").select("Patients").run()
    assert not at.exception, at.exception
    assert at.success[0].value.startswith("Every check passed. **20 patients**")


def test_level_mapping_resolves_an_unknown_spelling(db_path):
    at = upload(page(), CORPUS / "unmapped_spelling.csv")
    assert at.code[0].value == "row 4, prior_ici: 'maybe' is not a known level (yes, no); map it in the level step"
    level_boxes = {s.label: s for s in at.selectbox if s.key and s.key.startswith("lvl_") and "_prior_ici_" in s.key}
    assert level_boxes["'Y' (9 patients)"].value == "yes"  # suggested from the spelling
    assert level_boxes["'N' (10 patients)"].value == "no"
    assert level_boxes["'maybe' (1 patient)"].value == "— not mapped —"
    level_boxes["'maybe' (1 patient)"].select("(empty: unknown)").run()
    assert not at.exception, at.exception
    assert at.success[0].value.startswith("Every check passed. **20 patients**")
    at.text_input(key="cohort_name").input("Mapped").run()
    store_button(at).click().run()
    assert rows(db_path, "SELECT prior_ici, count(*) FROM patients WHERE study_id = 'user_mapped' "
                         "GROUP BY ALL ORDER BY 1 NULLS FIRST") == [(None, 1), ("no", 10), ("yes", 9)]


def test_synthetic_example_and_template_are_offered(db_path):
    at = page()
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Template (CSV)", "Synthetic example cohort (CSV)"]
    at.button(key="use_example").click().run()
    assert at.info[0].value.startswith("Using the **synthetic example cohort**")
    assert at.selectbox(key=next(s.key for s in at.selectbox if s.key.endswith("_pfs_months"))).value == "PFS_mo"
    assert at.success[0].value == ("Every check passed. **60 patients** · arm combination: 60 · "
                                   "PFS: 60 with a time, 52 events · OS: 60 with a time, 37 events")
    assert (DATA_DIR / "example_cohort.csv").read_text().startswith("Patient code,Arm,Prior IO")
