"""The Explorer page in Streamlit's AppTest: widgets drive the figures, the figures carry the
engine's numbers, the URL holds the view, and bad links or empty subgroups give messages, never a
crash."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from engine.survival import kaplan_meier
from test_explorer_state import copy_of_built_database

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "explorer.py")
KRAS = "su_kras_sintilimab"


@pytest.fixture(scope="module")
def db_path(built_db_path, tmp_path_factory):
    return copy_of_built_database(built_db_path, tmp_path_factory, "explorer_page")


@pytest.fixture(scope="module")
def expected(db_path):
    """Engine values computed on the patient rows before the page opens the database."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        pts = con.execute("SELECT pfs_months, pfs_event FROM patients WHERE study_id=? AND prior_antiangiogenic='no'",
                          [KRAS]).df()
        return {"kras_no_median": kaplan_meier(pts.pfs_months, pts.pfs_event).median}
    finally:
        con.close()


@pytest.fixture()
def app(db_path, expected, monkeypatch):
    monkeypatch.setenv("EXPLORER_DB", str(db_path))
    return AppTest.from_file(PAGE, default_timeout=90)


def charts(at) -> dict[str, dict]:
    """Figure JSON of the three panels (drawn left to right: KM, forest, AE)."""
    specs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    specs += [None] * (3 - len(specs))
    return dict(zip(("km", "forest", "ae"), specs))


def km_medians(spec) -> list[float]:
    return [t["meta"]["median"] for t in spec["data"] if isinstance(t.get("meta"), dict) and "median" in t["meta"]]


def test_filter_widget_drives_the_km_median_to_the_engines_value(app, expected):
    app.query_params["studies"] = KRAS
    app.run()
    assert not app.exception
    app.multiselect(key="x_f_prior_antiangiogenic").select("no").run()
    assert not app.exception
    km = charts(app)["km"]
    assert km_medians(km) == [pytest.approx(expected["kras_no_median"])]
    assert any(f"{expected['kras_no_median']:.1f} mo" in t.get("name", "") for t in km["data"])
    # the view is in the URL
    assert app.query_params.get("f.prior_antiangiogenic") == "no"
    assert app.query_params.get("studies") == KRAS
    # the AE panel says the filter does not apply to it
    assert any("do not apply" in c.value for c in app.caption)


def test_forest_plot_holds_the_reported_hr_029(app):
    app.query_params["studies"] = KRAS
    app.query_params["endpoint"] = "PFS"
    app.run()
    assert not app.exception
    forest = charts(app)["forest"]
    squares = [t for t in forest["data"] if t.get("marker", {}).get("symbol") == "square"]
    assert squares and squares[0]["x"] == [0.29]
    assert "Printed in the paper" in squares[0]["hovertext"][0]
    texts = [a.get("text", "") for a in forest["layout"]["annotations"]]
    assert "0.29 (0.15–0.56)" in texts


def test_tampered_link_gives_a_notice_not_a_crash(app):
    app.query_params.update({
        "studies": "not_a_study,su_kras_sintilimab", "endpoint": "DROP TABLE", "f.ssn": "1",
        "f.prior_ici": "maybe", "ae_min": "-3", "by": "patient_id",
    })
    app.run()
    assert not app.exception
    warning = " ".join(w.value for w in app.warning).replace("\\", "")  # markdown escapes out
    assert "ignored" in warning.lower()
    for bit in ("not_a_study", "DROP TABLE", "ssn", "maybe", "-3", "patient_id"):
        assert bit in warning
    assert len(app.get("plotly_chart")) == 3  # the rest of the view still opens
    assert app.query_params["studies"] == KRAS and app.query_params["endpoint"] == "PFS"


def test_empty_subgroup_gives_a_clear_message(app):
    app.query_params.update({"studies": "zhou_alter_l058", "f.prior_ici": "yes", "nr.prior_ici": "exclude"})
    app.run()
    assert not app.exception
    assert any("No patient in this view" in i.value for i in app.info)


