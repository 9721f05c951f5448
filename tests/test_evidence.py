"""The evidence assembled for the overview, comparison, safety and data-notes pages: headline
values as the papers print them (with their locators), CIs computed only where the paper gives
none, pooling only where it makes sense and exactly as engine.meta computes it, the AE matrix
without invented zeros, and the notes and flags."""
from __future__ import annotations

import shutil

import duckdb
import pandas as pd
import pytest

from engine import evidence as ev
from engine import meta, rates
from engine.build import insert_rows
from engine.schema import FIDELITY_COLUMNS


def row(df, study, endpoint, arm="combination"):
    hit = df[(df.study_id == study) & (df.arm_id == arm) & (df.endpoint == endpoint)]
    assert len(hit) == 1, hit
    return hit.iloc[0]


@pytest.fixture()
def headline(con):
    return ev.headline_results(con)


# ----- headline results -------------------------------------------------------------------------

def test_every_arm_has_every_headline_endpoint(con, headline):
    arms = con.execute("SELECT count(*) FROM arms").fetchone()[0]
    assert len(headline) == arms * len(ev.HEADLINE)
    assert set(headline.basis) == {"reported", "not reported"}


def test_escc_n87_median_os_as_printed(headline):
    r = row(headline, "zzu_escc_pd1", "OS")
    assert (r.estimate, r.ci_low, r.ci_high, r.n, r.events) == (11.5, 7.1, 15.9, 87, 59)
    assert r.basis == ev.BASIS_REPORTED and r.ci_basis == ev.CI_REPORTED
    assert "Abstract" in r.source
    assert r.text == "11.5 mo (7.1–15.9)"


def test_reported_ci_kept_and_missing_ci_computed_from_counts(headline):
    zzu = row(headline, "zzu_escc_pd1", "ORR")  # the paper prints 21.8% (13.7-32.0)
    assert (zzu.estimate, zzu.ci_low, zzu.ci_high, zzu.ci_basis) == (0.218, 0.137, 0.320, ev.CI_REPORTED)
    chen = row(headline, "chen_ici_rechallenge", "ORR")  # 4/14, no CI printed
    cp = rates.proportion(4, 14)
    assert chen.ci_basis == ev.CI_COMPUTED
    assert (chen.ci_low, chen.ci_high) == (cp.ci_low, cp.ci_high)
    assert (chen.ci_low, chen.ci_high) == pytest.approx((0.0838893, 0.5810353), abs=1e-7)  # R binom.test(4, 14)
    assert chen.text == "28.6% (8.4–58.1%)"


def test_grade3_trae_rate_is_count_over_safety_population(headline):
    zzu = row(headline, "zzu_escc_pd1", "G3TRAE")
    assert (zzu.events, zzu.n, zzu.ci_basis) == (44, 87, ev.CI_COMPUTED)
    assert zzu.estimate == pytest.approx(44 / 87)
    alone = row(headline, "zhou_alter_l058", "G3TRAE", "tki_alone")  # printed 16 (34.0%)
    assert alone.estimate == pytest.approx(16 / 50)
    assert "34" in alone.note
    assert row(headline, "zhu_escc_post_ici", "G3TRAE").basis == "not reported"


def test_contradictory_ci_and_derived_values_are_marked(headline):
    dcr = row(headline, "zhou_alter_l058", "DCR", "tki_alone")  # 34.0% with CI 54.2-79.2
    assert dcr.inconsistent and ev.INCONSISTENT_MARKER in dcr.markers
    assert (dcr.estimate, dcr.ci_low, dcr.ci_high) == (0.34, 0.542, 0.792)  # stored as printed
    os_ = row(headline, "zhou_alter_l058", "OS", "tki_anlotinib")
    assert os_.flag == "derived" and ev.FLAG_MARKERS["derived"] in os_.markers
    assert os_.text == "not reached"
    assert row(headline, "chen_ici_rechallenge", "OS").text == "not reported"
    assert not headline[headline.flag.isna()].markers.str.contains("‡|†").any()


