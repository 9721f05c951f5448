"""What the Explorer's panels show: every number equals the engine's value on the same patient
rows, the paper's own HRs appear beside the computed ones, and the honesty rules hold (small
numbers, not reached, cross-study note, study-level AEs, footnotes that stand on their own).

Runs on the reconstructed patient rows of the bundled data."""
from __future__ import annotations


import duckdb
import numpy as np
import pandas as pd
import pytest

from components.ae_chart import ae_figure
from components.forest import ForestRow, forest_figure, rows_frame, rows_from_frame
from components.km_plot import km_figure
from engine import explorer_data as ed
from engine.cohort import FilterSpec, ViewState
from engine.survival import cox_hr, kaplan_meier, logrank
from test_explorer_state import copy_of_built_database

KRAS = "su_kras_sintilimab"


@pytest.fixture(scope="module")
def db_path(built_db_path, tmp_path_factory):
    return copy_of_built_database(built_db_path, tmp_path_factory, "explorer_data")


@pytest.fixture()
def con(db_path):
    c = duckdb.connect(str(db_path), read_only=True)
    yield c
    c.close()


def rows(con, sql, *params):
    return con.execute(sql, list(params)).df()


# ----- Kaplan-Meier panel ---------------------------------------------------------------------

def test_km_median_of_the_kras_no_prior_antiangiogenic_subgroup_is_the_engines(con):
    state = ViewState(studies=(KRAS,), endpoint="PFS", filters=(FilterSpec("prior_antiangiogenic", ("no",)),))
    panel = ed.km_panel(con, state)
    assert len(panel.curves) == 1
    c = panel.curves[0]
    pts = rows(con, "SELECT pfs_months, pfs_event FROM patients WHERE study_id=? AND prior_antiangiogenic='no'", KRAS)
    ref = kaplan_meier(pts.pfs_months, pts.pfs_event)
    assert c.n == len(pts) == ref.n and c.events == ref.events
    assert c.median == pytest.approx(ref.median)
    assert c.median_ci == pytest.approx(ref.median_ci)
    assert c.kind == "reconstructed"
    # the figure carries the same median in its legend and trace metadata
    fig = km_figure(panel)
    main = [t for t in fig.data if t.meta and "median" in t.meta]
    assert main[0].meta["median"] == pytest.approx(ref.median)
    assert f"{ref.median:.1f} mo" in main[0].name


def test_km_risk_table_counts_match_the_patient_rows(con):
    state = ViewState(studies=(KRAS,), endpoint="OS")
    panel = ed.km_panel(con, state)
    c = panel.curves[0]
    pts = rows(con, "SELECT os_months t, os_event e FROM patients WHERE study_id=?", KRAS)
    for _, r in c.table.iterrows():
        assert r.at_risk == int((pts.t >= r.time).sum())
        assert r.events_cum == int(((pts.t <= r.time) & (pts.e == 1)).sum())
        assert r.censored_cum == int(((pts.t <= r.time) & (pts.e == 0)).sum())
    assert panel.grid[0] == 0 and panel.grid[-1] >= pts.t.max()
    # the table is a subplot sharing the x axis with the curves
    fig = km_figure(panel)
    assert fig.layout.xaxis2.matches == "x" or fig.layout.xaxis.matches == "x2"


def test_two_groups_give_the_engines_hr_and_the_same_hr_as_the_forest(con):
    state = ViewState(studies=(KRAS,), endpoint="PFS", compare_by="prior_antiangiogenic")
    panel = ed.km_panel(con, state)
    pts = rows(con, "SELECT pfs_months t, pfs_event e, prior_antiangiogenic g FROM patients WHERE study_id=?", KRAS)
    ref = cox_hr(pts.t, pts.e, pts.g, reference="yes", comparison="no")  # the paper's direction
    assert panel.hr["hr"] == pytest.approx(ref.hr)
    assert (panel.hr["ci_low"], panel.hr["ci_high"]) == pytest.approx((ref.ci_low, ref.ci_high))
    assert "No vs Yes" in panel.hr_text
    forest = ed.forest_rows(con, state, ("prior_antiangiogenic",))
    computed = forest[(forest.kind == "reconstructed") & (forest.variable == "prior_antiangiogenic") & ~forest.header]
    assert computed.estimate.iloc[0] == pytest.approx(panel.hr["hr"])  # one HR implementation


def test_small_groups_get_a_warning_and_no_p_value(con):
    state = ViewState(studies=(KRAS,), compare_by="prior_antiangiogenic")  # 'yes' has 6 patients
    panel = ed.km_panel(con, state)
    small = [c for c in panel.curves if c.small]
    assert small and all(c.n < ed.MIN_PATIENTS or c.events < ed.MIN_EVENTS for c in small)
    assert panel.logrank_p is None and "no p-value" in panel.logrank_text
    assert any("small numbers" in w for w in panel.warnings)


