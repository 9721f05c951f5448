"""Bring your own cohort, end to end (issue 7): data/example_cohort.csv stored with the ingest
command line into a private database, then opened in the Explorer page (AppTest) through its
link parameters. The KM median the figure shows for the uploaded cohort equals the engine's
Kaplan-Meier on the stored rows and on the original file's own columns; the cohort is labelled
user data on the page and in the figure. Also: the comparison page (the cohort is offered as user
data, its median PFS/OS are the engine's Kaplan-Meier and its ORR/DCR the engine's Clopper-Pearson
proportion on the stored rows, drawn as user data and never pooled), and the tumor type
``engine.queries.cohorts`` gives user cohorts."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from components.estimate_plot import median_plot
from engine import evidence as ev
from engine import queries
from engine.explorer_data import median_text
from engine.ingest import check, mapping_for, read_upload, store
from engine.ingest.cli import main as ingest_cli
from engine.ingest.store import cohort_rows
from engine.paths import DATA_DIR, ROOT
from engine.rates import proportion
from engine.survival import kaplan_meier
from test_explorer_state import copy_of_built_database

EXPLORER = str(ROOT / "pages" / "explorer.py")
COMPARE = str(ROOT / "pages" / "compare.py")
EXAMPLE = DATA_DIR / "example_cohort.csv"
NAME = "Hospital example"
USER_ID = "user_hospital_example"
KRAS = "su_kras_sintilimab"
# the example file's own columns for each endpoint, and its spelling of "no prior ICI"
FILE_COLUMNS = {"PFS": ("PFS_mo", "PFS_status"), "OS": ("OS_mo", "OS_status")}
STORED_COLUMNS = {"PFS": ("pfs_months", "pfs_event"), "OS": ("os_months", "os_event")}


@pytest.fixture(scope="module")
def db_path(built_db_path, tmp_path_factory) -> Path:
    """A copy of the built database with the example cohort stored by ``python -m engine.ingest``."""
    path = copy_of_built_database(built_db_path, tmp_path_factory, "upload_explorer")
    assert ingest_cli([str(EXAMPLE), "--name", NAME, "--db", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def expected(db_path) -> dict:
    """Engine values from the stored rows and from the file, computed before any page opens the
    database (the page keeps a read-write connection for the rest of the session)."""
    file = pd.read_csv(EXAMPLE)
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        stored = cohort_rows(con, USER_ID)
        kras = con.execute("SELECT pfs_months, pfs_event FROM patients WHERE study_id = ?", [KRAS]).df()
        cohorts = queries.cohorts(con).set_index("study_id")
    finally:
        con.close()
    out = {"n_stored": len(stored), "n_file": len(file), "cohorts": cohorts, "stored": stored,
           "kras_pfs": kaplan_meier(kras.pfs_months, kras.pfs_event)}
    for endpoint in FILE_COLUMNS:
        t, e = STORED_COLUMNS[endpoint]
        ft, fe = FILE_COLUMNS[endpoint]
        out[endpoint] = {
            "stored": kaplan_meier(stored[t], stored[e]),
            "file": kaplan_meier(file[ft], file[fe]),
            "stored_no_prior_ici": kaplan_meier(stored[stored.prior_ici == "no"][t],
                                                stored[stored.prior_ici == "no"][e]),
            "file_no_prior_ici": kaplan_meier(file[file["Prior IO"] == "N"][ft], file[file["Prior IO"] == "N"][fe]),
            "n_no_prior_ici": int((file["Prior IO"] == "N").sum()),
        }
    return out


@pytest.fixture()
def explorer(db_path, expected, monkeypatch) -> AppTest:
    monkeypatch.setenv("EXPLORER_DB", str(db_path))
    return AppTest.from_file(EXPLORER, default_timeout=90)


def charts(at) -> dict[str, dict]:
    specs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    specs += [None] * (3 - len(specs))
    return dict(zip(("km", "forest", "ae"), specs))


def curves(km: dict) -> list[dict]:
    """The KM figure's curve traces (each carries its median in ``meta``)."""
    return [t for t in km["data"] if isinstance(t.get("meta"), dict) and "median" in t["meta"]]


def risk_table_first_column(km: dict) -> list[str]:
    """Numbers in the table under the plot at time 0, top to bottom."""
    table = next(t for t in km["data"] if t.get("name") == "risk table")
    return [text for x, text in zip(table["x"], table["text"]) if x == 0]


