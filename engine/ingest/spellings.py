"""Common spellings of our column names and levels, used to pre-fill the mapping step.

These are suggestions only: the user sees every one and can change it before anything is
stored. A value that matches none stays unmapped and is reported as an unknown level.
"""
from __future__ import annotations

import re

from engine.ingest.columns import EVENT_COLUMNS, LEVELS

MISSING = ""  # a level mapped to "" is stored as NULL (unknown)


def normalize_header(name: str) -> str:
    """'PFS (months)' -> 'pfs_months', 'PD-L1 status' -> 'pd_l1_status'."""
    text = name.strip().casefold().replace("≥", "ge").replace(">=", "ge")
    return re.sub(r"[^0-9a-z\u4e00-\u9fff]+", "_", text).strip("_")


def normalize_value(value: str) -> str:
    text = value.strip().casefold().replace("≥", ">=").replace("≤", "<=")
    return re.sub(r"\s+", " ", text)


# Header spellings (after normalize_header) for each of our columns. "censor" columns are left
# out on purpose: they often code 1 = censored, the reverse of our event columns.
_TIME_SUFFIXES = ("", "_months", "_month", "_mo", "_mos", "_m", "_time", "_time_months", "_time_mo", "_duration")
_EVENT_SUFFIXES = ("_event", "_events", "_status", "_evt", "_flag", "_ind", "_indicator")


def _endpoint_headers(prefixes: tuple[str, ...], suffixes: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(p + s for p in prefixes for s in suffixes)


HEADER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "patient_id": ("patient_id", "patient", "patient_code", "patient_no", "pid", "pt_id", "id", "subject",
                   "subject_id", "case_id", "record_id", "study_number", "患者编号", "编号"),
    "arm_id": ("arm_id", "arm", "treatment_arm", "group", "treatment_group", "cohort", "regimen", "treatment", "组别"),
    "prior_ici": ("prior_ici", "prior_io", "prior_immunotherapy", "previous_ici", "previous_immunotherapy",
                  "ici_pretreated", "prior_pd_1", "prior_pd1", "prior_checkpoint_inhibitor"),
    "prior_antiangiogenic": ("prior_antiangiogenic", "prior_anti_angiogenic", "prior_aa", "previous_antiangiogenic",
                             "prior_antiangiogenic_therapy", "prior_anti_angiogenic_therapy"),
    "pdl1_status": ("pdl1_status", "pd_l1_status", "pdl1", "pd_l1", "pdl1_expression", "pd_l1_expression", "pd_l1_tps"),
    "kras_subtype": ("kras_subtype", "kras", "kras_mutation", "kras_status", "kras_type"),
    "egfr_mutation": ("egfr_mutation", "egfr", "egfr_status", "egfr_mut", "egfr_type"),
    "ecog": ("ecog", "ecog_ps", "ps", "performance_status", "ecog_performance_status"),
    "line_of_therapy": ("line_of_therapy", "line", "treatment_line", "lot", "therapy_line", "line_of_treatment"),
    "tumor_type": ("tumor_type", "tumour_type", "tumor", "cancer_type", "cancer", "diagnosis"),
    "sex": ("sex", "gender", "性别"),
    "age_group": ("age_group", "age_band", "age_category", "age_cat", "agegroup"),
    "histology": ("histology", "histological_type", "histologic_type", "pathology", "pathological_type"),
    "best_response": ("best_response", "bor", "best_overall_response", "response", "recist_response"),
    "pfs_months": _endpoint_headers(("pfs",), _TIME_SUFFIXES),
    "pfs_event": _endpoint_headers(("pfs",), _EVENT_SUFFIXES) + ("progression", "progressed"),
    "os_months": _endpoint_headers(("os",), _TIME_SUFFIXES) + ("overall_survival", "overall_survival_months"),
    "os_event": _endpoint_headers(("os",), _EVENT_SUFFIXES) + ("death", "dead", "died", "vital_status"),
    "pfs2_months": _endpoint_headers(("pfs2", "pfs_2"), _TIME_SUFFIXES),
    "pfs2_event": _endpoint_headers(("pfs2", "pfs_2"), _EVENT_SUFFIXES),
    "dor_months": _endpoint_headers(("dor",), _TIME_SUFFIXES),
    "dor_event": _endpoint_headers(("dor",), _EVENT_SUFFIXES),
}

