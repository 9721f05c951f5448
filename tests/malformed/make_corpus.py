"""Write the corpus of malformed uploads next to this script (deterministic; run to refresh).

    python tests/malformed/make_corpus.py

Each file breaks exactly one rule of docs/upload-format.md, on a row we know, so that the tests
can assert the exact message. ``valid.csv`` is the clean base the others are made from: 20
invented patients in our own column format (header = row 1, patient P-001 = row 2). The
over-size file is not stored here (it would be 21 MB); tests/test_ingest.py writes it.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADER = ["patient_id", "arm_id", "prior_ici", "pdl1_status", "ecog", "sex",
          "pfs_months", "pfs_event", "os_months", "os_event"]


def base_rows() -> list[dict[str, str]]:
    rows = []
    for i in range(1, 21):
        pfs = round(1.5 + (i * 7 % 23) * 0.8, 1)
        rows.append({
            "patient_id": f"P-{i:03d}",
            "arm_id": "combination",
            "prior_ici": "yes" if i % 2 else "no",
            "pdl1_status": ("positive", "negative", "unknown")[i % 3],
            "ecog": "0" if i % 4 == 0 else "1",
            "sex": "male" if i % 3 else "female",
            "pfs_months": f"{pfs}",
            "pfs_event": "1" if i % 5 else "0",
            "os_months": f"{round(pfs + 4.2 + (i % 6), 1)}",
            "os_event": "1" if i % 3 == 0 else "0",
        })
    return rows


def csv_text(rows: list[dict[str, str]], header: list[str] = HEADER) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def with_row(row_number: int, **changes) -> list[dict[str, str]]:
    """The base rows with ``changes`` applied to the row the spreadsheet numbers ``row_number``."""
    rows = base_rows()
    rows[row_number - 2].update(changes)
    return rows


def write(name: str, content: str | bytes) -> None:
    path = HERE / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)


def main() -> None:
    write("valid.csv", csv_text(base_rows()))
    # missing required columns
    write("missing_patient_id.csv", csv_text(base_rows(), [h for h in HEADER if h != "patient_id"]))
    write("missing_outcome.csv", csv_text(base_rows(), ["patient_id", "arm_id", "sex", "ecog"]))
    write("missing_event_column.csv", csv_text(base_rows(), [h for h in HEADER if h != "pfs_event"]))
    # times
    write("non_numeric_time.csv", csv_text(with_row(5, os_months="3,5")))
    write("negative_time.csv", csv_text(with_row(17, pfs_months="-3")))
    # events
    write("event_not_binary.csv", csv_text(with_row(9, os_event="2")))
    write("event_without_time.csv", csv_text(with_row(6, pfs_months="", pfs_event="1")))
    # levels
    write("unknown_level.csv", csv_text(with_row(4, pdl1_status="weak")))
    # patient ids
    write("duplicate_patient_id.csv", csv_text(with_row(12, patient_id="P-007")))
    # empty files
    write("empty.csv", "")
    write("header_only.csv", ",".join(HEADER) + "\n")
    # unreadable encoding: UTF-16 without a byte-order mark (NUL bytes in every ASCII character)
    write("utf16_without_bom.csv", csv_text(base_rows()).encode("utf-16-le"))
    # workbook with several sheets
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Patients"
    ws.append(HEADER)
    for row in base_rows():
        ws.append([row[h] for h in HEADER])
    codes = wb.create_sheet("Codes")
    codes.append(["code", "meaning"])
    codes.append(["1", "event"])
    wb.properties.creator = "make_corpus.py"
    buffer = io.BytesIO()
    wb.save(buffer)
    write("several_sheets.xlsx", buffer.getvalue())
    # direct identifiers
    names = ["Maria Lopez", "John Smith", "Wei Zhang", "Anna Berg", "Omar Haddad", "Lena Novak",
             "Paul Martin", "Sara Cohen", "Ivan Petrov", "Mei Chen", "Tom Baker", "Rosa Diaz",
             "Li Wang", "Eva Klein", "Ali Khan", "Nina Rossi", "Jan Jansen", "Kim Lee", "Ana Silva", "Ben Ross"]
    rows = base_rows()
    for row, person in zip(rows, names):
        row["Patient name"] = person
    write("identifier_name_column.csv", csv_text(rows, HEADER + ["Patient name"]))
    rows = base_rows()
    for row, person in zip(rows, names):
        row["who"] = person
    write("identifier_name_values.csv", csv_text(rows, HEADER + ["who"]))
    rows = base_rows()
    for k, row in enumerate(rows):
        row["d1"] = f"19{40 + k}-0{1 + k % 9}-{10 + k}"
    write("identifier_birth_dates.csv", csv_text(rows, HEADER + ["d1"]))
    rows = base_rows()
    for k, row in enumerate(rows):
        row["MRN"] = f"{4471200 + k * 37}"
    write("identifier_mrn.csv", csv_text(rows, HEADER + ["MRN"]))
    rows = base_rows()
    rows[5]["remarks"] = "call +44 20 7946 0958 before visit"  # row 7
    rows[9]["remarks"] = "dose reduced"
    write("identifier_phone.csv", csv_text(rows, HEADER + ["remarks"]))
    rows = base_rows()
    rows[2]["contact"] = "m.lopez@example.org"  # row 4
    write("identifier_email.csv", csv_text(rows, HEADER + ["contact"]))
    # header and row shape
    text = csv_text(base_rows()).splitlines()
    text[4] += ",extra"  # row 5 gets an 11th cell
    write("ragged_row.csv", "\n".join(text) + "\n")
    dup = HEADER[:-1] + ["pfs_months"]
    write("duplicate_header.csv", csv_text(base_rows(), HEADER).replace(",".join(HEADER), ",".join(dup), 1))
    # more than 20 problems: 35 negative times
    rows = base_rows() + [dict(r, patient_id=f"Q-{k:03d}") for k, r in enumerate(base_rows() * 2, start=1)]
    for row in rows[:35]:
        row["os_months"] = "-1"
    write("many_problems.csv", csv_text(rows))
    # spellings only the mapping step can translate (valid once mapped)
    rows = base_rows()
    for row in rows:
        row["prior_ici"] = {"yes": "Y", "no": "N"}[row["prior_ici"]]
        row["pdl1_status"] = {"positive": "pos", "negative": "neg", "unknown": "unknown"}[row["pdl1_status"]]
    rows[2]["prior_ici"] = "maybe"  # row 4: no spelling maps it
    write("unmapped_spelling.csv", csv_text(rows))


if __name__ == "__main__":
    main()
