"""Progressive open: the console shows rows while the ingest runs in a background process.

The background ingest is held between its batches by a test hook (a FIFO named in
``LOGCONSOLE_INGEST_GATE``: the child reads one line from it after each batch it
commits), so "rows before the ingest has ended" is a fact, not a race.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

from sqlalchemy import func, select

from logconsole.commands.common import GATE_ENV
from logconsole.store.db import open_db
from logconsole.store.schema import events, sources
from logconsole.tui.app import create_app
from logconsole.workflows.background import BackgroundIngest
from logconsole.workflows.ingest import run_ingest
from tests.tui_support import screen_text, settle, standard_records, sync

BATCH = 50


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _gated(tmp_path: Path) -> tuple[str, dict[str, str]]:
    gate = str(tmp_path / "gate")
    os.mkfifo(gate)
    return gate, {**os.environ, GATE_ENV: gate}


async def _release(gate: str, word: str = "go") -> None:
    """Let the held child go on (one more batch, or every batch with "go")."""
    def write() -> None:
        with open(gate, "w", encoding="utf-8") as fh:
            fh.write(word + "\n")

    await asyncio.to_thread(write)


async def _until(app, pilot, cond, what: str, timeout: float = 60.0) -> None:
    """Let the console run until *cond()* holds (the child is a real process: its pace is its own)."""
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"never: {what}; the screen shows:\n{screen_text(app)}")
        await pilot.pause(0.05)
    await settle(app, pilot)


def _held_console(tmp_path: Path, records: list[dict]):
    """A console over a fresh index whose background ingest of *records* is held at its start."""
    src = _jsonl(tmp_path / "ct.jsonl", records)
    gate, env = _gated(tmp_path)
    db = str(tmp_path / "case.db")
    engine = open_db(db)
    job = BackgroundIngest(db, [str(src)], extra_args=["--batch-size", str(BATCH)], env=env).start()
    app = create_app(engine, db_path=db, ingest_job=job, cursor_blink=False, analytics=False)
    return src, gate, db, engine, job, app


def _status(app) -> str:
    return app.screen.query_one("#ingest-status").text


@sync
async def test_rows_before_the_ingest_ends_then_its_result_and_errors(tmp_path):
    src = _jsonl(tmp_path / "ct.jsonl", standard_records(3 * BATCH))
    junk = tmp_path / "notes.bin"
    junk.write_bytes(b"\x00\x01binary, no log\n")
    gate, env = _gated(tmp_path)
    db = str(tmp_path / "case.db")
    engine = open_db(db)
    job = BackgroundIngest(db, [str(src), str(junk)], extra_args=["--batch-size", str(BATCH)], env=env).start()
    app = create_app(engine, db_path=db, ingest_job=job, cursor_blink=False)
    try:
        async with app.run_test(size=(150, 40)) as pilot:
            await _release(gate, "next")  # past its start
            # held after its first batch: the rows are on screen, the ingest has not ended
            await _until(app, pilot, lambda: f"{BATCH} of {BATCH} events" in screen_text(app), "the first batch")
            assert job.status().running and job.status().result is None
            text = screen_text(app)
            assert "2020-09-14T01:00:00" in text  # the first event, with its zone
            # the status line is refreshed on its own timer: wait for it to catch up with the list
            await _until(app, pilot, lambda: f"{BATCH} events" in _status(app), "the status line's count")
            assert "ingesting 0/2 files" in _status(app)
            assert "ev/s" in _status(app)
            # the cursor stays on the event the investigator chose while batches land
            await pilot.press("down", "down")
            await settle(app, pilot)
            chosen = app.screen.events.current_row.id
            await _release(gate)
            await _until(app, pilot, lambda: not job.status().running and "ingest done" in _status(app),
                         "the end of the ingest")
            total = 3 * BATCH
            await _until(app, pilot, lambda: f"{total} of {total} events" in screen_text(app), "all rows")
            assert app.screen.events.current_row.id == chosen
            # the unreadable file is one error line naming it, in the console; the exit status too
            st = job.status()
            assert len(st.errors) == 1 and "notes.bin" in st.errors[0], st.errors
            assert "exit status 2" in _status(app) and "1 error(s)" in _status(app)
            assert st.result is not None and st.result["events"] == total
    finally:
        job.stop()
        engine.dispose()


@sync
async def test_an_empty_index_while_ingesting_says_so(tmp_path):
    src, gate, db, engine, job, app = _held_console(tmp_path, standard_records(2 * BATCH))
    try:
        async with app.run_test(size=(120, 30)) as pilot:
            # held at its start: nothing written yet is a state, not an error
            await _until(app, pilot, lambda: "ingesting 0/1 files" in _status(app), "the start")
            await _until(app, pilot, lambda: "ingesting… the first events appear here" in screen_text(app),
                         "the empty timeline's message")
            text = screen_text(app)
            assert "0 events" in _status(app)
            assert "error" not in text.lower()
            await _release(gate, "go")
            await _until(app, pilot, lambda: "ingest done" in _status(app), "the end")
            await _until(app, pilot, lambda: f"{2 * BATCH} of {2 * BATCH} events" in screen_text(app), "all rows")
            assert "(exit status 0)" in _status(app)
    finally:
        job.stop()
        engine.dispose()


@sync
async def test_quitting_early_leaves_a_consistent_resumable_index(tmp_path):
    recs = standard_records(3 * BATCH)
    src, gate, db, engine, job, app = _held_console(tmp_path, recs)
    try:
        async with app.run_test(size=(120, 30)) as pilot:
            await _release(gate, "next")
            await _until(app, pilot, lambda: f"{BATCH} of {BATCH} events" in screen_text(app), "the first batch")
            await pilot.press("q")  # quit while the child is held between two batches
        st = job.stop()
        assert st.stopped and st.returncode == 130 and not st.errors, (st.returncode, st.errors)
        with engine.connect() as conn:  # what was committed: one batch of a partial source
            assert conn.execute(select(sources.c.status, sources.c.events)).all() == [("partial", BATCH)]
        # the next ingest of the same paths redoes the file: the accounting is exactly an uninterrupted run's
        res = run_ingest(engine, [str(src)])
        assert res.total("events") == len(recs) and res.total("records") == len(recs) and not res.errors
        with engine.connect() as conn:
            assert conn.execute(select(sources.c.status, sources.c.records, sources.c.events)).all() == \
                [("complete", len(recs), len(recs))]
            assert conn.execute(select(func.count()).select_from(events)).scalar_one() == len(recs)
    finally:
        job.stop()
        engine.dispose()


@sync
async def test_open_follow_shows_appended_events_and_the_indicator(tmp_path):
    recs = standard_records(40)
    log = _jsonl(tmp_path / "live.jsonl", recs[:30])
    db = str(tmp_path / "case.db")
    engine = open_db(db)
    job = BackgroundIngest(db, [str(log)], follow=True, no_verify=True).start()
    app = create_app(engine, db_path=db, ingest_job=job, cursor_blink=False, analytics=False)
    try:
        async with app.run_test(size=(120, 30)) as pilot:
            await _until(app, pilot, lambda: "following" in _status(app) and "30 of 30 events" in screen_text(app),
                         "the follow")
            assert "+0 new events" in _status(app)
            await pilot.press("end")  # at the end: the view follows the new events
            await settle(app, pilot)
            with open(log, "a", encoding="utf-8") as fh:
                fh.write("".join(json.dumps(r) + "\n" for r in recs[30:]))
            await _until(app, pilot, lambda: "40 of 40 events" in screen_text(app), "the appended events")
            await _until(app, pilot, lambda: "+10 new events" in _status(app), "the indicator's count")
            ev = app.screen.events
            # still on the last row: it followed the end
            await _until(app, pilot, lambda: ev.cursor == ev.row_count - 1, "the cursor on the last row")
            assert "2020-09-14T01:19:30" in screen_text(app)  # the last appended event is on screen
            await pilot.press("q")
        st = job.stop()
        assert st.stopped and not st.errors, st.errors
        assert st.returncode == 0 and st.follow_events == 10
    finally:
        job.stop()
        engine.dispose()


def test_the_forked_ingest_child_reports_like_a_new_process(tmp_path):
    """`open PATH...` forks its ingest child (no interpreter start, nothing imported again) when
    it has one thread; the child reports progress, result and exit status as a new process does,
    and an error (an unknown format) comes back with its exit status 2."""
    import subprocess
    import sys

    good = tmp_path / "ct.json"
    good.write_text(json.dumps({"Records": standard_records(40)}), encoding="utf-8")
    bad = tmp_path / "notes.txt"
    bad.write_text("not a log\n" * 3, encoding="utf-8")
    script = f"""
import json, sys, threading
from logconsole.commands.console import _ingest_here
from logconsole.store.db import open_db
from logconsole.workflows.background import BackgroundIngest, _Forked
out = {{}}
for name, paths in (("good", [{str(good)!r}]), ("bad", [{str(bad)!r}])):
    db = {str(tmp_path)!r} + "/" + name + ".db"
    open_db(db, create=True).dispose()
    assert threading.active_count() == 1
    job = BackgroundIngest(db, paths, runner=_ingest_here).start()
    forked = isinstance(job.proc, _Forked)
    s = job.wait(120)
    out[name] = {{"forked": forked, "rc": s.returncode, "events": (s.result or {{}}).get("events"),
                  "errors": s.errors}}
print(json.dumps(out))
"""
    root = Path(__file__).resolve().parents[1]
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(root)})
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["good"] == {"forked": True, "rc": 0, "events": 40, "errors": []}
    assert out["bad"]["forked"] and out["bad"]["rc"] == 2
    assert any("notes.txt" in e for e in out["bad"]["errors"])
