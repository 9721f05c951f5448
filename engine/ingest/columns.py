"""The columns an upload can fill, what each means, and the levels each accepts.

An upload fills the ``patients`` table (``engine.schema.PATIENT_COLUMNS``); ``study_id`` and
``origin`` are set by the app. Level columns accept only the levels below (our spellings; the
mapping step translates the user's spellings). Free-text columns are stored as written.
"""
from __future__ import annotations

from engine.schema import ENDPOINT_COLUMNS, PATIENT_COLUMNS, RESPONSE_LEVELS, TUMOR_TYPES

DEFAULT_ARM = "combination"  # single-arm convention of the evidence base

UPLOAD_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in PATIENT_COLUMNS if c.name not in ("study_id", "origin")
)

TIME_COLUMNS: tuple[str, ...] = tuple(t for t, _ in ENDPOINT_COLUMNS.values())
EVENT_COLUMNS: tuple[str, ...] = tuple(e for _, e in ENDPOINT_COLUMNS.values())
EVENT_OF_TIME = {t: e for t, e in ENDPOINT_COLUMNS.values()}
ENDPOINT_OF_TIME = {t: endpoint for endpoint, (t, _) in ENDPOINT_COLUMNS.items()}

YES_NO = ("yes", "no")
LEVELS: dict[str, tuple[str, ...]] = {
    "prior_ici": YES_NO,
    "prior_antiangiogenic": YES_NO,
    "pdl1_status": ("positive", "negative", "unknown", "negative_or_unknown", "tps_ge50", "tps_1_49", "tps_lt1"),
    "kras_subtype": ("G12C", "G12V", "G12D", "other", "non_G12C"),
    "egfr_mutation": ("ex19del", "L858R", "T790M", "other", "wild_type"),
    "ecog": ("0", "1", "2", "3", "4", "0_1", "1_2", "ge2"),
    "line_of_therapy": tuple(str(i) for i in range(1, 11)) + ("ge2", "ge3", "ge4"),
    "tumor_type": TUMOR_TYPES,
    "sex": ("male", "female"),
    "best_response": RESPONSE_LEVELS,
}
EVENT_LEVELS = ("1", "0")

HELP: dict[str, str] = {
    "patient_id": "Your de-identified patient code (unique per row; not a medical record number).",
    "arm_id": f"Treatment arm. Leave unmapped for a single-arm cohort: every patient gets '{DEFAULT_ARM}'.",
    "prior_ici": "Prior immune checkpoint inhibitor: yes / no.",
    "prior_antiangiogenic": "Prior antiangiogenic therapy: yes / no.",
    "pdl1_status": "PD-L1: positive, negative, unknown, negative_or_unknown, or TPS bins tps_ge50, tps_1_49, tps_lt1.",
    "kras_subtype": "KRAS subtype: G12C, G12V, G12D, other, non_G12C.",
    "egfr_mutation": "EGFR: ex19del, L858R, T790M, other, wild_type.",
    "ecog": "ECOG performance status: 0-4, or merged 0_1, 1_2, ge2 (2 or more).",
    "line_of_therapy": "Line in which the anlotinib combination was given: 1-10, or ge2, ge3, ge4.",
    "tumor_type": "NSCLC or ESCC.",
    "sex": "male / female.",
    "age_group": "Age band as you write it (for example <65, >=65). Stored as written.",
    "histology": "Histology as you write it. Stored as written.",
    "best_response": "Best overall response: CR, PR, SD, PD, NE (not evaluable).",
}
for _endpoint, (_time, _event) in ENDPOINT_COLUMNS.items():
    HELP[_time] = f"{_endpoint} time in months from the start of the combination (0 or more)."
    HELP[_event] = f"{_endpoint} event: 1 = event observed (progression or death), 0 = censored."


def kind(column: str) -> str:
    """time | event | level | text."""
    if column in TIME_COLUMNS:
        return "time"
    if column in EVENT_COLUMNS:
        return "event"
    if column in LEVELS:
        return "level"
    return "text"


def allowed_levels(column: str) -> tuple[str, ...]:
    if column in EVENT_COLUMNS:
        return EVENT_LEVELS
    return LEVELS.get(column, ())