_YES = ("y", "yes", "true", "t", "1", "1.0", "是", "有")
_NO = ("n", "no", "false", "f", "0", "0.0", "否", "无")
_MISSING = ("na", "n/a", "nan", "none", "null", "missing", "not available", "not known", "unknown", "unk", "nk", "nd")

_LEVEL_SPELLINGS: dict[str, dict[str, str]] = {
    "yes_no": {**{s: "yes" for s in _YES}, **{s: "no" for s in _NO}},
    "event": {
        **{s: "1" for s in _YES + ("event", "progressed", "progression", "pd", "dead", "died", "death",
                                    "deceased", "relapse", "relapsed")},
        **{s: "0" for s in _NO + ("censored", "censor", "alive", "no event", "not progressed")},
    },
    "pdl1_status": {
        "pos": "positive", "positive": "positive", "+": "positive", "阳性": "positive",
        "neg": "negative", "negative": "negative", "-": "negative", "阴性": "negative",
        "unknown": "unknown", "unk": "unknown", "not tested": "unknown", "nt": "unknown", "na": "unknown",
        "n/a": "unknown", "未知": "unknown",
        "tps>=50%": "tps_ge50", "tps >=50%": "tps_ge50", ">=50%": "tps_ge50",
        "tps 1-49%": "tps_1_49", "1-49%": "tps_1_49", "tps<1%": "tps_lt1", "<1%": "tps_lt1", "tps <1%": "tps_lt1",
    },
    "egfr_mutation": {
        "19del": "ex19del", "del19": "ex19del", "exon 19 deletion": "ex19del", "exon19del": "ex19del",
        "19 del": "ex19del", "l858r": "L858R", "21l858r": "L858R", "t790m": "T790M",
        "wt": "wild_type", "wild type": "wild_type", "wildtype": "wild_type", "wild-type": "wild_type",
        "negative": "wild_type", "neg": "wild_type",
    },
    "kras_subtype": {"g12c": "G12C", "g12v": "G12V", "g12d": "G12D", "non-g12c": "non_G12C", "non g12c": "non_G12C"},
    "ecog": {"0-1": "0_1", "0/1": "0_1", "1-2": "1_2", "1/2": "1_2", ">=2": "ge2", "2+": "ge2", "ge2": "ge2",
             "0.0": "0", "1.0": "1", "2.0": "2", "3.0": "3", "4.0": "4"},
    "line_of_therapy": {
        **{f"{i}.0": str(i) for i in range(1, 11)},
        "1st": "1", "first": "1", "first line": "1", "first-line": "1", "1l": "1",
        "2nd": "2", "second": "2", "second line": "2", "second-line": "2", "2l": "2",
        "3rd": "3", "third": "3", "third line": "3", "third-line": "3", "3l": "3",
        ">=2": "ge2", ">=3": "ge3", ">=4": "ge4", "2+": "ge2", "3+": "ge3", "4+": "ge4",
    },
    "tumor_type": {
        "nsclc": "NSCLC", "non-small cell lung cancer": "NSCLC", "non small cell lung cancer": "NSCLC", "lung": "NSCLC",
        "escc": "ESCC", "esophageal squamous cell carcinoma": "ESCC", "oesophageal squamous cell carcinoma": "ESCC",
    },
    "sex": {"m": "male", "male": "male", "man": "male", "男": "male", "f": "female", "female": "female",
            "woman": "female", "女": "female"},
    "best_response": {
        "complete response": "CR", "partial response": "PR", "stable disease": "SD",
        "progressive disease": "PD", "not evaluable": "NE", "nev": "NE", "ne": "NE",
    },
}


def _family(column: str) -> str:
    if column in EVENT_COLUMNS:
        return "event"
    if column in ("prior_ici", "prior_antiangiogenic"):
        return "yes_no"
    return column


def suggest_level(column: str, value: str) -> str | None:
    """Our level for the user's spelling ``value`` (``MISSING`` for "unknown"), or None."""
    if value == "":
        return MISSING
    key = normalize_value(value)
    table = _LEVEL_SPELLINGS.get(_family(column), {})
    if key in table:
        return table[key]
    for level in LEVELS.get(column, ()):  # our own spelling in another case: "Positive", "g12c"
        if key == level.casefold():
            return level
    if key in _MISSING and column != "pdl1_status":
        return MISSING
    return None


def suggest_column(header: str) -> str | None:
    """Our column for the user's header, or None."""
    key = normalize_header(header)
    for ours, spellings in HEADER_SYNONYMS.items():
        if key in spellings:
            return ours
    return None
