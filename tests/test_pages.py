"""AppTest of the Studies, Compare studies, Safety and Data notes pages: what the pages display is
checked against the database (and, where stated, against the number printed in the paper)."""
from __future__ import annotations

import json
import shutil

import pytest
from streamlit.testing.v1 import AppTest

from engine import evidence as ev
from engine import meta
from engine.paths import ROOT

TIMEOUT = 90


@pytest.fixture(scope="module")
def app_db(built_db_path, tmp_path_factory):
    """A copy of the session database for the app (the app opens it read-write; the tests read
    the original read-only)."""
    path = tmp_path_factory.mktemp("pages") / "explorer.duckdb"
    shutil.copy(built_db_path, path)
    return path


@pytest.fixture()
def run(app_db, monkeypatch):
    monkeypatch.setenv("EXPLORER_DB", str(app_db))

    def _run(page: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=TIMEOUT).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return _run


def blocks(node):
    for child in getattr(node, "children", {}).values():
        yield child
        yield from blocks(child)


def card(at: AppTest, study_id: str):
    hits = [b for b in blocks(at.main) if getattr(b.proto, "id", "").endswith(f"-card_{study_id}")]
    assert len(hits) == 1, f"no card for {study_id}"
    return hits[0]


def cards(at: AppTest) -> list[str]:
    return [b.proto.id.rsplit("-card_", 1)[1] for b in blocks(at.main) if "-card_" in getattr(b.proto, "id", "")]


