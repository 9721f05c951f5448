"""Read an uploaded CSV, Excel (.xlsx) or Parquet file into a table of text cells.

Every cell comes back as the text the user typed (surrounding spaces removed, empty cell = "").
Nothing is converted or guessed here; types are checked by the validation rules, so that a
message can quote the cell exactly as the file holds it.

Refused here, each with its own message: a file over the size limit, an empty file, a text
encoding we cannot read, a workbook with several sheets when no sheet was chosen, a header row
with missing or repeated names, and rows with more or fewer cells than the header.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import math
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from engine.ingest.problems import IngestError, Problem, SheetChoiceNeeded

MAX_FILE_BYTES = 20 * 1024 * 1024  # 20 MB: about 200,000 patients in the template's format
TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
PARQUET_SUFFIXES = (".parquet", ".pq")

# Tried in this order when a text file has no byte-order mark. GB18030 before Windows-1252:
# Excel on Chinese Windows saves "CSV" in GB18030/GBK.
_FALLBACK_ENCODINGS = (("utf-8", "UTF-8"), ("gb18030", "GB18030"), ("cp1252", "Windows-1252"))
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)


@dataclass
class RawTable:
    """An upload as read: header names, text cells, and the row number of each record."""

    frame: pd.DataFrame  # one column per header name, every cell a str ("" when empty)
    row_numbers: np.ndarray  # as the user's software numbers the rows (CSV/Excel header = row 1)
    source_name: str
    sha256: str
    file_format: str  # csv | xlsx | parquet
    encoding: str | None = None
    sheet: str | None = None

    @property
    def columns(self) -> list[str]:
        return list(self.frame.columns)

    def __len__(self) -> int:
        return len(self.frame)


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def check_size(n_bytes: int, max_bytes: int = MAX_FILE_BYTES) -> None:
    if n_bytes > max_bytes:
        raise IngestError(
            f"the file is {_megabytes(n_bytes)}; the limit is {_megabytes(max_bytes)}. "
            "Remove columns you do not need, or split the cohort into several files."
        )


def _empty_file() -> IngestError:
    return IngestError("the file is empty: it holds no header row and no patient rows")


def _no_rows() -> IngestError:
    return IngestError("the file has a header row but no patient rows")


def _plausible_text(text: str) -> bool:
    """Decoded text without control characters (other than tab and line breaks)."""
    return not any(
        unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in text[:200_000]
    ) and "\ufffd" not in text


def _looks_like_gb2312_text(text: str) -> bool:
    """GB18030 decodes almost any bytes. Real Chinese text is mostly GB2312 characters (both
    bytes 0xA1-0xFE); Windows-1252 accents misread as GB18030 pair a high byte with an ASCII
    letter ('é' + 'p'), which GB2312 never does."""
    wide = [ch for ch in text[:200_000] if ord(ch) > 127]
    if not wide:
        return True
    proper = 0
    for ch in wide:
        encoded = ch.encode("gb18030")
        proper += len(encoded) == 2 and all(0xA1 <= b <= 0xFE for b in encoded)
    return proper >= 0.8 * len(wide)


def decode_text(data: bytes) -> tuple[str, str]:
    """The text of a CSV file and the name of the encoding it was read with."""
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                break
            return text.lstrip("\ufeff"), label
    else:
        for codec, label in _FALLBACK_ENCODINGS:
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                continue
            if _plausible_text(text) and (codec != "gb18030" or _looks_like_gb2312_text(text)):
                return text, label
    raise IngestError(
        "cannot read the file's text encoding: it is not UTF-8, UTF-16 with a byte-order mark, "
        "GB18030 or Windows-1252 text. In Excel use Save As > 'CSV UTF-8', or upload the .xlsx file."
    )


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else ","


def _header_problems(header: list[str], has_values: list[bool]) -> tuple[list[str], list[int], list[Problem]]:
    """Names to keep, their positions, and problems (unnamed columns holding values, repeats)."""
    names, positions, problems, seen = [], [], [], {}
    for i, name in enumerate(header):
        letter = _column_letter(i)
        if not name:
            if has_values[i]:
                problems.append(Problem(f"column {letter} holds values but has no name in the header row"))
            continue
        if name in seen:
            problems.append(
                Problem(f"columns {_column_letter(seen[name])} and {letter} are both named '{name}'; rename one")
            )
            continue
        seen[name] = i
        names.append(name)
        positions.append(i)
    return names, positions, problems


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _table_from_rows(
    records: list[tuple[int, list[str]]], header_row: int | None, header: list[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """Records (row number, cells) under ``header`` into a frame; ragged rows are refused."""
    width = len(header)
    problems: list[Problem] = []
    kept_rows, kept_numbers = [], []
    for number, cells in records:
        if not any(cells):
            continue  # an empty line, or a row of empty cells, is not a patient
        if len(cells) > width and any(cells[width:]):
            problems.append(
                Problem(f"{len(cells)} cells, but the header row has {width} columns", row=number)
            )
            continue
        if len(cells) < width:
            cells = cells + [""] * (width - len(cells))
        kept_rows.append(cells[:width])
        kept_numbers.append(number)
    has_values = [any(row[i] for row in kept_rows) for i in range(width)]
    names, positions, header_issues = _header_problems(header, has_values)
    problems = [Problem(p.message, row=header_row) for p in header_issues] + problems
    if problems:
        raise IngestError(problems)
    if not kept_rows:
        raise _no_rows()
    frame = pd.DataFrame([[row[i] for i in positions] for row in kept_rows], columns=names, dtype=object)
    return frame, np.asarray(kept_numbers, dtype=np.int64)


def read_csv_bytes(data: bytes, source_name: str) -> RawTable:
    if not data.strip(b" \t\r\n\x00"):
        raise _empty_file()
    text, encoding = decode_text(data)
    if not text.strip():
        raise _empty_file()
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line))
    records = []
    try:
        for number, cells in enumerate(reader, start=1):
            records.append((number, [c.strip() for c in cells]))
    except csv.Error as exc:
        raise IngestError(Problem(f"cannot be read as CSV ({exc})", row=len(records) + 1)) from None
    while records and not any(records[0][1]):
        records.pop(0)  # blank lines above the header
    if not records:
        raise _empty_file()
    header_row, header = records[0]
    frame, numbers = _table_from_rows(records[1:], header_row, header)
    return RawTable(frame, numbers, source_name, hashlib.sha256(data).hexdigest(), "csv", encoding=encoding)


def cell_text(value) -> str:
    """A spreadsheet or Parquet cell as the text the user sees."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, bool | np.bool_):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return ""
        return repr(float(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value).strip()


def _nonempty_sheets(workbook) -> list[str]:
    names = []
    for ws in workbook.worksheets:
        if any(any(v is not None and str(v).strip() for v in row) for row in ws.iter_rows(values_only=True)):
            names.append(ws.title)
    return names


def read_xlsx_bytes(data: bytes, source_name: str, sheet: str | None = None) -> RawTable:
    import openpyxl  # only needed for workbooks

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # zip errors, encrypted or damaged workbooks
        raise IngestError(f"cannot open the workbook ({type(exc).__name__}: {exc}). Is it a .xlsx file?") from None
    try:
        if sheet is None:
            sheets = _nonempty_sheets(workbook)
            if len(sheets) > 1:
                raise SheetChoiceNeeded(sheets)
            if not sheets:
                raise _empty_file()
            sheet = sheets[0]
        elif sheet not in workbook.sheetnames:
            listed = ", ".join(f"'{s}'" for s in workbook.sheetnames)
            raise IngestError(f"the workbook has no sheet named '{sheet}' (its sheets: {listed})")
        records = [
            (number, [cell_text(v) for v in row])
            for number, row in enumerate(workbook[sheet].iter_rows(values_only=True), start=1)
        ]
    finally:
        workbook.close()
    while records and not any(records[0][1]):
        records.pop(0)
    if not records:
        raise _empty_file()
    header_row, header = records[0]
    # Excel pads rows to the used range: cut trailing columns that have neither name nor values.
    width = max([len(header)] + [len(c) for _, c in records])
    last = max((i for i in range(width) if any(i < len(c) and c[i] for _, c in records)), default=-1)
    records = [(n, (c + [""] * width)[: last + 1]) for n, c in records]
    frame, numbers = _table_from_rows(records[1:], header_row, records[0][1])
    return RawTable(frame, numbers, source_name, hashlib.sha256(data).hexdigest(), "xlsx", sheet=sheet)


def read_parquet_bytes(data: bytes, source_name: str) -> RawTable:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as exc:
        raise IngestError(f"cannot read the Parquet file ({type(exc).__name__}: {exc})") from None
    if table.num_columns == 0:
        raise _empty_file()
    if table.num_rows == 0:
        raise _no_rows()
    df = table.to_pandas()
    header = [str(c).strip() for c in df.columns]
    records = [
        (number, [cell_text(v) for v in row])
        for number, row in enumerate(df.itertuples(index=False, name=None), start=1)
    ]
    # Parquet has no header row: the first record is row 1.
    frame, numbers = _table_from_rows(records, None, header)
    return RawTable(frame, numbers, source_name, hashlib.sha256(data).hexdigest(), "parquet")


def read_upload(data: bytes, source_name: str, sheet: str | None = None, max_bytes: int = MAX_FILE_BYTES) -> RawTable:
    """Read an upload from its bytes; the file type comes from the name's extension."""
    check_size(len(data), max_bytes)
    suffix = Path(source_name).suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return read_csv_bytes(data, source_name)
    if suffix in EXCEL_SUFFIXES:
        return read_xlsx_bytes(data, source_name, sheet)
    if suffix in PARQUET_SUFFIXES:
        return read_parquet_bytes(data, source_name)
    if suffix == ".xls":
        raise IngestError("old Excel files (.xls) cannot be read; save the workbook as .xlsx or CSV UTF-8")
    raise IngestError(f"unsupported file type '{suffix or source_name}': upload .csv, .xlsx or .parquet")


def read_path(path: Path | str, sheet: str | None = None, max_bytes: int = MAX_FILE_BYTES) -> RawTable:
    """Read a file from disk; its size is checked before it is read."""
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"no such file: {path}")
    check_size(path.stat().st_size, max_bytes)
    return read_upload(path.read_bytes(), path.name, sheet=sheet, max_bytes=max_bytes)