def test_user_values_are_parameters_not_sql(con):
    assert ev.headline_results(con, ["x' OR '1'='1"]).empty
    assert ev.study_table(con, ["zzu_escc_pd1'; DROP TABLE studies; --"]).empty
    assert con.execute("SELECT count(*) FROM studies").fetchone()[0] == 5


# ----- studies and filters ----------------------------------------------------------------------

def test_filters_by_tumor_partner_and_line(con):
    studies = ev.study_table(con)
    assert set(ev.filter_studies(studies, ["ESCC"]).study_id) == {"zzu_escc_pd1", "zhu_escc_post_ici"}
    assert set(ev.filter_studies(studies, None, ["EGFR TKI"]).study_id) == {"zhou_alter_l058"}
    assert set(ev.filter_studies(studies, ["NSCLC"], ["PD-1/PD-L1 inhibitor"], ["2nd line"]).study_id) == {
        "chen_ici_rechallenge", "su_kras_sintilimab"}
    assert len(ev.filter_studies(studies)) == 5
    # ALTER-L058 adds anlotinib in 2nd line only; 'ge2' (2nd line or later) counts for both categories
    assert "zhou_alter_l058" not in set(ev.filter_studies(studies, lines=["3rd line or later"]).study_id)
    assert "chen_ici_rechallenge" in set(ev.filter_studies(studies, lines=["3rd line or later"]).study_id)
    levels = con.execute("SELECT study_id, level FROM filter_availability WHERE variable = 'line_of_therapy' "
                         "AND status IN ('reported', 'inferred') AND level IS NOT NULL").fetchall()
    for line, codes in (("1st line", {"1"}), ("2nd line", {"2", "ge2"}), ("3rd line or later", {"3", "ge2", "ge3", "ge4"})):
        expected = {sid for sid, level in levels if level in codes}
        assert set(ev.filter_studies(studies, lines=[line]).study_id) == expected


def test_citation_links(con):
    studies = ev.study_table(con).set_index("study_id")
    zhu = studies.loc["zhu_escc_post_ici"]
    assert ev.citation_links(zhu.doi, zhu.registry_id) == [
        ("doi:10.1080/07853890.2024.2443811", "https://doi.org/10.1080/07853890.2024.2443811"),
        ("NCT04984096", "https://clinicaltrials.gov/study/NCT04984096"),
    ]
    assert ev.citation_links(None, None) == []


# ----- pooling ----------------------------------------------------------------------------------

ESCC = ["zzu_escc_pd1", "zhu_escc_post_ici"]
NSCLC = ["zhou_alter_l058", "chen_ici_rechallenge", "su_kras_sintilimab"]


def test_rate_counts_are_experimental_arms_with_whole_arm_denominators(con):
    counts = ev.rate_counts(con, "ORR")
    assert not counts.is_control.any()
    assert counts.meets_definition.all()
    zzu = counts.set_index("study_id").loc["zzu_escc_pd1"]
    assert (zzu.events, zzu.n) == (19, 87)
    with pytest.raises(ValueError):
        ev.rate_counts(con, "PFS")


def test_pooled_escc_orr_equals_engine(con):
    check = ev.pooling_check(ev.rate_counts(con, "ORR"), ESCC)
    assert check.ok, check.reasons
    for method in ev.POOLING_METHODS:
        pooled = ev.pool_rates(check.cohorts, "ORR", method)
        ref = meta.pool_proportions([19, 9], [87, 29], method=method)
        assert pooled.estimate == pytest.approx(ref.estimate, rel=1e-12)
        assert (pooled.ci_low, pooled.ci_high) == pytest.approx((ref.ci_low, ref.ci_high), rel=1e-12)
        assert (pooled.i2, pooled.tau2) == pytest.approx((ref.i2, ref.tau2), abs=1e-12)
        assert pooled.k == 2 and pooled.pi_low is None and "fewer than 3" in pooled.pi_note
        assert (pooled.events, pooled.n) == (28, 116)
        assert method in pooled.method_text or ev.POOLING_METHODS[method] in pooled.method_text