def test_p_value_shown_when_every_group_is_large_enough(con):
    state = ViewState(studies=("zhou_alter_l058",), compare_by="arm")
    panel = ed.km_panel(con, state)
    pts = rows(con, "SELECT pfs_months t, pfs_event e, arm_id g FROM patients WHERE study_id='zhou_alter_l058'")
    assert panel.logrank_p == pytest.approx(logrank(pts.t, pts.e, pts.g).p)
    ref = cox_hr(pts.t, pts.e, pts.g, reference="tki_alone", comparison="tki_anlotinib")
    assert panel.hr["hr"] == pytest.approx(ref.hr)  # experimental vs control arm
    assert not panel.cross_study


def test_cross_study_curves_carry_the_not_randomized_note(con):
    state = ViewState(studies=(KRAS, "zzu_escc_pd1"))
    panel = ed.km_panel(con, state)
    assert panel.cross_study and ed.NOT_RANDOMIZED in panel.notes
    assert {c.study_id for c in panel.curves} == {KRAS, "zzu_escc_pd1"}
    assert any(ed.NOT_RANDOMIZED in line for line in ed.footnotes(con, state))


def test_empty_subgroup_gives_a_message_not_a_curve(con):
    state = ViewState(studies=("zhou_alter_l058",), filters=(FilterSpec("prior_ici", ("yes",), "exclude"),))
    panel = ed.km_panel(con, state)
    assert panel.curves == [] and "No patient" in panel.message
    f = ed.forest_rows(con, state, ("ecog",))
    assert f[~f.header.astype(bool)].estimate.isna().all()


def test_median_texts():
    assert ed.median_text(None, (8.2, None)) == "not reached (8.2–NR)"
    assert ed.median_text(9.14, (5.6, None)) == "9.1 mo (5.6–NR)"
    assert ed.median_text(None, (None, None)) == "not reached"
    assert ed.p_text(0.0004) == "p < 0.001" and ed.p_text(0.0234) == "p = 0.023"


def test_time_grid_covers_follow_up_in_even_steps():
    assert ed.time_grid(28.3) == [0, 4, 8, 12, 16, 20, 24, 28, 32]
    assert ed.time_grid(7) == [0, 1, 2, 3, 4, 5, 6, 7]
    g = ed.time_grid(60)
    assert g[-1] >= 60 and len(g) <= 9


def test_numbers_behind_the_km_figure(con):
    panel = ed.km_panel(con, ViewState(studies=("zhou_alter_l058",)))
    df = panel.numbers()
    assert {"curve", "time", "at_risk", "events_cum", "censored_cum", "survival", "median_months", "hr"} <= set(df.columns)
    assert len(df) == len(panel.grid) * len(panel.curves)


# ----- forest rows ----------------------------------------------------------------------------

def test_forest_holds_the_papers_hr_029_beside_the_computed_one(con):
    state = ViewState(studies=(KRAS,), endpoint="PFS")
    f = ed.forest_rows(con, state, ("prior_antiangiogenic",))
    rep = f[f.kind == "reported"]
    assert len(rep) == 1
    r = rep.iloc[0]
    assert (r.estimate, r.ci_low, r.ci_high) == (0.29, 0.15, 0.56)
    assert (r.level, r.reference_level) == ("no", "yes") and "Results" in r.source
    # the computed row for the same comparison comes right before it
    idx = rep.index[0]
    comp = f.loc[idx - 1]
    assert comp.kind == "reconstructed" and (comp.level, comp.reference_level) == ("no", "yes")
    pts = rows(con, "SELECT pfs_months t, pfs_event e, prior_antiangiogenic g FROM patients WHERE study_id=?", KRAS)
    assert comp.estimate == pytest.approx(cox_hr(pts.t, pts.e, pts.g, reference="yes", comparison="no").hr)
    # and the figure draws it as a square with its own marker
    fig = forest_figure(rows_from_frame(f))
    squares = [t for t in fig.data if t.marker and t.marker.symbol == "square"]
    assert squares and squares[0].x[0] == 0.29


def test_forest_uses_the_papers_comparison_for_merged_levels(con):
    f = ed.forest_rows(con, ViewState(studies=(KRAS,)), ("kras_subtype",))
    comp = f[(f.kind == "reconstructed") & ~f.header]
    assert list(zip(comp.level, comp.reference_level)) == [("G12C", "non_G12C")]  # as the paper split it
    n = con.execute("SELECT count(*) FROM patients WHERE study_id=? AND kras_subtype IS NOT NULL", [KRAS]).fetchall()[0][0]
    assert comp.n.iloc[0] == n


