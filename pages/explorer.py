"""Subgroup Explorer: survival, effect sizes and safety side by side for one subgroup view.

Layout and wiring only. The view (studies, endpoint, filters, compare-by, panel options) lives in
the URL (engine.cohort); the numbers come from engine.explorer_data; the figures from components.
Sidebar changes rerun the page; panel options rerun only their panel (st.fragment). Every
computation is cached on (data version, view).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

import streamlit as st

from components import provenance
from components.provenance import md_escape
from components.ae_chart import ae_figure
from components.downloads import download_buttons, export_figure
from components.forest import empty_figure, forest_figure, rows_from_frame
from components.km_plot import km_figure
from components import explorer_cache as xc
from components.session import db
from engine import cohort
from engine import explorer_data as ed
from engine.evidence import USER_LABEL_SUFFIX
from engine.cohort import (
    AE_SORTS, COMPARE_BY, ENDPOINT_LABELS, FILTER_VARIABLES, GROUPABLE_COLUMNS, KEEP, KM_TABLES, EXCLUDE,
    SURVIVAL_ENDPOINTS, FilterSpec, ViewState, level_label, variable_label,
)
from components.frame import ensure_app_frame

ensure_app_frame()


PLOT_CONFIG = {"displaylogo": False, "responsive": True,
               "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d", "toImage"]}


# --------------------------------------------------------------------------- URL <-> state
def _query_now() -> dict[str, str]:
    return {k: st.query_params.get(k) for k in st.query_params.keys()}


def _write_url(state: ViewState) -> None:
    q = cohort.to_query(state)
    if q != _query_now():
        st.query_params.from_dict(q)
    st.session_state["_x_last_query"] = q
    st.session_state["_x_state"] = state


def _load_state(catalog: cohort.Catalog) -> ViewState:
    """The view: from the URL when it changed outside the page (first visit, pasted link,
    browser back), else the page's own state."""
    q = _query_now()
    if "_x_state" not in st.session_state or q != st.session_state.get("_x_last_query"):
        state, notices = cohort.parse_query(q, catalog)
        st.session_state["_x_notices"] = (state, notices)
        _seed_widgets(state)
        _write_url(state)
        return state
    return st.session_state["_x_state"]


def _seed_widgets(state: ViewState) -> None:
    ss = st.session_state
    ss["x_studies"] = list(state.studies)
    ss["x_endpoint"] = state.endpoint
    ss["x_by"] = state.compare_by
    for var in FILTER_VARIABLES:
        f = state.filter_for(var)
        ss[f"x_f_{var}"] = list(f.levels) if f else []
        ss[f"x_nr_{var}"] = (f.unreported if f else KEEP) == EXCLUDE
    ss["x_forest"] = list(state.forest_by)
    ss["x_ae_sort"] = state.ae_sort
    ss["x_ae_min"] = state.ae_min
    ss["x_ae_top"] = state.ae_top
    ss["x_km_ci"] = state.km_ci
    ss["x_km_table"] = state.km_table


# --------------------------------------------------------------------------- sidebar controls
def _view_from_controls(state: ViewState, catalog: cohort.Catalog) -> tuple[ViewState, list[str]]:
    """The view as the sidebar controls hold it now, and the endpoints the chosen studies offer.
    Prunes the controls' values that no longer apply (a removed cohort, an endpoint the studies
    lack). Called before the panels (so they are computed and sent first) and again by
    :func:`_sidebar`, which draws the controls at the end of the run."""
    ss = st.session_state
    options = list(catalog.studies)
    ss["x_studies"] = [s for s in ss.get("x_studies", []) if s in options]
    studies = tuple(ss["x_studies"]) or state.studies
    available = sorted({e for s in studies for e in catalog.endpoints.get(s, ())},
                       key=SURVIVAL_ENDPOINTS.index) or list(SURVIVAL_ENDPOINTS)
    if ss.get("x_endpoint") not in available:
        ss["x_endpoint"] = available[0]
    by = ss.get("x_by", state.compare_by)
    filters = tuple(
        FilterSpec(var, tuple(ss[f"x_f_{var}"]), EXCLUDE if ss.get(f"x_nr_{var}") else KEEP)
        for var in FILTER_VARIABLES if ss.get(f"x_f_{var}")
    )
    return replace(state, studies=studies, endpoint=ss["x_endpoint"], compare_by=by, filters=filters), available


