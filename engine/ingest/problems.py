"""What is wrong with an upload, said so that the user can go straight to the cell.

Rows are numbered as the user's spreadsheet shows them (the header is row 1, the first patient
row 2). A report shows at most the first ``MAX_SHOWN`` problems and counts the rest.
"""
from __future__ import annotations

from dataclasses import dataclass

MAX_SHOWN = 20


@dataclass(frozen=True)
class Problem:
    message: str
    row: int | None = None
    column: str | None = None  # how the message names the column (the user's name, ours in brackets)

    def __str__(self) -> str:
        if self.row is not None and self.column:
            return f"row {self.row}, {self.column}: {self.message}"
        if self.row is not None:
            return f"row {self.row}: {self.message}"
        if self.column:
            return f"column {self.column}: {self.message}"
        return self.message


def show(value: str, limit: int = 40) -> str:
    """A cell value quoted for a message, shortened if long."""
    text = str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"'{text}'"


def summarize(problems: list[Problem], limit: int = MAX_SHOWN) -> list[str]:
    """The first ``limit`` problems as lines, and one line counting the rest."""
    lines = [str(p) for p in problems[:limit]]
    rest = len(problems) - limit
    if rest > 0:
        lines.append(f"... and {rest} more problem{'s' if rest != 1 else ''}")
    return lines


class IngestError(Exception):
    """The upload cannot be stored; ``problems`` says where and why. Nothing was written."""

    def __init__(self, problems: list[Problem] | Problem | str, headline: str | None = None):
        if isinstance(problems, str):
            problems = [Problem(problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        n = len(self.problems)
        self.headline = headline or f"Not stored: {n} problem{'s' if n != 1 else ''} in the file."
        super().__init__("\n".join([self.headline] + [f"  - {line}" for line in summarize(self.problems)]))

    @property
    def lines(self) -> list[str]:
        return summarize(self.problems)


class SheetChoiceNeeded(IngestError):
    """A workbook with several sheets: the user must say which one holds the patients."""

    def __init__(self, sheets: list[str]):
        self.sheets = list(sheets)
        listed = ", ".join(f"'{s}'" for s in sheets)
        super().__init__(
            Problem(f"the workbook has {len(sheets)} sheets ({listed}); say which one holds the patients"),
            headline="Which sheet?",
        )
