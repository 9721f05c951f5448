"""Schema of the curated evidence files in ``data/`` and of the database tables built from them.

One source of truth: the build validates every CSV against ``FILES`` and creates the tables
from ``TABLE_COLUMNS``. See ``data/README.md`` for the meaning of each column.
"""
from __future__ import annotations

from dataclasses import dataclass, field

STUDY_IDS = (
    "zhou_alter_l058",
    "chen_ici_rechallenge",
    "zzu_escc_pd1",
    "su_kras_sintilimab",
    "zhu_escc_post_ici",
)

ENDPOINTS = ("PFS", "OS", "PFS2", "DoR", "ORR", "DCR")
STATISTICS = ("median", "hr", "proportion", "survival_rate")
CONTRASTS = ("between_arms", "between_levels")
ANALYSES = ("univariate", "multivariate")
FLAGS = ("ocr_corrected", "derived")
NOT_REACHED = ("estimate", "ci_high", "estimate;ci_high")
RESPONSE_CATEGORIES = ("CR", "PR", "SD", "PD", "NE")
AE_GRADES = ("any", "1-2", ">=3")
AE_MEASURES = (
    "any_trae",
    "grade3plus_trae",
    "serious_ae",
    "dose_reduction",
    "dose_interruption",
    "discontinuation",
    "treatment_related_death",
    "any_ae",
    "grade3plus_ae",
)
NOTE_KINDS = ("ocr_correction", "contradiction", "assumption", "omission", "definition")
FILTER_STATUSES = ("reported", "inferred", "not_reported", "not_applicable")
TUMOR_TYPES = ("NSCLC", "ESCC")
PARTNER_CLASSES = ("EGFR TKI", "PD-1/PD-L1 inhibitor")

# The subgroup filters the Explorer offers, in display order, with their labels.
FILTER_VARIABLES = {
    "prior_ici": "Prior immunotherapy (ICI)",
    "prior_antiangiogenic": "Prior antiangiogenic therapy",
    "pdl1_status": "PD-L1 status",
    "kras_subtype": "KRAS subtype",
    "egfr_mutation": "EGFR mutation",
    "ecog": "ECOG performance status",
    "line_of_therapy": "Line of therapy",
    "tumor_type": "Tumor type",
}

# Shared AE vocabulary for term_harmonized. Extend here (one place) when a paper needs a new one.
AE_VOCABULARY = (
    "Hypertension",
    "Palmar-plantar erythrodysaesthesia",
    "Liver function abnormality",
    "Proteinuria",
    "Fatigue",
    "Nausea/vomiting",
    "Nausea",
    "Vomiting",
    "Diarrhea",
    "Decreased appetite",
    "Weight loss",
    "Hypothyroidism",
    "Hyperthyroidism",
    "Thyroid dysfunction",
    "Hemorrhage",
    "Hemoptysis",
    "Epistaxis",
    "Oral mucositis",
    "Rash",
    "Pruritus",
    "Pneumonitis",
    "Anemia",
    "Leukopenia",
    "Neutropenia",
    "Thrombocytopenia",
    "Hypertriglyceridemia",
    "Hypercholesterolemia",
    "Hyperlipidemia",
    "Dysphonia",
    "Fistula",
    "Bilirubin increased",
    "Creatinine increased",
    "Hyponatremia",
    "Hypokalemia",
    "Electrolyte abnormality",
    "Abdominal pain",
    "Constipation",
    "Cough",
    "Fever",
    "Arthralgia",
    "Headache",
    "Dizziness",
    "Paronychia",
    "Myocarditis",
    "Cardiac toxicity",
    "QT prolongation",
    "Hepatitis",
    "Immune-related adverse event",
    "Gastrointestinal perforation",
    "Thromboembolism",
    "Wound healing complication",
    "Edema",
    "Insomnia",
    "Myelosuppression",
    "Lymphopenia",
    "Adrenal insufficiency",
    "Hypophysitis",
    "Dry skin",
    "Dysphagia",
    "Dyspnea",
    "Infection",
    "Hematuria",
    "Reactive cutaneous capillary endothelial proliferation",
    "Other",
)
AE_CATEGORIES = (
    "vascular",
    "skin",
    "hepatic",
    "renal",
    "gastrointestinal",
    "hematologic",
    "endocrine",
    "metabolic",
    "constitutional",
    "respiratory",
    "cardiac",
    "immune",
    "neurologic",
    "musculoskeletal",
    "other",
)


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = "text"  # text | int | float | date_text
    required: bool = False
    allowed: tuple[str, ...] | None = None
    min_value: float | None = None
    max_value: float | None = None


