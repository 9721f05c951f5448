"""Refuse files that look like they carry direct identifiers. De-identified data only.

Two kinds of evidence, checked on every column of the file (mapped or not):

* the column's name: names, dates of birth, medical record numbers, phone numbers, e-mail
  addresses, postal addresses, national ID numbers (English and Chinese spellings);
* the column's values: e-mail addresses, phone numbers, national ID numbers, medical record
  numbers written as such (``MRN123456``) - any one such cell is enough; full calendar dates
  (dates of birth, or dates of treatment or death, which also identify) and personal names
  ("Maria Lopez", "LOPEZ, Maria", 2-3 Chinese characters) - when they make up most of a column.

Messages name the column and say why, and never repeat the identifying value itself.
"""
from __future__ import annotations

import re

import pandas as pd

from engine.ingest.problems import Problem
from engine.ingest.readers import RawTable
from engine.ingest.spellings import normalize_header

_REMOVE = "remove the column (only de-identified data can be stored)"

# ---- by column name --------------------------------------------------------------------------

_NAME_TOKENS = {"name", "names", "surname", "surnames", "forename", "firstname", "lastname", "fullname",
                "givenname", "familyname", "initials", "姓名", "名字", "患者姓名", "病人姓名"}
# "drug_name", "site_name", ... are not a person's name.
_NOT_A_PERSON = {"drug", "regimen", "arm", "study", "trial", "center", "centre", "site", "hospital",
                 "institution", "cohort", "group", "treatment", "agent", "file", "sheet", "variable",
                 "gene", "mutation", "test", "assay", "protocol", "sponsor", "brand", "generic"}
_HEADER_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("dates of birth", re.compile(r"(^|_)(dob|d_o_b|birth_?date|date_of_birth|birthday|born|birth_?dt|出生日期|出生|生日)($|_)")),
    ("medical record numbers", re.compile(
        r"(^|_)(mrn|mr_?no|medical_?record(s)?(_?(no|number|id))?|hospital_?(no|number|id)|hosp_?(no|num)|"
        r"chart_?(no|number)|inpatient_?(no|number|id)|outpatient_?(no|number|id)|admission_?(no|number)|"
        r"nhs_?(no|number)|住院号|病案号|病历号|门诊号)($|_)")),
    ("phone numbers", re.compile(r"(^|_)(phone|telephone|tel|mobile|cellphone|cell_phone|fax|contact_?(no|number)|电话|手机|联系方式)($|_)")),
    ("e-mail addresses", re.compile(r"(^|_)(e_?mail|mail_?address|邮箱)($|_)")),
    ("postal addresses", re.compile(r"(^|_)(address|street|postcode|post_code|zip|zip_?code|住址|地址)($|_)")),
    ("national ID numbers", re.compile(r"(^|_)(ssn|social_security(_number)?|national_?id|id_?card|passport(_?(no|number))?|身份证(号)?)($|_)")),
)


def _header_kind(header: str) -> str | None:
    key = normalize_header(header)
    tokens = set(key.split("_"))
    joined = key.replace("_", "")
    if (tokens & _NAME_TOKENS or joined in _NAME_TOKENS) and not tokens & _NOT_A_PERSON:
        return "names"
    for kind, pattern in _HEADER_PATTERNS:
        if pattern.search(key):
            return kind
    return None


# ---- by values -------------------------------------------------------------------------------

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_DATE = re.compile(
    r"^(?:(?P<y1>(?:19|20)\d\d)[-/.](?P<m1>\d{1,2})[-/.](?P<d1>\d{1,2})"
    r"|(?P<d2>\d{1,2})[-/.](?P<m2>\d{1,2})[-/.](?P<y2>(?:19|20)\d\d)"
    r"|(?P<y3>(?:19|20)\d\d)年(?P<m3>\d{1,2})月(?P<d3>\d{1,2})日?)"
    r"(?:[ T]\d{1,2}:\d\d(?::\d\d(?:\.\d+)?)?)?$"
)
_PHONE = re.compile(r"^(?:\+|00)?[\d\s().-]{8,20}$")
# inside free text: an international number (+ and 8-14 digits) or a Chinese mobile number
_PHONE_IN_TEXT = re.compile(r"(?<![\w+])\+\d{1,3}(?:[\s().-]*\d){7,13}(?!\d)|(?<!\d)1[3-9]\d{9}(?!\d)")
_CN_MOBILE = re.compile(r"^(?:\+?86[\s-]?)?1[3-9]\d{9}$")
_CN_ID = re.compile(r"^\d{17}[\dXx]$")
_US_SSN = re.compile(r"^\d{3}-\d{2}-\d{4}$")
_MRN_VALUE = re.compile(r"^MRN[\s:#_-]*\d{3,}$", re.IGNORECASE)
_DECIMAL = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")
_LATIN_NAME = re.compile(r"^(?:[A-Z][a-z'’-]+(?:\s+[A-Z][a-z'’-]+){1,3}|[A-Z][A-Za-z'’-]+,\s*[A-Z][a-z'’-]+)$")
_HAN_NAME = re.compile(r"^[\u4e00-\u9fff]{2,3}$")

