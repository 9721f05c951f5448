"""Bring your own cohort: read, map, validate and store a user's patient-level file.

Modules, in the order an upload goes through them:

- ``readers``: CSV / Excel / Parquet to text cells (size limit, encoding, sheets, header).
- ``identifiers``: refuse files that carry direct identifiers.
- ``columns``, ``spellings``, ``mapping``: our columns and levels, the user's names for them.
- ``rules``: the validation rules, one function each.
- ``pipeline``: the steps together (``check``, ``store``, ``ingest_file``).
- ``store``: one-transaction store, rename, delete of user cohorts.
- ``cli``: ``python -m engine.ingest FILE --name NAME [--db PATH] [--sheet S] [--mapping JSON]``.

Never imports Streamlit.
"""
from engine.ingest.mapping import Mapping, guess_mapping, mapping_from_dict
from engine.ingest.pipeline import CheckResult, check, ingest_file, mapping_for, store
from engine.ingest.problems import MAX_SHOWN, IngestError, Problem, SheetChoiceNeeded, summarize
from engine.ingest.readers import MAX_FILE_BYTES, RawTable, read_path, read_upload
from engine.ingest.store import cohort_rows, delete_cohort, list_cohorts, rename_cohort

__all__ = [
    "MAX_FILE_BYTES", "MAX_SHOWN", "CheckResult", "IngestError", "Mapping", "Problem", "RawTable",
    "SheetChoiceNeeded", "check", "cohort_rows", "delete_cohort", "guess_mapping", "ingest_file",
    "list_cohorts", "mapping_for", "mapping_from_dict", "read_path", "read_upload", "rename_cohort",
    "store", "summarize",
]