def test_two_arm_study_forest_is_arm_vs_control_within_levels(con):
    f = ed.forest_rows(con, ViewState(studies=("zhou_alter_l058",)), ("egfr_mutation",))
    body = f[~f.header]
    assert body.label.iloc[0].startswith("All patients") and body.kind.iloc[1] == "reported"
    assert body.estimate.iloc[1] == 0.38
    ex19 = body[(body.level == "ex19del") & (body.kind == "reconstructed")].iloc[0]
    pts = rows(con, "SELECT pfs_months t, pfs_event e, arm_id g FROM patients WHERE study_id='zhou_alter_l058' AND egfr_mutation='ex19del'")
    assert ex19.estimate == pytest.approx(cox_hr(pts.t, pts.e, pts.g, reference="tki_alone", comparison="tki_anlotinib").hr)


def test_reported_hr_notes_when_filters_do_not_apply(con):
    state = ViewState(studies=(KRAS,), filters=(FilterSpec("ecog", ("0_1",)),))
    f = ed.forest_rows(con, state, ("prior_antiangiogenic",))
    assert "filters do not apply" in f[f.kind == "reported"].hover.iloc[0]


def test_auto_forest_variables_follow_the_papers(con):
    v = ed.auto_forest_variables(con, ViewState(studies=(KRAS,)))
    assert "prior_antiangiogenic" in v and "kras_subtype" in v
    v = ed.auto_forest_variables(con, ViewState(studies=(KRAS,), compare_by="ecog"))
    assert v[0] == "ecog"


# ----- adverse events -------------------------------------------------------------------------

def test_ae_panel_is_study_level_and_says_so_under_a_filter(con):
    plain = ed.ae_panel(con, ViewState(studies=(KRAS,)))
    filtered = ed.ae_panel(con, ViewState(studies=(KRAS,), filters=(FilterSpec("prior_antiangiogenic", ("no",)),)))
    pd.testing.assert_frame_equal(plain.rows, filtered.rows)  # filters do not change AE numbers
    assert "do not apply" in filtered.note
    hyp = plain.rows[plain.rows.term == "Hypertension"].iloc[0]
    assert hyp.any_n == 16 and hyp.denominator == 27 and hyp.g3_n == 3
    assert plain.terms[0] == "Hypertension"  # sorted by any-grade incidence


def test_ae_cut_off_sort_and_limit(con):
    base = ed.ae_panel(con, ViewState(studies=("zhou_alter_l058",), ae_top=0))
    cut = ed.ae_panel(con, ViewState(studies=("zhou_alter_l058",), ae_min=20, ae_top=0))
    assert set(cut.terms) < set(base.terms) and cut.hidden_terms > 0
    best = cut.rows.assign(s=cut.rows.any_pct.fillna(cut.rows.g3_pct)).groupby("term").s.max()
    assert (best >= 20).all()
    alpha = ed.ae_panel(con, ViewState(studies=("zhou_alter_l058",), ae_sort="term", ae_top=0))
    assert alpha.terms == sorted(alpha.terms)
    g3 = ed.ae_panel(con, ViewState(studies=("zhou_alter_l058",), ae_sort="g3", ae_top=0))
    top = g3.rows.groupby("term").g3_pct.max().fillna(-1)
    assert top[g3.terms[0]] == top.max()
    few = ed.ae_panel(con, ViewState(studies=("zhou_alter_l058",), ae_top=5))
    assert len(few.terms) == 5 and few.truncated_terms == len(base.terms) - 5
    assert set(ed.ae_panel(con, ViewState(studies=("zhou_alter_l058",))).series) == {
        "3rd-gen EGFR TKI + anlotinib (N=100)", "3rd-gen EGFR TKI alone (N=50)"}


def test_ae_figure_draws_any_grade_and_grade3_for_each_arm(con):
    ae = ed.ae_panel(con, ViewState(studies=("zhou_alter_l058",)))
    fig = ae_figure(ae.rows, ae.terms, ae.series)
    assert len(fig.data) == 2 * len(ae.series)
    hyp = ae.rows[(ae.rows.term == "Hypertension") & (ae.rows.arm_id == "tki_anlotinib")].iloc[0]
    light = fig.data[0]
    assert dict(zip(light.y, light.x))["Hypertension"] == hyp.any_pct
    assert dict(zip(fig.data[1].y, fig.data[1].x))["Hypertension"] == hyp.g3_pct


# ----- footnotes, provenance ------------------------------------------------------------------