def open_view(at: AppTest, **params) -> AppTest:
    at.query_params.update(params)
    at.run()
    assert not at.exception, at.exception
    return at


# ---- the stored cohort is the file ---------------------------------------------------------------


def test_the_store_kept_every_patient_and_the_engine_agrees_on_both(expected):
    assert expected["n_stored"] == expected["n_file"] == 60
    for endpoint in FILE_COLUMNS:
        stored, file = expected[endpoint]["stored"], expected[endpoint]["file"]
        assert stored.median is not None
        assert stored.median == file.median and stored.median_ci == file.median_ci
        assert (stored.n, stored.events) == (file.n, file.events)


# ---- the Explorer shows it ------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["PFS", "OS"])
def test_explorer_km_median_of_the_uploaded_cohort_equals_the_engine(explorer, expected, endpoint):
    at = open_view(explorer, studies=USER_ID, endpoint=endpoint)
    assert at.query_params.get("studies") == USER_ID and at.query_params.get("endpoint") == endpoint
    km = charts(at)["km"]
    [curve] = curves(km)
    engine = expected[endpoint]
    assert curve["meta"]["median"] == pytest.approx(engine["stored"].median, abs=1e-12)
    assert curve["meta"]["median"] == pytest.approx(engine["file"].median, abs=1e-12)
    assert curve["meta"]["key"].startswith(USER_ID + "|")
    # the legend writes the engine's median and CI
    assert f"median {median_text(engine['stored'].median, engine['stored'].median_ci)}" in curve["name"]
    # numbers at risk at time 0 (then cumulative events and censored: 0 and 0): the whole cohort
    assert risk_table_first_column(km) == [str(expected["n_file"]), "0", "0"]


def test_explorer_subgroup_of_the_uploaded_cohort_uses_the_mapped_levels(explorer, expected):
    """The file writes prior ICI as Y/N; stored as yes/no, the Explorer's filter finds them."""
    at = open_view(explorer, studies=USER_ID, **{"f.prior_ici": "no"})
    assert at.multiselect(key="x_f_prior_ici").value == ["no"]
    pfs = expected["PFS"]
    [curve] = curves(charts(at)["km"])
    assert curve["meta"]["median"] == pytest.approx(pfs["stored_no_prior_ici"].median, abs=1e-12)
    assert curve["meta"]["median"] == pytest.approx(pfs["file_no_prior_ici"].median, abs=1e-12)
    assert pfs["stored_no_prior_ici"].median != pfs["stored"].median  # the filter changed the curve
    assert risk_table_first_column(charts(at)["km"])[0] == str(pfs["n_no_prior_ici"])


def test_uploaded_cohort_is_labelled_user_data(explorer):
    at = open_view(explorer, studies=USER_ID)
    studies = at.multiselect(key="x_studies")
    assert studies.value == [USER_ID]
    assert f"{NAME} (user data)" in studies.options  # published studies carry no such tag
    assert sum(o.endswith("(user data)") for o in studies.options) == 1
    specs = charts(at)
    badges = [a["text"] for a in specs["km"]["layout"]["annotations"] if "data" in a.get("text", "").lower()]
    assert badges == ["User-uploaded data"]
    # forest: the computed HR rows are drawn as user data (triangles), none as reconstructed
    markers = {t.get("name"): t["marker"]["symbol"] for t in specs["forest"]["data"] if t.get("marker")}
    assert markers.get("user data") == "triangle-up" and "reconstructed" not in markers
    footer = " ".join(m.value for m in at.markdown)
    assert f"{NAME}: user-uploaded patient data (uploaded file {EXAMPLE.name})." in footer
    # no AE table exists for an upload, and the panel says so instead of drawing one
    ae_text = json.dumps(specs["ae"])
    assert "No adverse-event table printed for the chosen studies." in ae_text


def test_uploaded_cohort_beside_a_published_study(explorer, expected):
    at = open_view(explorer, studies=f"{KRAS},{USER_ID}")
    by_study = {c["meta"]["key"].split("|")[0]: c["meta"]["median"] for c in curves(charts(at)["km"])}
    assert by_study == {KRAS: pytest.approx(expected["kras_pfs"].median, abs=1e-12),
                        USER_ID: pytest.approx(expected["PFS"]["stored"].median, abs=1e-12)}
    badges = [a["text"] for a in charts(at)["km"]["layout"]["annotations"] if "data" in a.get("text", "").lower()]
    assert badges == ["Reconstructed and user data"]


