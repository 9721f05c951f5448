"""Store a patient-level cohort from the command line (for data managers).

    python -m engine.ingest FILE --name NAME [--db PATH] [--sheet S] [--mapping JSON]
                            [--check] [--print-mapping] [--progress]

The same reading, mapping, validation and storage as the "My data" page, with the same
messages. Exit codes: 0 stored (or, with --check / --print-mapping, checked); 1 the file was
refused (nothing stored, the database unchanged); 2 wrong arguments; 3 the database could not
be opened (for example while the app holds it: stop the app or pass another --db).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import duckdb

from engine.ingest.mapping import mapping_from_dict
from engine.ingest.pipeline import check, mapping_for, store
from engine.ingest.problems import IngestError, SheetChoiceNeeded
from engine.ingest.readers import read_path
from engine.paths import DEFAULT_DB

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_DATABASE = 0, 1, 2, 3


def _load_mapping(text: str | None):
    """--mapping takes a JSON file or inline JSON."""
    if not text:
        return None
    source = text
    if not text.lstrip().startswith("{"):
        path = Path(text)
        if not path.is_file():
            raise IngestError(f"--mapping: no such file {text} (give a JSON file or inline JSON)",
                              headline="The mapping cannot be used.")
        source = path.read_text(encoding="utf-8")
    try:
        data = json.loads(source)
    except json.JSONDecodeError as exc:
        raise IngestError(f"--mapping is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
                          headline="The mapping cannot be used.") from None
    return mapping_from_dict(data)


def _describe(study_id: str | None, name: str, summary: dict, db: Path | None) -> list[str]:
    lines = []
    if study_id:
        lines.append(f"Stored '{name}' as {study_id} in {db}")
    else:
        lines.append(f"'{name}' passes every check (nothing stored: --check)")
    arms = ", ".join(f"{arm} {n}" for arm, n in summary["arms"].items())
    lines.append(f"  {summary['patients']} patients; arms: {arms}")
    for endpoint, counts in summary["endpoints"].items():
        lines.append(f"  {endpoint}: {counts['patients']} patients with a time, {counts['events']} events")
    if summary["extra_descriptors"]:
        lines.append(f"  extra descriptors kept: {', '.join(summary['extra_descriptors'])}")
    if summary["unused_columns"]:
        lines.append(f"  columns not stored: {', '.join(summary['unused_columns'])}")
    return lines


def run(args: argparse.Namespace) -> int:
    stated = _load_mapping(args.mapping)
    table = read_path(args.file, sheet=args.sheet)
    mapping = mapping_for(table, stated)
    if args.print_mapping:
        print(mapping.to_json())
        return EXIT_OK
    result = check(table, mapping)
    if not result.ok:
        raise IngestError(result.problems)
    if args.check:
        print("\n".join(_describe(None, args.name, result.summary(), None)))
        return EXIT_OK
    from engine.db import open_database  # builds the published evidence into a new database

    try:
        con = open_database(args.db)
    except duckdb.Error as exc:
        print(f"Not stored: cannot open the database {args.db} ({exc}).\n"
              "Is the app running on it? Stop it, or pass another --db.", file=sys.stderr)
        return EXIT_DATABASE

    def progress(done: int, total: int) -> None:
        print(f"stored {done} of {total} patients (not committed yet)", file=sys.stderr, flush=True)

    try:
        study_id = store(con, result, args.name, on_progress=progress if args.progress else None)
    finally:
        con.close()
    print("\n".join(_describe(study_id, args.name.strip(), result.summary(), args.db)))
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m engine.ingest",
        description="Check a patient-level cohort file and store it as a user cohort (one transaction).",
    )
    p.add_argument("file", type=Path, help="a .csv, .xlsx or .parquet file in the documented format (docs/upload-format.md)")
    p.add_argument("--name", required=True, help="the cohort's name as the app shows it (must be new)")
    p.add_argument("--db", type=Path, default=DEFAULT_DB, help="database file (default: %(default)s)")
    p.add_argument("--sheet", help="which sheet of a workbook holds the patients")
    p.add_argument("--mapping", help="JSON file or inline JSON: our column -> your column, level spellings, arm, keep")
    p.add_argument("--check", action="store_true", help="check only; store nothing")
    p.add_argument("--print-mapping", action="store_true", help="print the mapping that would be used (JSON) and stop")
    p.add_argument("--progress", action="store_true", help="report progress while storing")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except SheetChoiceNeeded as exc:
        lines = ["Not stored: the workbook has several sheets. The database was not changed.",
                 f"  - {exc.problems[0].message}: pass --sheet NAME"]
        print("\n".join(lines), file=sys.stderr)
        return EXIT_REFUSED
    except IngestError as exc:
        lines = [exc.headline + " The database was not changed."] + [f"  - {line}" for line in exc.lines]
        print("\n".join(lines), file=sys.stderr)
        return EXIT_REFUSED