def _sidebar(state: ViewState, catalog: cohort.Catalog, version: str) -> ViewState:
    # the view as the widgets hold it now, so each count reflects the other filters' new values
    draft, available = _view_from_controls(state, catalog)
    ss = st.session_state
    sb = st.sidebar
    sb.markdown("### Subgroup view")
    sb.multiselect(
        "Studies", list(catalog.studies), key="x_studies",
        format_func=lambda s: catalog.studies[s] + ("" if s in catalog.published else USER_LABEL_SUFFIX),
        help="Several studies at once: each keeps its own curves (no pooling).",
    )
    sb.radio("Endpoint", available, key="x_endpoint", horizontal=True,
             format_func=lambda e: e, help="Only endpoints with patient rows in the chosen studies.")
    sb.selectbox("Compare by", list(COMPARE_BY), key="x_by", format_func=lambda v: COMPARE_BY[v],
                 help="Split the curves by one variable (within each study).")

    counts, notices = xc.counts(version, xc.survival_key(draft))
    sb.markdown("**Filters** · number of patients per level now")
    filters = []
    for var, label in FILTER_VARIABLES.items():
        rows = counts[counts.variable == var]
        n_by = {lv: int(n) for lv, n in zip(rows.level, rows.n) if lv is not None}
        n_missing = int(rows[rows.level.isna()].n.sum())
        key = f"x_f_{var}"
        chosen = [lv for lv in ss.get(key, [])]
        opts = cohort.sort_levels(set(n_by) | set(chosen))
        ss[key] = [lv for lv in chosen if lv in opts]
        if not opts:
            sb.caption(md_escape(f"{label}: not reported in the chosen studies ({n_missing} patients)."))
            continue
        levels = sb.multiselect(
            label, opts, key=key, placeholder=f"All ({int(rows.n_exact.sum())})",
            format_func=lambda lv, v=var, n=n_by: f"{level_label(v, lv)} ({n.get(lv, 0)})",
            help=(f"{n_missing} patients in the view have no value for this variable." if n_missing else None),
        )
        if not levels:
            continue
        mine = [u for u in notices if u.variable == var]
        exclude = ss.get(f"x_nr_{var}", False)
        if mine:
            for u in mine:
                sb.caption(":material/info: " + md_escape(u.text))
            exclude = sb.toggle("Exclude patients without a value", key=f"x_nr_{var}",
                                help="Off: patients whose study does not report this variable stay in the view.")
        filters.append(FilterSpec(var, tuple(levels), EXCLUDE if exclude else KEEP))
    return replace(draft, filters=tuple(filters))


# --------------------------------------------------------------------------- panels
def _panel_header(title: str, fs: float, menus: bool, name: str):
    """Panel title, and (outside presentation mode) two menus on the right: downloads and panel
    options. Returns the downloads popover when it is open (else None) and the options popover
    (None in presentation mode).

    The download menu is lazy: its buttons are made only while it is open (opening it reruns
    just this panel's fragment). Every run gives a download button a new file id, so nine
    buttons made on every filter change were nine more elements for the browser to redraw."""
    if not menus:
        st.markdown(f'<div style="font-size:{1.12 * fs}rem;font-weight:700;line-height:2.1rem">{title}</div>',
                    unsafe_allow_html=True)
        return None, None
    left, mid, right = st.columns([5.2, 0.9, 0.9], vertical_alignment="center", gap="small")
    left.markdown(f'<div style="font-size:{1.12 * fs}rem;font-weight:700;line-height:2.1rem">{title}</div>',
                  unsafe_allow_html=True)
    downloads = mid.popover("", icon=":material/download:", key=f"x_dl_menu_{name}", on_change="rerun",
                            help="Download the figure (PNG, SVG) and the numbers behind it (CSV)")
    options = right.popover("", icon=":material/tune:", help="Panel options")
    return (downloads if downloads.open else None), options


@st.fragment
def _km_panel(version: str, fs: float, height: int, footer: Callable[[], list[str]]) -> None:
    state: ViewState = st.session_state["_x_state"]
    km = xc.km(version, xc.survival_key(state))
    downloads, opts = _panel_header(f"Kaplan–Meier · {ENDPOINT_LABELS[state.endpoint]}", fs, not state.presentation, "km")
    if opts is not None:
        with opts:
            show_ci = st.toggle("95% confidence bands", key="x_km_ci")
            table = st.radio("Table under the plot", list(KM_TABLES), key="x_km_table", format_func=KM_TABLES.get,
                             help="Automatic: the extended table for up to three curves, numbers at risk only above.")
        new = replace(state, km_ci=bool(show_ci), km_table=table)
        if new != state:
            state = new
            _write_url(state)
    show_ci, table = state.km_ci, state.km_table
    extended = None if table == "auto" else table == "extended"
    if km.message:
        if downloads is not None:
            downloads.caption("Nothing to download in this view.")
        st.info(md_escape(km.message), icon=":material/person_off:")
        st.plotly_chart(empty_figure(km.message, height=height - 60, font_scale=fs), key="x_km_chart",
                        config=PLOT_CONFIG, theme=None)
        return
    wrap = 48 if state.presentation else 64
    fig = xc.km_fig(version, xc.survival_key(state), fs, height, show_ci, extended, wrap)
    st.plotly_chart(fig, key="x_km_chart", config=PLOT_CONFIG, theme=None)
    for w in km.warnings:
        st.caption(":material/warning: " + md_escape(w))
    for n in km.notes:
        st.caption(md_escape(n))
    if downloads is not None:
        title = f"{ENDPOINT_LABELS[state.endpoint]} (Kaplan–Meier)"
        with downloads:
            download_buttons(
                lambda: export_figure(km_figure(km, height=height, show_ci=show_ci, extended_table=extended,
                                                legend_wrap=90), title=title, footnotes=footer()),
                km.numbers, f"km-{state.endpoint}-{'-'.join(state.studies)}", "x_dl_km")


