"""The Explorer's view state: URL round trip, tampered links, parameterized patient SQL, level
counts and the "not reported in <study>" notices, on the reconstructed patient rows of the
bundled data (their covariate counts follow the papers' reported counts)."""
from __future__ import annotations

import shutil

import duckdb
import pytest

from engine import cohort
from engine.cohort import FilterSpec, ViewState

def copy_of_built_database(built_db_path, tmp_path_factory, name: str):
    """A private copy of the session's database built from data/ (reconstructed patient rows
    included), so a test may open it read-write without touching the shared one."""
    path = tmp_path_factory.mktemp(name) / "explorer.duckdb"
    shutil.copy(built_db_path, path)
    con = duckdb.connect(str(path), read_only=True)
    try:
        n = con.execute("SELECT count(*) FROM patients WHERE origin = 'reconstructed'").fetchall()[0][0]
    finally:
        con.close()
    assert n > 0, "the build made no reconstructed patient rows"
    return path


@pytest.fixture(scope="module")
def db_path(built_db_path, tmp_path_factory):
    return copy_of_built_database(built_db_path, tmp_path_factory, "explorer_state")


@pytest.fixture()
def pcon(db_path):
    c = duckdb.connect(str(db_path), read_only=True)
    yield c
    c.close()


@pytest.fixture()
def catalog(pcon):
    return cohort.load_catalog(pcon)


# ----- URL round trip -------------------------------------------------------------------------

def test_round_trip_keeps_every_part_of_the_view(catalog):
    state = ViewState(
        studies=("su_kras_sintilimab", "zzu_escc_pd1"),
        endpoint="OS",
        filters=(FilterSpec("prior_ici", ("yes",), "exclude"), FilterSpec("ecog", ("0", "0_1"))),
        compare_by="prior_antiangiogenic",
        forest_by=("kras_subtype", "prior_ici"),
        ae_sort="g3",
        ae_min=10,
        km_ci=False,
        km_table="at_risk",
        presentation=True,
    )
    q = cohort.to_query(state)
    assert q["studies"] == "su_kras_sintilimab,zzu_escc_pd1"
    assert q["f.prior_ici"] == "yes" and q["nr.prior_ici"] == "exclude"
    assert "nr.ecog" not in q  # keep is the default and stays out of the link
    back, notices = cohort.parse_query(q, catalog)
    assert notices == []
    assert back.studies == state.studies and back.endpoint == "OS"
    assert back.compare_by == "prior_antiangiogenic" and back.forest_by == state.forest_by
    assert {f.variable: (f.levels, f.unreported) for f in back.filters} == {
        "prior_ici": (("yes",), "exclude"), "ecog": (("0", "0_1"), "keep")}
    assert (back.ae_sort, back.ae_min, back.presentation) == ("g3", 10, True)
    assert (back.km_ci, back.km_table) == (False, "at_risk")
    assert back == state


def test_empty_link_opens_the_default_view(catalog):
    state, notices = cohort.parse_query({}, catalog)
    assert notices == []
    assert state.studies == ("su_kras_sintilimab",) and state.endpoint == "PFS" and state.filters == ()


@pytest.mark.parametrize(
    "params, expect",
    [
        ({"studies": "nope_study,su_kras_sintilimab"}, "nope_study"),
        ({"studies": "'; DROP TABLE patients; --"}, "no available cohort"),
        ({"endpoint": "ORR"}, "endpoint"),
        ({"by": "patient_id"}, "compare-by"),
        ({"f.patient_id": "x"}, "unknown variable"),
        ({"f.prior_ici": "maybe"}, "maybe"),
        ({"f.prior_ici": "yes", "nr.prior_ici": "drop_all"}, "keep or exclude"),
        ({"nr.ecog": "exclude"}, "no filter"),
        ({"forest": "study_id,prior_ici"}, "study_id"),
        ({"ae_min": "-5"}, "cut-off"),
        ({"ae_min": "1e9"}, "cut-off"),
        ({"ae_sort": "random"}, "AE sort"),
        ({"present": "perhaps"}, "presentation"),
        ({"km_ci": "maybe"}, "confidence-band"),
        ({"km_table": "<script>"}, "table choice"),
        ({"utm_source": "mail"}, "utm_source"),
        ({"studies": ["su_kras_sintilimab", "x" * 500]}, "x"),
    ],
)
def test_tampered_parameters_give_a_notice_not_an_exception(catalog, params, expect):
    state, notices = cohort.parse_query(params, catalog)
    assert any(expect in n for n in notices), notices
    assert state.studies  # the view still opens
    assert state.endpoint in cohort.SURVIVAL_ENDPOINTS
    assert all(len(n) < 300 for n in notices)


def test_valid_parts_survive_next_to_a_tampered_one(catalog):
    state, notices = cohort.parse_query(
        {"studies": "su_kras_sintilimab", "f.prior_antiangiogenic": "no,bogus", "endpoint": "OS"}, catalog)
    assert state.filter_for("prior_antiangiogenic").levels == ("no",)
    assert state.endpoint == "OS"
    assert len(notices) == 1 and "bogus" in notices[0]


def test_level_labels_read_like_a_paper():
    assert cohort.level_label("ecog", "0_1") == "0–1"
    assert cohort.level_label("ecog", "ge2") == "≥2"
    assert cohort.level_label("line_of_therapy", "ge3") == "≥3rd line"
    assert cohort.level_label("prior_ici", "no") == "No"
    assert cohort.level_label("pdl1_status", "negative_or_unknown") == "Negative or unknown"
    assert cohort.level_label("kras_subtype", None) == "Not reported"


