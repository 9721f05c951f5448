"""The built database holds what the papers report (checked against the papers' own numbers),
the OCR corrections, the harmonized AE mapping, and the build refuses malformed files."""
from __future__ import annotations

import hashlib
import shutil

import duckdb
import pytest

from engine.build import build, main as build_main
from engine.paths import DATA_DIR
from engine.validate import DataValidationError


def one(con, sql, *params):
    rows = con.execute(sql, list(params)).fetchall()
    assert len(rows) == 1, f"expected one row, got {rows}"
    return rows[0]


def overall(con, study, arm, endpoint, statistic, source_like="%"):
    return one(
        con,
        """SELECT estimate, ci_low, ci_high, n, events FROM reported_results
           WHERE study_id=? AND arm_id=? AND endpoint=? AND statistic=? AND subgroup IS NULL
             AND timepoint_months IS NULL AND source LIKE ?""",
        study, arm, endpoint, statistic, source_like,
    )


# ----- reported values, each checked against the number printed in the paper -----------------

def test_alter_l058_reported_values(con):
    assert overall(con, "zhou_alter_l058", "tki_anlotinib", "PFS", "median")[:3] == (9.23, 8.94, 10.87)
    assert overall(con, "zhou_alter_l058", "tki_alone", "PFS", "median")[:3] == (5.42, 4.83, 6.80)
    hr = one(con, "SELECT estimate, ci_low, ci_high, reference_level, p_value, p_qualifier FROM reported_results "
                  "WHERE study_id='zhou_alter_l058' AND endpoint='PFS' AND statistic='hr'")
    assert hr == (0.38, 0.26, 0.56, "tki_alone", 0.0001, "<")
    pfs2 = one(con, "SELECT estimate, ci_low, ci_high FROM reported_results "
                    "WHERE study_id='zhou_alter_l058' AND endpoint='PFS2' AND statistic='hr'")
    assert pfs2 == (0.54, 0.36, 0.80)
    assert overall(con, "zhou_alter_l058", "tki_anlotinib", "PFS", "median")[4] == 86  # events
    assert one(con, "SELECT n FROM arms WHERE study_id='zhou_alter_l058' AND arm_id='tki_alone'") == (50,)
    assert one(con, "SELECT n, denominator FROM ae_summary WHERE study_id='zhou_alter_l058' "
                    "AND arm_id='tki_anlotinib' AND measure='serious_ae'") == (12, 100)


def test_chen_rechallenge_reported_values(con):
    assert overall(con, "chen_ici_rechallenge", "combination", "PFS", "median")[:3] == (11.7, 6.399, 17.001)
    assert overall(con, "chen_ici_rechallenge", "combination", "ORR", "proportion")[0] == pytest.approx(4 / 14, abs=5e-4)
    assert overall(con, "chen_ici_rechallenge", "combination", "DCR", "proportion")[0] == pytest.approx(13 / 14, abs=5e-4)
    pos = one(con, "SELECT estimate, n, p_value FROM reported_results WHERE study_id='chen_ici_rechallenge' "
                   "AND subgroup='pdl1_status' AND level='positive'")
    assert pos == (13.0, 5, 0.048)
    neg = one(con, "SELECT estimate, n FROM reported_results WHERE study_id='chen_ici_rechallenge' "
                   "AND subgroup='pdl1_status' AND level='negative_or_unknown'")
    assert neg == (10.3, 9)
    assert one(con, "SELECT n FROM best_response WHERE study_id='chen_ici_rechallenge' AND category='SD' "
                    "AND subgroup IS NULL") == (9,)


def test_zzu_escc_reported_values(con):
    assert overall(con, "zzu_escc_pd1", "combination", "OS", "median")[:5] == (11.5, 7.1, 15.9, 87, 59)
    assert overall(con, "zzu_escc_pd1", "combination", "PFS", "median")[:3] == (5.5, 4.1, 6.9)
    assert overall(con, "zzu_escc_pd1", "combination", "ORR", "proportion")[:3] == (0.218, 0.137, 0.32)
    os12 = one(con, "SELECT estimate FROM reported_results WHERE study_id='zzu_escc_pd1' AND endpoint='OS' "
                    "AND statistic='survival_rate' AND timepoint_months=12")
    assert os12 == (0.49,)
    ici = one(con, "SELECT estimate, ci_low, ci_high, p_value FROM reported_results WHERE study_id='zzu_escc_pd1' "
                   "AND endpoint='OS' AND statistic='hr' AND subgroup='prior_ici' AND analysis='univariate'")
    assert ici == (0.68, 0.30, 0.89, 0.023)