@dataclass(frozen=True)
class FileSpec:
    """One CSV per study folder, loaded into ``table``."""

    filename: str
    table: str
    columns: tuple[Column, ...]
    one_row: bool = False
    checks: tuple[str, ...] = field(default_factory=tuple)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _c(name, kind="text", required=False, allowed=None, lo=None, hi=None) -> Column:
    return Column(name, kind, required, allowed, lo, hi)


_SOURCE = _c("source", required=True)
_FLAG = _c("flag", allowed=FLAGS)
_NOTE = _c("note")
_STUDY = _c("study_id", required=True, allowed=STUDY_IDS)

FILES: tuple[FileSpec, ...] = (
    FileSpec(
        "study.csv",
        "studies",
        (
            _STUDY,
            _c("label", required=True),
            _c("short_label", required=True),
            _c("tumor_type", required=True, allowed=TUMOR_TYPES),
            _c("setting", required=True),
            _c("line_of_therapy", required=True),
            _c("design", required=True),
            _c("partner_class", required=True, allowed=PARTNER_CLASSES),
            _c("n_total", "int", required=True, lo=1),
            _c("enrollment_period"),
            _c("data_cutoff", "date_text"),
            _c("median_followup_months", "float", lo=0),
            _c("followup_note"),
            _c("authors", required=True),
            _c("journal", required=True),
            _c("year", "int", lo=2000, hi=2100),
            _c("doi"),
            _c("registry_id"),
            _c("citation", required=True),
            _SOURCE,
        ),
        one_row=True,
    ),
    FileSpec(
        "arms.csv",
        "arms",
        (
            _STUDY,
            _c("arm_id", required=True),
            _c("label", required=True),
            _c("regimen", required=True),
            _c("n", "int", required=True, lo=1),
            _c("is_control", "int", required=True, lo=0, hi=1),
            _SOURCE,
        ),
    ),
    FileSpec(
        "results.csv",
        "reported_results",
        (
            _STUDY,
            _c("arm_id", required=True),
            _c("endpoint", required=True, allowed=ENDPOINTS),
            _c("statistic", required=True, allowed=STATISTICS),
            _c("contrast", allowed=CONTRASTS),
            _c("subgroup"),
            _c("level"),
            _c("reference_level"),
            _c("analysis", allowed=ANALYSES),
            _c("timepoint_months", "float", lo=0),
            _c("n", "int", lo=0),
            _c("events", "int", lo=0),
            _c("estimate", "float", lo=0),
            _c("ci_low", "float", lo=0),
            _c("ci_high", "float", lo=0),
            _c("ci_level", "float", lo=0.5, hi=0.999),
            _c("p_value", "float", lo=0, hi=1),
            _c("p_qualifier", allowed=("<", ">")),
            _c("not_reached", allowed=NOT_REACHED),
            _SOURCE,
            _FLAG,
            _NOTE,
        ),
        checks=("arm_exists", "fractions", "hr_contrast", "subgroup_level"),
    ),
    FileSpec(
        "best_response.csv",
        "best_response",
        (
            _STUDY,
            _c("arm_id", required=True),
            _c("subgroup"),
            _c("level"),
            _c("category", required=True, allowed=RESPONSE_CATEGORIES),
            _c("n", "int", required=True, lo=0),
            _c("denominator", "int", required=True, lo=1),
            _c("percent", "float", lo=0, hi=100),
            _SOURCE,
            _FLAG,
            _NOTE,
        ),
        checks=("arm_exists", "n_le_denominator", "subgroup_level"),
    ),
    FileSpec(
        "baseline.csv",
        "baseline",
        (
            _STUDY,
            _c("arm_id", required=True),
            _c("characteristic", required=True),
            _c("level", required=True),
            _c("n", "int", lo=0),
            _c("percent", "float", lo=0, hi=100),
            _c("value", "float"),
            _c("range_low", "float"),
            _c("range_high", "float"),
            _SOURCE,
            _FLAG,
            _NOTE,
        ),
        checks=("arm_exists",),
    ),
    FileSpec(
        "adverse_events.csv",
        "adverse_events_raw",
        (
            _STUDY,
            _c("arm_id", required=True),
            _c("term", required=True),
            _c("grade", required=True, allowed=AE_GRADES),
            _c("n", "int", lo=0),
            _c("percent", "float", lo=0, hi=100),
            _c("denominator", "int", required=True, lo=1),
            _SOURCE,
            _FLAG,
            _NOTE,
        ),
        checks=("arm_exists", "n_le_denominator", "n_or_percent"),
    ),
    FileSpec(
        "ae_summary.csv",
        "ae_summary",
        (
            _STUDY,
            _c("arm_id", required=True),
            _c("measure", required=True, allowed=AE_MEASURES),
            _c("n", "int", lo=0),
            _c("percent", "float", lo=0, hi=100),
            _c("denominator", "int", required=True, lo=1),
            _SOURCE,
            _FLAG,
            _NOTE,
        ),
        checks=("arm_exists", "n_le_denominator", "n_or_percent"),
    ),
    FileSpec(
        "ae_terms.csv",
        "ae_term_map",
        (
            _STUDY,
            _c("term", required=True),
            _c("term_harmonized", required=True, allowed=AE_VOCABULARY),
            _c("category", required=True, allowed=AE_CATEGORIES),
        ),
    ),
    FileSpec(
        "filters.csv",
        "filter_availability",
        (
            _STUDY,
            _c("variable", required=True, allowed=tuple(FILTER_VARIABLES)),
            _c("level"),
            _c("status", required=True, allowed=FILTER_STATUSES),
            _c("basis"),
            _c("n", "int", lo=0),
            _c("source"),
        ),
    ),
    FileSpec(
        "notes.csv",
        "notes",
        (
            _STUDY,
            _c("kind", required=True, allowed=NOTE_KINDS),
            _c("text", required=True),
            _c("source", required=True),
        ),
    ),
)