def test_pooled_nsclc_rates_have_a_prediction_interval(con):
    check = ev.pooling_check(ev.rate_counts(con, "G3TRAE"), NSCLC)
    assert check.ok
    pooled = ev.pool_rates(check.cohorts, "G3TRAE")
    ref = meta.pool_proportions([37, 1, 7], [100, 14, 27])
    assert pooled.estimate == pytest.approx(ref.estimate)
    assert pooled.pi_low is not None and pooled.pi_low < pooled.ci_low < pooled.ci_high < pooled.pi_high


def test_pooling_refused_where_it_makes_no_sense(con):
    orr = ev.rate_counts(con, "ORR")
    mixed = ev.pooling_check(orr, ESCC + NSCLC)
    assert not mixed.ok and any("tumor types" in r for r in mixed.reasons)
    single = ev.pooling_check(orr, ["zzu_escc_pd1"])
    assert not single.ok and any("at least two" in r for r in single.reasons)
    tox = ev.pooling_check(ev.rate_counts(con, "G3TRAE"), ESCC)  # ESCC post-ICI gives no G3 rate
    assert not tox.ok and any("not reported" in r for r in tox.reasons)


# ----- adverse events ---------------------------------------------------------------------------

def test_ae_incidence_keeps_paper_terms_and_denominators(con):
    inc = ev.ae_incidence(con)
    hfs = inc[(inc.study_id == "zzu_escc_pd1") & (inc.term_harmonized == "Palmar-plantar erythrodysaesthesia")
              & (inc.grade == "any")].iloc[0]
    assert hfs.term == "Hand-foot Syndrome" and hfs.denominator == 87
    assert hfs.column == "ZZU ESCC anlotinib+PD-1 (N=87)"
    assert hfs.flag == "ocr_corrected" and hfs.markers == ev.FLAG_MARKERS["ocr_corrected"]
    # two printed 'Vomiting' rows are never added: the higher one is shown, both are listed
    vom = inc[(inc.arm_id == "tki_anlotinib") & (inc.term_harmonized == "Vomiting") & (inc.grade == "any")].iloc[0]
    assert vom.n_terms == 2 and vom.n == 15 and vom.terms.count("Vomiting") == 2


def test_ae_matrix_leaves_unreported_terms_empty_and_applies_cutoff(con):
    inc = ev.ae_incidence(con)
    cols = list(dict.fromkeys(inc.column))
    m_any = ev.ae_matrix(inc, "any", cols, cutoff=0)
    zhu = "ESCC post-ICI anlotinib+PD-1 (N=29)"
    assert pd.isna(m_any.loc["Hypertension", zhu])  # not reported, not zero
    assert m_any.loc["Hypertension", "ZZU ESCC anlotinib+PD-1 (N=87)"] == pytest.approx(52.9)
    cut = ev.ae_matrix(inc, "any", cols, cutoff=30)
    screen = ev.ae_matrix(inc, "any", cols, cutoff=0).combine_first(ev.ae_matrix(inc, ">=3", cols, cutoff=0))
    assert (screen.loc[cut.index].max(axis=1) >= 30).all()
    assert set(cut.index) < set(m_any.index)
    zzu = "ZZU ESCC anlotinib+PD-1 (N=87)"
    ranked = ev.ae_matrix(inc, ">=3", cols, sort_by=zzu, cutoff=0)[zzu].dropna()
    assert list(ranked) == sorted(ranked, reverse=True)
    assert "Other" not in m_any.index
    if (inc.term_harmonized == "Other").any():
        assert "Other" in ev.ae_matrix(inc, "any", cols, include_other=True).index


