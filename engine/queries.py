"""Read queries the pages share. Every value from a user arrives as a parameter, never as SQL text."""
from __future__ import annotations

import duckdb
import pandas as pd


def studies(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(
        """
        SELECT study_id, label, short_label, tumor_type, setting, line_of_therapy, design,
               partner_class, n_total, enrollment_period, data_cutoff, median_followup_months,
               followup_note, authors, journal, year, coalesce(doi, registry_id) AS doi,
               registry_id, citation
        FROM studies ORDER BY tumor_type DESC, year, study_id
        """
    ).df()


def cohorts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every cohort the analysis pages can show: the published studies (reported and
    reconstructed data) and the cohorts users uploaded (user data)."""
    return con.execute(
        """
        SELECT study_id, short_label AS label, tumor_type, 'published' AS kind FROM studies
        UNION ALL
        SELECT study_id, name AS label, NULL AS tumor_type, 'user' AS kind FROM user_cohorts
        ORDER BY kind, label
        """
    ).df()