def test_footnotes_name_source_cutoff_filters_and_method(con):
    state = ViewState(studies=(KRAS,), filters=(FilterSpec("prior_antiangiogenic", ("no",)),))
    lines = ed.footnotes(con, state)
    text = " ".join(lines)
    cutoff = con.execute("SELECT data_cutoff FROM studies WHERE study_id=?", [KRAS]).fetchall()[0][0]
    assert cutoff in text and "Figure 1" in text
    assert "Prior antiangiogenic: No" in text
    assert "Cox" in text and "log-rank" in text.lower() and "10 patients" in text


def test_user_cohorts_are_labelled_user_data(built_db_path, tmp_path_factory):
    path = copy_of_built_database(built_db_path, tmp_path_factory, "explorer_user")
    c = duckdb.connect(str(path))
    c.execute("INSERT INTO user_cohorts VALUES ('u_demo', 'My clinic cohort', '2026-01-01', 'clinic.csv', 30, 'x')")
    rng = np.random.default_rng(1)
    for i in range(30):
        c.execute("INSERT INTO patients (study_id, arm_id, patient_id, origin, prior_ici, pfs_months, pfs_event) "
                  "VALUES ('u_demo', 'all', ?, 'user', ?, ?, ?)",
                  [f"p{i}", "yes" if i % 2 else "no", float(rng.exponential(8)), int(rng.random() < 0.8)])
    state = ViewState(studies=("u_demo",), compare_by="prior_ici")
    panel = ed.km_panel(c, state)
    assert panel.kind == "user" and all(cu.kind == "user" for cu in panel.curves)
    f = ed.forest_rows(c, state, ("prior_ici",))
    assert set(f[~f.header].kind) == {"user"}
    assert any("user-uploaded" in line for line in ed.footnotes(c, state))
    ae = ed.ae_panel(c, state)
    assert ae.terms == [] and ae.missing == ["My clinic cohort"]
    c.close()


def test_forest_component_is_generic():
    rows = [ForestRow("Medians", header=True),
            ForestRow("Study A", 9.1, 5.6, 10.3, "reported", "27"),
            ForestRow("Study B", 5.5, 4.1, 6.9, "reconstructed", "87"),
            ForestRow("Pooled", 7.0, 5.0, 9.0, "pooled")]
    fig = forest_figure(rows, scale="linear", reference=None, x_title="Median PFS (months)",
                        value_header="Median (95% CI)")
    assert fig.layout.xaxis.type != "log"
    assert any(t.fill == "toself" for t in fig.data)  # the pooled diamond
    assert list(rows_frame(rows).label) == ["Medians", "Study A", "Study B", "Pooled"]


def test_figures_carry_no_template_and_a_content_revision(con):
    """plotly.js redraws a chart in full when its template or data objects are new; our figures
    carry no template and a datarevision that follows their content (components.provenance)."""
    base = ViewState(studies=(KRAS,), endpoint="PFS")
    sub = ViewState(studies=(KRAS,), endpoint="PFS", filters=(FilterSpec("prior_antiangiogenic", ("no",)),))
    a, a2, b = km_figure(ed.km_panel(con, base)), km_figure(ed.km_panel(con, base)), km_figure(ed.km_panel(con, sub))
    assert a.layout.template.to_plotly_json() == {}
    assert a.layout.datarevision == a2.layout.datarevision != b.layout.datarevision
    # the default template's look is kept where the figures rely on it
    assert a.layout.font.color == "#2a3f5f" and a.layout.hovermode == "closest" and a.layout.xaxis.automargin


def test_forest_row_of_a_filtered_variable_says_filtered_out(con):
    """Filtering to one level of a variable leaves its comparison one-sided: the row says the
    filter did it (not a vague 'not estimable'), and the paper's HR row stays beside it."""
    state = ViewState(studies=(KRAS,), endpoint="PFS", filters=(FilterSpec("prior_antiangiogenic", ("no",)),))
    forest = ed.forest_rows(con, state, ("prior_antiangiogenic", "kras_subtype"))
    mine = forest[(forest.variable == "prior_antiangiogenic") & ~forest.header.astype(bool)
                  & (forest.kind == "reconstructed")]
    assert list(mine.value_text) == ["filtered out"]
    reported = forest[(forest.variable == "prior_antiangiogenic") & (forest.kind == "reported")]
    assert list(reported.value_text) == ["0.29 (0.15–0.56)"]
    other = forest[(forest.variable == "kras_subtype") & ~forest.header.astype(bool) & (forest.kind == "reconstructed")]
    assert other.value_text.iloc[0] not in ("filtered out", "not estimable")
