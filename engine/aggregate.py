"""DuckDB fast path: aggregate patient rows to per-(group, time) counts in one query.

The Explorer calls :func:`subgroup_recompute` on every filter change. The filter lives in
``relation_sql`` (trusted SQL text written by our code, with ``?`` placeholders) and the user's
choices travel only as ``params``; user values are never formatted into SQL. Column names come
from our code too and are quoted as identifiers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from engine.survival import (
    CoxResult,
    KMResult,
    LogRankResult,
    _cox_core,
    _grid,
    _logrank_core,
    _two_levels,
    _validate_event,
)
from engine.results import not_estimable


def _ident(name: str) -> str:
    """Quote a column name as a SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def counts_sql(relation_sql: str, time_col: str, event_col: str,
               group_col: str | None = None) -> str:
    """The aggregation query (``?`` placeholders are those of ``relation_sql``).

    ``n_bad_event`` counts event values that are NULL or not 0/1, so that invalid data is
    reported instead of being silently counted as censored.
    """
    group_select = f"{_ident(group_col)} AS g, " if group_col else ""
    group_out = 'g AS "group", ' if group_col else ""
    order = '"group" NULLS LAST, "time" NULLS LAST' if group_col else '"time" NULLS LAST'
    return f"""
        SELECT {group_out}t AS "time",
               CAST(coalesce(sum(e), 0) AS BIGINT) AS n_event,
               CAST(count(*) - coalesce(sum(e), 0) AS BIGINT) AS n_censor,
               count(*) FILTER (WHERE e IS NULL OR e NOT IN (0, 1)) AS n_bad_event
        FROM (SELECT {group_select}CAST({_ident(time_col)} AS DOUBLE) AS t,
                     CAST({_ident(event_col)} AS DOUBLE) AS e
              FROM ({relation_sql}) AS _relation) AS _rows
        GROUP BY ALL
        ORDER BY {order}"""


def counts_by_time(con: Any, relation_sql: str, params: Sequence | None, time_col: str,
                   event_col: str, group_col: str | None = None) -> pd.DataFrame:
    """Run ONE parameterized DuckDB query and return counts sorted by group and time.

    Columns: ``group`` (only when ``group_col`` is given; NULL groups come last as None),
    ``time`` (NaN for NULL times), ``n_event``, ``n_censor``. Raises ``ValueError`` when the
    event column holds NULL or values other than 0/1.
    """
    sql = counts_sql(relation_sql, time_col, event_col, group_col)
    frame = con.execute(sql, list(params or [])).df()
    bad = int(frame.pop("n_bad_event").sum()) if len(frame) else 0
    if bad:
        values = con.execute(
            f"SELECT DISTINCT {_ident(event_col)} FROM ({relation_sql}) AS _r "
            f"WHERE {_ident(event_col)} IS NULL OR CAST({_ident(event_col)} AS DOUBLE) "
            "NOT IN (0, 1) LIMIT 5", list(params or [])).fetchall()
        _validate_event(np.array([np.nan if v[0] is None else float(v[0]) for v in values]))
    if group_col and len(frame):
        frame["group"] = frame["group"].astype(object).where(frame["group"].notna(), None)
    return frame.reset_index(drop=True)


@dataclass(frozen=True)
class SubgroupResult:
    """Everything the Explorer draws for one filter state, from one aggregation.

    ``km``: a Kaplan-Meier result per group (in ``levels`` order); ``logrank``: all groups;
    ``cox``: hazard ratio of ``cox.comparison`` vs ``cox.reference`` (not estimable unless
    there are exactly two groups); ``counts``: the aggregated table itself.
    """

    levels: tuple
    km: dict[Any, KMResult]
    logrank: LogRankResult
    cox: CoxResult
    counts: pd.DataFrame
    n: int
    n_missing_group: int


def subgroup_recompute(con: Any, relation_sql: str, params: Sequence | None, time_col: str,
                       event_col: str, group_col: str, reference: Any = None,
                       levels: Sequence | None = None, conf_level: float = 0.95,
                       conf_type: str = "log-log") -> SubgroupResult:
    """KM per group + log-rank + Cox HR (two groups) for the rows of ``relation_sql``.

    ``levels`` fixes the groups and their order (an absent level gives 'no patients'
    results); by default the sorted groups present. ``reference`` is the HR's reference group
    (default: the first level). Rows with a NULL group are left out and counted.
    """
    counts = counts_by_time(con, relation_sql, params, time_col, event_col, group_col)
    grid = _grid(counts, levels)
    lv = grid.levels
    km = {level: grid.km(i, conf_level, conf_type) for i, level in enumerate(lv)}
    lr = _logrank_core(grid)
    if len(lv) == 2:
        ref = lv[0] if reference is None else reference
        ref, cmp = _two_levels(lv, ref, None)
        if ref != lv[0]:
            grid = grid.reordered([ref, cmp])
        cox = _cox_core(grid, ref, cmp, conf_level)
    else:
        cox = CoxResult(None, None, None, None, None, reference, None, False,
                        not_estimable(f"a hazard ratio needs exactly 2 groups (got {len(lv)})"),
                        n=int(grid.n_by_group.sum()), n_missing_group=grid.n_missing_group)
    n = int(counts["n_event"].sum() + counts["n_censor"].sum()) if len(counts) else 0
    return SubgroupResult(lv, km, lr, cox, counts, n, grid.n_missing_group)