def figures(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def annotations(fig: dict) -> list[str]:
    return [a.get("text", "") for a in fig["layout"].get("annotations", [])]


def metric(at: AppTest, label_start: str) -> str:
    hits = [m for m in at.metric if m.label.startswith(label_start)]
    assert len(hits) == 1, [m.label for m in at.metric]
    return hits[0].value


# ----- Studies (overview) -----------------------------------------------------------------------

def test_overview_escc_n87_median_os(run, con):
    at = run("overview")
    assert set(cards(at)) == {r[0] for r in con.execute("SELECT study_id FROM studies").fetchall()}
    table = card(at, "zzu_escc_pd1").dataframe[0].value.set_index("Endpoint")
    os_row = table.loc["Median OS"]
    assert os_row["Result (95% CI)"] == "11.5 mo (7.1–15.9)"  # as printed in the paper
    assert (os_row["n"], os_row["Value"], os_row["CI"]) == ("87", "reported", "reported")
    src = con.execute("SELECT source FROM reported_results WHERE study_id='zzu_escc_pd1' AND endpoint='OS' "
                      "AND statistic='median' AND subgroup IS NULL").fetchone()[0]
    assert os_row["Source"] == src


def test_overview_every_headline_value_matches_the_engine(run, con):
    at = run("overview")
    headline = ev.headline_results(con)
    for sid in cards(at):
        table = card(at, sid).dataframe[0].value
        expected = headline[headline.study_id == sid]
        assert list(table["Result (95% CI)"]) == list(expected.text + expected.markers)
        assert list(table["Value"]) == list(expected.basis)
        assert list(table["CI"]) == list(expected.ci_basis)
        assert set(table["Value"]) <= {"reported", "not reported"}
    chen = card(at, "chen_ici_rechallenge").dataframe[0].value.set_index("Endpoint")
    assert chen.loc["Objective response rate", "CI"] == ev.CI_COMPUTED  # no CI in the paper
    zhou = card(at, "zhou_alter_l058").dataframe[0].value
    assert "Arm" in zhou.columns
    assert (zhou["Result (95% CI)"] == "not reached" + ev.FLAG_MARKERS["derived"]).sum() == 2


def test_overview_citation_and_design(run):
    at = run("overview")
    text = " ".join(m.value for m in card(at, "zhu_escc_post_ici").markdown)
    assert "https://doi.org/10.1080/07853890.2024.2443811" in text
    assert "NCT04984096" in text
    assert "**Design:**" in text and "**Data cutoff:**" in text and "**Median follow-up:**" in text


def test_overview_filters(run):
    at = run("overview")
    tumor = next(m for m in at.multiselect if m.label == "Tumor type")
    tumor.set_value(["ESCC"]).run()
    assert set(cards(at)) == {"zzu_escc_pd1", "zhu_escc_post_ici"}
    tumor = next(m for m in at.multiselect if m.label == "Tumor type")
    tumor.set_value([]).run()
    partner = next(m for m in at.multiselect if m.label == "Partner drug class")
    partner.set_value(["EGFR TKI"]).run()
    assert cards(at) == ["zhou_alter_l058"]
    partner = next(m for m in at.multiselect if m.label == "Partner drug class")
    partner.set_value([]).run()
    line = next(m for m in at.multiselect if m.label == "Line of therapy")
    line.set_value(["3rd line or later"]).run()
    assert "zhou_alter_l058" not in cards(at) and "zzu_escc_pd1" in cards(at)


# ----- Compare studies --------------------------------------------------------------------------

def _counts(con, endpoint, ids):
    c = ev.rate_counts(con, endpoint).set_index("study_id").loc[ids]
    return [int(x) for x in c.events], [int(x) for x in c.n]


def test_compare_pooled_escc_orr_equals_engine(run, con):
    at = run("compare")
    events, n = _counts(con, "ORR", ["zzu_escc_pd1", "zhu_escc_post_ici"])
    assert sorted(zip(events, n)) == [(9, 29), (19, 87)]  # the two papers' ORR counts
    ref = meta.pool_proportions(events, n, method="REML")
    assert metric(at, "Pooled ORR (2 cohorts)") == f"{100 * ref.estimate:.1f}%"
    assert metric(at, "95% CI") == f"{100 * ref.ci_low:.1f}–{100 * ref.ci_high:.1f}%"
    assert metric(at, "I²") == f"{ref.i2:.0f}%"
    assert metric(at, "τ²") == f"{ref.tau2:.3f}"
    assert metric(at, "95% prediction interval") == "not defined (k < 3)"
    pooled_fig = next(f for f in figures(at) if "pooled" in f["layout"]["title"]["text"])
    diamond = [t for t in pooled_fig["data"] if t.get("fill") == "toself"]
    assert len(diamond) == 1 and 100 * ref.estimate in diamond[0]["x"]
    assert any("non-randomized" in m.value for m in at.markdown)
    assert any("logit scale" in c.value for c in at.caption)


def test_compare_pooling_method_and_nsclc_prediction_interval(run, con):
    at = run("compare")
    at.selectbox(key="pool_method").set_value("DL").run()
    events, n = _counts(con, "ORR", ["zzu_escc_pd1", "zhu_escc_post_ici"])
    assert metric(at, "Pooled ORR") == f"{100 * meta.pool_proportions(events, n, method='DL').estimate:.1f}%"
    nsclc = ["zhou_alter_l058", "chen_ici_rechallenge", "su_kras_sintilimab"]
    at.multiselect(key="pool_studies_ORR").set_value(nsclc).run()
    events, n = _counts(con, "ORR", nsclc)
    ref = meta.pool_proportions(events, n, method="DL")
    assert metric(at, "Pooled ORR (3 cohorts)") == f"{100 * ref.estimate:.1f}%"
    assert metric(at, "95% prediction interval") == f"{100 * ref.pi_low:.1f}–{100 * ref.pi_high:.1f}%"


def test_compare_refuses_pooling_across_tumor_types(run):
    at = run("compare")
    at.multiselect(key="pool_studies_ORR").set_value(["zzu_escc_pd1", "zhou_alter_l058"]).run()
    assert not [m for m in at.metric if m.label.startswith("Pooled")]
    assert any("Pooling is not offered" in i.value and "tumor types" in i.value for i in at.info)


def test_compare_forest_plots_show_reported_values(run, con):
    at = run("compare")
    figs = {f["layout"]["title"]["text"]: f for f in figures(at)}
    assert {"Median PFS", "Median OS", "Objective response rate", "Disease control rate", "Grade ≥3 TRAE rate"} <= set(figs)
    assert "11.5 mo (7.1–15.9)" in annotations(figs["Median OS"])
    orr = annotations(figs["Objective response rate"])
    assert "28.6% (8.4–58.1%)*" in orr  # CI computed from 4/14, marked
    assert "21.8% (13.7–32.0%)" in orr  # CI printed in the paper
    assert any(a.startswith("* CI computed from reported counts") for a in orr)
    assert any("Reported in the paper" in a for a in orr)


def test_compare_without_user_cohorts_shows_reported_values_only(run, con):
    """No cohort uploaded: nothing on the page speaks of user data, every marker is a reported one."""
    at = run("compare")
    assert not any(o.endswith("(user data)") for o in at.multiselect(key="compare_studies").options)
    assert not any("User-uploaded data" in m.value for m in at.markdown)
    assert not any(c.value == ev.USER_POOLING_NOTE for c in at.caption)
    for fig in figures(at):
        assert not [t for t in fig["data"] if t.get("name") == "user data"]
        assert "User-uploaded data" not in annotations(fig)


# ----- Safety ----------------------------------------------------------------------------------

def test_safety_shows_denominators(run, con):
    at = run("safety")
    dens = con.execute("SELECT DISTINCT denominator FROM adverse_events").fetchall()
    text = " ".join(m.value for m in at.markdown)
    for (d,) in dens:
        assert f"N={d}" in text
    fig = figures(at)[0]
    heads = json.dumps(fig["data"][0]["x"])
    for (d,) in dens:
        assert f"(N={d})" in heads
    wide = next(d.value for d in at.dataframe if "Any TRAE" in d.value.columns)
    assert wide.loc["ZZU ESCC anlotinib+PD-1 (N=87)", "Grade ≥3 TRAE"] == "44/87 (50.6%)"
    assert wide.loc["ZZU ESCC anlotinib+PD-1 (N=87)", "Any TRAE"] == "80/87 (92%)"


def test_safety_heatmap_values_and_cutoff(run, con):
    at = run("safety")
    fig = figures(at)[0]
    trace = fig["data"][0]
    terms = trace["y"]
    cols = list(zip(*trace["x"]))  # (arm heading, grade) pairs
    zzu_any = next(j for j, (arm, grade) in enumerate(cols) if "(N=87)" in arm and grade == "Any grade")
    n = con.execute("SELECT n FROM adverse_events WHERE study_id='zzu_escc_pd1' AND term='Hypertension' "
                    "AND grade='any'").fetchone()[0]
    assert trace["text"][terms.index("Hypertension")][zzu_any] == f"{100 * n / 87:.0f}"
    assert "paper's term: Hypertension" in trace["customdata"][terms.index("Hypertension")][zzu_any]
    n_terms = len(terms)
    at.slider(key="safety_cutoff").set_value(40).run()
    assert len(figures(at)[0]["data"][0]["y"]) < n_terms
    at.segmented_control(key="safety_view").set_value("Grouped bars").run()
    assert not at.exception
    assert any(t["type"] == "bar" for t in figures(at)[0]["data"])


# ----- Data notes -------------------------------------------------------------------------------

def test_data_notes_per_study(run, con):
    at = run("data_notes")
    summary = at.dataframe[0].value.set_index("Study")
    expected = ev.trust_summary(con).set_index("short_label")
    assert list(summary["Values corrected for OCR"]) == list(expected.ocr_corrected)
    assert list(summary["Contradictions in the paper"]) == list(expected.contradictions)
    at.selectbox(key="notes_study").set_value("zzu_escc_pd1").run()
    text = " ".join(m.value for m in at.markdown)
    notes = con.execute("SELECT text FROM notes WHERE study_id='zzu_escc_pd1' AND kind IN "
                        "('ocr_correction', 'contradiction')").fetchall()
    assert notes and all(t in text for (t,) in notes)
    ocr = at.table[0].value
    n_ocr = (ev.flagged_values(con, ["zzu_escc_pd1"]).flag == "ocr_corrected").sum()
    assert len(ocr) == n_ocr > 0
    if ev.fidelity(con) is None:
        assert any("no fidelity table" in i.value for i in at.info)