@st.fragment
def _forest_panel(version: str, fs: float, height: int, footer: Callable[[], list[str]]) -> None:
    state: ViewState = st.session_state["_x_state"]
    auto = xc.auto_forest(version, replace(xc.survival_key(state), filters=()))
    downloads, opts = _panel_header(f"Hazard ratios by subgroup · {state.endpoint}", fs, not state.presentation,
                                     "forest")
    if opts is not None:
        ss = st.session_state
        ss["x_forest"] = [v for v in ss.get("x_forest", []) if v in GROUPABLE_COLUMNS]
        with opts:
            chosen = st.multiselect(
                "Variables", list(GROUPABLE_COLUMNS), key="x_forest",
                format_func=lambda v: variable_label(v),
                placeholder="Automatic: " + ", ".join(variable_label(v, short=True) for v in auto),
                help="A hazard ratio for each level (computed from the patient rows) and, where the paper "
                     "printed one, the paper's HR beside it. Empty: chosen automatically.",
            )
        if tuple(chosen) != state.forest_by:
            state = replace(state, forest_by=tuple(chosen))
            _write_url(state)
    variables = state.forest_by or auto
    rows = xc.forest(version, xc.survival_key(state), tuple(variables))
    if not len(rows) or not (~rows.header.astype(bool)).any():
        msg = "No hazard ratio can be computed in this view."
        if downloads is not None:
            downloads.caption("Nothing to download in this view.")
        st.plotly_chart(empty_figure(msg, height=height, font_scale=fs), key="x_forest_chart", config=PLOT_CONFIG, theme=None)
        return
    kinds = set(rows.kind[~rows.header.astype(bool)])
    fig = xc.forest_fig(version, xc.survival_key(state), tuple(variables), fs, height)
    st.plotly_chart(fig, key="x_forest_chart", config=PLOT_CONFIG, theme=None)
    if state.active_filters and "reported" in kinds:
        st.caption("Paper HRs (squares) are for the whole study population; the filters do not apply to them.")
    if downloads is not None:
        with downloads:
            download_buttons(
                lambda: export_figure(forest_figure(rows_from_frame(rows), height=height, favours=xc.FAVOURS),
                                      title=f"Hazard ratios by subgroup ({state.endpoint})", footnotes=footer()),
                lambda: rows.drop(columns=["hover"]), f"forest-{state.endpoint}-{'-'.join(state.studies)}",
                "x_dl_forest")


@st.fragment
def _ae_panel(version: str, fs: float, height: int, footer: Callable[[], list[str]]) -> None:
    state: ViewState = st.session_state["_x_state"]
    downloads, opts = _panel_header("Adverse events · % of patients", fs, not state.presentation, "ae")
    if opts is not None:
        with opts:
            sort = st.selectbox("Sort by", list(AE_SORTS), key="x_ae_sort", format_func=AE_SORTS.get)
            cut = st.number_input("Minimum incidence (%)", 0, 100, step=5, key="x_ae_min",
                                  help="Terms below this in every arm are hidden (any grade; grade ≥3 "
                                       "where only that is printed).")
            top = st.number_input("Most terms shown", 0, 100, step=2, key="x_ae_top", help="0 shows every term.")
        new = replace(state, ae_sort=sort, ae_min=int(cut), ae_top=int(top))
        if new != state:
            state = new
            _write_url(state)
    ae = xc.ae(version, xc.ae_key(state))
    # always said (it is true with or without filters), so the chart keeps its height and a filter
    # change leaves the AE figure as it is: the browser does not redraw it
    st.caption(":material/info: " + ed.AE_NOT_FILTERED)
    if not ae.terms:
        msg = "No adverse-event table printed for the chosen studies." if not len(ae.rows) else \
            "No term reaches the cut-off."
        if downloads is not None:
            downloads.caption("Nothing to download in this view.")
        st.plotly_chart(empty_figure(msg, height=height - 38, font_scale=fs), key="x_ae_chart", config=PLOT_CONFIG,
                        theme=None)
        return
    wrap = 34 if state.presentation else 46
    fig = xc.ae_fig(version, xc.ae_key(state), fs, height - 38, wrap)
    st.plotly_chart(fig, key="x_ae_chart", config=PLOT_CONFIG, theme=None)
    extra = []
    if ae.truncated_terms:
        extra.append(f"{ae.truncated_terms} more term(s) above the cut-off not shown")
    if ae.hidden_terms:
        extra.append(f"{ae.hidden_terms} below {state.ae_min}%")
    if ae.missing:
        extra.append("no AE table for " + ", ".join(ae.missing))
    if extra:
        st.caption(md_escape("; ".join(extra) + "."))
    if downloads is not None:
        with downloads:
            download_buttons(
                lambda: export_figure(ae_figure(ae.rows, ae.terms, ae.series, height=height, legend_wrap=90),
                                      title="Adverse events (reported, study level)", footnotes=footer()),
                ae.numbers, f"adverse-events-{'-'.join(state.studies)}", "x_dl_ae")