def test_zzu_escc_ocr_corrections(con):
    # Table 1 prints "6l" male patients: 61 (70.1% of 87).
    assert one(con, "SELECT n, percent, flag FROM baseline WHERE study_id='zzu_escc_pd1' "
                    "AND characteristic='sex' AND level='male'") == (61, 70.1, "ocr_corrected")
    # Table 2 prints "132" for the female median OS: 13.2 months.
    assert one(con, "SELECT estimate, flag FROM reported_results WHERE study_id='zzu_escc_pd1' AND endpoint='OS' "
                    "AND statistic='median' AND subgroup='sex' AND level='female'") == (13.2, "ocr_corrected")
    # Table 3 prints fatigue any grade as "3" while 60.9% of 87 is 53.
    assert one(con, "SELECT n, percent, flag FROM adverse_events WHERE study_id='zzu_escc_pd1' "
                    "AND term='Fatigue' AND grade='any'") == (53, 60.9, "ocr_corrected")
    # every correction is explained in the notes
    n_notes = one(con, "SELECT count(*) FROM notes WHERE study_id='zzu_escc_pd1' AND kind='ocr_correction'")[0]
    assert n_notes >= 9


def test_su_kras_reported_values(con):
    assert overall(con, "su_kras_sintilimab", "combination", "PFS", "median")[:3] == (7.96, 5.6, 10.3)
    assert overall(con, "su_kras_sintilimab", "combination", "OS", "median")[:3] == (12.4, 8.2, 16.6)
    pfs_hr = one(con, "SELECT estimate, ci_low, ci_high, level, reference_level FROM reported_results "
                      "WHERE study_id='su_kras_sintilimab' AND endpoint='PFS' AND statistic='hr'")
    assert pfs_hr == (0.29, 0.15, 0.56, "no", "yes")
    os_hr = one(con, "SELECT estimate, ci_low, ci_high, p_value FROM reported_results "
                     "WHERE study_id='su_kras_sintilimab' AND endpoint='OS' AND statistic='hr'")
    assert os_hr == (0.42, 0.20, 0.89, 0.025)
    assert one(con, "SELECT n FROM baseline WHERE study_id='su_kras_sintilimab' "
                    "AND characteristic='kras_subtype' AND level='G12C'") == (13,)
    assert one(con, "SELECT n, denominator FROM adverse_events WHERE study_id='su_kras_sintilimab' "
                    "AND term='Hypertension' AND grade='any'") == (16, 27)


def test_zhu_post_ici_reported_values(con):
    assert overall(con, "zhu_escc_post_ici", "combination", "PFS", "median")[:3] == (5.33, 4.28, 6.38)
    assert overall(con, "zhu_escc_post_ici", "combination", "OS", "median")[:3] == (10.37, 6.26, 14.46)
    assert overall(con, "zhu_escc_post_ici", "combination", "ORR", "proportion")[3:] == (29, 9)
    assert overall(con, "zhu_escc_post_ici", "combination", "DCR", "proportion")[3:] == (29, 25)
    assert one(con, "SELECT registry_id FROM studies WHERE study_id='zhu_escc_post_ici'") == ("NCT04984096",)
    assert one(con, "SELECT n, denominator FROM adverse_events WHERE study_id='zhu_escc_post_ici' "
                    "AND term='Lymphopenia' AND grade='>=3'") == (2, 29)


def test_contradictions_are_kept_not_resolved(con):
    # ALTER-L058 prints the control-arm DCR as 34.0% with a CI (54.2-79.2%) that excludes it:
    # the printed values stay, and a note says so.
    assert overall(con, "zhou_alter_l058", "tki_alone", "DCR", "proportion")[:3] == (0.34, 0.542, 0.792)
    n = one(con, "SELECT count(*) FROM notes WHERE study_id='zhou_alter_l058' AND kind='contradiction' "
                 "AND text LIKE '%DCR%'")[0]
    assert n >= 1
    # The n=87 ESCC paper gives two DoR CIs (abstract vs results): both are stored with their sources.
    cis = con.execute("SELECT ci_low, ci_high FROM reported_results WHERE study_id='zzu_escc_pd1' "
                      "AND endpoint='DoR' AND statistic='median' ORDER BY ci_low").fetchall()
    assert cis == [(2.3, 10.9), (3.4, 10.4)]


def test_every_study_and_arm_is_loaded(con):
    assert con.execute("SELECT study_id, n_total FROM studies ORDER BY study_id").fetchall() == [
        ("chen_ici_rechallenge", 14), ("su_kras_sintilimab", 27), ("zhou_alter_l058", 150),
        ("zhu_escc_post_ici", 29), ("zzu_escc_pd1", 87),
    ]
    # every value carries a source locator
    for table in ("reported_results", "baseline", "adverse_events", "ae_summary", "best_response"):
        assert one(con, f"SELECT count(*) FROM {table} WHERE source IS NULL OR source = ''") == (0,)


