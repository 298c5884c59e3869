"""Read-only SQL (``logconsole sql``) and two-field pivots (``logconsole pivot``)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from logconsole.ingest.pipeline import ingest_paths
from logconsole.store.db import open_db
from logconsole.store.filter import compile_filter
from logconsole.store.pivot import PivotError, cell_filter, dimension, pivot
from logconsole.store.queries import count
from logconsole.store.readonly_sql import VIEWS, ReadOnlySql, SqlCancelled, SqlError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    d = tmp_path_factory.mktemp("sql")
    db = str(d / "s.db")
    eng = open_db(db)
    ingest_paths(eng, [str(SAMPLE)])
    with eng.begin() as conn:  # a finding and a note, so every view has rows
        from logconsole.store import annotations, findings

        fid = findings.create_finding(conn, "Trail stopped", severity="high", query="action:StopLogging")
        eid = conn.exec_driver_sql("SELECT id FROM events WHERE action='StopLogging'").scalar()
        findings.attach_events(conn, fid, [eid])
        annotations.set_note(conn, eid, "stopped here")
    eng.dispose()
    return db


def cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "logconsole.cli", *args], capture_output=True, text=True, env=env)


def digest(path: str) -> tuple[str, int]:
    """The index file's SHA-256, and the size of its write-ahead log (a reader may
    create an empty one next to it, as SQLite does for any WAL reader)."""
    wal = Path(path + "-wal")
    return hashlib.sha256(Path(path).read_bytes()).hexdigest(), wal.stat().st_size if wal.exists() else 0


@pytest.mark.parametrize("stmt", [
    "DELETE FROM events", "ATTACH DATABASE 'x' AS y", "PRAGMA writable_schema=1", "delete from main.events",
    "UPDATE main.sources SET path='x'", "DROP TABLE main.events", "CREATE TABLE t(a)", "INSERT INTO main.meta VALUES('a','b')",
    "VACUUM", "VACUUM INTO 'copy.db'", "PRAGMA journal_mode=DELETE", "SELECT load_extension('x')", "BEGIN IMMEDIATE",
    "REINDEX", "ANALYZE", "SELECT 1; DELETE FROM events",
])
def test_writes_are_refused_and_the_index_is_byte_identical(sample, stmt, tmp_path) -> None:
    before = digest(sample)
    p = cli("sql", "--db", sample, stmt)
    assert p.returncode == 2, (stmt, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert "position" in p.stderr
    assert digest(sample) == before
    assert not (tmp_path / "copy.db").exists() and not Path("copy.db").exists()


def test_select_over_documented_views(sample) -> None:
    p = cli("sql", "--db", sample, "--json",
            "SELECT action, count(*) AS n FROM events WHERE action IN ('StopLogging','DeleteTrail') GROUP BY action ORDER BY action")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["columns"] == ["action", "n"] and [r[0] for r in out["rows"]] == ["DeleteTrail", "StopLogging"]
    with ReadOnlySql(sample) as ro:
        for name in VIEWS:
            res = ro.run(f"SELECT * FROM {name}", limit=5)
            assert res.rows, name
        ev = ro.run("SELECT * FROM events LIMIT 1").columns
        for col in ("time", "actor", "action", "outcome", "src_ip", "source_path", "raw_sha256", "extra"):
            assert col in ev
        assert ro.run("SELECT note, tags FROM annotations").rows == [("stopped here", None)]
        assert ro.run("SELECT title, attached_events FROM findings").rows == [("Trail stopped", 1)]
        # PRAGMAs that read the schema work
        assert ro.run("PRAGMA table_info(events)").rows


def test_row_limit_csv_and_errors_with_position(sample) -> None:
    p = cli("sql", "--db", sample, "--output", "csv", "--limit", "3", "SELECT id, actor FROM events ORDER BY id")
    assert p.returncode == 0
    assert len(p.stdout.strip().splitlines()) == 4 and "more than 3 rows" in p.stderr
    p = cli("sql", "--db", sample, "SELECT nope FROM events")
    assert p.returncode == 2 and "at position 8: no such column: nope" in p.stderr
    p = cli("sql", "--db", sample, "SELEC 1")
    assert p.returncode == 2 and "at position 1" in p.stderr


def test_cancel_and_time_limit(sample) -> None:
    forever = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    with ReadOnlySql(sample) as ro:
        threading.Timer(0.3, ro.cancel).start()
        t0 = time.monotonic()
        with pytest.raises(SqlCancelled, match="cancelled"):
            ro.run(forever)
        assert time.monotonic() - t0 < 30
        assert ro.run("SELECT 1").rows == [(1,)]  # usable after a cancel
    with ReadOnlySql(sample, time_limit=0.2) as ro, pytest.raises(SqlCancelled, match="time limit"):
        ro.run(forever)


def test_not_an_index(tmp_path) -> None:
    import sqlite3

    other = tmp_path / "other.db"
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE t(a)")
    c.commit()
    c.close()
    before = hashlib.sha256(other.read_bytes()).hexdigest()
    with pytest.raises(SqlError, match="not a logconsole index"):
        ReadOnlySql(other)
    assert hashlib.sha256(other.read_bytes()).hexdigest() == before


# ------------------------------------------------------------------ pivot


def test_pivot_counts_add_up_and_cells_drill_down(sample) -> None:
    eng = open_db(sample)
    with eng.connect() as conn:
        base = "outcome:failure"
        t = pivot(conn, "actor", "action", compile_filter(base).where, max_rows=4, max_cols=3)
        assert t.total == count(conn, compile_filter(base).where)
        shown = sum(t.count(r, c) for r in t.rows for c in t.cols)
        rest = sum(t.other_col_totals.values()) + sum(t.other_row_totals.values()) + t.other_other
        assert shown + rest == t.total
        for r in t.rows:
            for c in t.cols:
                assert count(conn, compile_filter(cell_filter(t, r, c, base)).where) == t.count(r, c)
        h = pivot(conn, "ip", "hour", compile_filter(base).where)
        assert all(c % 3_600_000_000 == 0 for c in h.cols) and h.cols == sorted(h.cols)
        for r in h.rows[:3]:
            for c in h.cols[:3]:
                assert count(conn, compile_filter(cell_filter(h, r, c, base)).where) == h.count(r, c)
        n = pivot(conn, "actor", "time:15m", compile_filter("action:StopLogging").where)
        assert n.total == 1
    eng.dispose()
    with pytest.raises(PivotError, match="cannot pivot"):
        dimension("nosuch")


def test_pivot_cli(sample) -> None:
    p = cli("pivot", "--db", sample, "actor", "action", "outcome:failure", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["row_field"] == "actor" and out["col_field"] == "action" and out["total"] > 0
    p = cli("pivot", "--db", sample, "ip", "hour", "outcome:failure")
    assert p.returncode == 0 and "total" in p.stdout and "Z" in p.stdout.splitlines()[0]
    p = cli("pivot", "--db", sample, "nosuch", "action")
    assert p.returncode == 2 and "cannot pivot" in p.stderr
