"""The app in a real browser (Playwright + Debian's Chromium): every page of the navigation opens
and renders its content with no error on it; in the Explorer a filter change redraws all three
panels side by side on a 1920x1080 screen; the screenshots land in artifacts/.

Skipped on a machine without /usr/bin/chromium, except in CI (``CI`` set), where a missing
browser is a failure: ``.ci/run`` installs it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from scripts.bench_explorer import (
    CHROMIUM, built_database, launch_browser, open_explorer, running_app, runs, toggle_level, wait_redrawn,
)

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason=f"{CHROMIUM} not installed (apt-get install -y chromium); never skipped when CI is set",
)

ERROR_WORDS = ("Traceback", "Exception", "Error:", "StreamlitAPI")


@pytest.fixture(scope="module")
def app_url():
    with built_database() as (db, n_rows), running_app(db) as base:
        assert n_rows > 0, "the build made no reconstructed patient rows"
        yield base


def assert_no_error(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    errors = page.locator('[data-testid="stAlertContentError"]')
    assert errors.count() == 0, f"error box on the page: {errors.all_inner_texts()}"
    text = page.inner_text("body")
    for word in ERROR_WORDS:
        assert word not in text, f"{word!r} on the page"


def panels(page) -> list[dict]:
    return [el.bounding_box() for el in page.query_selector_all('[data-testid="stPlotlyChart"]')]


def test_filter_change_redraws_three_panels_without_errors(app_url):
    ARTIFACTS.mkdir(exist_ok=True)
    with launch_browser(1920, 1080) as page:
        open_explorer(page, app_url, "studies=su_kras_sintilimab")
        assert_no_error(page)
        before = runs(page)
        assert toggle_level(page, "prior_antiangiogenic", "No")
        wait_redrawn(page, before)
        page.keyboard.press("Escape")
        assert "f.prior_antiangiogenic=no" in page.url
        assert_no_error(page)
        boxes = panels(page)
        assert len(boxes) == 3
        # side by side and entirely on a 1920x1080 screen
        assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"]
        for b in boxes:
            assert b["width"] > 300 and b["y"] >= 0 and b["y"] + b["height"] <= 1080
        legend = page.inner_text('[data-testid="stPlotlyChart"] >> nth=0')
        assert "median" in legend and "Reconstructed from published summaries" in legend
        page.screenshot(path=str(ARTIFACTS / "explorer.png"))


def test_tampered_link_is_rewritten_to_the_view_shown(app_url):
    """On a server that has served pages already (app_url is shared by this module's tests), a
    link with a bad endpoint and an unknown level opens the valid rest of the view, says what was
    ignored, and the address bar then holds the view as shown, so copying it gives a clean link."""
    with launch_browser(1920, 1080) as page:
        open_explorer(page, app_url, "studies=su_kras_sintilimab&endpoint=bogus&f.ecog=9&f.prior_antiangiogenic=no")
        page.get_by_text("Parts of the link were ignored").wait_for(timeout=30_000)
        page.wait_for_function("() => !location.search.includes('bogus')", timeout=30_000)
        query = page.evaluate("location.search")
        assert "endpoint=PFS" in query and "f.prior_antiangiogenic=no" in query
        assert "f.ecog" not in query
        assert_no_error(page)


def test_km_numbers_download_from_the_panel_menu(app_url, tmp_path):
    """The download menu of the KM panel makes its buttons when opened; the CSV holds the
    numbers behind the curve, with the engine's median and the kind of data named."""
    import csv

    with launch_browser(1920, 1080) as page:
        open_explorer(page, app_url, "studies=su_kras_sintilimab&f.prior_antiangiogenic=no")
        page.locator(".st-key-x_dl_menu_km button").first.click()
        button = page.get_by_role("button", name="CSV numbers")
        button.wait_for(timeout=30_000)
        with page.expect_download(timeout=30_000) as info:
            button.click()
        path = tmp_path / "km.csv"
        info.value.save_as(path)
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
        assert rows and {r["kind"] for r in rows} == {"reconstructed"}
        assert rows[0]["time"] == "0.0" and int(rows[0]["at_risk"]) == int(rows[0]["n"])
        assert_no_error(page)


def test_presentation_mode_shows_the_panels_only(app_url):
    ARTIFACTS.mkdir(exist_ok=True)
    with launch_browser(1920, 1080) as page:
        open_explorer(page, app_url, "studies=zhou_alter_l058&present=1")
        assert_no_error(page)
        assert not page.locator('[data-testid="stSidebar"]').is_visible()
        boxes = panels(page)
        assert len(boxes) == 3 and all(b["y"] + b["height"] <= 1080 for b in boxes)
        assert page.get_by_text("Data cutoff", exact=False).count() >= 1  # footnotes stay
        page.screenshot(path=str(ARTIFACTS / "explorer-presentation.png"))


def test_figures_export_as_png_and_svg_with_title_and_footnotes(tmp_path, built_db_path):
    """PNG (3x, for slides) and SVG through kaleido with the system Chromium; CSV escaped."""
    import shutil

    import duckdb

    from components.downloads import PNG_SCALE, EXPORT_WIDTH, export_figure, png_bytes, svg_bytes
    from components.km_plot import km_figure
    from engine import explorer_data as ed
    from engine.cohort import ViewState
    from engine.export import csv_bytes

    path = tmp_path / "e.duckdb"
    shutil.copy(built_db_path, path)
    con = duckdb.connect(str(path), read_only=True)
    state = ViewState(studies=("su_kras_sintilimab",))
    panel = ed.km_panel(con, state)
    lines = ed.footnotes(con, state)
    con.close()
    fig = export_figure(km_figure(panel, height=560), title="PFS (Kaplan–Meier)", footnotes=lines)
    png = png_bytes(fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(png[16:20], "big")
    assert width == EXPORT_WIDTH * PNG_SCALE
    svg = svg_bytes(fig).decode()
    assert svg.lstrip().startswith("<svg") and "cutoff" in svg and "PFS (Kaplan" in svg
    (ARTIFACTS / "explorer-km-export.png").write_bytes(png)
    numbers = panel.numbers().assign(note="=HYPERLINK(\"x\")")
    assert b"'=HYPERLINK" in csv_bytes(numbers)


# ---- every page of the app ------------------------------------------------------------------

# path, its title in the navigation, the heading the page draws, how many plotly charts and
# dataframes it shows on opening (with the bundled data), and a text only the rendered page has
PAGES = [
    ("/", "Studies", "Anlotinib combination studies", 0, 5, "5 of 5 studies shown."),
    ("/explorer", "Subgroup Explorer", "Subgroup Explorer", 3, 0, "Reconstructed from published summaries"),
    ("/compare", "Compare studies", "Compare studies", 6, 1, "Random-effects meta-analysis"),
    ("/safety", "Safety", "Safety across studies", 1, 1, "Safety totals per study"),
    ("/data_notes", "Data notes", "Data notes", 0, 3, "Reconstruction fidelity"),
    ("/my_data", "My data", "My data: bring your own cohort", 0, 0, "1. Your file"),
]
NAV_TITLES = [p[1] for p in PAGES]

# The page is rendered when the app is idle (no run, nothing stale, no spinner or skeleton), its
# heading is on screen and its charts and dataframes are drawn (plotly's SVG inside each chart).
_RENDERED_JS = """
([heading, nCharts, nFrames]) => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-stale="true"], [data-testid="stSpinner"], [data-testid="stSkeleton"], '
                             + '[data-testid="stAppSkeleton"]')) return false;
  const headings = Array.from(document.querySelectorAll('[data-testid="stMain"] h1, [data-testid="stMain"] h3'));
  if (!headings.some(h => h.innerText.trim() === heading)) return false;
  const charts = document.querySelectorAll('[data-testid="stPlotlyChart"]');
  if (charts.length < nCharts) return false;
  for (const c of charts) { if (!c.querySelector('.main-svg')) return false; }
  return document.querySelectorAll('[data-testid="stDataFrame"]').length >= nFrames;
}
"""


def nav_titles(page) -> list[str]:
    """The page titles of the sidebar navigation, top to bottom (icon names left out)."""
    links = page.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]')
    return [text.strip().splitlines()[-1].strip() for text in links.all_inner_texts()]


@pytest.mark.parametrize("path, nav_title, heading, n_charts, n_frames, text", PAGES,
                         ids=[p[0].strip("/") or "overview" for p in PAGES])
def test_every_page_renders_its_content_without_errors(app_url, path, nav_title, heading, n_charts, n_frames, text):
    ARTIFACTS.mkdir(exist_ok=True)
    with launch_browser(1920, 1080) as page:
        page.goto(app_url + path)
        page.wait_for_function(_RENDERED_JS, arg=[heading, n_charts, n_frames], timeout=120_000)
        assert_no_error(page)
        # inside app.py's frame: the navigation with the page titles, this page marked current
        assert nav_titles(page) == NAV_TITLES
        current = page.locator('[data-testid="stSidebarNavLink"][aria-current="page"]')
        assert current.count() == 1 and current.inner_text().strip().endswith(nav_title)
        assert page.locator('[data-testid="stPlotlyChart"]').count() == n_charts
        assert page.get_by_text(text, exact=False).count() >= 1
        page.screenshot(path=str(ARTIFACTS / f"page-{path.strip('/') or 'overview'}.png"), full_page=True)