# ----- harmonized AE terms -------------------------------------------------------------------

def test_hand_foot_syndrome_harmonized_across_studies(con):
    rows = con.execute(
        "SELECT study_id, term FROM ae_term_map WHERE term_harmonized='Palmar-plantar erythrodysaesthesia' ORDER BY 1"
    ).fetchall()
    assert rows == [
        ("chen_ici_rechallenge", "Hand-foot syndrome"),
        ("su_kras_sintilimab", "Hand-foot syndrome"),
        ("zhou_alter_l058", "Palmar-plantar erythrodysaesthesia syndrome"),
        ("zzu_escc_pd1", "Hand-foot Syndrome"),
    ]


def test_liver_terms_harmonized_and_original_kept(con):
    terms = dict(con.execute(
        "SELECT study_id, term FROM adverse_events WHERE term_harmonized='Liver function abnormality' "
        "AND grade='any' AND arm_id <> 'tki_alone' GROUP BY ALL"
    ).fetchall())
    assert terms["su_kras_sintilimab"] == "ALT increased"
    assert terms["chen_ici_rechallenge"] == "Liver toxicity"
    assert terms["zzu_escc_pd1"] == "Liver function abnormality"
    # every AE row has a harmonized term (the join lost none)
    raw = sum(sum(1 for _ in open(p)) - 1 for p in (DATA_DIR / "studies").glob("*/adverse_events.csv"))
    assert one(con, "SELECT count(*) FROM adverse_events WHERE term_harmonized IS NOT NULL") == (raw,)


# ----- malformed files are refused and the existing database survives ----------------------

def _digest(db_path) -> tuple[dict, str]:
    with duckdb.connect(str(db_path), read_only=True) as c:
        counts = {t: c.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
                  for (t,) in c.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()}
        rows = c.execute("SELECT * FROM reported_results ORDER BY ALL").fetchall()
    return counts, hashlib.sha256(repr(rows).encode()).hexdigest()


@pytest.fixture()
def data_copy(tmp_path):
    dst = tmp_path / "data"
    shutil.copytree(DATA_DIR / "studies", dst / "studies")
    return dst


def _edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    "case, expected",
    [
        ("percent_above_100", "data/studies/su_kras_sintilimab/baseline.csv line 2, percent: 185.2 is above 100"),
        ("missing_column", "data/studies/zzu_escc_pd1/arms.csv line 1: missing column(s): regimen"),
        ("unknown_study", "data/studies/zhu_escc_post_ici/notes.csv line 2, study_id: 'zhu_escc_postici' is not one of"),
        ("fraction_as_percent", "data/studies/zzu_escc_pd1/results.csv"),
        ("not_a_number", "is not a number"),
    ],
)
def test_malformed_file_is_refused_and_database_survives(tmp_path, data_copy, case, expected, capsys):
    db = tmp_path / "old.duckdb"
    build(db, data_copy)  # a good database exists
    before = _digest(db)
    studies = data_copy / "studies"
    if case == "percent_above_100":
        lines = (studies / "su_kras_sintilimab" / "baseline.csv").read_text().splitlines()
        cells = lines[1].split(",")
        header = lines[0].split(",")
        cells[header.index("percent")] = "185.2"
        lines[1] = ",".join(cells)
        (studies / "su_kras_sintilimab" / "baseline.csv").write_text("\n".join(lines) + "\n")
    elif case == "missing_column":
        path = studies / "zzu_escc_pd1" / "arms.csv"
        _edit(path, "regimen,", "")
    elif case == "unknown_study":
        path = studies / "zhu_escc_post_ici" / "notes.csv"
        lines = path.read_text().splitlines()
        lines[1] = lines[1].replace("zhu_escc_post_ici", "zhu_escc_postici", 1)
        path.write_text("\n".join(lines) + "\n")
    elif case == "fraction_as_percent":
        _edit(studies / "zzu_escc_pd1" / "results.csv", ",0.218,", ",21.8,")
    elif case == "not_a_number":
        _edit(studies / "zhou_alter_l058" / "arms.csv", ",100,", ",1OO,")

    with pytest.raises(DataValidationError) as err:
        build(db, data_copy)
    assert expected in str(err.value)
    assert _digest(db) == before  # nothing was written

    # the command line says the same and exits non-zero
    assert build_main(["--db", str(db), "--data", str(data_copy)]) == 1
    assert expected in capsys.readouterr().err
    assert _digest(db) == before


def test_build_is_idempotent(tmp_path, data_copy):
    db = tmp_path / "x.duckdb"
    build(db, data_copy)
    first = _digest(db)
    build(db, data_copy)
    assert _digest(db) == first