# ---- the comparison page --------------------------------------------------------------------------


@pytest.fixture()
def compare(db_path, expected, monkeypatch) -> AppTest:
    monkeypatch.setenv("EXPLORER_DB", str(db_path))
    at = AppTest.from_file(COMPARE, default_timeout=90)
    at.run()
    assert not at.exception, at.exception
    return at


def test_compare_page_opens_with_published_and_user_cohorts_chosen(compare, expected):
    chosen = compare.multiselect(key="compare_studies")
    assert sorted(chosen.value) == sorted(expected["cohorts"].index)  # every published study + the upload
    assert len(compare.get("plotly_chart")) == 6


def test_compare_page_offers_the_uploaded_cohort_as_user_data(compare, expected):
    options = compare.multiselect(key="compare_studies").options
    assert any(NAME in o and "user data" in o.lower() for o in options)
    pfs = next(json.loads(el.proto.spec) for el in compare.get("plotly_chart") if "PFS" in el.proto.spec)
    assert f"{expected['PFS']['stored'].median:.1f}" in json.dumps(pfs)


def compare_figures(at: AppTest) -> dict[str, dict]:
    figs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    return {f["layout"].get("title", {}).get("text", ""): f for f in figs}


def user_markers(fig: dict) -> dict:
    """The figure's user-data marker trace (one per figure): triangles named 'user data'."""
    [trace] = [t for t in fig["data"] if t.get("mode") == "markers" and t.get("name") == "user data"]
    assert trace["marker"]["symbol"] == "triangle-up"
    return trace


def texts(fig: dict) -> list[str]:
    """The figure's text annotations (row labels without their indent, values, n, badges, notes)."""
    return [a.get("text", "").replace("&nbsp;", "") for a in fig["layout"].get("annotations", [])]


@pytest.mark.parametrize("endpoint", ["PFS", "OS"])
def test_compare_median_of_the_uploaded_cohort_is_the_engine_kaplan_meier(compare, expected, endpoint):
    km = expected[endpoint]["stored"]
    assert km.estimable and km.median is not None
    fig = compare_figures(compare)[f"Median {endpoint}"]
    trace = user_markers(fig)
    assert trace["x"] == [pytest.approx(km.median, abs=1e-12)]
    lo, hi = km.median_ci
    line = next(t for t in fig["data"] if t.get("mode") == "lines" and t.get("legendgroup") == "user")
    assert [x for x in line["x"] if x is not None] == [pytest.approx(lo, abs=1e-12), pytest.approx(hi, abs=1e-12)]
    notes = texts(fig)
    assert f"{NAME} (user data)" in notes  # the row label
    assert median_text(km.median, km.median_ci) in notes  # the value column
    assert str(km.n) in notes  # n
    assert "User-uploaded data" in notes and "Reported in the paper" in notes  # badges
    assert any("▲ user data: computed here from the uploaded patient rows" in t for t in notes)  # footnote
    # the published rows stay reported (squares)
    assert any(t.get("name") == "reported" and t["marker"]["symbol"] == "square"
               for t in fig["data"] if t.get("mode") == "markers")


@pytest.mark.parametrize("endpoint, responders", [("ORR", {"CR", "PR"}), ("DCR", {"CR", "PR", "SD"})])
def test_compare_rate_of_the_uploaded_cohort_is_the_engine_proportion(compare, expected, endpoint, responders):
    recorded = expected["stored"].best_response.dropna()
    assert len(recorded) > 0
    ref = proportion(int(recorded.isin(responders).sum()), len(recorded))
    fig = compare_figures(compare)[ev.HEADLINE[endpoint][0]]
    trace = user_markers(fig)
    assert trace["x"] == [pytest.approx(100 * ref.estimate, abs=1e-9)]
    line = next(t for t in fig["data"] if t.get("mode") == "lines" and t.get("legendgroup") == "user")
    assert [x for x in line["x"] if x is not None] == [pytest.approx(100 * ref.ci_low, abs=1e-9),
                                                       pytest.approx(100 * ref.ci_high, abs=1e-9)]
    notes = texts(fig)
    assert f"{ref.x}/{ref.n}" in notes
    assert f"{100 * ref.estimate:.1f}% ({100 * ref.ci_low:.1f}–{100 * ref.ci_high:.1f}%)" in notes
    assert any("n = patients with a best response recorded" in t for t in notes)