FILE_BY_NAME = {f.filename: f for f in FILES}


# ---------------------------------------------------------------------------------------------
# Patient-level rows: reconstructed cohorts (origin='reconstructed') and user uploads
# (origin='user') share one table, so every analysis runs on either in the same way.
# Unknown is NULL, never a guess. Levels use the canonical spellings above.
ORIGINS = ("reconstructed", "user")
RESPONSE_LEVELS = RESPONSE_CATEGORIES

PATIENT_COLUMNS: tuple[Column, ...] = (
    _c("study_id", required=True),
    _c("arm_id", required=True),
    _c("patient_id", required=True),
    _c("origin", required=True, allowed=ORIGINS),
    # the eight filter variables
    _c("prior_ici", allowed=("yes", "no")),
    _c("prior_antiangiogenic", allowed=("yes", "no")),
    _c("pdl1_status"),
    _c("kras_subtype"),
    _c("egfr_mutation"),
    _c("ecog"),
    _c("line_of_therapy"),
    _c("tumor_type", allowed=TUMOR_TYPES),
    # common descriptors
    _c("sex", allowed=("male", "female")),
    _c("age_group"),
    _c("histology"),
    _c("best_response", allowed=RESPONSE_LEVELS),
    # outcomes (months; event 1 = progression/death observed, 0 = censored)
    _c("pfs_months", "float", lo=0),
    _c("pfs_event", "int", lo=0, hi=1),
    _c("os_months", "float", lo=0),
    _c("os_event", "int", lo=0, hi=1),
    _c("pfs2_months", "float", lo=0),
    _c("pfs2_event", "int", lo=0, hi=1),
    _c("dor_months", "float", lo=0),
    _c("dor_event", "int", lo=0, hi=1),
)
PATIENT_COLUMN_NAMES = tuple(c.name for c in PATIENT_COLUMNS)

# Study-specific descriptors (metastatic sites, PD-1 agent, prior resection, ...) live in a long
# table: patient_attributes(study_id, patient_id, variable, level).
PATIENT_ATTRIBUTE_COLUMNS: tuple[Column, ...] = (
    _c("study_id", required=True),
    _c("patient_id", required=True),
    _c("variable", required=True),
    _c("level"),
)

# Endpoint -> (time column, event column) in the patients table.
ENDPOINT_COLUMNS = {
    "PFS": ("pfs_months", "pfs_event"),
    "OS": ("os_months", "os_event"),
    "PFS2": ("pfs2_months", "pfs2_event"),
    "DoR": ("dor_months", "dor_event"),
}

# reconstruction_fidelity: one row per reported constraint the reconstruction was checked against.
FIDELITY_COLUMNS: tuple[Column, ...] = (
    _c("study_id", required=True),
    _c("arm_id", required=True),
    _c("endpoint", required=True),
    _c("statistic", required=True),  # median | hr | events | survival_rate | count | proportion
    _c("subgroup"),
    _c("level"),
    _c("timepoint_months", "float"),
    _c("reported", "float"),
    _c("reconstructed", "float"),
    _c("reconstructed_ci_low", "float"),
    _c("reconstructed_ci_high", "float"),
    _c("tolerance", "text"),  # human-readable rule, e.g. "max(0.3 mo, 5%)"
    _c("status", required=True, allowed=("holds", "fails", "infeasible")),
    _c("reason"),
    _c("source"),
)
