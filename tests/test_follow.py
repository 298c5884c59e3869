"""Following growing logs: appends, a partial last line, rotation, truncation,
with exact accounting (every appended byte range recorded on its source)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from sqlalchemy import select

from logconsole.store.db import open_db
from logconsole.store.schema import source_reads, sources
from logconsole.workflows.follow import follow


def _line(i: int, who: str = "alice") -> bytes:
    return json.dumps({"ts": f"2026-03-14T01:{i // 60:02d}:{i % 60:02d}Z", "actor": who, "action": f"act{i}",
                       "msg": f"record {i}"}).encode() + b"\n"


def _run(db: Path, paths: list[str], script: list) -> tuple:
    """Run the follow with interval 0; before look k, call script[k] (then stop)."""
    eng = open_db(str(db), create=True)
    state = {"k": 0}
    notes: list[str] = []

    def should_stop() -> bool:
        k = state["k"]
        state["k"] += 1
        if k >= len(script):
            return True
        script[k]()
        return False

    res = follow(eng, paths, interval=0, fulltext_every=0, on_change=notes.append, should_stop=should_stop)
    return eng, res, notes


def test_appends_and_a_partial_last_line(tmp_path):
    log = tmp_path / "app.jsonl"
    log.write_bytes(b"".join(_line(i) for i in range(3)))
    cut = _line(5)

    def append_two_and_half():
        with open(log, "ab") as fh:
            fh.write(_line(3) + _line(4) + cut[:20])

    def finish_the_line():
        with open(log, "ab") as fh:
            fh.write(cut[20:])

    eng, res, _ = _run(tmp_path / "f.db", [str(log)], [lambda: None, append_two_and_half, lambda: None,
                                                       finish_the_line, lambda: None])
    assert res.events == 6 and res.records == 6 and not res.errors
    with eng.connect() as conn:
        reads = conn.execute(select(source_reads.c.start_offset, source_reads.c.end_offset, sources.c.sha256,
                                    sources.c.events).join(sources, sources.c.id == source_reads.c.source_id)
                             .order_by(source_reads.c.start_offset)).all()
    data = log.read_bytes()
    # contiguous byte ranges: [0,a) [a,b) [b,size), each source's hash covers bytes 0..its end
    assert [r.start_offset for r in reads] == [0, reads[0].end_offset, reads[1].end_offset]
    assert reads[-1].end_offset == len(data)
    assert reads[1].end_offset == len(data) - len(cut)  # the half line waited for its newline
    for r in reads:
        assert r.sha256 == hashlib.sha256(data[:r.end_offset]).hexdigest()
    assert [r.events for r in reads] == [3, 2, 1]


def test_an_empty_file_and_a_first_line_being_written_wait_without_error(tmp_path):
    """A followed log just created (empty) or with only part of its first line is no error and no
    format guess: it is read once it has a complete line."""
    log = tmp_path / "new.jsonl"
    log.write_bytes(b"")
    first = _line(0)

    def half():
        log.write_bytes(first[:15])

    def rest():
        with open(log, "ab") as fh:
            fh.write(first[15:] + _line(1))

    eng, res, notes = _run(tmp_path / "f.db", [str(log)], [lambda: None, half, lambda: None, rest, lambda: None])
    assert res.errors == [] and notes == [] and res.events == 2 and res.records == 2
    with eng.connect() as conn:
        assert conn.execute(select(sources.c.status, sources.c.events)).all() == [("complete", 2)]


def test_rotation_by_rename_and_new_files_in_a_directory(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.jsonl"
    log.write_bytes(b"".join(_line(i) for i in range(3)))

    def rotate():
        os.rename(log, d / "app.jsonl.1")
        log.write_bytes(_line(10) + _line(11))

    eng, res, notes = _run(tmp_path / "r.db", [str(d)], [lambda: None, rotate, lambda: None])
    with eng.connect() as conn:
        rows = conn.execute(select(sources.c.path, sources.c.records, sources.c.events,
                                   sources.c.duplicates)).all()
    # the rotated copy holds the bytes of the first source (same SHA-256): already ingested,
    # nothing counted twice; the new file under the old name is a new source
    assert sum(r.events for r in rows) == sum(r.records for r in rows) == 5
    assert len(rows) == 2 and sum(r.duplicates for r in rows) == 0
    assert any("replaced by another file" in n for n in notes)


def test_truncation_is_reported_and_the_new_content_ingested(tmp_path):
    log = tmp_path / "app.jsonl"
    log.write_bytes(b"".join(_line(i) for i in range(5)))

    def truncate_and_write():
        with open(log, "r+b") as fh:
            fh.truncate(0)
            fh.write(_line(20, "mallory"))

    eng, res, notes = _run(tmp_path / "t.db", [str(log)], [lambda: None, truncate_and_write, lambda: None])
    assert any("truncated from" in n for n in notes)
    assert res.events == 6
    with eng.connect() as conn:
        assert conn.execute(select(sources.c.events).order_by(sources.c.id)).scalars().all() == [5, 1]


def test_ctrl_c_ends_the_follow_after_the_look_in_progress(tmp_path):
    """`ingest --follow` as a real process: Ctrl-C (SIGINT) while records keep arriving ends it
    cleanly: exit 0, every source complete, the summary counts exactly what is in the index."""
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    log = tmp_path / "app.jsonl"
    log.write_bytes(b"".join(_line(i) for i in range(5)))
    db = tmp_path / "f.db"
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from logconsole.cli import main; main(prog_name='logconsole')",
         "ingest", "--follow", "--json", "--no-verify", "--db", str(db), str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 60
        written = 5
        with open(log, "ab") as f:
            while time.monotonic() < deadline:
                f.write(b"".join(_line(written + j) for j in range(5)))
                f.flush()
                written += 5
                time.sleep(0.05)
                if written >= 60 and proc.poll() is None and db.exists():
                    try:  # read-only, as any reader beside the follow
                        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1)
                        n = con.execute("SELECT count(*) FROM sources").fetchone()[0]
                        con.close()
                    except sqlite3.Error:  # the index is being created
                        n = 0
                    if n >= 3:  # the follow has looked several times: stop it while appends go on
                        break
            proc.send_signal(signal.SIGINT)
            for _ in range(5):  # the writer does not stop for the follow
                f.write(b"".join(_line(written + j) for j in range(5)))
                f.flush()
                written += 5
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    cut = text.rindex('{\n  "follow"')
    first = json.loads(text[:cut])  # the ingest before the follow, then the follow's summary
    summary = json.loads(text[cut:])["follow"]
    eng = open_db(str(db), create=False)
    with eng.connect() as conn:
        statuses = {r.status for r in conn.execute(select(sources.c.status))}
        events = conn.execute(select(sources.c.events)).scalars().all()
    eng.dispose()
    assert statuses == {"complete"}
    assert summary["errors"] == [] and first["events"] + summary["events"] == sum(events)
    assert sum(events) <= written
