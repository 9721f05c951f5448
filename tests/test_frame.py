"""components/frame.py keeps every page inside app.py's frame.

Until some session has run app.py, Streamlit 1.67 treats ``pages/`` as a legacy multipage folder:
the first visitor of a freshly started server who opens a deep link (a shared Explorer link) gets
the page script run on its own, with a navigation of raw file names ("app", "data notes",
"my data") and without app.py's layout. ``ensure_app_frame()`` switches the server to
``st.navigation`` mode and reruns, so the same URL, query parameters included, is served through
app.py.

The unit tests run ``ensure_app_frame()`` in AppTest with and without a ``pages/`` folder next to
the script; the browser test (Playwright + Debian's Chromium, same skip rule as
tests/test_browser.py) opens an Explorer link as the very first request of a just-started server.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import expect
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from engine.survival import kaplan_meier
from scripts.bench_explorer import CHROMIUM, launch_browser, running_app

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
KRAS = "su_kras_sintilimab"
DEEP_LINK = f"/explorer?studies={KRAS}&f.prior_antiangiogenic=no"
NAV_TITLES = ["Studies", "Subgroup Explorer", "Compare studies", "Safety", "Data notes", "My data"]
# what Streamlit's legacy pages/ mode lists instead: the script file names, lower case
FILE_NAMES = ["app", "overview", "explorer", "compare", "safety", "data notes", "my data"]

SCRIPT = '''
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from components.frame import ensure_app_frame

st.session_state.setdefault("flag_at_start", []).append(PagesManager.uses_pages_directory)
ensure_app_frame()
st.session_state["finished"] = st.session_state.get("finished", 0) + 1
st.markdown("page body drawn")
'''


@pytest.fixture()
def restore_pages_flag(monkeypatch):
    """The flag is a class attribute shared by the process: put it back after the test."""
    monkeypatch.setattr(PagesManager, "uses_pages_directory", PagesManager.uses_pages_directory)


def _run_script(folder: Path, with_pages_folder: bool) -> AppTest:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "page.py").write_text(SCRIPT, encoding="utf-8")
    if with_pages_folder:
        (folder / "pages").mkdir()
        (folder / "pages" / "other.py").write_text("import streamlit as st\n", encoding="utf-8")
    at = AppTest.from_file(str(folder / "page.py"), default_timeout=30)
    at.run()
    return at


def test_legacy_pages_mode_is_switched_off_and_the_page_reruns(tmp_path, restore_pages_flag):
    at = _run_script(tmp_path / "legacy", with_pages_folder=True)
    assert not at.exception
    # first run in legacy mode stops at ensure_app_frame (flag True), the rerun goes through (False)
    assert at.session_state["flag_at_start"] == [True, False]
    assert at.session_state["finished"] == 1
    assert PagesManager.uses_pages_directory is False
    assert [m.value for m in at.markdown] == ["page body drawn"]


def test_navigation_mode_is_left_alone(tmp_path, restore_pages_flag):
    at = _run_script(tmp_path / "plain", with_pages_folder=False)
    assert not at.exception
    assert at.session_state["flag_at_start"] == [False]  # no rerun
    assert at.session_state["finished"] == 1
    assert PagesManager.uses_pages_directory is False


# ---- the real thing: a shared link is the first request a fresh server gets --------------------

_RENDERED_JS = """
() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-stale="true"], [data-testid="stSpinner"]')) return false;
  const charts = document.querySelectorAll('[data-testid="stPlotlyChart"]');
  if (charts.length < 3) return false;
  for (const c of charts) { if (!c.querySelector('.main-svg')) return false; }
  return document.querySelectorAll('[data-testid="stSidebarNavLink"]').length > 0;
}
"""


@pytest.fixture()
def fresh_db(built_db_path, tmp_path):
    """A private copy of the built database (the module server of test_browser.py holds its own)
    and the engine's PFS median for the KRAS study's no-prior-antiangiogenic subgroup."""
    path = tmp_path / "explorer.duckdb"
    shutil.copy(built_db_path, path)
    con = duckdb.connect(str(path), read_only=True)
    try:
        pts = con.execute("SELECT pfs_months, pfs_event FROM patients WHERE study_id = ? AND prior_antiangiogenic = 'no'",
                          [KRAS]).df()
    finally:
        con.close()
    assert len(pts) > 0
    return path, kaplan_meier(pts.pfs_months, pts.pfs_event).median


@pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason=f"{CHROMIUM} not installed (apt-get install -y chromium); never skipped when CI is set",
)
def test_deep_link_as_first_request_of_a_fresh_server_opens_inside_the_app_frame(fresh_db):
    db_path, median = fresh_db
    ARTIFACTS.mkdir(exist_ok=True)
    with running_app(db_path) as base, launch_browser(1920, 1080) as page:
        page.goto(base + DEEP_LINK)  # no page of this server has run before this request
        page.wait_for_function(_RENDERED_JS, timeout=120_000)
        assert page.locator('[data-testid="stException"]').count() == 0

        # app.py's navigation with its page titles, not the pages/ folder's file names
        links = page.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]')
        titles = [t.strip().splitlines()[-1].strip() for t in links.all_inner_texts()]
        assert titles == NAV_TITLES
        nav_lines = [line.strip() for line in page.inner_text('[data-testid="stSidebarNav"]').splitlines()]
        for name in FILE_NAMES:  # case matters: legacy mode writes "data notes", app.py "Data notes"
            assert name not in nav_lines, f"raw file name {name!r} in the navigation"
        current = page.locator('[data-testid="stSidebarNavLink"][aria-current="page"]')
        assert current.count() == 1 and current.inner_text().strip().endswith("Subgroup Explorer")
        # app.py's wide layout: the main column uses the screen, not Streamlit's 736 px column
        main = page.locator('[data-testid="stMainBlockContainer"]').bounding_box()
        assert main["width"] > 1200

        # the view of the link is applied: the filter shows "No" and the KM curve is that subgroup
        assert "f.prior_antiangiogenic=no" in page.url and f"studies={KRAS}" in page.url
        box = page.locator(".st-key-x_f_prior_antiangiogenic")
        tags = box.get_by_role("button", name=re.compile(r"^Remove "))  # one per chosen level
        expect(tags).to_have_count(1, timeout=60_000)  # the rerun that applies the link may land after first paint
        assert re.fullmatch(r"Remove No \(\d+\)", tags.first.get_attribute("aria-label") or "")
        assert page.get_by_text("filters: Prior antiangiogenic: No", exact=False).count() >= 1  # caption, footnote
        legend = page.inner_text('[data-testid="stPlotlyChart"] >> nth=0')
        assert f"median {median:.1f} mo" in legend
        page.screenshot(path=str(ARTIFACTS / "explorer-fresh-deep-link.png"))
