"""Measure how fast the Subgroup Explorer redraws after a filter change, in a real browser.

    python scripts/bench_explorer.py [--n 20] [--studies su_kras_sintilimab] [--port 0] [--pause 1]
    python scripts/bench_explorer.py --baseline     # the same measurement on a bare Streamlit page

Starts ``streamlit run app.py`` on a free port with a fresh database built from ``data/`` (via
EXPLORER_DB, so ``data/explorer.duckdb`` is never touched), opens the Explorer in Debian's
Chromium through Playwright, then changes a sidebar filter ``--n`` times (switching one level on
or off; most states are new, so their numbers are not cached yet). Prints every timing, then
the median and p95 over the ``--n`` changes. No pass/fail: figures only.

What one timing is, measured inside the page (so Playwright's own overhead is not in it):

* start: the ``pointerdown`` of the click that changes the filter (the event's own time stamp);
* end: the first frame painted after the last change the filter causes, i.e. after BOTH the app
  is idle again (script finished, nothing on the page marked stale, three charts drawn) AND the
  last DOM change inside any of the three charts (a chart redrawn with the new view). The page
  must then stay quiet (no chart change) for ``QUIET_MS`` before the timing is taken, so a late
  redraw is never missed. A panel whose figure did not change (the adverse-event panel does not
  depend on the filters) is not redrawn by the app, and is correct as it stands.

Each line also shows where the time went: ``server`` is from the click to the last websocket
message of the run (the app's script run, including the time the browser needed to send the
change), ``draw`` from that message to the painted frame (the browser applying the page update
and plotly drawing the changed charts).

``--baseline`` measures the floor under these numbers: a bare Streamlit page (one filter widget,
the Explorer's own KM, forest and AE figures for the bundled data, precomputed; no query, no
statistics, the app's .streamlit settings), changed and timed the same way. What the Explorer
takes above it is its own work (queries, statistics, the sidebar's live counts, captions).

The helpers (``built_database``, ``running_app``, ``launch_browser``, ``open_explorer``,
``toggle_level``, ``wait_redrawn``) are shared with the browser tests.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
PANELS = 3

# Counts runs of the app: Streamlit flips data-test-script-state on the app root.
_OBSERVER_JS = """
() => {
  if (window.__xRuns !== undefined) return;
  window.__xRuns = 0;
  const app = document.querySelector('[data-testid="stApp"]');
  new MutationObserver(() => {
    if (app.getAttribute('data-test-script-state') === 'running') window.__xRuns++;
  }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}
"""
_DRAWN_JS = """
() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-stale="true"]')) return false;
  const charts = document.querySelectorAll('[data-testid="stPlotlyChart"]');
  if (charts.length < %d) return false;
  for (const c of charts) { if (!c.querySelector('.main-svg')) return false; }
  return true;
}
""" % PANELS
_REDRAWN_JS = "(before) => window.__xRuns > before && (%s)()" % _DRAWN_JS.strip()

QUIET_MS = 500  # no chart change for this long after the end: the redraw is complete

# Installed before the app loads: arrival time of every websocket message (performance.now()).
_WS_JS = """
(() => {
  if (window.__xWs) return;
  window.__xWs = [];
  const Native = window.WebSocket;
  function Tapped(...args) {
    const ws = new Native(...args);
    ws.addEventListener('message', () => window.__xWs.push(performance.now()));
    return ws;
  }
  Tapped.prototype = Native.prototype;
  for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) Tapped[k] = Native[k];
  window.WebSocket = Tapped;
})();
"""

# Installed once the Explorer is drawn: the input time of the last pointerdown, the time of the
# last DOM change inside a chart, the time the app became idle again, and the first painted
# frame after each of the two (a task queued from requestAnimationFrame runs after that frame).
_TIMING_JS = """
() => {
  if (window.__xT) return;
  const T = window.__xT = {input: null, chartMut: 0, chartPaint: 0, idleAt: 0, idlePaint: 0, idle: true};
  const afterPaint = (cb) => requestAnimationFrame(() => setTimeout(() => cb(performance.now()), 0));
  const isIdle = %s;
  document.addEventListener('pointerdown', (e) => {
    Object.assign(T, {input: e.timeStamp, chartMut: 0, chartPaint: 0, idleAt: 0, idlePaint: 0});
  }, true);
  new MutationObserver((records) => {
    const now = performance.now();
    for (const r of records) {
      const el = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      if (el && el.closest('[data-testid="stPlotlyChart"]')) {
        T.chartMut = now;
        afterPaint((t) => { if (T.chartMut === now) T.chartPaint = t; });
        break;
      }
    }
    const idle = isIdle();
    if (idle && !T.idle) {
      T.idleAt = now;
      afterPaint((t) => { if (T.idleAt === now) T.idlePaint = t; });
    }
    T.idle = idle;
  }).observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
}
""" % _DRAWN_JS.strip()

# Done: a new run has finished, the app is idle, both paint stamps are taken, and no chart has
# changed for QUIET_MS.
_SETTLED_JS = """
([before, quiet]) => {
  const T = window.__xT;
  if (!(window.__xRuns > before) || !T.idle || !T.idleAt || !T.idlePaint) return false;
  if (T.chartMut && !T.chartPaint) return false;
  return performance.now() - Math.max(T.idleAt, T.chartMut) >= quiet;
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def built_database():
    """A temporary database built from data/ (the bundled data, reconstructed patient rows
    included). Yields (path, number of reconstructed patient rows)."""
    sys.path.insert(0, str(ROOT))
    from engine.db import open_database  # noqa: E402

    tmp = Path(tempfile.mkdtemp(prefix="explorer-bench-"))
    try:
        path = tmp / "explorer.duckdb"
        con = open_database(path)
        try:
            n = con.execute("SELECT count(*) FROM patients WHERE origin = 'reconstructed'").fetchall()[0][0]
        finally:
            con.close()
        yield path, n
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def running_app(db_path: Path, port: int | None = None, timeout: float = 90, app_dir: Path = ROOT):
    """``streamlit run app.py`` (in ``app_dir``) on a free port; yields the base URL; stops that
    process only."""
    port = port or free_port()
    env = dict(os.environ, EXPLORER_DB=str(db_path), STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    streamlit = Path(sys.executable).with_name("streamlit")
    cmd = [str(streamlit) if streamlit.exists() else "streamlit", "run", "app.py", "--server.port", str(port),
           "--server.headless", "true", "--server.fileWatcherType", "none", "--server.runOnSave", "false"]
    log = tempfile.NamedTemporaryFile(prefix="explorer-app-", suffix=".log", delete=False)
    proc = subprocess.Popen(cmd, cwd=app_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(base + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"streamlit did not start; log: {Path(log.name).read_text()[-2000:]}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        if os.environ.get("BENCH_KEEP_LOG"):
            print("app log:", log.name)
        else:
            os.unlink(log.name)


@contextlib.contextmanager
def launch_browser(width: int = 1920, height: int = 1080):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def open_explorer(page, base: str, query: str = "studies=su_kras_sintilimab", timeout_ms: int = 120_000) -> None:
    """Open the Explorer with ``query`` and wait for the three panels.

    The app's entry page is opened first: with a ``pages/`` folder next to app.py, Streamlit
    serves a deep link opened before the entry script ever ran in the legacy folder mode."""
    page.goto(base + "/")
    page.wait_for_selector('[data-testid="stSidebarNav"]', timeout=timeout_ms)
    page.goto(f"{base}/explorer?{query}")
    page.wait_for_function(_DRAWN_JS, timeout=timeout_ms)
    page.evaluate(_OBSERVER_JS)


def runs(page) -> int:
    return page.evaluate("window.__xRuns")


def wait_redrawn(page, runs_before: int, timeout_ms: int = 60_000) -> None:
    page.wait_for_function(_REDRAWN_JS, arg=runs_before, timeout=timeout_ms)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def prepare_toggle(page, variable: str, label: str):
    """Everything before the change itself: find the tag's remove button, or open the filter's
    list and find the option. Returns the element whose click changes the filter, or None when
    the level is not offered in the current view (``label`` is the level as shown, no count)."""
    box = page.locator(f".st-key-x_f_{variable}")
    remove = box.get_by_role("button", name=re.compile(rf"^Remove {re.escape(label)} \("))
    if remove.count():
        return remove.first
    option = page.get_by_role("option", name=re.compile(rf"^{re.escape(label)} \("))
    for opener in (box.get_by_role("button", name="Open"), box.get_by_role("combobox")):
        opener.click()
        try:
            option.first.wait_for(timeout=1500)
            return option.first
        except Exception:  # noqa: BLE001 - list not open yet, or the level is not offered
            page.keyboard.press("Escape")
    return None


def toggle_level(page, variable: str, label: str) -> bool:
    """Switch one level of a sidebar filter on or off. False when it is not offered."""
    target = prepare_toggle(page, variable, label)
    if target is None:
        return False
    target.click()
    return True


# Toggles for the bench: a sliding window of two active filters, so most states are new.
_TOGGLES = [
    ("prior_antiangiogenic", "No"), ("prior_ici", "Yes"), ("prior_antiangiogenic", "No"),
    ("ecog", "0–1"), ("prior_ici", "Yes"), ("kras_subtype", "G12C"), ("ecog", "0–1"),
    ("line_of_therapy", "3rd line"), ("kras_subtype", "G12C"), ("prior_ici", "No"),
    ("line_of_therapy", "3rd line"), ("kras_subtype", "non-G12C"), ("prior_ici", "No"),
    ("ecog", "≥2"), ("kras_subtype", "non-G12C"), ("prior_antiangiogenic", "Yes"), ("ecog", "≥2"),
    ("line_of_therapy", "2nd line"), ("prior_antiangiogenic", "Yes"), ("line_of_therapy", "2nd line"),
]


def measure_change(page, target, timeout_ms: int = 60_000) -> dict:
    """Click ``target`` (it changes a filter) and time the redraw inside the page (see the module
    docstring). Returns milliseconds: ``total`` (input to painted frame), ``server`` (input to the
    run's last websocket message) and ``draw`` (that message to the painted frame)."""
    page.evaluate(_TIMING_JS)
    before = runs(page)
    n_ws = page.evaluate("window.__xWs ? window.__xWs.length : 0")
    target.click()
    page.wait_for_function(_SETTLED_JS, arg=[before, QUIET_MS], timeout=timeout_ms, polling=50)
    t = page.evaluate("""(n) => {
        const T = window.__xT;
        const end = Math.max(T.idlePaint, T.chartPaint);
        const msgs = (window.__xWs || []).slice(n).filter((x) => x >= T.input && x <= end);
        return {input: T.input, end, last_msg: msgs.length ? msgs[msgs.length - 1] : null};
    }""", n_ws)
    total = t["end"] - t["input"]
    server = (t["last_msg"] - t["input"]) if t["last_msg"] is not None else float("nan")
    return {"total": total, "server": server, "draw": total - server}


def bench(n: int = 20, studies: str = "su_kras_sintilimab", port: int | None = None, pause: float = 1.0
          ) -> list[dict]:
    """Timings of ``n`` filter changes (see :func:`measure_change`); ``pause`` seconds between
    changes (a clinician looks at the result before the next "what if")."""
    with built_database() as (db, n_rows), running_app(db, port) as base, launch_browser() as page:
        print(f"bundled data: {n_rows} reconstructed patient rows; studies={studies}")
        page.add_init_script(_WS_JS)
        t0 = time.perf_counter()
        open_explorer(page, base, f"studies={studies}")
        print(f"first load (cold process): {1000 * (time.perf_counter() - t0):.0f} ms")
        out: list[dict] = []
        i = 0
        while len(out) < n and i < 3 * n + len(_TOGGLES):
            variable, label = _TOGGLES[i % len(_TOGGLES)]
            i += 1
            time.sleep(pause)
            target = prepare_toggle(page, variable, label)
            if target is None:
                print(f"    {variable} {label:<10} not offered in this view, skipped")
                continue
            m = measure_change(page, target)
            page.keyboard.press("Escape")  # close the list if it stayed open
            out.append(m)
            print(f"{len(out):2d}. {variable:<20} {label:<10} {m['total']:6.0f} ms"
                  f"   (server {m['server']:4.0f} + draw {m['draw']:4.0f})")
        return out


# ---- baseline: the same measurement on a bare Streamlit page ------------------------------------
_BASELINE_APP = """
from pathlib import Path

import plotly.io as pio
import streamlit as st

st.set_page_config(layout="wide")
HERE = Path(__file__).parent
FIGS = {p.stem: pio.from_json(p.read_text(), skip_invalid=True) for p in HERE.glob("*.json")}
levels = st.sidebar.multiselect("Prior antiangiogenic therapy", ["no", "yes"], key="x_f_prior_antiangiogenic",
                                format_func=lambda lv: f"{lv.capitalize()} (0)")
view = "-".join(sorted(levels)) or "all"
cols = st.columns([1.08, 1.0, 0.96], gap="medium")
cols[0].plotly_chart(FIGS["km-" + view], key="km", theme=None)
cols[1].plotly_chart(FIGS["forest-" + view], key="forest", theme=None)
cols[2].plotly_chart(FIGS["ae"], key="ae", theme=None)
"""


@contextlib.contextmanager
def baseline_app(studies: str):
    """A one-widget Streamlit page with the Explorer's own three figures for the bundled data
    (KM and forest for each choice of the prior-antiangiogenic filter, computed here by the
    engine and drawn by components/; AE fixed), and the app's .streamlit settings. The page runs
    no query and no statistics: what it measures is Streamlit's rerun and plotly's redraw."""
    sys.path.insert(0, str(ROOT))
    import plotly.io as pio
    from dataclasses import replace

    from components.ae_chart import ae_figure
    from components.forest import forest_figure, rows_from_frame
    from components.km_plot import km_figure
    from engine import cohort, explorer_data as ed
    from engine.db import open_database

    tmp = Path(tempfile.mkdtemp(prefix="explorer-baseline-"))
    try:
        con = open_database(tmp / "explorer.duckdb")
        try:
            state, _ = cohort.parse_query({"studies": studies}, cohort.load_catalog(con))
            info = ed.study_info(con, state.studies)
            evidence = ed.view_evidence(con, state.studies, state.endpoint)
            variables = tuple(ed.auto_forest_variables(con, state, evidence))
            for view, levels in (("all", ()), ("no", ("no",)), ("yes", ("yes",)), ("no-yes", ("no", "yes"))):
                s = state.with_filter("prior_antiangiogenic", levels)
                km = km_figure(ed.km_panel(con, s, info, evidence), height=560)
                forest = forest_figure(rows_from_frame(ed.forest_rows(con, s, variables, info, evidence)), height=560)
                (tmp / f"km-{view}.json").write_text(pio.to_json(km))
                (tmp / f"forest-{view}.json").write_text(pio.to_json(forest))
            ae = ed.ae_panel(con, replace(state, filters=()), info)
            (tmp / "ae.json").write_text(pio.to_json(ae_figure(ae.rows, ae.terms, ae.series, height=522)))
        finally:
            con.close()
        (tmp / "app.py").write_text(_BASELINE_APP)
        shutil.copytree(ROOT / ".streamlit", tmp / ".streamlit")
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_baseline(n: int = 20, studies: str = "su_kras_sintilimab", port: int | None = None,
                   pause: float = 1.0) -> list[dict]:
    """The measurement of :func:`bench` on :func:`baseline_app`: ``n`` changes of its one filter."""
    with baseline_app(studies) as app_dir, running_app(app_dir / "none.duckdb", port, app_dir=app_dir) as base, \
            launch_browser() as page:
        print(f"baseline: a bare Streamlit page with one filter and the Explorer's three figures; studies={studies}")
        page.add_init_script(_WS_JS)
        page.goto(base + "/")
        page.wait_for_function(_DRAWN_JS, timeout=120_000)
        page.evaluate(_OBSERVER_JS)
        out: list[dict] = []
        for i in range(n):
            time.sleep(pause)
            label = ("No", "No", "Yes", "Yes")[i % 4]  # on, off, on, off: four different views
            target = prepare_toggle(page, "prior_antiangiogenic", label)
            m = measure_change(page, target)
            page.keyboard.press("Escape")
            out.append(m)
            print(f"{len(out):2d}. prior_antiangiogenic {label:<10} {m['total']:6.0f} ms"
                  f"   (server {m['server']:4.0f} + draw {m['draw']:4.0f})")
        return out


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--studies", default="su_kras_sintilimab")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--pause", type=float, default=1.0,
                    help="seconds between changes, as a user reads the result (default %(default)s; 0: back to back)")
    ap.add_argument("--baseline", action="store_true",
                    help="measure a bare Streamlit page with the same three figures and one filter instead "
                         "(what Streamlit and plotly.js alone cost on this machine)")
    args = ap.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} not found: apt-get install -y chromium", file=sys.stderr)
        return 2
    load = os.getloadavg()
    results = (bench_baseline if args.baseline else bench)(args.n, args.studies, args.port or None, args.pause)
    times = [r["total"] for r in results]
    print(f"redraw after a filter change over {len(times)} changes ({args.pause:g} s apart), from the input "
          f"event to the painted frame: median {statistics.median(times):.0f} ms, p95 {_p95(times):.0f} ms, "
          f"max {max(times):.0f} ms")
    print(f"  of which server (input to last message): median {statistics.median(r['server'] for r in results):.0f} ms;"
          f" draw (last message to painted frame): median {statistics.median(r['draw'] for r in results):.0f} ms")
    print("load average before / after: " + " ".join(f"{x:.2f}" for x in load) + " / "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" ({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
