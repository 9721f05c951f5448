"""The Explorer's view: which patients are on screen, and how the view travels in a URL.

A :class:`ViewState` says which cohorts, which endpoint, which subgroup filters (with a keep /
exclude choice for patients whose value is not reported) and how the curves are split. It is
parsed from and written to URL query parameters, so a copied link reopens the same view:

    ?studies=su_kras_sintilimab,zzu_escc_pd1     cohorts, comma separated, in display order
    &endpoint=PFS                                PFS | OS | PFS2
    &by=prior_antiangiogenic                     compare-by: arm | study | a filter variable | sex
    &f.prior_antiangiogenic=no                   a filter: levels, comma separated (any of them)
    &nr.prior_antiangiogenic=exclude             patients without a value for that filter:
                                                 keep (default) or exclude
    &forest=prior_ici,kras_subtype               forest-plot variables (absent: automatic)
    &ae_sort=any&ae_min=10&ae_top=12             AE panel: sort (any | g3 | term), cut-off in %,
                                                 most terms shown (0: all)
    &present=1                                   presentation mode

Parsing never raises: a parameter that is unknown, malformed or refers to something the database
no longer holds is dropped and described in a notice for the page to show.

Patient selection is SQL with parameters only. Column names come from the fixed whitelists in
:mod:`engine.schema`; every value a user chose travels as a ``?`` parameter.

Never imports Streamlit.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Mapping

import duckdb
import pandas as pd

from engine.schema import ENDPOINT_COLUMNS, FILTER_VARIABLES

# ---------------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------------
SURVIVAL_ENDPOINTS = ("PFS", "OS", "PFS2")
ENDPOINT_LABELS = {
    "PFS": "Progression-free survival",
    "OS": "Overall survival",
    "PFS2": "Second progression-free survival (PFS2)",
}
DEFAULT_ENDPOINT = "PFS"
DEFAULT_STUDIES = ("su_kras_sintilimab",)

KEEP, EXCLUDE = "keep", "exclude"
UNREPORTED_CHOICES = (KEEP, EXCLUDE)

# Compare-by choices. "arm" and "study" are structural; the rest are patient columns.
DESCRIPTOR_VARIABLES = {"sex": "Sex"}
COMPARE_BY = {
    "arm": "Study arm",
    "study": "Study (arms pooled)",
    **FILTER_VARIABLES,
    **DESCRIPTOR_VARIABLES,
}
DEFAULT_COMPARE_BY = "arm"
# Patient columns a view may name (filters, compare-by, forest rows). Nothing else reaches SQL.
GROUPABLE_COLUMNS = tuple(FILTER_VARIABLES) + tuple(DESCRIPTOR_VARIABLES)

AE_SORTS = {"any": "Any grade", "g3": "Grade ≥3", "term": "Term (A–Z)"}
DEFAULT_AE_SORT = "any"
DEFAULT_AE_TOP = 12
# table under the Kaplan–Meier plot: automatic (extended for up to three curves), or fixed
KM_TABLES = {"auto": "Automatic", "extended": "At risk, events, censored", "at_risk": "At risk only"}
DEFAULT_KM_TABLE = "auto"

SHORT_VARIABLE_LABELS = {
    "prior_ici": "Prior ICI",
    "prior_antiangiogenic": "Prior antiangiogenic",
    "pdl1_status": "PD-L1",
    "kras_subtype": "KRAS",
    "egfr_mutation": "EGFR",
    "ecog": "ECOG",
    "line_of_therapy": "Line",
    "tumor_type": "Tumor",
    "sex": "Sex",
    "arm": "Arm",
    "study": "Study",
}

# Coarse levels and the finer levels they contain. Selecting a coarse level also selects its
# finer levels; a patient recorded only at a coarse level that partly overlaps the selection
# (ECOG "0-1" when ECOG 0 is asked for) cannot be placed and is treated like "not reported".
LEVEL_HIERARCHY: dict[str, dict[str, frozenset[str]]] = {
    "ecog": {
        "0_1": frozenset({"0", "1"}),
        "1_2": frozenset({"1", "2"}),
        "ge2": frozenset({"2", "3", "4", "ge3"}),
        "ge3": frozenset({"3", "4"}),
    },
    "line_of_therapy": {
        "ge2": frozenset({"2", "3", "4", "ge3", "ge4"}),
        "ge3": frozenset({"3", "4", "ge4"}),
        "ge4": frozenset({"4"}),
    },
    "kras_subtype": {"non_G12C": frozenset({"G12V", "G12D", "other"})},
    "pdl1_status": {
        "negative_or_unknown": frozenset({"negative", "unknown", "tps_lt1"}),
        "positive": frozenset({"tps_ge50", "tps_1_49"}),
        "negative": frozenset({"tps_lt1"}),
    },
}

_LEVEL_WORDS = {
    "yes": "Yes",
    "no": "No",
    "positive": "Positive",
    "negative": "Negative",
    "unknown": "Unknown",
    "negative_or_unknown": "Negative or unknown",
    "tps_ge50": "TPS ≥50%",
    "tps_1_49": "TPS 1–49%",
    "tps_lt1": "TPS <1%",
    "non_G12C": "non-G12C",
    "other": "Other",
    "wild_type": "Wild type",
    "male": "Male",
    "female": "Female",
}
_LINE_WORDS = {"1": "1st line", "2": "2nd line", "3": "3rd line", "4": "4th line"}

# Display order of canonical levels (others follow alphabetically).
_LEVEL_ORDER = (
    "no", "yes", "positive", "tps_ge50", "tps_1_49", "negative", "tps_lt1", "unknown",
    "negative_or_unknown", "G12C", "G12V", "G12D", "other", "non_G12C", "ex19del", "L858R",
    "T790M", "wild_type", "0", "1", "0_1", "1_2", "2", "3", "4", "ge2", "ge3", "ge4", "NSCLC",
    "ESCC", "male", "female",
)


def level_label(variable: str, level: str | None) -> str:
    """How a stored level reads on screen ("ge2" -> "≥2", "0_1" -> "0–1", "no" -> "No")."""
    if level is None:
        return "Not reported"
    if variable == "line_of_therapy":
        if level in _LINE_WORDS:
            return _LINE_WORDS[level]
        if level.startswith("ge") and level[2:].isdigit():
            return f"≥{_LINE_WORDS.get(level[2:], level[2:] + 'th line')}"
    if level in _LEVEL_WORDS:
        return _LEVEL_WORDS[level]
    if level.startswith("ge") and level[2:].isdigit():
        return "≥" + level[2:]
    if level.startswith("lt") and level[2:].isdigit():
        return "<" + level[2:]
    parts = level.split("_")
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return f"{parts[0]}–{parts[1]}"
    return level.replace("_", " ")


def variable_label(variable: str, short: bool = False) -> str:
    if short:
        return SHORT_VARIABLE_LABELS.get(variable, variable)
    return COMPARE_BY.get(variable, variable)


def sort_levels(levels: Iterable[str]) -> list[str]:
    order = {lv: i for i, lv in enumerate(_LEVEL_ORDER)}
    return sorted(set(levels), key=lambda lv: (order.get(lv, len(order)), lv))


def expand_levels(variable: str, levels: Iterable[str]) -> tuple[set[str], set[str]]:
    """``(matching, unresolvable)`` stored values for a selection of levels.

    ``matching``: the selected levels and every finer level they contain. ``unresolvable``: coarse
    levels that overlap the selection only in part (they hold some selected and some unselected
    patients), so a patient recorded that way cannot be placed.
    """
    tree = LEVEL_HIERARCHY.get(variable, {})
    matching: set[str] = set()
    for lv in levels:
        matching.add(lv)
        matching |= tree.get(lv, frozenset())
    unresolvable = {
        coarse for coarse, finer in tree.items()
        if coarse not in matching and finer & matching and not finer <= matching
    }
    return matching, unresolvable


# ---------------------------------------------------------------------------------------------
# The view
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FilterSpec:
    """One subgroup filter: keep patients whose ``variable`` is one of ``levels``.

    ``unreported`` decides about patients without a usable value (the study does not report the
    variable, or records it only at a coarser level): ``keep`` them (default, so no study is
    dropped silently) or ``exclude`` them.
    """

    variable: str
    levels: tuple[str, ...]
    unreported: str = KEEP


@dataclass(frozen=True)
class ViewState:
    studies: tuple[str, ...] = DEFAULT_STUDIES
    endpoint: str = DEFAULT_ENDPOINT
    filters: tuple[FilterSpec, ...] = ()
    compare_by: str = DEFAULT_COMPARE_BY
    forest_by: tuple[str, ...] = ()  # empty: chosen automatically from the data
    ae_sort: str = DEFAULT_AE_SORT
    ae_min: int = 0  # percent, any grade (or grade >=3 where only that is given)
    ae_top: int = DEFAULT_AE_TOP  # show at most this many terms (0: all)
    km_ci: bool = True  # shaded 95% confidence bands
    km_table: str = DEFAULT_KM_TABLE
    presentation: bool = False

    @property
    def active_filters(self) -> tuple[FilterSpec, ...]:
        return tuple(f for f in self.filters if f.levels)

    def filter_for(self, variable: str) -> FilterSpec | None:
        return next((f for f in self.filters if f.variable == variable), None)

    def with_filter(self, variable: str, levels: Iterable[str], unreported: str = KEEP) -> "ViewState":
        others = tuple(f for f in self.filters if f.variable != variable)
        levels = tuple(levels)
        if not levels:
            return replace(self, filters=others)
        return replace(self, filters=others + (FilterSpec(variable, levels, unreported),))


@dataclass(frozen=True)
class Catalog:
    """What a URL may refer to: the cohorts in the database, the endpoints with patient rows per
    cohort, and the stored levels of each filterable column."""

    studies: dict[str, str]  # id -> label, in display order
    endpoints: dict[str, tuple[str, ...]] = field(default_factory=dict)
    levels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    published: frozenset[str] = frozenset()

    def known_levels(self, variable: str) -> set[str]:
        return set(self.levels.get(variable, ())) | set(LEVEL_HIERARCHY.get(variable, {}))


def load_catalog(con: duckdb.DuckDBPyConnection) -> Catalog:
    from engine.queries import cohorts  # local: keeps this module importable without the table

    coh = cohorts(con)
    studies = dict(zip(coh["study_id"], coh["label"]))
    published = frozenset(coh.loc[coh["kind"] == "published", "study_id"])
    endpoints: dict[str, tuple[str, ...]] = {}
    counts = ", ".join(
        f'count("{ENDPOINT_COLUMNS[e][0]}") AS "{e}"' for e in SURVIVAL_ENDPOINTS
    )
    for row in con.execute(f"SELECT study_id, {counts} FROM patients GROUP BY study_id").fetchall():
        endpoints[row[0]] = tuple(e for e, n in zip(SURVIVAL_ENDPOINTS, row[1:]) if n)
    levels: dict[str, tuple[str, ...]] = {}
    for col in GROUPABLE_COLUMNS:
        vals = [r[0] for r in con.execute(f'SELECT DISTINCT "{col}" FROM patients WHERE "{col}" IS NOT NULL').fetchall()]
        levels[col] = tuple(sort_levels(vals))
    return Catalog(studies, endpoints, levels, published)


# ---------------------------------------------------------------------------------------------
# URL query parameters
# ---------------------------------------------------------------------------------------------
_FILTER_PREFIX = "f."
_UNREPORTED_PREFIX = "nr."
_KNOWN_KEYS = {"studies", "endpoint", "by", "forest", "ae_sort", "ae_min", "ae_top", "km_ci", "km_table", "present"}


def _one(value) -> str:
    """Streamlit gives the last value of a repeated key; plain dicts may hold lists."""
    if isinstance(value, (list, tuple)):
        return str(value[-1]) if value else ""
    return "" if value is None else str(value)


def _split(value: str) -> list[str]:
    out: list[str] = []
    for part in value.split(","):
        part = part.strip()
        if part and part not in out:
            out.append(part)
    return out


def _short(text: str, limit: int = 40) -> str:
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _scalar(params: Mapping[str, object], key: str, default, parse: Callable[[str], object], notice: str,
            notices: list[str], fold: bool = False):
    """One single-valued link parameter: ``parse(raw)`` when it gives a value, else ``default``
    and ``notice`` (with ``{raw}`` filled in) added to ``notices``. A missing key gives the
    default silently. ``fold``: compare in lower case."""
    if key not in params:
        return default
    raw = _one(params[key]).strip()
    if fold:
        raw = raw.lower()
    value = parse(raw)
    if value is None:
        notices.append(notice.format(raw=_short(raw)))
        return default
    return value


def _whole(low: int, high: int) -> Callable[[str], int | None]:
    return lambda raw: int(raw) if raw.isdigit() and low <= int(raw) <= high else None


def parse_query(params: Mapping[str, object], catalog: Catalog) -> tuple[ViewState, list[str]]:
    """The view a URL describes, and a notice for every part of it that was ignored.

    Never raises: whatever is unknown, malformed or stale is dropped, and the rest of the view
    still opens.
    """
    notices: list[str] = []
    keys = list(params.keys())

    # studies
    if "studies" in params:
        wanted = _split(_one(params["studies"]))
        studies = tuple(s for s in wanted if s in catalog.studies)
        dropped = [s for s in wanted if s not in catalog.studies]
        if dropped:
            notices.append(
                "Ignored unknown or removed cohort(s) in the link: " + ", ".join(_short(s) for s in dropped) + "."
            )
        if not studies:
            studies = _default_studies(catalog)
            notices.append("The link names no available cohort; showing the default cohort instead.")
    else:
        studies = _default_studies(catalog)

    # endpoint
    endpoint = _scalar(params, "endpoint", DEFAULT_ENDPOINT,
                       lambda raw: raw.upper() if raw.upper() in SURVIVAL_ENDPOINTS else None,
                       f"Ignored endpoint “{{raw}}” in the link (use PFS, OS or PFS2); showing {DEFAULT_ENDPOINT}.",
                       notices)

    # compare-by
    compare_by = _scalar(params, "by", DEFAULT_COMPARE_BY, lambda raw: raw if raw in COMPARE_BY else None,
                         "Ignored compare-by “{raw}” in the link; curves are split by study arm.", notices)

    # filters
    filters: list[FilterSpec] = []
    for key in keys:
        if key.startswith(_FILTER_PREFIX):
            var = key[len(_FILTER_PREFIX):]
            if var not in FILTER_VARIABLES:
                notices.append(f"Ignored filter on unknown variable “{_short(var)}” in the link.")
                continue
            wanted = _split(_one(params[key]))
            known = catalog.known_levels(var)
            levels = tuple(lv for lv in wanted if lv in known)
            bad = [lv for lv in wanted if lv not in known]
            if bad:
                notices.append(
                    f"Ignored level(s) {', '.join('“' + _short(b) + '”' for b in bad)} of "
                    f"{FILTER_VARIABLES[var]} in the link: no patient has them."
                )
            if not levels:
                continue
            unreported = KEEP
            nr_key = _UNREPORTED_PREFIX + var
            if nr_key in params:
                raw = _one(params[nr_key]).strip().lower()
                if raw in UNREPORTED_CHOICES:
                    unreported = raw
                else:
                    notices.append(
                        f"Ignored “{_short(raw)}” for patients without {FILTER_VARIABLES[var]} "
                        "(use keep or exclude); they are kept."
                    )
            filters.append(FilterSpec(var, levels, unreported))
        elif key.startswith(_UNREPORTED_PREFIX):
            var = key[len(_UNREPORTED_PREFIX):]
            if _FILTER_PREFIX + var not in params:
                notices.append(f"Ignored “{_short(key)}” in the link: no filter on that variable.")
        elif key not in _KNOWN_KEYS:
            notices.append(f"Ignored unknown link parameter “{_short(key)}”.")

    # forest variables
    forest_by: tuple[str, ...] = ()
    if "forest" in params:
        wanted = _split(_one(params["forest"]))
        forest_by = tuple(v for v in wanted if v in GROUPABLE_COLUMNS)
        bad = [v for v in wanted if v not in GROUPABLE_COLUMNS]
        if bad:
            notices.append("Ignored forest-plot variable(s) " + ", ".join(f"“{_short(b)}”" for b in bad) + " in the link.")

    # AE panel
    ae_sort = _scalar(params, "ae_sort", DEFAULT_AE_SORT, lambda raw: raw if raw in AE_SORTS else None,
                      "Ignored AE sort “{raw}” in the link.", notices)
    ae_min = _scalar(params, "ae_min", 0, _whole(0, 100),
                     "Ignored AE cut-off “{raw}” in the link (a whole percent from 0 to 100).", notices)
    ae_top = _scalar(params, "ae_top", DEFAULT_AE_TOP, _whole(0, 200),
                     "Ignored AE term count “{raw}” in the link (a whole number, 0 for all).", notices)

    # KM panel
    km_ci = _scalar(params, "km_ci", True, {"0": False, "1": True}.get,
                    "Ignored confidence-band flag “{raw}” in the link (0 or 1); bands are shown.", notices, fold=True)
    km_table = _scalar(params, "km_table", DEFAULT_KM_TABLE, lambda raw: raw if raw in KM_TABLES else None,
                       "Ignored table choice “{raw}” in the link; the table is chosen automatically.", notices)

    presentation = _scalar(params, "present", False,
                           {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False, "": False}.get,
                           "Ignored presentation flag “{raw}” in the link.", notices, fold=True)

    state = ViewState(
        studies=studies,
        endpoint=endpoint,
        filters=tuple(filters),
        compare_by=compare_by,
        forest_by=forest_by,
        ae_sort=ae_sort,
        ae_min=ae_min,
        ae_top=ae_top,
        km_ci=km_ci,
        km_table=km_table,
        presentation=presentation,
    )
    return state, notices


def _default_studies(catalog: Catalog) -> tuple[str, ...]:
    chosen = tuple(s for s in DEFAULT_STUDIES if s in catalog.studies)
    if chosen:
        return chosen
    return tuple(list(catalog.studies)[:1])


def to_query(state: ViewState) -> dict[str, str]:
    """URL query parameters for ``state``; defaults are left out so links stay short."""
    q: dict[str, str] = {"studies": ",".join(state.studies), "endpoint": state.endpoint}
    if state.compare_by != DEFAULT_COMPARE_BY:
        q["by"] = state.compare_by
    for f in sorted(state.active_filters, key=lambda f: list(FILTER_VARIABLES).index(f.variable)):
        q[_FILTER_PREFIX + f.variable] = ",".join(f.levels)
        if f.unreported != KEEP:
            q[_UNREPORTED_PREFIX + f.variable] = f.unreported
    if state.forest_by:
        q["forest"] = ",".join(state.forest_by)
    if state.ae_sort != DEFAULT_AE_SORT:
        q["ae_sort"] = state.ae_sort
    if state.ae_min:
        q["ae_min"] = str(state.ae_min)
    if state.ae_top != DEFAULT_AE_TOP:
        q["ae_top"] = str(state.ae_top)
    if not state.km_ci:
        q["km_ci"] = "0"
    if state.km_table != DEFAULT_KM_TABLE:
        q["km_table"] = state.km_table
    if state.presentation:
        q["present"] = "1"
    return q


# ---------------------------------------------------------------------------------------------
# Patients of a view, as parameterized SQL
# ---------------------------------------------------------------------------------------------
def _placeholders(n: int) -> str:
    return ", ".join("?" for _ in range(n))


def check_column(col: str) -> str:
    """``col`` if it is a patient column a view may name (the whitelist), else ValueError."""
    if col not in GROUPABLE_COLUMNS:
        raise ValueError(f"not a filterable patient column: {col!r}")
    return col


def filter_condition(spec: FilterSpec) -> tuple[str, list]:
    """SQL condition (with ``?`` parameters) for one filter."""
    col = check_column(spec.variable)
    matching, unresolvable = expand_levels(col, spec.levels)
    match = sorted(matching)
    cond = f'"{col}" IN ({_placeholders(len(match))})'
    params: list = list(match)
    if spec.unreported == KEEP:
        cond = f'({cond} OR "{col}" IS NULL'
        if unresolvable:
            cond += f' OR "{col}" IN ({_placeholders(len(unresolvable))})'
            params += sorted(unresolvable)
        cond += ")"
    return cond, params


def relation(state: ViewState, skip: str | None = None) -> tuple[str, list]:
    """``SELECT * FROM patients`` restricted to the view (the filter on ``skip`` left out)."""
    sql = f"SELECT * FROM patients WHERE study_id IN ({_placeholders(len(state.studies))})"
    params: list = list(state.studies)
    for spec in state.active_filters:
        if spec.variable == skip:
            continue
        cond, p = filter_condition(spec)
        sql += " AND " + cond
        params += p
    return sql, params


def grouped_relation(state: ViewState, group_by: str | None = None) -> tuple[str, list]:
    """The view's patients with a text column ``grp`` naming each patient's curve.

    ``grp`` is ``study|arm|level``; ``level`` is the compare-by column's value (``NULL`` shows as
    ``~`` so the group stays visible as "not reported"). ``group_by`` defaults to the view's
    compare-by choice.
    """
    by = group_by or state.compare_by
    base, params = relation(state)
    if by == "arm":
        grp = "study_id || '|' || arm_id || '|'"
    elif by == "study":
        grp = "study_id || '|*|'"
    else:
        col = check_column(by)
        grp = f"study_id || '|' || arm_id || '|' || coalesce(\"{col}\", '~')"
    return f"SELECT *, {grp} AS grp FROM ({base}) AS v", params


def patients_frame(con: duckdb.DuckDBPyConnection, state: ViewState, group_by: str | None = None) -> pd.DataFrame:
    sql, params = grouped_relation(state, group_by)
    return con.execute(sql, params).df()


# ---------------------------------------------------------------------------------------------
# Counts and availability for the controls
# ---------------------------------------------------------------------------------------------
def level_counts(con: duckdb.DuckDBPyConnection, state: ViewState) -> pd.DataFrame:
    """Patients per level of every filter variable, for the view with that variable's own filter
    left out (so each count says what choosing the level would give).

    Columns: variable, level, n (patients matching the level, coarse levels counting their finer
    ones), n_exact (patients stored with exactly this level). A row with ``level`` = None counts
    the patients without a value.
    """
    parts, params = [], []
    for var in FILTER_VARIABLES:  # one query: each part leaves its own variable's filter out
        sql, p = relation(state, skip=var)
        parts.append(f"SELECT ? AS variable, \"{var}\" AS level, count(*) AS n FROM ({sql}) AS v GROUP BY ALL")
        params += [var] + p
    got = con.execute(" UNION ALL ".join(parts), params).fetchall()
    by_var: dict[str, dict] = {}
    for var, lv, n in got:
        by_var.setdefault(var, {})[lv] = n
    rows = []
    for var in FILTER_VARIABLES:
        exact = by_var.get(var, {})
        present = {lv for lv in exact if lv is not None}
        tree = LEVEL_HIERARCHY.get(var, {})
        options = set(present) | {c for c, finer in tree.items() if finer & present}
        for lv in sort_levels(options):
            matching, _ = expand_levels(var, [lv])
            rows.append((var, lv, sum(exact.get(m, 0) for m in matching), exact.get(lv, 0)))
        if exact.get(None):
            rows.append((var, None, exact[None], exact[None]))
    return pd.DataFrame(rows, columns=["variable", "level", "n", "n_exact"])


@dataclass(frozen=True)
class UnreportedNotice:
    """Patients of one study an active filter cannot place."""

    variable: str
    study_id: str
    study_label: str
    status: str  # not_reported | not_applicable | partly_reported | not_recorded
    n_unplaced: int
    n_study: int
    kept: bool

    @property
    def text(self) -> str:
        var = FILTER_VARIABLES.get(self.variable, self.variable)
        fate = "kept" if self.kept else "excluded"
        if self.status in ("not_reported", "not_applicable", "not_recorded"):
            what = {"not_reported": "not reported", "not_applicable": "not applicable", "not_recorded": "not recorded"}[self.status]
            return f"{var} is {what} in {self.study_label}: its {self.n_unplaced} patients are {fate}."
        return (
            f"{var}: {self.n_unplaced} of {self.n_study} patients in {self.study_label} have no value "
            f"that fits the selection (not reported, or recorded only at a coarser level): {fate}."
        )


def unreported_notices(con: duckdb.DuckDBPyConnection, state: ViewState, catalog: Catalog | None = None) -> list[UnreportedNotice]:
    """For each active filter and each selected study: the patients the filter cannot place."""
    if not state.active_filters:
        return []
    labels = catalog.studies if catalog else {}
    status = {
        (s, v): st
        for s, v, st in con.execute(
            f"""SELECT study_id, variable,
                       CASE WHEN bool_and(status = 'not_applicable') THEN 'not_applicable'
                            WHEN bool_and(status IN ('not_reported', 'not_applicable')) THEN 'not_reported'
                            ELSE 'reported' END
                FROM filter_availability WHERE study_id IN ({_placeholders(len(state.studies))})
                GROUP BY ALL""",
            list(state.studies),
        ).fetchall()
    }
    parts, params = [], []
    for spec in state.active_filters:  # one query, one part per filter
        col = check_column(spec.variable)
        _, unresolvable = expand_levels(col, spec.levels)
        sql, p = relation(state, skip=col)
        unplaced_vals = sorted(unresolvable)
        extra = f' OR "{col}" IN ({_placeholders(len(unplaced_vals))})' if unplaced_vals else ""
        parts.append(
            f"""SELECT ? AS variable, study_id, count(*) AS n,
                       count(*) FILTER (WHERE "{col}" IS NULL{extra}) AS unplaced,
                       count("{col}") AS with_value
                FROM ({sql}) AS v GROUP BY study_id""")
        params += [col] + unplaced_vals + p
    keep = {f.variable: f.unreported == KEEP for f in state.active_filters}
    out: list[UnreportedNotice] = []
    for col, study_id, n, unplaced, with_value in con.execute(" UNION ALL ".join(parts), params).fetchall():
        if not unplaced:
            continue
        if with_value == 0:
            kind = status.get((study_id, col), "not_recorded")
            if kind == "reported":
                kind = "not_recorded"
        else:
            kind = "partly_reported"
        out.append(UnreportedNotice(col, study_id, labels.get(study_id, study_id), kind, unplaced, n, keep[col]))
    order = {s: i for i, s in enumerate(state.studies)}
    out.sort(key=lambda u: (list(FILTER_VARIABLES).index(u.variable), order.get(u.study_id, 99)))
    return out


def filter_status(con: duckdb.DuckDBPyConnection, studies: Iterable[str]) -> pd.DataFrame:
    """What each study's paper says about each filter variable (from ``filter_availability``):
    study_id, variable, status (reported | inferred | not_reported | not_applicable), levels."""
    studies = list(studies)
    if not studies:
        return pd.DataFrame(columns=["study_id", "variable", "status", "levels"])
    return con.execute(
        f"""SELECT study_id, variable,
                   CASE WHEN bool_or(status = 'reported') THEN 'reported'
                        WHEN bool_or(status = 'inferred') THEN 'inferred'
                        WHEN bool_and(status = 'not_applicable') THEN 'not_applicable'
                        ELSE 'not_reported' END AS status,
                   string_agg(level, ', ' ORDER BY level) FILTER (WHERE level IS NOT NULL) AS levels
            FROM filter_availability WHERE study_id IN ({_placeholders(len(studies))})
            GROUP BY ALL ORDER BY study_id, variable""",
        studies,
    ).df()


def describe_filters(state: ViewState) -> str:
    """One line naming the active filters, for footnotes and file names."""
    parts = []
    for f in state.active_filters:
        levels = " or ".join(level_label(f.variable, lv) for lv in f.levels)
        tail = "" if f.unreported == KEEP else "; patients without a value excluded"
        parts.append(f"{variable_label(f.variable, short=True)}: {levels}{tail}")
    return "; ".join(parts) if parts else "none (all patients)"
