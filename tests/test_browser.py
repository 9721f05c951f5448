"""The Explorer in a real browser (Playwright + Debian's Chromium): it opens, a filter change
redraws all three panels side by side on a 1920x1080 screen, nothing on the page is an error,
and the screenshots land in artifacts/.

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
