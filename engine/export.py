"""CSV downloads that a spreadsheet cannot execute.

Every CSV the app offers for download goes through :func:`csv_bytes`. A text cell that starts
with ``=``, ``+``, ``-`` or ``@`` (or with a tab or carriage return, which some spreadsheets strip
before looking at the next character) would be run as a formula when the file is opened in Excel,
LibreOffice or Google Sheets ("CSV injection"). Such cells are written with a leading apostrophe,
which spreadsheets show as plain text. Numbers stay numbers: ``-3.5`` in a numeric column is not
text and is written as is. Column names are treated like text cells.
"""
from __future__ import annotations

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value):
    """``value`` with a leading apostrophe if it is text a spreadsheet would execute."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def escape_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells and column names are escaped; numeric columns untouched."""
    out = df.copy()
    for column in out.columns:
        series = out[column]
        if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            out[column] = series.map(escape_cell, na_action="ignore")
    out.columns = [escape_cell(str(c)) for c in out.columns]
    return out


def csv_bytes(df: pd.DataFrame, index: bool = False) -> bytes:
    """UTF-8 CSV (with a byte-order mark, so Excel reads accents correctly) of ``df``, escaped."""
    if index:
        df = df.reset_index()
    return escape_frame(df).to_csv(index=False, lineterminator="\n").encode("utf-8-sig")
