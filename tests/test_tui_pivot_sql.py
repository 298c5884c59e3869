"""The pivot screen (P) and the SQL prompt (:) in the console (Pilot tests and 80x24 snapshots)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import update
from textual.widgets import DataTable

from logconsole.store.schema import sources
from logconsole.tui.app import create_app
from logconsole.tui.screens.pivot import PivotScreen
from logconsole.tui.screens.sql import SqlScreen
from logconsole.tui.screens.timeline import TimelineScreen

from tests.tui_support import (build_index, hostile_records, press, screen_segments, screen_text, settle,
                               standard_records, sync, tl, type_text, wait_for)


@pytest.fixture
def case(tmp_path):
    path, eng = build_index(tmp_path, standard_records() + hostile_records())
    with eng.begin() as conn:
        conn.execute(update(sources).values(path="/evidence/case/cloudtrail.json", ingested_at=0))
    yield eng, path
    eng.dispose()


def make_app(case):
    eng, path = case
    return create_app(eng, db_path=str(path), cursor_blink=False, analytics=False)


def _inert(app):
    for seg in screen_segments(app):
        assert "\x1b" not in seg.text and "\x07" not in seg.text, repr(seg.text)


# ---------------------------------------------------------------- pivot
@sync
async def test_pivot_counts_and_drills_into_a_cell(case):
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        tl(app).apply_filter("outcome:failure")
        await settle(app, pilot)
        await press(app, pilot, "P")
        scr = app.screen
        assert isinstance(scr, PivotScreen)
        await wait_for(pilot, lambda: scr.table_ is not None)
        t = scr.table_
        assert (t.row.name, t.col.name) == ("actor", "action") and t.total == 40
        assert sum(t.row_totals.values()) == 40
        # the cursor starts on the first count cell; Enter ANDs both values onto the filter
        r, c = t.rows[0], t.cols[0]
        n = t.count(r, c)
        await press(app, pilot, "enter")
        assert tl(app).current_text.startswith("outcome:failure actor:")
        assert tl(app).count == n
        assert "+ actor:" in tl(app).breadcrumb().plain
        # Esc: back to the pivot, as it was
        await press(app, pilot, "escape")
        assert app.screen is scr
        await press(app, pilot, "escape")
        assert tl(app).current_text == "outcome:failure"


@sync
async def test_pivot_changes_fields_and_time_buckets(case):
    app = make_app(case)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "P")
        scr = app.screen
        await wait_for(pilot, lambda: scr.table_ is not None)
        await press(app, pilot, "c")
        inp = app.screen.query_one("Input")
        inp.value = ""
        await type_text(app, pilot, "nonsense")
        assert "cannot pivot" in screen_text(app)
        inp.value = ""
        await type_text(app, pilot, "hour")
        await press(app, pilot, "enter")
        await wait_for(pilot, lambda: scr.table_ is not None and scr.table_.col.name == "hour")
        assert scr.table_.total == 241
        await press(app, pilot, "x")
        await wait_for(pilot, lambda: scr.table_.row.name == "hour")
        assert "2020-09-14T01:00:00Z" in screen_text(app)
        _inert(app)


def test_snapshot_pivot_80x24(case, snap_compare):
    async def run_before(pilot) -> None:
        app = pilot.app
        await settle(app, pilot)
        await pilot.press("P")
        await wait_for(pilot, lambda: getattr(app.screen, "table_", None) is not None)
        await settle(app, pilot)

    assert snap_compare(make_app(case), terminal_size=(80, 24), run_before=run_before)


# ---------------------------------------------------------------- SQL
@sync
async def test_sql_prompt_runs_reads_and_opens_an_event(case):
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "colon")
        scr = app.screen
        assert isinstance(scr, SqlScreen)
        await type_text(app, pilot, "SELECT id, time, action, actor FROM events WHERE outcome = 'failure' ORDER BY id")
        await press(app, pilot, "enter")
        await wait_for(pilot, lambda: scr.result is not None)
        assert len(scr.result.rows) == 40 and scr.result.columns[:2] == ["id", "time"]
        table = scr.query_one(DataTable)
        assert table.row_count == 40 and app.focused is table
        assert "40 row(s)" in screen_text(app)
        await press(app, pilot, "down", "enter")
        assert tl(app).current_text == f"id:{scr.result.rows[1][0]}" and tl(app).count == 1
        await press(app, pilot, "escape")
        assert app.screen is scr  # back to the results as they were
        await press(app, pilot, "escape")
        assert isinstance(app.screen, TimelineScreen)


@sync
async def test_sql_prompt_refuses_writes_and_shows_the_position(case):
    eng, path = case
    before = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "colon")
        scr = app.screen
        for stmt in ("DELETE FROM events", "ATTACH DATABASE 'x' AS y", "PRAGMA writable_schema=1"):
            inp = scr.query_one("Input")
            inp.value = ""
            await type_text(app, pilot, stmt)
            await press(app, pilot, "enter")
            await wait_for(pilot, lambda: not scr.running)
            assert "✗" in screen_text(app) and "not allowed" in screen_text(app), stmt
        inp.value = ""
        await type_text(app, pilot, "SELECT actr FROM events")
        await press(app, pilot, "enter")
        await wait_for(pilot, lambda: not scr.running)
        assert "position 8" in screen_text(app) and inp.cursor_position == 7
        await press(app, pilot, "escape")
        assert isinstance(app.screen, TimelineScreen)
    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == before


@sync
async def test_sql_results_are_inert(case):
    app = make_app(case)
    async with app.run_test(size=(120, 24)) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "colon")
        scr = app.screen
        await type_text(app, pilot, "SELECT actor, action, resource FROM events WHERE src_ip = '198.51.100.7'")
        await press(app, pilot, "enter")
        await wait_for(pilot, lambda: scr.result is not None)
        text = screen_text(app)
        assert "[link=http://x]Get" in text and "\\x1b" in text  # markup shown as text, escapes spelled out
        _inert(app)


@sync
async def test_sql_escape_cancels_a_running_statement(case):
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "colon")
        scr = app.screen
        await type_text(app, pilot, "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) "
                                    "SELECT count(*) FROM n")
        await pilot.press("enter")
        await wait_for(pilot, lambda: scr.running)
        await pilot.pause(0.2)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not scr.running)
        assert app.screen is scr and "cancelled" in screen_text(app)


def test_snapshot_sql_80x24(case, snap_compare):
    async def run_before(pilot) -> None:
        app = pilot.app
        await settle(app, pilot)
        await pilot.press("colon")
        await settle(app, pilot)
        for ch in "SELECT action, count(*) AS n FROM events GROUP BY action ORDER BY n DESC":
            await pilot.press(ch if ch != " " else "space")
        await pilot.press("enter")
        await wait_for(pilot, lambda: getattr(app.screen, "result", None) is not None)
        await settle(app, pilot)

    assert snap_compare(make_app(case), terminal_size=(80, 24), run_before=run_before)


# ---------------------------------------------------------------- highlighting and n/N
def _match_cells(app):
    """Text of the segments drawn in the match style (bold, underlined, not the reversed cursor cell)."""
    return [seg.text for seg in screen_segments(app)
            if seg.style is not None and seg.style.bold and seg.style.underline and not seg.style.reverse
            and seg.text != "time (UTC)          "]  # the header's current column


@sync
async def test_matches_are_highlighted_in_the_list_and_the_detail(case):
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        tl(app).apply_filter("bucket")  # a substring of ListBucket
        await settle(app, pilot)
        await press(app, pilot, "h")
        hits = _match_cells(app)
        # whole matches, or the part left of a cell's ellipsis ("s3:case-b…")
        assert "Bucket" in hits and all(h.lower() in "bucket" for h in hits)
        await press(app, pilot, "enter")
        hits = [h for h in _match_cells(app) if h.lower() == "bucket"]
        assert len(hits) >= 2  # the resource field and the raw record's bucketName
        _inert(app)


@sync
async def test_field_terms_highlight_their_column(case):
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        tl(app).apply_filter("ip:10.0.0.2")
        await settle(app, pilot)
        await press(app, pilot, "h")
        assert set(_match_cells(app)) == {"10.0.0.2"}


@sync
async def test_n_and_shift_n_jump_between_shown_matches(case):
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        tl(app).apply_filter("delete or accessdenied")  # DeleteObject shows; AccessDenied is not a column
        await settle(app, pilot)
        ev = app.screen.query_one("EventList")
        rows = [ev.query_.row(i) for i in range(ev.row_count)]
        shown = [i for i, r in enumerate(rows) if "Delete" in (r.action or "")]
        assert ev.row_count > len(shown) > 2 and not ev.row_matches(rows[shown[0] - 1] if shown[0] else rows[1])
        ev.move_to(0)
        await press(app, pilot, "n")
        assert ev.cursor == (shown[0] if shown[0] > 0 else shown[1])
        at = ev.cursor
        await press(app, pilot, "n")
        nxt = next(i for i in shown if i > at)
        assert ev.cursor == nxt
        await press(app, pilot, "N")
        assert ev.cursor == at
        ev.move_to(ev.row_count - 1)
        await press(app, pilot, "N")
        assert ev.cursor == max(i for i in shown if i < ev.row_count - 1)


def test_snapshot_highlight_80x24(case, snap_compare):
    async def run_before(pilot) -> None:
        app = pilot.app
        await settle(app, pilot)
        tl(app).apply_filter("bucket or ip:10.0.0.2")
        await settle(app, pilot)
        await pilot.press("n", "n")
        await settle(app, pilot)

    assert snap_compare(make_app(case), terminal_size=(80, 24), run_before=run_before)


def test_snapshot_detail_highlight_80x24(case, snap_compare):
    async def run_before(pilot) -> None:
        app = pilot.app
        await settle(app, pilot)
        tl(app).apply_filter("bucket")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)

    assert snap_compare(make_app(case), terminal_size=(80, 24), run_before=run_before)