# --------------------------------------------------------------------------- page
def _style(presentation: bool) -> None:
    css = """
    .block-container {padding-top: 2.6rem; padding-bottom: 1rem; padding-left: 1.5rem; padding-right: 1.5rem;}
    [data-testid="stSidebar"] [data-testid="stCaptionContainer"] {margin-top: -0.6rem;}
    div[data-testid="stPlotlyChart"] {margin-bottom: -0.4rem;}
    """
    if presentation:
        css += """
        [data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stSidebarNav"],
        header[data-testid="stHeader"], [data-testid="stToolbar"] {display: none !important;}
        .block-container {padding-top: 0.6rem; max-width: 100% !important;}
        [data-testid="stCaptionContainer"] p {font-size: 1.0rem;}
        """
    st.markdown(f"<style>{css}</style>", unsafe_allow_html=True)


def _names(catalog: cohort.Catalog, state: ViewState) -> str:
    """Study names for markdown: escaped, since user cohorts are named by users."""
    return md_escape(", ".join(catalog.studies.get(s, s) for s in state.studies))


def _toggle_presentation() -> None:
    state = st.session_state["_x_state"]
    new = replace(state, presentation=not state.presentation)
    _seed_widgets(new)  # the controls were not drawn in presentation mode: give them the view back
    _write_url(new)


def main() -> None:
    con = db()
    version = ed.data_version(con)
    catalog = xc.catalog(version)
    state = _load_state(catalog)
    if not catalog.studies:
        st.warning("The database holds no study yet.")
        return

    if not state.presentation:
        state, _ = _view_from_controls(state, catalog)
        _write_url(state)
    _style(state.presentation)

    parsed, url_notices = st.session_state.get("_x_notices", (None, []))
    fs = 1.3 if state.presentation else 1.0
    height = 700 if state.presentation else 560

    top = st.columns([6, 1.2]) if not state.presentation else st.columns([10, 1])
    with top[0]:
        if state.presentation:
            st.markdown(f"**{ENDPOINT_LABELS[state.endpoint]}** · {_names(catalog, state)}"
                        f" · filters: {md_escape(cohort.describe_filters(state))}")
        else:
            st.markdown("### Subgroup Explorer")
            st.caption(f"{ENDPOINT_LABELS[state.endpoint]} · {_names(catalog, state)}"
                       f" · filters: {md_escape(cohort.describe_filters(state))}"
                       " · the link in the address bar reopens this view")
    with top[1]:
        st.button("Exit presentation" if state.presentation else "Presentation mode", key="x_present",
                  on_click=_toggle_presentation, icon=":material/slideshow:", type="tertiary")
    if url_notices and parsed is not None and xc.survival_key(parsed) == xc.survival_key(state):
        st.warning("Parts of the link were ignored:\n\n" + "\n".join(f"- {md_escape(n)}" for n in url_notices),
                   icon=":material/link_off:")

    # The panels first (the browser draws them while the footnotes and the sidebar are computed);
    # the footnotes are needed by the panels only when a figure is exported.
    key = xc.survival_key(state)
    footer = lambda: xc.footnotes(version, key)  # noqa: E731
    cols = st.columns([1.08, 1.0, 0.96], gap="medium")
    with cols[0]:
        _km_panel(version, fs, height, footer)
    with cols[1]:
        _forest_panel(version, fs, height, footer)
    with cols[2]:
        _ae_panel(version, fs, height, footer)

    st.markdown(provenance.footnote_html(footer(), 0.8 * fs), unsafe_allow_html=True)
    if not state.presentation:
        drawn = _sidebar(state, catalog, version)
        if drawn != state:  # not expected: the controls changed the view while being drawn
            _write_url(drawn)
            st.rerun()


main()