# ----- patient SQL ----------------------------------------------------------------------------

def test_relation_sql_carries_values_only_as_parameters():
    evil = "no') OR 1=1 --"
    state = ViewState(studies=("su_kras_sintilimab",), filters=(FilterSpec("prior_antiangiogenic", (evil,)),))
    sql, params = cohort.relation(state)
    assert evil not in sql and evil in params
    with pytest.raises(ValueError):
        cohort.filter_condition(FilterSpec("patient_id; DROP TABLE x", ("a",)))


def test_filter_selects_the_right_patients(pcon):
    state = ViewState(studies=("su_kras_sintilimab",), filters=(FilterSpec("prior_antiangiogenic", ("no",)),))
    df = cohort.patients_frame(pcon, state)
    assert len(df) == 21 and set(df.prior_antiangiogenic) == {"no"}


def test_unreported_patients_are_kept_or_excluded_on_request(pcon, catalog):
    keep = ViewState(studies=("su_kras_sintilimab", "zzu_escc_pd1"),
                     filters=(FilterSpec("prior_antiangiogenic", ("no",), "keep"),))
    df = cohort.patients_frame(pcon, keep)
    assert set(df.study_id) == {"su_kras_sintilimab", "zzu_escc_pd1"}
    n_zzu = int((df.study_id == "zzu_escc_pd1").sum())
    assert n_zzu == pcon.execute("SELECT count(*) FROM patients WHERE study_id='zzu_escc_pd1'").fetchall()[0][0]
    notices = cohort.unreported_notices(pcon, keep, catalog)
    assert [(u.study_id, u.status, u.kept) for u in notices] == [("zzu_escc_pd1", "not_reported", True)]
    assert "not reported in" in notices[0].text and "kept" in notices[0].text

    excl = ViewState(studies=keep.studies, filters=(FilterSpec("prior_antiangiogenic", ("no",), "exclude"),))
    df = cohort.patients_frame(pcon, excl)
    assert set(df.study_id) == {"su_kras_sintilimab"}
    assert "excluded" in cohort.unreported_notices(pcon, excl, catalog)[0].text


def test_not_applicable_is_named_as_such(pcon, catalog):
    state = ViewState(studies=("su_kras_sintilimab", "zzu_escc_pd1"), filters=(FilterSpec("kras_subtype", ("G12C",)),))
    notices = cohort.unreported_notices(pcon, state, catalog)
    assert [(u.study_id, u.status) for u in notices] == [("zzu_escc_pd1", "not_applicable")]
    assert "not applicable" in notices[0].text


def test_coarse_levels_contain_finer_ones_and_partial_overlaps_are_unplaced(pcon, catalog):
    # ECOG 0-1 takes ALTER-L058's ECOG 0 and 1 patients
    state = ViewState(studies=("zhou_alter_l058",), filters=(FilterSpec("ecog", ("0_1",), "exclude"),))
    assert len(cohort.patients_frame(pcon, state)) == 150
    # ZZU records ECOG as 0 or a merged "1-2": asking for ECOG 1 cannot place the merged patients
    state = ViewState(studies=("zzu_escc_pd1",), filters=(FilterSpec("ecog", ("1",), "keep"),))
    notices = cohort.unreported_notices(pcon, state, catalog)
    assert notices and notices[0].status == "partly_reported" and notices[0].n_unplaced == 57
    state = ViewState(studies=("zzu_escc_pd1",), filters=(FilterSpec("ecog", ("1",), "exclude"),))
    assert len(cohort.patients_frame(pcon, state)) == 0


def test_level_counts_show_what_each_choice_would_give(pcon):
    state = ViewState(studies=("su_kras_sintilimab",), filters=(FilterSpec("prior_antiangiogenic", ("no",)),))
    counts = cohort.level_counts(pcon, state)
    own = counts[counts.variable == "prior_antiangiogenic"].set_index("level")["n"].to_dict()
    assert own == {"no": 21, "yes": 6}  # its own filter is left out
    kras = counts[counts.variable == "kras_subtype"].set_index("level")["n"]
    assert kras.sum() > 0 and kras.loc["non_G12C"] == kras.drop(["G12C", "non_G12C"]).sum()
    assert kras.loc[["G12C", "G12V", "G12D", "other"]].sum() == 21
    pdl1 = counts[counts.variable == "pdl1_status"]
    assert list(pdl1.level) == [None] and int(pdl1.n.iloc[0]) == 21  # not reported: all unknown


def test_filter_status_reads_the_papers_availability(pcon):
    fs = cohort.filter_status(pcon, ["su_kras_sintilimab", "zzu_escc_pd1"])
    st = fs.set_index(["study_id", "variable"])["status"]
    assert st[("su_kras_sintilimab", "pdl1_status")] == "not_reported"
    assert st[("zzu_escc_pd1", "kras_subtype")] == "not_applicable"
    assert st[("su_kras_sintilimab", "kras_subtype")] == "reported"


def test_describe_filters():
    state = ViewState(filters=(FilterSpec("prior_antiangiogenic", ("no",)), FilterSpec("ecog", ("0_1", "ge2"), "exclude")))
    text = cohort.describe_filters(state)
    assert "Prior antiangiogenic: No" in text and "ECOG: 0–1 or ≥2" in text and "excluded" in text
    assert cohort.describe_filters(ViewState()) == "none (all patients)"
