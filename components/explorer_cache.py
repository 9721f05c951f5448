"""The Explorer's cached numbers and figures, keyed on (data version, view).

In a module of their own (not in the page script, which Streamlit executes on every run) so
that each cached function is wrapped once per process: a decorator run on every rerun costs
Streamlit a source lookup and hash per function. Data is cached with ``st.cache_data``;
figures with ``st.cache_resource`` (shared objects, never modified after they are made).
"""
from __future__ import annotations

from dataclasses import replace

import streamlit as st

from components.ae_chart import ae_figure
from components.forest import forest_figure, rows_from_frame
from components.km_plot import km_figure
from components.session import db
from engine import cohort
from engine import explorer_data as ed
from engine.cohort import ViewState

_HASH = {ViewState: repr}
FAVOURS = ("first-named group better", "reference better")


@st.cache_data(max_entries=8, show_spinner=False)
def catalog(version: str) -> cohort.Catalog:
    return cohort.load_catalog(db())


def counts(version: str, state: ViewState):
    """Patients per filter level and the 'not reported in <study>' notices: they depend on the
    studies and the filters only, so the cache is keyed on those."""
    return _counts(version, ViewState(studies=state.studies, filters=state.filters))


@st.cache_data(max_entries=512, show_spinner=False, hash_funcs=_HASH)
def _counts(version: str, state: ViewState):
    con = db()
    return cohort.level_counts(con, state), cohort.unreported_notices(con, state, catalog(version))


@st.cache_data(max_entries=64, show_spinner=False)
def info(version: str, studies: tuple[str, ...]):
    return ed.study_info(db(), studies)


@st.cache_data(max_entries=64, show_spinner=False)
def evidence(version: str, studies: tuple[str, ...], endpoint: str):
    return ed.view_evidence(db(), studies, endpoint)


@st.cache_data(max_entries=512, show_spinner=False, hash_funcs=_HASH)
def km(version: str, state: ViewState):
    return ed.km_panel(db(), state, info(version, state.studies), evidence(version, state.studies, state.endpoint))


@st.cache_data(max_entries=512, show_spinner=False, hash_funcs=_HASH)
def forest(version: str, state: ViewState, variables: tuple[str, ...]):
    return ed.forest_rows(db(), state, variables, info(version, state.studies),
                          evidence(version, state.studies, state.endpoint))


@st.cache_data(max_entries=128, show_spinner=False, hash_funcs=_HASH)
def auto_forest(version: str, state: ViewState):
    return ed.auto_forest_variables(db(), state, evidence(version, state.studies, state.endpoint))


@st.cache_data(max_entries=256, show_spinner=False, hash_funcs=_HASH)
def ae(version: str, state: ViewState):
    return ed.ae_panel(db(), state, info(version, state.studies))


@st.cache_data(max_entries=512, show_spinner=False, hash_funcs=_HASH)
def footnotes(version: str, state: ViewState):
    notices = counts(version, state)[1]
    return ed.footnotes(db(), state, info(version, state.studies), notices,
                        evidence(version, state.studies, state.endpoint))


def survival_key(state: ViewState) -> ViewState:
    """The part of the view the survival numbers depend on (panel options left out)."""
    return replace(state, forest_by=(), ae_sort=cohort.DEFAULT_AE_SORT, ae_min=0,
                   ae_top=cohort.DEFAULT_AE_TOP, km_ci=True, km_table=cohort.DEFAULT_KM_TABLE, presentation=False)


def ae_key(state: ViewState) -> ViewState:
    """AE numbers are study-level: they depend on the studies and the AE options only."""
    return ViewState(studies=state.studies, ae_sort=state.ae_sort, ae_min=state.ae_min, ae_top=state.ae_top)


# Figures are cached as objects (cache_resource: no pickling, no re-validation); they are never
# modified after they are made.
@st.cache_resource(max_entries=256, show_spinner=False, hash_funcs=_HASH)
def km_fig(version: str, key: ViewState, fs: float, height: int, show_ci: bool, extended, wrap: int):
    return km_figure(km(version, key), font_scale=fs, height=height, show_ci=show_ci, extended_table=extended,
                     legend_wrap=wrap, validate=False)


@st.cache_resource(max_entries=256, show_spinner=False, hash_funcs=_HASH)
def forest_fig(version: str, key: ViewState, variables: tuple[str, ...], fs: float, height: int):
    return forest_figure(rows_from_frame(forest(version, key, variables)), font_scale=fs, height=height,
                         favours=FAVOURS, validate=False)


@st.cache_resource(max_entries=128, show_spinner=False, hash_funcs=_HASH)
def ae_fig(version: str, key: ViewState, fs: float, height: int, wrap: int):
    panel = ae(version, key)
    return ae_figure(panel.rows, panel.terms, panel.series, font_scale=fs, height=height, legend_wrap=wrap, validate=False)
