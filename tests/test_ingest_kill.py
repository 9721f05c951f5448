"""Killing an ingest part-way (kill -9) leaves the database as it was: same tables, same row
counts, same checksums, earlier cohorts unchanged, and the database still opens and accepts the
same cohort afterwards.

The large file is 60,000 synthetic patients (about 7.5 MB of CSV) from
scripts/make_example_cohort.py; storing it takes 12 chunks of 5,000 rows in one transaction.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from engine.db import open_database
from engine.ingest import cohort_rows, ingest_file
from engine.paths import DATA_DIR, ROOT
from test_ingest import db_state

N_PATIENTS = 60_000
CORPUS = Path(__file__).parent / "malformed"

# Stores the file through the same function the command line uses, and stops (inside the open
# transaction, after 4 of 12 chunks) so that the kill lands part-way every time.
PAUSING_DRIVER = """
import sys, time
from engine.db import open_database
from engine.ingest.pipeline import ingest_file

con = open_database(sys.argv[1])

def progress(done, total):
    print(f"stored {done} of {total}", flush=True)
    if done >= 20000:
        print("paused inside the transaction", flush=True)
        time.sleep(600)

ingest_file(con, sys.argv[2], "Big cohort", on_progress=progress)
print("committed", flush=True)
"""


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> Path:
    spec = importlib.util.spec_from_file_location("make_example_cohort", ROOT / "scripts" / "make_example_cohort.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = tmp_path_factory.mktemp("big") / "big_cohort.csv"
    module.make_cohort(N_PATIENTS, seed=7).to_csv(path, index=False, lineterminator="\n")
    return path


@pytest.fixture()
def db_path(built_db_path, tmp_path) -> Path:
    """The built evidence database with two earlier user cohorts."""
    path = tmp_path / "explorer.duckdb"
    shutil.copy(built_db_path, path)
    with duckdb.connect(str(path)) as con:
        ingest_file(con, CORPUS / "valid.csv", "Earlier cohort")
        ingest_file(con, DATA_DIR / "example_cohort.csv", "Hospital A")
    open_database(path).close()  # up to date, so that the ingest's own open does not rebuild
    return path


def snapshot(path: Path) -> tuple[dict, dict[str, pd.DataFrame]]:
    with duckdb.connect(str(path)) as con:
        return db_state(con), {s: cohort_rows(con, s) for s in ("user_earlier_cohort", "user_hospital_a")}


def start(args: list[str], stream: str) -> tuple[subprocess.Popen, threading.Timer]:
    proc = subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, text=True, bufsize=1,
        stdout=subprocess.PIPE if stream == "stdout" else subprocess.DEVNULL,
        stderr=subprocess.PIPE if stream == "stderr" else subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    watchdog = threading.Timer(300, proc.kill)  # never hang the suite
    watchdog.start()
    return proc, watchdog


def wait_for_line(proc: subprocess.Popen, stream, predicate) -> list[str]:
    seen = []
    for line in stream:
        seen.append(line.rstrip("\n"))
        if predicate(seen[-1]):
            return seen
    raise AssertionError(f"the ingest ended before the expected line; it printed {seen}")


def kill_9(proc: subprocess.Popen, watchdog: threading.Timer) -> int:
    proc.send_signal(signal.SIGKILL)
    code = proc.wait(timeout=60)
    watchdog.cancel()
    return code


def assert_intact(path: Path, before_state: dict, before_rows: dict[str, pd.DataFrame]) -> None:
    state, rows = snapshot(path)
    assert state == before_state
    for study_id, frame in before_rows.items():
        pd.testing.assert_frame_equal(rows[study_id], frame)


def test_kill_part_way_through_the_transaction_leaves_the_database_intact(db_path, big_file):
    before_state, before_rows = snapshot(db_path)
    proc, watchdog = start(["-c", PAUSING_DRIVER, str(db_path), str(big_file)], "stdout")
    seen = wait_for_line(proc, proc.stdout, lambda line: line == "paused inside the transaction")
    assert seen[-2] == f"stored 20000 of {N_PATIENTS}"  # 4 of 12 chunks written, not committed
    assert proc.poll() is None
    assert kill_9(proc, watchdog) == -signal.SIGKILL

    assert_intact(db_path, before_state, before_rows)
    with duckdb.connect(str(db_path)) as con:
        assert con.execute("SELECT count(*) FROM user_cohorts WHERE name = 'Big cohort'").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM patients WHERE study_id LIKE 'user_big%'").fetchone() == (0,)
        # the database still works: the same file now stores completely, beside the earlier cohorts
        study_id, _ = ingest_file(con, big_file, "Big cohort")
        assert con.execute("SELECT count(*) FROM patients WHERE study_id = ?", [study_id]).fetchone() == (N_PATIENTS,)
        for earlier, frame in before_rows.items():
            pd.testing.assert_frame_equal(cohort_rows(con, earlier), frame)


@pytest.mark.parametrize("moment", ["first chunk", "last chunk, before commit"])
def test_kill_of_the_command_line_ingest_is_all_or_nothing(db_path, big_file, moment):
    """The real CLI, no hook: killed at the first progress line, or just after the last one (while
    it commits). The database holds either nothing of the new cohort or all of it."""
    before_state, before_rows = snapshot(db_path)
    proc, watchdog = start(["-m", "engine.ingest", str(big_file), "--name", "Big cohort", "--db", str(db_path),
                            "--progress"], "stderr")
    target = f"stored 5000 of {N_PATIENTS}" if moment == "first chunk" else f"stored {N_PATIENTS} of {N_PATIENTS}"
    wait_for_line(proc, proc.stderr, lambda line: line.startswith(target))
    code = kill_9(proc, watchdog)

    state, rows = snapshot(db_path)
    with duckdb.connect(str(db_path)) as con:
        stored = con.execute("SELECT study_id, n_patients FROM user_cohorts WHERE name = 'Big cohort'").fetchall()
        new_rows = con.execute("SELECT count(*) FROM patients WHERE study_id LIKE 'user_big%'").fetchone()[0]
    if stored:  # the commit finished before the signal arrived: then it is complete
        assert code in (0, -signal.SIGKILL)
        assert stored == [("user_big_cohort", N_PATIENTS)] and new_rows == N_PATIENTS
        unchanged = {t for t in before_state if t not in ("patients", "user_cohorts")}
        assert {t: state[t] for t in unchanged} == {t: before_state[t] for t in unchanged}
        assert state["patients"][0] == before_state["patients"][0] + N_PATIENTS
    else:  # killed before the commit: nothing of it
        assert code == -signal.SIGKILL
        assert new_rows == 0
        assert state == before_state
    for study_id, frame in before_rows.items():
        pd.testing.assert_frame_equal(rows[study_id], frame)
    if moment == "first chunk":
        assert not stored  # 11 chunks and the commit were still to come