def test_compare_grade3_trae_is_not_available_for_user_data(compare):
    fig = compare_figures(compare)["Grade ≥3 TRAE rate"]
    notes = texts(fig)
    assert f"{NAME} (user data)" in notes and "not available for user data" in notes
    assert not [t for t in fig["data"] if t.get("name") == "user data"]  # nothing drawn for it


def test_compare_page_explains_user_rows_and_never_pools_them(compare):
    assert any("User-uploaded data" in m.value and "Kaplan-Meier" in m.value
               and "best response recorded" in m.value for m in compare.markdown)
    for endpoint in ev.RATE_ENDPOINTS:
        compare.selectbox(key="pool_endpoint").set_value(endpoint).run()
        assert USER_ID not in compare.multiselect(key=f"pool_studies_{endpoint}").options
        assert any(c.value == ev.USER_POOLING_NOTE for c in compare.caption)


def test_compare_page_with_only_the_uploaded_cohort(compare, expected):
    compare.multiselect(key="compare_studies").set_value([USER_ID]).run()
    assert not compare.exception
    figs = compare_figures(compare)
    assert user_markers(figs["Median PFS"])["x"] == [pytest.approx(expected["PFS"]["stored"].median, abs=1e-12)]
    assert not [t for t in figs["Median PFS"]["data"] if t.get("name") == "reported"]
    assert "Reported in the paper" not in texts(figs["Median PFS"])
    # no grade >=3 TRAE value at all: the panel keeps its title and says why instead of drawing an empty axis
    g3 = figs["Grade ≥3 TRAE rate"]
    assert not [t for t in g3["data"] if t.get("mode") == "markers"]
    assert any(f"{NAME} (user data): not available for user data" in t for t in texts(g3))


# ---- engine.evidence: user cohorts' headline values from their rows --------------------------------


def nan_none(x):
    return None if x is None or pd.isna(x) else float(x)


def test_user_headline_results_from_stored_rows(built_db_path, tmp_path):
    """Median not reached, not estimable, missing best responses, two arms, a name that looks like
    markup: each said as such, every row marked user data, none reported."""
    path = tmp_path / "explorer.duckdb"
    path.write_bytes(Path(built_db_path).read_bytes())
    con = duckdb.connect(str(path))
    try:
        header = "patient_id,arm_id,tumor_type,best_response,pfs_months,pfs_event,os_months,os_event\n"
        rows = (
            # arm a: PFS median 4; OS never falls to 50% (not reached); 1 of 4 without best response
            "a1,a,ESCC,PR,2,1,10,0\na2,a,ESCC,SD,4,1,12,0\na3,a,ESCC,PD,6,1,3,1\na4,a,ESCC,,8,0,14,0\n"
            # arm b: every PFS censored (not estimable); OS not recorded; no best response at all
            "b1,b,ESCC,,2,0,,\nb2,b,ESCC,,5,0,,\n"
        )
        sid = _store_csv(con, header + rows, "<b>Ward</b> & co")
        res = ev.user_headline_results(con, [sid]).set_index(["arm_id", "endpoint"])
        assert set(res.origin) == {"user"} and "reported" not in set(res.basis)
        assert set(res.short_label) == {"<b>Ward</b> & co"} and set(res.tumor_type) == {"ESCC"}

        km = kaplan_meier([2, 4, 6, 8], [1, 1, 1, 0])
        pfs = res.loc[("a", "PFS")]
        assert (nan_none(pfs.estimate), (nan_none(pfs.ci_low), nan_none(pfs.ci_high))) == (km.median, km.median_ci)
        assert (pfs.n, pfs.events) == (4, 3)
        assert pfs.text == median_text(km.median, km.median_ci) and pfs.basis == "user data"
        os_ = res.loc[("a", "OS")]
        assert kaplan_meier([10, 12, 3, 14], [0, 0, 1, 0]).median is None
        assert nan_none(os_.estimate) is None and os_.text.startswith("not reached") and "estimate" in os_.not_reached
        orr, dcr = res.loc[("a", "ORR")], res.loc[("a", "DCR")]
        assert (orr.events, orr.n, orr.estimate) == (1, 3, proportion(1, 3).estimate)
        assert (orr.ci_low, orr.ci_high) == (proportion(1, 3).ci_low, proportion(1, 3).ci_high)
        assert (dcr.events, dcr.n) == (2, 3)
        assert "1 without one left out" in orr.note

        assert res.loc[("b", "PFS")].text == kaplan_meier([2, 5], [0, 0]).reason  # "not estimable: no events ..."
        assert res.loc[("b", "PFS")].text.startswith("not estimable")
        assert res.loc[("b", "OS")].text == "OS not recorded" and res.loc[("b", "OS")].basis == "not available"
        assert res.loc[("b", "ORR")].text == "no best response recorded"
        for arm in ("a", "b"):
            assert res.loc[(arm, "G3TRAE")].text == "not available for user data"

        # the comparison frame: published rows reported, user rows user data; labels escaped in plots
        both = ev.compare_results(con, ["zzu_escc_pd1", sid])
        assert set(both[both.study_id == sid].origin) == {"user"}
        assert set(both[both.study_id == "zzu_escc_pd1"].origin) == {"reported"}
        assert ev.compare_cohorts(con).set_index("study_id").loc[sid, "option_label"] == "<b>Ward</b> & co (user data)"
        labels = texts(median_plot(both, "PFS").to_plotly_json())
        assert "&lt;b&gt;Ward&lt;/b&gt; &amp; co · a (user data)" in labels
        assert not any("<b>Ward" in t for t in labels)
    finally:
        con.close()