def test_ae_totals(con):
    wide = ev.ae_totals_wide(ev.ae_totals(con))
    assert wide.loc["ZZU ESCC anlotinib+PD-1 (N=87)", "Any TRAE"] == "80/87 (92%)"
    assert wide.loc["ZZU ESCC anlotinib+PD-1 (N=87)", "Grade ≥3 TRAE"] == "44/87 (50.6%)"
    assert wide.loc["ESCC post-ICI anlotinib+PD-1 (N=29)", "Grade ≥3 TRAE"] == "not reported"
    assert wide.loc["ESCC post-ICI anlotinib+PD-1 (N=29)", "Any TRAE"].endswith(ev.FLAG_MARKERS["derived"])


# ----- data notes -------------------------------------------------------------------------------

def test_flagged_values_cover_every_flag_in_the_tables(con):
    flagged = ev.flagged_values(con)
    tables = ["reported_results", "best_response", "baseline", "adverse_events", "ae_summary"]
    for flag in ("ocr_corrected", "derived"):
        total = sum(con.execute(f"SELECT count(*) FROM {t} WHERE flag = ?", [flag]).fetchone()[0] for t in tables)
        assert (flagged.flag == flag).sum() == total
    zzu = flagged[(flagged.study_id == "zzu_escc_pd1") & (flagged.flag == "ocr_corrected")]
    assert (zzu.note.str.len() > 0).all()


def test_notes_and_summary(con):
    notes = ev.study_notes(con, ["zzu_escc_pd1"], ["contradiction"])
    n = con.execute("SELECT count(*) FROM notes WHERE study_id='zzu_escc_pd1' AND kind='contradiction'").fetchone()[0]
    assert len(notes) == n > 0
    summary = ev.trust_summary(con).set_index("study_id")
    assert summary.loc["zzu_escc_pd1", "contradictions"] == n


def test_fidelity_table_when_present(built_db_path, tmp_path):
    copy = tmp_path / "fid.duckdb"
    shutil.copy(built_db_path, copy)
    c = duckdb.connect(str(copy))
    try:
        c.execute("DROP TABLE IF EXISTS reconstruction_fidelity")
        assert ev.fidelity(c) is None
        cols = ", ".join(f'"{col.name}" {"DOUBLE" if col.kind == "float" else "VARCHAR"}' for col in FIDELITY_COLUMNS)
        c.execute(f"CREATE TABLE reconstruction_fidelity ({cols})")
        insert_rows(c, "reconstruction_fidelity", FIDELITY_COLUMNS, pd.DataFrame([
            dict(study_id="zzu_escc_pd1", arm_id="combination", endpoint="OS", statistic="median", subgroup=None,
                 level=None, timepoint_months=None, reported=11.5, reconstructed=11.4, reconstructed_ci_low=7.3,
                 reconstructed_ci_high=15.2, tolerance="max(0.3 mo, 5%)", status="holds", reason=None, source="Abstract"),
        ]))
        fid = ev.fidelity(c, ["zzu_escc_pd1"])
        assert len(fid) == 1 and fid.iloc[0].reconstructed == 11.4
        assert ev.fidelity(c, ["chen_ici_rechallenge"]).empty
        summary = ev.trust_summary(c).set_index("study_id")
        assert summary.loc["zzu_escc_pd1", "fidelity"] == "1/1"
        assert summary.loc["chen_ici_rechallenge", "fidelity"] == "no reconstruction"
    finally:
        c.close()


def test_safety_bars_show_the_papers_values_under_one_badge(con):
    """The grouped-bar view of the Safety page draws the reported percents (ALTER-L058
    hypertension 68% any grade in the anlotinib arm) and says once that they are reported."""
    from components.safety_plot import ae_bars

    inc = ev.ae_incidence(con, ["zhou_alter_l058"])
    columns = list(dict.fromkeys(inc.column))
    fig = ae_bars(inc, ["Hypertension"], columns)
    badges = [a for a in fig.layout.annotations if a.text == "Reported in the paper"]
    assert len(badges) == 1
    any_grade = [x for t in fig.data if "grade ≥3" not in t.name for x in t.x]
    assert 68.0 in any_grade