_BIRTH_YEAR_BEFORE = 2006  # an adult treated with anlotinib combinations was born before this year


def _is_phone(value: str) -> bool:
    if _CN_MOBILE.match(value) or (not _CN_ID.match(value) and _PHONE_IN_TEXT.search(value)):
        return True
    if not _PHONE.match(value) or _DECIMAL.match(value) or _DATE.match(value):
        return False
    digits = sum(ch.isdigit() for ch in value)
    has_separator = any(ch in value for ch in " ()-.") or value.startswith(("+", "00"))
    return 9 <= digits <= 15 and has_separator


def _date_year(value: str) -> int | None:
    m = _DATE.match(value)
    if not m:
        return None
    year = m.group("y1") or m.group("y2") or m.group("y3")
    month = int(m.group("m1") or m.group("m2") or m.group("m3"))
    day = int(m.group("d1") or m.group("d2") or m.group("d3"))
    if min(day, month) < 1 or min(day, month) > 12 or max(day, month) > 31:  # d/m order varies
        return None
    return int(year)


def _first_row(table: RawTable, mask: pd.Series) -> int:
    return int(table.row_numbers[mask.to_numpy().nonzero()[0][0]])


def _value_findings(table: RawTable, column: str) -> str | None:
    values = table.frame[column]
    filled = values[values != ""]
    n = len(filled)
    if n == 0:
        return None
    distinct = pd.Series(filled.unique())

    def flagged(test) -> pd.Series:
        """Mask over ``filled``; each distinct value is tested once."""
        hits = distinct[distinct.map(test).astype(bool)]
        if hits.empty:
            return pd.Series(False, index=filled.index)
        return filled.isin(set(hits))

    def count_of(mask: pd.Series, what: str) -> str:
        first = _first_row(table, mask.reindex(values.index, fill_value=False))
        return f"{int(mask.sum())} of {n} values look like {what} (first at row {first})"

    for what, test in (
        ("e-mail addresses", lambda v: _EMAIL.search(v)),
        ("national ID numbers", lambda v: _CN_ID.match(v) or _US_SSN.match(v)),
        ("medical record numbers", lambda v: _MRN_VALUE.match(v)),
        ("phone numbers", _is_phone),
    ):
        mask = flagged(test)
        if mask.any():
            return count_of(mask, what)

    year_of = {v: y for v in distinct if (y := _date_year(v)) is not None}
    years = filled.map(year_of) if year_of else pd.Series(dtype=float)
    dated = years.notna()
    if year_of and dated.sum() >= max(1, 0.5 * n):
        if (years[dated] < _BIRTH_YEAR_BEFORE).mean() >= 0.5:
            return count_of(dated, "dates of birth")
        return count_of(dated, "full calendar dates (dates of treatment or death identify patients; give times in months)")

    if n >= 5 and len(distinct) >= 0.8 * n:
        names = flagged(lambda v: _LATIN_NAME.match(v) or _HAN_NAME.match(v))
        if names.mean() >= 0.5:
            return count_of(names, "personal names")
    return None


def check_no_identifiers(table: RawTable) -> list[Problem]:
    """One problem per column that looks like it holds direct identifiers."""
    problems = []
    for column in table.columns:
        header_kind = _header_kind(column)
        if header_kind:
            problems.append(Problem(f"its name says it holds {header_kind}; {_REMOVE}", column=f"'{column}'"))
            continue
        finding = _value_findings(table, column)
        if finding:
            problems.append(Problem(f"{finding}; {_REMOVE}", column=f"'{column}'"))
    return problems