# ---- engine.queries.cohorts: a user cohort's tumor type from its rows ------------------------------


def _store_csv(con, text: str | bytes, name: str, filename: str = "cohort.csv") -> str:
    """Store a file's content through the pipeline the page and the command line share."""
    table = read_upload(text if isinstance(text, bytes) else text.encode(), filename)
    result = check(table, mapping_for(table))
    assert result.ok, result.problems
    return store(con, result, name)


def test_cohorts_gives_a_user_cohort_the_tumor_type_all_its_rows_agree_on(built_db_path, tmp_path):
    path = tmp_path / "explorer.duckdb"
    path.write_bytes(Path(built_db_path).read_bytes())
    con = duckdb.connect(str(path))
    try:
        header = "patient_id,tumor_type,pfs_months,pfs_event\n"
        ids = {
            "example": _store_csv(con, EXAMPLE.read_bytes(), "Example", EXAMPLE.name),
            "escc": _store_csv(con, header + "a,ESCC,3,1\nb,ESCC,5,0\n", "All ESCC"),
            "mixed": _store_csv(con, header + "a,ESCC,3,1\nb,NSCLC,5,0\n", "Mixed"),
            "partly_unknown": _store_csv(con, header + "a,NSCLC,3,1\nb,,5,0\n", "Partly unknown"),
            "unknown": _store_csv(con, "patient_id,pfs_months,pfs_event\na,3,1\nb,5,0\n", "No tumor column"),
            "quote": _store_csv(con, header + "a,NSCLC,3,1\n", "O'Brien's ward; DROP TABLE patients"),
        }
        got = queries.cohorts(con).set_index("study_id")
        tumor = got.tumor_type.where(got.tumor_type.notna(), None)
        assert tumor[ids["example"]] == "NSCLC"  # all 60 rows of the example file are NSCLC
        assert tumor[ids["escc"]] == "ESCC"
        assert tumor[ids["mixed"]] is None  # rows disagree
        assert tumor[ids["partly_unknown"]] is None  # one patient's tumor is unknown
        assert tumor[ids["unknown"]] is None
        assert tumor[ids["quote"]] == "NSCLC"
        assert set(got.loc[list(ids.values()), "kind"]) == {"user"}
        assert got.loc[ids["quote"], "label"] == "O'Brien's ward; DROP TABLE patients"
        # published studies: unchanged, from the studies table
        published = con.execute("SELECT study_id, short_label, tumor_type FROM studies").fetchall()
        assert {(s, got.loc[s, "label"], got.loc[s, "tumor_type"]) for s, _, _ in published} == set(published)
        assert set(got.index[got.kind == "published"]) == {s for s, _, _ in published}
        assert len(got) == len(published) + len(ids)
    finally:
        con.close()
