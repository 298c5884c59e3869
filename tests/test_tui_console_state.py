"""The console's focus, flash, stale-count, drill-down and back-navigation behaviour, and the smaller defects
an investigator meets at 80x24 (Pilot tests, and an 80x24 SVG snapshot of each screen involved)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update
from textual.app import App
from textual.widgets import DataTable

from logconsole.analysis.privileges.grants import import_file
from logconsole.store import annotations as ann
from logconsole.store import findings as F
from logconsole.store.dialect import AS_OPTION
from logconsole.store.schema import sources
from logconsole.tui.app import create_app
from logconsole.tui.screens.actor_detail import ActorDetailScreen
from logconsole.tui.screens.actors import ActorsScreen
from logconsole.tui.screens.choice import ChoiceScreen
from logconsole.tui.screens.marks import MarksScreen
from logconsole.tui.widgets.event_list import EventList

from tests.tui_support import build_index, press, screen_text, settle, standard_records, sync, tl, type_text, wait_for

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def case(tmp_path):
    _, eng = build_index(tmp_path, standard_records())
    with eng.begin() as conn:  # stable provenance in snapshots
        conn.execute(update(sources).values(path="/evidence/case/cloudtrail.json", ingested_at=0))
    yield eng
    eng.dispose()


@pytest.fixture
def demo(engine):
    from logconsole.ingest.pipeline import ingest_paths

    ingest_paths(engine, [str(DATA / "realdata" / "k8s-audit" / "demo.log")])
    import_file(engine, str(DATA / "rbac" / "demo-rbac.yaml"))
    return engine


def make_app(eng, **kw):
    return create_app(eng, cursor_blink=False, analytics=kw.pop("analytics", False), **kw)


def runner(*keys: str):
    async def run_before(pilot) -> None:
        await settle(pilot.app, pilot)
        for k in keys:
            await pilot.press(k)
            await settle(pilot.app, pilot)

    return run_before


# ---------------------------------------------------------------- first paint, stale rows
class ListHost(App):
    def compose(self):
        yield EventList(id="events")


@sync
async def test_first_paint_says_loading_not_no_match():
    app = ListHost()
    async with app.run_test(size=(80, 6)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "loading…" in text and "No events" not in text


@sync
async def test_new_filter_never_shows_its_count_over_the_old_rows(case):
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        ev = app.screen.query_one(EventList)
        tl(app).apply_filter("outcome:failure")
        # until the new rows arrive: the old rows are marked stale and no count is shown
        assert ev.stale and ev.row_count == 240
        assert tl(app).bar.count_text.plain == "counting…"
        await settle(app, pilot)
        assert not ev.stale and ev.row_count == 40 and tl(app).bar.count_text.plain == "40 of 240 events"


# ---------------------------------------------------------------- drill-down stack and going back
@sync
async def test_back_restores_cursor_and_scroll(case):
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        ev = app.screen.query_one(EventList)
        await press(app, pilot, "pagedown", "pagedown", "down", "down")
        cursor, top = ev.cursor, int(ev.scroll_y)
        assert top > 0
        row = ev.current_row
        tl(app).apply_filter("outcome:failure")
        await settle(app, pilot)
        await press(app, pilot, "G", "escape")
        assert ev.cursor == cursor and int(ev.scroll_y) == top and ev.current_row.id == row.id


def test_snapshot_stacked_drill_down_80x24(case, snap_compare):
    # outcome:failure, then the detail's IP and action... each ANDed: the breadcrumb marks them with "+"
    async def run_before(pilot) -> None:
        app = pilot.app
        await settle(app, pilot)
        tl(app).apply_filter("outcome:failure")
        await settle(app, pilot)
        for k in ("enter", "i", "enter", "f"):
            await pilot.press(k)
            await settle(app, pilot)
        labels = [c[0] for c in app.screen.choices]
        app.screen.query_one("#pick-list").highlighted = labels.index("action")
        await pilot.press("plus")
        await settle(app, pilot)

    assert snap_compare(make_app(case), terminal_size=(80, 24), run_before=run_before)


@sync
async def test_esc_after_an_actor_pivot_returns_to_the_actor_as_it_was(demo):
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        first = app.screen.query_one(EventList).current_row.id
        await press(app, pilot, "A")
        assert isinstance(app.screen, ActorsScreen)
        actors = app.screen
        await wait_for(pilot, lambda: app.screen.query_one("#actors-table", DataTable).row_count >= 4)
        await press(app, pilot, "down")
        actor_row = actors.query_one("#actors-table", DataTable).cursor_row
        await press(app, pilot, "enter")
        assert isinstance(app.screen, ActorDetailScreen)
        detail = app.screen
        await wait_for(pilot, lambda: detail.query_one("#perm-table", DataTable).row_count >= 3)
        await press(app, pilot, "down", "down")
        perm = detail.query_one("#perm-table", DataTable)
        perm_row = perm.cursor_row
        await press(app, pilot, "enter")  # the permission's events in the timeline
        pivot = tl(app).current_text
        assert pivot and tl(app).count is not None
        assert "actors: " in tl(app).breadcrumb().plain
        await press(app, pilot, "escape")
        assert app.screen is detail and perm.cursor_row == perm_row  # the same screen, same cursor
        await press(app, pilot, "escape")
        assert app.screen is actors and actors.query_one("#actors-table", DataTable).cursor_row == actor_row
        await press(app, pilot, "escape")
        assert tl(app).current_text == "" and app.focused is app.screen.query_one(EventList)
        assert app.screen.query_one(EventList).current_row.id == first
        await press(app, pilot, "j")
        assert app.screen.query_one(EventList).cursor == 1


# ---------------------------------------------------------------- focus
def test_snapshot_histogram_hidden_again_80x24(case, snap_compare):
    # H Tab H: the histogram is gone and the list has the keys (its cursor cell is highlighted)
    assert snap_compare(make_app(case, analytics=True), terminal_size=(80, 24),
                        run_before=runner("H", "tab", "H", "j", "j"))


# ---------------------------------------------------------------- command palette
@sync
async def test_palette_lists_each_command_once_and_finds_export(case):
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        cmds = list(app.get_system_commands(app.screen))
        ours = [c for c in cmds if (c.help or "").startswith("key ")]
        assert len(ours) > 30
        for c in ours:
            assert c.title not in c.help, c  # the help line adds the key, not the title again
        titles = [c.title for c in cmds]
        assert len(titles) == len(set(titles))
        export = [c for c in cmds if "export" in c.title.lower()]
        assert export and "key e" in export[0].help
        await press(app, pilot, "ctrl+p")
        await type_text(app, pilot, "export")
        await press(app, pilot, "enter")
        from logconsole.tui.screens.export import ExportScreen

        assert isinstance(app.screen, ExportScreen)


def test_snapshot_palette_export_80x24(case, snap_compare):
    async def run_before(pilot) -> None:
        await settle(pilot.app, pilot)
        await pilot.press("ctrl+p")
        await settle(pilot.app, pilot)
        for ch in "export":
            await pilot.press(ch)
        app = pilot.app
        last, same = -1, 0
        while same < 5:  # the palette searches asynchronously: wait until its list stops changing
            await pilot.pause(0.1)
            n = app.screen.query_one("CommandList").option_count
            same, last = (same + 1, n) if n == last else (0, n)
        app.screen.query_one("CommandInput").cursor_blink = False
        await settle(app, pilot)

    assert snap_compare(make_app(case), terminal_size=(80, 24), run_before=run_before)


# ---------------------------------------------------------------- findings: severity picker
def _finding(eng, severity="high"):
    with eng.begin() as conn:
        return F.create_finding(conn, "Exfil by alice", severity=severity, query="outcome:failure")


@sync
async def test_severity_picker_starts_on_the_current_value(case):
    _finding(case, "low")
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "R")
        await wait_for(pilot, lambda: len(app.screen.items) == 1)
        await press(app, pilot, "s")
        assert isinstance(app.screen, ChoiceScreen)
        ol = app.screen.query_one("OptionList")
        assert app.screen.items[ol.highlighted][1] == "low"
        await press(app, pilot, "enter")
        with case.connect() as conn:
            assert F.list_findings(conn)[0]["severity"] == "low"  # Enter keeps it


def test_snapshot_severity_picker_80x24(case, snap_compare):
    _finding(case, "medium")

    async def run_before(pilot) -> None:
        app = pilot.app
        await settle(app, pilot)
        await pilot.press("R")
        await wait_for(pilot, lambda: len(getattr(app.screen, "items", [])) == 1)
        await pilot.press("s")
        await settle(app, pilot)

    assert snap_compare(make_app(case), terminal_size=(80, 24), run_before=run_before)


# ---------------------------------------------------------------- marks header
def _annotate(eng):
    with eng.connect() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("SELECT id FROM events ORDER BY id LIMIT 12")]
    with eng.execution_options(**{AS_OPTION: "ana"}).begin() as conn:  # the same author on every machine
        for i in ids[:11]:
            ann.set_mark(conn, i, True)
        ann.set_note(conn, ids[11], "the one with a note")
    return ids


@sync
async def test_marks_header_counts_notes_not_annotations(case):
    _annotate(case)
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "M")
        assert isinstance(app.screen, MarksScreen)
        app.screen.query_one(DataTable).move_cursor(row=11)
        await settle(app, pilot)
        text = screen_text(app)
        assert "11 bookmarked · 1 with a note · 0 tagged" in text.splitlines()[0]
        assert "the one with a note" in text and all(len(line) <= 80 for line in text.splitlines())


def test_snapshot_marks_80x24(case, snap_compare):
    _annotate(case)
    assert snap_compare(make_app(case), terminal_size=(80, 24), run_before=runner("M"))


# ---------------------------------------------------------------- permission matrix keys
@sync
async def test_permission_matrix_end_g_and_pagedown_move_rows(demo):
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "A")
        await wait_for(pilot, lambda: app.screen.query_one("#actors-table", DataTable).row_count >= 4)
        await press(app, pilot, "enter")
        detail = app.screen
        assert isinstance(detail, ActorDetailScreen)
        await wait_for(pilot, lambda: detail.query_one("#perm-table", DataTable).row_count >= 3)
        perm = detail.query_one("#perm-table", DataTable)
        n = perm.row_count
        x0 = perm.scroll_x
        await press(app, pilot, "end")
        assert perm.cursor_row == n - 1 and perm.scroll_x == x0  # not a sideways scroll
        await press(app, pilot, "g")
        assert perm.cursor_row == 0
        await press(app, pilot, "G")
        assert perm.cursor_row == n - 1
        await press(app, pilot, "home", "pagedown")
        page = max(1, perm.scrollable_content_region.height - 1)
        # a page (the visible height, give or take the row the header or a late layout takes), not one row
        assert perm.cursor_row > 1 and abs(perm.cursor_row - min(n - 1, page)) <= 1


# ---------------------------------------------------------------- columns
def _header(app) -> str:
    return screen_text(app).splitlines()[2]


@sync
async def test_columns_default_at_80x24_show_full_ips_and_actions(case):
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        text = screen_text(app)
        for ip in ("10.0.0.1", "10.0.0.2", "203.0.113.9"):
            assert ip in text
        for action in ("GetObject", "PutObject", "ListBucket", "DeleteObject"):
            assert action in text  # not "ListBuck…"
        rows = [line for line in text.splitlines()[3:12] if "Admin" not in line]
        assert rows and "…" not in "".join(line[22:48] for line in rows)  # actor and action in full


@sync
async def test_columns_hide_move_resize_wrap_and_are_remembered(case):
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        ev = app.screen.query_one(EventList)
        assert ev.columns.cols == ("ts_us", "actor", "action", "resource", "outcome", "src_ip")  # the preset
        await press(app, pilot, "l", "l")  # the resource column
        assert ev.column_id == "resource"
        await press(app, pilot, "x")
        assert "resource" not in ev.columns.cols and "res" not in _header(app)
        await press(app, pilot, "less_than_sign")  # the current column (now outcome) moves left
        assert ev.columns.cols == ("ts_us", "actor", "outcome", "action", "src_ip")
        await press(app, pilot, "h", "plus", "plus")  # actor two steps wider
        assert dict(ev.columns.widths)["actor"] >= 14
        await press(app, pilot, "C")
        assert isinstance(app.screen, ChoiceScreen)
        values = [v for _, v in app.screen.items]
        app.screen.query_one("OptionList").highlighted = values.index("service")
        await press(app, pilot, "enter")
        assert "service" in ev.columns.cols and "service" in _header(app)
        await press(app, pilot, "w")  # wrap the service column
        assert ev.columns.wrap == ("service",) and ev.row_h >= 1
        saved = ev.columns
    # a new console over the same index: the choice is back
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert app.screen.query_one(EventList).columns == saved
        await press(app, pilot, "C")
        app.screen.query_one("OptionList").highlighted = len(app.screen.items) - 1  # reset
        await press(app, pilot, "enter")
        assert app.screen.query_one(EventList).columns.cols == ("ts_us", "actor", "action", "resource", "outcome",
                                                                 "src_ip")


@sync
async def test_wrapped_column_rows_keep_cursor_and_paging(case):
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        ev = app.screen.query_one(EventList)
        await press(app, pilot, "l", "l")  # resource
        await press(app, pilot, "w")
        assert ev.row_h > 1
        await press(app, pilot, "j", "j")
        assert ev.cursor == 2
        await press(app, pilot, "pagedown")
        assert ev.cursor == 2 + ev.page_height
        await press(app, pilot, "G")
        assert ev.cursor == ev.row_count - 1
        text = screen_text(app)
        # the value continues on the next lines (where it breaks depends on the column width,
        # which the integrity glyph cell narrowed by one)
        lines = text.splitlines()
        i = next(n for n, ln in enumerate(lines) if "DeleteObject" in ln and "FAIL" in ln)
        col = lines[i].index("s3:case-")
        pieces = [ln[col:].split(" ")[0] for ln in lines[i:i + ev.row_h]]
        assert "".join(pieces) == "s3:case-bucket/obj-1"


def test_snapshot_columns_80x24(case, snap_compare):
    # resource hidden, the outcome moved left, the actor narrower: "x", "<", "-"
    assert snap_compare(make_app(case), terminal_size=(80, 24),
                        run_before=runner("l", "l", "x", "less_than_sign", "h", "minus", "minus", "minus", "minus"))


def test_snapshot_wrapped_column_80x24(case, snap_compare):
    assert snap_compare(make_app(case), terminal_size=(80, 24), run_before=runner("l", "l", "w", "j"))


# ---------------------------------------------------------------- J with partial times
@sync
async def test_jump_accepts_partial_and_relative_times(case):
    from logconsole.tui.screens.timeline import parse_jump

    T0 = 1_600_045_200_000_000  # 2020-09-14T01:00:00Z, the first event
    end = T0 + 239 * 30_000_000
    assert parse_jump("01:18", T0, T0, end) == T0 + 18 * 60_000_000
    assert parse_jump("14 01:18", T0, T0, end) == T0 + 18 * 60_000_000
    assert parse_jump("-2h", T0 + 3 * 3_600_000_000, T0, end) == T0 + 3_600_000_000
    with pytest.raises(ValueError, match="col 1"):
        parse_jump("01:1x", T0, T0, end)
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "J")
        inp = app.screen.query_one("Input")
        inp.value = ""
        await type_text(app, pilot, "01:18")
        await press(app, pilot, "enter")
        ev = app.screen.query_one(EventList)
        assert ev.current_row.ts_us == T0 + 18 * 60_000_000
