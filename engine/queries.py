"""Read queries the pages share. Every value from a user arrives as a parameter, never as SQL text."""
from __future__ import annotations

import duckdb
import pandas as pd


def cohorts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every cohort the analysis pages can show: the published studies (reported and
    reconstructed data) and the cohorts users uploaded (user data).

    A user cohort's tumor_type comes from its stored patient rows: the one value every row
    holds, or NULL when the rows disagree or any row has none (a cohort is not called NSCLC
    while some of its patients' tumor is unknown)."""
    return con.execute(
        """
        SELECT study_id, short_label AS label, tumor_type, 'published' AS kind FROM studies
        UNION ALL
        SELECT u.study_id, u.name AS label, t.tumor_type, 'user' AS kind
        FROM user_cohorts u
        LEFT JOIN (
            SELECT study_id,
                   CASE WHEN count(tumor_type) = count(*) AND count(DISTINCT tumor_type) = 1
                        THEN min(tumor_type) END AS tumor_type
            FROM patients WHERE origin = ? GROUP BY study_id
        ) t ON t.study_id = u.study_id
        ORDER BY kind, label
        """,
        ["user"],
    ).df()