def test_not_reported_filter_keeps_the_study_and_says_so(app):
    app.query_params.update({"studies": f"{KRAS},zzu_escc_pd1", "f.prior_antiangiogenic": "no"})
    app.run()
    assert not app.exception
    notes = " ".join(c.value for c in app.sidebar.caption)
    assert "not reported in ZZU" in notes and "kept" in notes
    km = charts(app)["km"]
    assert len(km_medians(km)) == 2  # both studies still drawn
    app.toggle(key="x_nr_prior_antiangiogenic").set_value(True).run()
    assert len(km_medians(charts(app)["km"])) == 1
    assert app.query_params.get("nr.prior_antiangiogenic") == "exclude"


def test_endpoint_and_compare_by_go_to_the_url(app):
    app.query_params["studies"] = "zhou_alter_l058"
    app.run()
    app.radio(key="x_endpoint").set_value("PFS2").run()
    app.selectbox(key="x_by").set_value("egfr_mutation").run()
    assert not app.exception
    assert app.query_params.get("endpoint") == "PFS2" and app.query_params.get("by") == "egfr_mutation"
    assert len(km_medians(charts(app)["km"])) == 4  # 2 arms x 2 EGFR levels


def test_panel_options_rerun_their_panel(app):
    app.query_params["studies"] = "zhou_alter_l058"
    app.run()
    app.number_input(key="x_ae_top").set_value(4).run()
    assert not app.exception
    ae = charts(app)["ae"]
    assert len(ae["data"][0]["y"]) == 4
    assert app.query_params.get("ae_top") == "4"


def test_km_options_live_in_the_link(app):
    def bands(spec):
        return sum(1 for t in spec["data"] if t.get("fill") == "tonexty")

    def table_rows(spec):
        return len(spec["layout"]["yaxis2"]["ticktext"])

    app.query_params.update({"studies": KRAS, "km_ci": "0", "km_table": "at_risk"})
    app.run()
    assert not app.exception
    km = charts(app)["km"]
    assert bands(km) == 0 and table_rows(km) == 1  # no band; numbers at risk only (one arm)
    assert app.toggle(key="x_km_ci").value is False and app.radio(key="x_km_table").value == "at_risk"
    app.toggle(key="x_km_ci").set_value(True).run()
    app.radio(key="x_km_table").set_value("extended").run()
    km = charts(app)["km"]
    assert bands(km) == 1 and table_rows(km) == 3  # the band; at risk, events, censored
    assert "km_ci" not in app.query_params and app.query_params.get("km_table") == "extended"


def test_presentation_mode_from_the_link(app):
    app.query_params.update({"studies": KRAS, "present": "1"})
    app.run()
    assert not app.exception
    assert len(app.sidebar.multiselect) == 0  # no controls, panels only
    specs = charts(app)
    assert all(specs[k] for k in ("km", "forest", "ae"))
    assert specs["km"]["layout"]["font"]["size"] > 12  # larger fonts
    assert not app.get("download_button")


def test_download_menus_make_their_buttons_only_when_open(app):
    app.query_params["studies"] = KRAS
    app.run()
    assert not app.get("download_button")  # menus closed: a filter change sends no download button
    app.session_state["x_dl_menu_forest"] = True  # the user opens the forest plot's download menu
    app.run()
    assert not app.exception
    buttons = app.get("download_button")
    assert [b.label for b in buttons] == ["PNG image", "SVG image", "CSV numbers"]
    assert [b.proto.id for b in buttons] and all("x_dl_forest" in b.proto.id for b in buttons)


def test_leaving_presentation_mode_keeps_the_view(app):
    app.query_params.update({"studies": KRAS, "present": "1", "f.prior_antiangiogenic": "no", "ae_top": "5"})
    app.run()
    app.button(key="x_present").click().run()
    assert not app.exception
    assert "present" not in app.query_params
    assert app.query_params.get("f.prior_antiangiogenic") == "no" and app.query_params.get("ae_top") == "5"
    assert app.multiselect(key="x_f_prior_antiangiogenic").value == ["no"]


def test_link_text_cannot_inject_markdown(app):
    app.query_params.update({"studies": KRAS, "endpoint": "[click](https://evil.example)"})
    app.run()
    warning = " ".join(w.value for w in app.warning)
    assert "[click](https" not in warning and "\\[click\\]" in warning
