"""Pilot tests of the console (timeline, filter bar, detail, marks, views, help, palette, hostile data)."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner
from rich.segment import Segment
from sqlalchemy import select
from textual.message import Message
from textual.screen import ModalScreen
from textual.widget import Widget

from logconsole.store import annotations as ann
from logconsole.store.filter import term
from logconsole.store.schema import events
from logconsole.tui import screen_list
from logconsole.tui.app import create_app
from logconsole.tui.actions import TARGETS, actions_of, palette_actions
from logconsole.tui.screens.detail import EventDetailScreen
from logconsole.tui.screens.help import HelpScreen
from logconsole.tui.screens.marks import MarksScreen
from logconsole.tui.screens.timeline import TimelineScreen, combine, drill_clause, parse_jump, with_time_range
from logconsole.tui.widgets.event_list import EventList

from tests.tui_support import (
    ALICE, HOSTILE_USER, S, T0, build_index, hostile_records, iso, press, screen_segments, screen_text, settle,
    standard_records, sync, type_text,
)

N = 241  # standard_records() + one hostile record


@pytest.fixture
def case(tmp_path):
    db, eng = build_index(tmp_path, standard_records() + hostile_records())
    yield eng
    eng.dispose()


def make_app(eng, **kw):
    return create_app(eng, cursor_blink=False, analytics=kw.pop("analytics", False), **kw)


def tl(app) -> TimelineScreen:
    assert isinstance(app.screen, TimelineScreen), app.screen
    return app.screen


def evlist(app) -> EventList:
    return app.screen.query_one(EventList)


# ---------------------------------------------------------------- timeline
@sync
async def test_first_paint_counts_columns_and_navigation(case):
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        text = screen_text(app)
        assert f"{N} of {N} events" in text
        for label in ("time (UTC)", "actor", "action", "res", "out", "source IP"):
            assert label in text
        assert "fmt" not in text.splitlines()[2]  # one format: its preset leaves the format column out
        assert "2020-09-14T01:00:00Z" in text and "alice" in text
        assert all(len(line) <= 80 for line in text.splitlines())
        ev = evlist(app)
        assert ev.cursor == 0 and app.focused is ev
        await press(app, pilot, "down", "j")
        assert ev.cursor == 2
        assert f"row 3 · {N} of {N} events" in screen_text(app)
        await press(app, pilot, "k")
        assert ev.cursor == 1
        h = ev.page_height
        await press(app, pilot, "pagedown")
        assert ev.cursor == 1 + h
        await press(app, pilot, "pageup")
        assert ev.cursor == 1
        await press(app, pilot, "end")
        assert ev.cursor == N - 1 and ev.current_row.ts_us == T0 + 239 * 30 * S
        assert iso(T0 + 239 * 30 * S)[:19] in screen_text(app)
        await press(app, pilot, "g")
        assert ev.cursor == 0 and int(ev.scroll_y) == 0
        await press(app, pilot, "G")
        assert ev.cursor == N - 1
        await press(app, pilot, "home")
        assert ev.cursor == 0
        # column cursor
        assert ev.column_id == "actor"
        await press(app, pilot, "right", "l")
        assert ev.column_id == "resource"
        await press(app, pilot, "h")
        assert ev.column_id == "action"


@sync
async def test_wide_terminal_shows_full_format_names(case):
    app = make_app(case)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        app.screen.query_one(EventList).show_column("format")  # hidden by the one-format preset
        await settle(app, pilot)
        text = screen_text(app)
        assert "cloudtrail" in text and "user/alice" not in text  # ARN prefix shortened, name shown
        assert "alice" in text


# ---------------------------------------------------------------- filter bar
@sync
async def test_filter_validation_apply_history_and_back(case):
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "slash")
        bar = tl(app).bar
        assert app.focused is bar.input
        await type_text(app, pilot, "acter:x")
        text = screen_text(app)
        assert "unknown field 'acter'" in text and "actor" in text
        assert f"{N} of {N} events" in text  # the count of the applied filter stays ...
        await press(app, pilot, "enter")
        assert tl(app).count == N and tl(app).current_text == ""  # ... and the results are kept
        bar.input.value = ""
        await type_text(app, pilot, "outcome:failure")
        await pilot.pause(0.4)
        await settle(app, pilot)
        assert "40 match" in screen_text(app)  # live preview count while typing
        await press(app, pilot, "enter")
        assert tl(app).count == 40 and "40 of 241 events" in screen_text(app)
        assert app.focused is evlist(app)
        assert all(r.outcome == "failure" for r in evlist(app).query_.rows(0, 40))
        # second filter, then history recall with Up
        await press(app, pilot, "slash")
        bar.input.value = ""
        await type_text(app, pilot, "ip:203.0.113.9")
        await press(app, pilot, "enter")
        assert tl(app).count == sum(1 for r in standard_records() if r["sourceIPAddress"] == "203.0.113.9")
        assert "outcome:failure › ip:203.0.113.9" in screen_text(app)
        await press(app, pilot, "slash", "up")
        assert bar.input.value == "ip:203.0.113.9"
        await press(app, pilot, "up")
        assert bar.input.value == "outcome:failure"
        await press(app, pilot, "down", "down")
        assert bar.input.value == "ip:203.0.113.9"
        await press(app, pilot, "escape")
        assert app.focused is evlist(app) and bar.input.value == "ip:203.0.113.9"
        # back through the breadcrumb
        await press(app, pilot, "escape")
        assert tl(app).current_text == "outcome:failure" and tl(app).count == 40
        await press(app, pilot, "q")
        assert tl(app).current_text == "" and tl(app).count == N
        with case.connect() as conn:
            assert ann.history(conn)[-2:] == ["outcome:failure", "ip:203.0.113.9"]
        await press(app, pilot, "q")
    assert app.return_code == 0


@sync
async def test_back_restores_cursor_event(case):
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        ev = evlist(app)
        ev.move_to(100)
        await settle(app, pilot)
        row = ev.current_row
        tl(app).apply_filter("outcome:failure")
        await settle(app, pilot)
        # the cursor stays on the same event if it matches, else the nearest time
        assert abs(ev.current_row.ts_us - row.ts_us) <= 6 * 30 * S
        await press(app, pilot, "end", "escape")
        assert ev.current_row.id == row.id


# ---------------------------------------------------------------- detail and pivots
@sync
async def test_detail_fields_raw_and_pivots(case):
    app = make_app(case)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(app, pilot)
        ev = evlist(app)
        ev.move_to(6)  # the hostile record sorts second, so offset 6 is record 5: a failure
        await settle(app, pilot)
        row = ev.current_row
        assert row.outcome == "failure"
        await press(app, pilot, "enter")
        assert isinstance(app.screen, EventDetailScreen)
        detail = app.screen
        assert detail.event["id"] == row.id
        text = screen_text(app)
        assert "AccessDenied" in text and "FAILURE" in text
        await press(app, pilot, "end")
        text = screen_text(app)
        assert "raw SHA-256" in text and detail.event["raw_sha256"] in text
        assert "case.json" in text and "record" in text
        assert '"eventName": "' in text  # pretty-printed JSON
        # pygments highlighting produced styled segments inside the raw record
        raw_static = detail.query_one("#detail-raw")
        assert raw_static.render() is not None
        # next / previous event
        await press(app, pilot, "J")
        assert detail.event["id"] == ev.current_row.id and ev.cursor == 7
        await press(app, pilot, "K")
        assert detail.event["id"] == row.id
        # drill down: actor, then IP, then resource, each ANDed onto the last (and the breadcrumb says so)
        await press(app, pilot, "a")
        assert isinstance(app.screen, TimelineScreen)
        actor = term("actor", row.actor)
        assert tl(app).current_text == actor
        assert tl(app).count == 80 and ev.current_row.id == row.id
        await press(app, pilot, "enter", "i")
        assert tl(app).current_text == f"{actor} ip:{row.src_ip}"
        assert tl(app).count == sum(1 for i, r in enumerate(standard_records())
                                    if i % 3 == 0 and r["sourceIPAddress"] == row.src_ip)
        await press(app, pilot, "enter", "r")
        drilled = f"{actor} ip:{row.src_ip} {term('resource', row.resource)}"
        assert tl(app).current_text == drilled
        assert [v.label for v in tl(app).stack[-3:]] == [
            f"+ {actor}", f"+ ip:{row.src_ip}", f"+ {term('resource', row.resource)}"]
        assert "+ ip:" in tl(app).breadcrumb().plain
        # any field: filter by it (replace) or add it to the filter (drill down), or copy it
        await press(app, pilot, "enter", "f")
        assert "user agent" in screen_text(app) and "aws-cli/2.13.0" in screen_text(app)
        labels = [c[0] for c in app.screen.choices]
        ua = labels.index("user agent")
        app.screen.query_one("#pick-list").highlighted = ua
        await press(app, pilot, "y")
        assert app.clipboard == "aws-cli/2.13.0"
        await press(app, pilot, "plus")
        assert tl(app).current_text == f'{drilled} ua:aws-cli/2.13.0'
        await press(app, pilot, "enter", "f")
        app.screen.query_one("#pick-list").highlighted = labels.index("error")
        await press(app, pilot, "enter")
        assert tl(app).current_text == "error:AccessDenied" and tl(app).count == 40
        await press(app, pilot, "enter", "w")
        text_ = tl(app).current_text
        assert text_ == f"since:{iso(row.ts_us - 300 * S)} until:{iso(row.ts_us + 300 * S)}"
        in_window = sum(1 for i in range(240) if abs(T0 + i * 30 * S - row.ts_us) <= 300 * S) + 1  # + hostile
        assert tl(app).count == in_window and ev.current_row.id == row.id
        assert len(tl(app).stack) == 7
        await press(app, pilot, "q", "q", "q", "q", "q", "q")
        assert tl(app).current_text == "" and len(tl(app).stack) == 1


# ---------------------------------------------------------------- marks, notes, tags
@sync
async def test_marks_notes_tags_navigation_and_marks_view(case):
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        ev = evlist(app)
        ev.move_to(3)
        await press(app, pilot, "m")
        first = ev.current_row
        assert screen_text(app).splitlines()[3 + 3].startswith("*")  # flag column of row 3
        ev.move_to(50)
        await press(app, pilot, "m", "c")
        await type_text(app, pilot, "exfil starts")
        await press(app, pilot, "enter")
        second = ev.current_row
        ev.move_to(10)
        await press(app, pilot, "t")
        await type_text(app, pilot, "recon")
        await press(app, pilot, "enter")
        tagged = ev.current_row
        with case.connect() as conn:
            assert ann.marked_event_ids(conn) == [first.id, second.id]
            assert ann.get_annotation(conn, second.id)["note"] == "exfil starts"
            assert ann.get_annotation(conn, first.id)["note"] is None
            assert ann.get_annotation(conn, tagged.id)["tags"] == ["recon"]
        # next / previous bookmark
        await press(app, pilot, "home", "right_square_bracket")
        assert ev.current_row.id == first.id
        await press(app, pilot, "right_square_bracket")
        assert ev.current_row.id == second.id
        await press(app, pilot, "left_square_bracket")
        assert ev.current_row.id == first.id
        # remove a tag with -name
        ev.move_to(10)
        await press(app, pilot, "t")
        await type_text(app, pilot, "-recon")
        await press(app, pilot, "enter")
        with case.connect() as conn:
            assert ann.get_annotation(conn, tagged.id) is None
        # the marks view, and going to an event hidden by the filter
        tl(app).apply_filter("outcome:failure")
        await settle(app, pilot)
        await press(app, pilot, "M")
        assert isinstance(app.screen, MarksScreen)
        text = screen_text(app)
        assert "2 bookmarked" in text and "exfil starts" in text
        await press(app, pilot, "down", "c")  # edit the second one's note from the list
        app.screen.query_one("#prompt-input").value = ""
        await type_text(app, pilot, "exfil really starts")
        await press(app, pilot, "enter")
        assert isinstance(app.screen, MarksScreen) and "exfil really starts" in screen_text(app)
        await press(app, pilot, "up", "enter")
        assert isinstance(app.screen, TimelineScreen)
        assert ev.current_row.id == first.id and tl(app).current_text == ""
        # marked:true filter and the detail's mark key
        tl(app).apply_filter("marked:true")
        await settle(app, pilot)
        assert tl(app).count == 2
        await press(app, pilot, "enter", "m")
        assert "not bookmarked" in screen_text(app)
        await press(app, pilot, "escape")
        with case.connect() as conn:
            assert ann.marked_event_ids(conn) == [second.id]


# ---------------------------------------------------------------- jump, views, copy
@sync
async def test_jump_to_time_views_and_copy(case):
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        ev = evlist(app)
        await press(app, pilot, "J")
        inp = app.screen.query_one("#prompt-input")
        inp.value = ""
        await type_text(app, pilot, "2020-09-14T01:30:00Z")
        await press(app, pilot, "enter")
        assert ev.current_row.ts_us == T0 + 30 * 60 * S
        await press(app, pilot, "J")
        app.screen.query_one("#prompt-input").value = ""
        await type_text(app, pilot, "+10m")
        await press(app, pilot, "enter")
        assert ev.current_row.ts_us == T0 + 40 * 60 * S
        await press(app, pilot, "J")
        app.screen.query_one("#prompt-input").value = ""
        await type_text(app, pilot, "yesterday")
        assert "col 1:" in screen_text(app)  # the error names its position
        await press(app, pilot, "escape")
        assert isinstance(app.screen, TimelineScreen)
        # copy the current cell and the raw record through OSC 52
        row = ev.current_row
        await press(app, pilot, "y")
        assert app.clipboard == row.actor
        await press(app, pilot, "right", "right", "y")
        assert app.clipboard == row.resource
        await press(app, pilot, "Y")
        assert '"eventID": "00000000-0000-0000-0000-' in app.clipboard.replace('":"', '": "')
        # save a view, then open it from the views list
        tl(app).apply_filter("outcome:failure ip:10.0.0.1")
        await settle(app, pilot)
        await press(app, pilot, "s")
        await type_text(app, pilot, "fails-10")
        await press(app, pilot, "enter")
        with case.connect() as conn:
            assert ann.list_views(conn) == [("fails-10", "outcome:failure ip:10.0.0.1")]
        tl(app).apply_filter("")
        await settle(app, pilot)
        await press(app, pilot, "v")
        assert "fails-10" in screen_text(app)
        await press(app, pilot, "enter")
        assert tl(app).current_text == "outcome:failure ip:10.0.0.1"
        assert tl(app).count == sum(1 for r in standard_records() if r.get("errorCode") and r["sourceIPAddress"] == "10.0.0.1")
        assert "view fails-10" in screen_text(app)


def test_parse_jump_and_filter_composition():
    assert parse_jump("2020-09-14", None) == T0 - 3600 * S
    assert parse_jump("-1h", T0) == T0 - 3600 * S
    with pytest.raises(ValueError):
        parse_jump("+5m", None)
    assert combine("", "a:1") == "a:1"
    assert combine("a:1 b:2", "c:3") == "a:1 b:2 c:3"
    assert combine("a:1 OR b:2", "c:3") == "(a:1 OR b:2) c:3"
    assert with_time_range("actor:x since:1h until:now", T0, T0 + 60 * S) == \
        f"actor:x since:{iso(T0)} until:{iso(T0 + 60 * S - 1)}"


# ---------------------------------------------------------------- help and palette
@sync
async def test_help_lists_every_key(case):
    app = make_app(case)
    async with app.run_test(size=(120, 300)) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for t in TARGETS:
            if not t.help:
                continue
            assert t.title in text
            for k in actions_of(t.name):
                assert k.description[:40] in text.replace("\n", " ") or k.description[:30] in text, k
        for field in ("actor:", "marked:", "tag:", "note:", "since:", "extra.KEY:"):
            assert field in text
        await press(app, pilot, "question_mark")
        assert isinstance(app.screen, TimelineScreen)


@sync
async def test_command_palette_covers_every_action(case):
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        offered = palette_actions("TimelineScreen")
        assert {t.name for t, _ in offered} == {"TimelineScreen", "EventList"}
        for t, k in offered:
            assert k.description.split(" (")[0] in titles, k
            target = app.screen if t.name == "TimelineScreen" else evlist(app)
            name = k.action.split("(")[0]
            assert hasattr(target, f"action_{name}") or hasattr(app, f"action_{name}"), k
        await press(app, pilot, "ctrl+p")
        await type_text(app, pilot, "Show failures")
        await press(app, pilot, "enter")
        assert tl(app).current_text == "outcome:failure" and tl(app).count == 40


# ---------------------------------------------------------------- other screens and widgets
class FakeFrequency(ModalScreen):
    BINDINGS = [("escape", "back")]

    def action_back(self):
        self.dismiss(None)

    def __init__(self, view):
        super().__init__()
        self.column = view.column

    def on_mount(self):
        def answer():
            self.dismiss('ip:"10.0.0.2"' if self.column == "src_ip" else None)

        self.call_after_refresh(answer)


class FakeActors(ModalScreen):
    BINDINGS = [("escape", "back")]

    def action_back(self):
        self.dismiss(None)

    def __init__(self, view):
        super().__init__()

    def on_mount(self):
        def answer():
            self.dismiss(f'actor:"{ALICE}"')

        self.call_after_refresh(answer)


class Histogram(Widget):
    class RangeSelected(Message):
        def __init__(self, start_us, end_us):
            super().__init__()
            self.start_us, self.end_us = start_us, end_us


class FacetPanel(Widget):
    class DrillDown(Message):
        def __init__(self, field, value):
            super().__init__()
            self.field, self.value = field, value


@sync
async def test_subscreens_and_analytics_messages(case, monkeypatch):
    monkeypatch.setitem(screen_list.SCREENS, "frequency",
                        screen_list.ScreenEntry("frequency", "frequency", FakeFrequency, drill=True))
    monkeypatch.setitem(screen_list.SCREENS, "actors", screen_list.ScreenEntry("actors", "actors", FakeActors))
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        tl(app).apply_filter("outcome:failure")
        await settle(app, pilot)
        await press(app, pilot, "right", "right", "right", "right", "F")  # source IP column, Shift+F
        assert tl(app).current_text == 'outcome:failure ip:"10.0.0.2"'
        assert tl(app).count == sum(1 for r in standard_records() if r.get("errorCode") and r["sourceIPAddress"] == "10.0.0.2")
        await press(app, pilot, "A")
        assert tl(app).current_text == f'actor:"{ALICE}"'
        # messages from the histogram and the facet panel
        tl(app).post_message(FacetPanel.DrillDown("action", "GetObject"))
        await settle(app, pilot)
        assert tl(app).current_text == f'actor:"{ALICE}" {drill_clause("action", "GetObject")}'
        tl(app).post_message(Histogram.RangeSelected(T0, T0 + 600 * S))
        await settle(app, pilot)
        assert tl(app).current_text == (
            f'actor:"{ALICE}" {drill_clause("action", "GetObject")} since:{iso(T0)} until:{iso(T0 + 600 * S - 1)}')
        assert tl(app).count == 2  # records 0 and 12
        assert "›" in screen_text(app)
        for _ in range(3):
            await press(app, pilot, "escape")
        # back past the actors pivot: the screen it came from is shown again, as it was
        assert isinstance(app.screen, FakeActors)
        await press(app, pilot, "escape")
        assert tl(app).current_text == 'outcome:failure ip:"10.0.0.2"'
        await press(app, pilot, "escape")
        assert isinstance(app.screen, FakeFrequency)
        await press(app, pilot, "escape")
        assert tl(app).current_text == "outcome:failure"


@sync
async def test_real_analytics_widgets_get_the_filter(case):
    app = make_app(case, analytics=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        tl(app).apply_filter("outcome:failure")
        await settle(app, pilot)
        hist = app.screen.query_one("#histogram")
        facets = app.screen.query_one("#facets")
        assert hist.display and facets.display
        assert str(hist.where) == str(tl(app).filter.where) == str(facets.where)
        await press(app, pilot, "f", "H")
        assert not facets.display and not hist.display


# ---------------------------------------------------------------- hostile data, colours
HOSTILE_FILTER = "ip:198.51.100.7"


def _assert_inert(app):
    for seg in screen_segments(app):
        assert "\x1b" not in seg.text and "\x07" not in seg.text and "\u202e" not in seg.text, repr(seg.text)
        assert seg.style is None or seg.style.link is None
        meta = seg.style.meta if seg.style is not None else {}
        assert "@click" not in meta


async def _analytics_quiet(app, pilot):
    import asyncio

    for _ in range(200):
        widgets = [w for w in app.screen.query("#histogram, #facets")]
        if all(not getattr(w, "busy", False) for w in widgets):
            break
        await asyncio.sleep(0.05)
    await settle(app, pilot)


@sync
async def test_hostile_records_are_inert_everywhere(case):
    app = make_app(case, analytics=True)  # the whole screen, histogram and facets included
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        tl(app).apply_filter(HOSTILE_FILTER)
        await settle(app, pilot)
        await _analytics_quiet(app, pilot)
        assert tl(app).count == 1
        text = screen_text(app)
        assert "evil\\x1b]" in text  # long values keep both ends, the middle is shortened
        _assert_inert(app)
        await press(app, pilot, "enter")
        text = screen_text(app)
        assert "[bold red]PWNED[/bold red]" in text and "[@click=app.quit]" in text
        assert "[link=http://x]Get[/link]" in text and "\\u202e" in text
        _assert_inert(app)
        await press(app, pilot, "end")
        _assert_inert(app)
        assert "\\u001b]52;c;" in screen_text(app)  # the raw JSON keeps its own escapes, visibly
        await press(app, pilot, "escape", "M")
        _assert_inert(app)
        await press(app, pilot, "escape", "y")  # copying hands the exact value to the clipboard
        assert app.clipboard == HOSTILE_USER
        _assert_inert(app)
        # notes and tags with markup stay text
        await press(app, pilot, "c")
        await type_text(app, pilot, "[red]note[/red]")
        await press(app, pilot, "enter", "enter")
        assert "[red]note[/red]" in screen_text(app)
    assert app.return_code is None or app.return_code == 0


@sync
async def test_no_color_keeps_cursor_and_failures_visible(case, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(case)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert app.no_color
        ev = evlist(app)
        ev.move_to(6)  # a failure
        await settle(app, pilot)
        lines = list(app.screen._compositor.render_strips())

        def filtered(strip):
            segs = list(strip)
            for f in app.get_line_filters():
                segs = f.apply(segs, app.screen.styles.background)
            return segs

        row_line = filtered(lines[3 + 6])
        text = "".join(s.text for s in row_line)
        assert "FAIL" in text
        styles = [s.style for s in row_line if s.text.strip()]
        assert any(st and st.reverse for st in styles)  # the cursor is reverse video, not a colour
        for st in styles:  # NO_COLOR: every colour is grey
            for c in (st.color, st.bgcolor):
                if c is not None and c.triplet is not None:
                    assert c.triplet.red == c.triplet.green == c.triplet.blue
        fail_row = filtered(lines[3 + 12])
        assert "FAIL" in "".join(s.text for s in fail_row)
        assert any(s.style and s.style.bold for s in fail_row if "FAIL" in s.text)


# ---------------------------------------------------------------- the open command
def test_open_command_errors(tmp_path):
    from logconsole.cli import main

    r = CliRunner().invoke(main, ["open", "--db", str(tmp_path / "none.db")])
    assert r.exit_code == 2 and "no index here" in r.output and "Traceback" not in r.output
    from logconsole.store.db import open_db

    open_db(tmp_path / "empty.db").dispose()
    r = CliRunner().invoke(main, ["open", "--db", str(tmp_path / "empty.db")])
    assert r.exit_code == 2 and "holds no events" in r.output
    r = CliRunner().invoke(main, ["open", str(tmp_path / "missing"), "--db", str(tmp_path / "x.db")])
    assert r.exit_code == 2 and "no such file" in r.output
    r = CliRunner().invoke(main, ["open", "-", "--db", str(tmp_path / "x.db")])
    assert r.exit_code == 2 and "logconsole ingest -" in r.output
    (tmp_path / "bad.db").write_text("not sqlite")
    r = CliRunner().invoke(main, ["open", "--db", str(tmp_path / "bad.db")])
    assert r.exit_code == 2 and "cannot open index" in r.output


def test_open_command_ingests_then_runs_the_app(tmp_path, monkeypatch):
    import json

    from logconsole.cli import main
    from logconsole.tui.app import LogConsoleApp

    ran = {}

    def fake_run(self, *a, **k):
        ran["filter"] = self.initial_filter
        ran["mouse"] = k.get("mouse")
        if self.ingest_job is not None:  # the ingest runs behind the console: let it end
            self.ingest_job.wait(120)
        with self.engine.connect() as conn:
            ran["n"] = conn.execute(select(events.c.id)).all()

    monkeypatch.setattr(LogConsoleApp, "run", fake_run)
    case = tmp_path / "case"
    case.mkdir()
    (case / "ct.json").write_text(json.dumps({"Records": standard_records(12)}))
    db = str(tmp_path / "i.db")
    r = CliRunner().invoke(main, ["open", str(case), "--db", db, "-f", "outcome:failure"])
    assert r.exit_code == 0, r.output
    assert "ingest done: 12 events from 1 file(s)" in r.output and "(exit status 0)" in r.output
    assert ran["filter"] == "outcome:failure" and len(ran["n"]) == 12
    r = CliRunner().invoke(main, ["open", "--db", db, "-f", "acter:x"])
    assert r.exit_code == 2 and "did you mean 'actor'" in r.output
    r = CliRunner().invoke(main, ["open", "--db", db, "--no-mouse"])
    assert r.exit_code == 0 and ran["filter"] == "" and ran["mouse"] is False


def test_console_modules_stay_out_of_the_core():
    import subprocess
    import sys

    code = ("import sys, logconsole.store.timeline, logconsole.store.annotations, logconsole.commands.console;"
            "sys.exit(1 if any(m == 'textual' or m.startswith('textual.') for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code], env={**os.environ}).returncode == 0


@sync
async def test_ansi_palette_mode_and_database_errors_do_not_crash(case, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from logconsole.store import timeline as timeline_mod

    app = make_app(case, ansi_color=True)  # the terminal's own 16-colour palette
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert app.ansi_color and tl(app).count == N
        row_line = list(app.screen._compositor.render_strips())[3]
        assert any(s.style and s.style.reverse for s in row_line if s.text.strip())

        def broken(self):
            raise OperationalError("SELECT", {}, Exception("database is locked"))

        monkeypatch.setattr(timeline_mod.TimelineQuery, "count", broken)
        tl(app).apply_filter("outcome:failure")
        await settle(app, pilot)
        assert app.is_running and tl(app).count == N  # previous results kept
        assert tl(app).current_text == "" and len(tl(app).stack) == 1  # and the breadcrumb says so
        assert any("database is locked" in n.message for n in app._notifications)


@sync
async def test_tab_cycles_panes_and_ctrl_q_quits(case):
    app = make_app(case, analytics=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        hist, facets = app.screen.query_one("#histogram"), app.screen.query_one("#facets")
        assert app.focused is evlist(app)
        # Tab goes through the panes the help names, in order, never to the filter input
        await press(app, pilot, "tab")
        assert app.focused is facets
        await press(app, pilot, "tab")
        assert app.focused is hist
        await press(app, pilot, "tab")
        assert app.focused is evlist(app)
        await press(app, pilot, "shift+tab")
        assert app.focused is hist
        await press(app, pilot, "shift+tab")
        assert app.focused is facets
        await press(app, pilot, "shift+tab", "ctrl+q")
    assert app.return_code == 0


@sync
async def test_hiding_the_focused_histogram_gives_the_keys_back_to_the_list(case):
    app = make_app(case, analytics=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        hist = app.screen.query_one("#histogram")
        assert not hist.display  # 24 lines: hidden by default
        await press(app, pilot, "H", "tab")
        assert app.focused is hist  # the list and the histogram are the two panes at 80 columns
        await press(app, pilot, "tab", "tab")
        assert app.focused is hist
        await press(app, pilot, "H")
        assert not hist.display and app.focused is evlist(app)
        before = evlist(app).cursor
        await press(app, pilot, "j")
        assert evlist(app).cursor == before + 1
        await press(app, pilot, "enter")
        assert isinstance(app.screen, EventDetailScreen)


def test_column_layout_fits_and_follows_content():
    from logconsole.tui.widgets.event_list import (DEFAULT_COLUMNS, FLEX_COLUMNS, ColumnState, layout_columns,
                                                   short_actor)

    for width in range(79, 200, 7):
        for wants in (None, {"actor": 9, "action": 9, "resource": 200}, {"actor": 80, "action": 80, "resource": 80},
                      {"actor": 3, "action": 3, "resource": 3}):
            lay = layout_columns(width, wants)
            assert lay.total <= max(width, 68), (width, wants, lay)
            assert lay.cols == DEFAULT_COLUMNS and len(lay.widths) == len(lay.cols) and min(lay.widths) >= 4
    lay = layout_columns(119, {"actor": 17, "action": 9, "resource": 200})
    by = dict(zip(lay.cols, lay.widths))
    assert by["actor"] == 17 and by["action"] == 9 and by["resource"] > 30  # short columns give room away
    assert set(FLEX_COLUMNS) <= set(by)
    # at 80 columns: a full IPv4 address and a full action name, whatever the others want
    for width in (79, 80):
        lay = layout_columns(width, {"actor": 60, "action": 17, "resource": 60},
                             ColumnState(tuple(c for c in DEFAULT_COLUMNS if c != "format")))
        by = dict(zip(lay.cols, lay.widths))
        assert by["src_ip"] == 15 and by["action"] >= 17 and lay.total <= width
    # a width the investigator set is kept
    lay = layout_columns(100, None, ColumnState(widths=(("actor", 30),)))
    assert dict(zip(lay.cols, lay.widths))["actor"] == 30
    assert short_actor("arn:aws:iam::1:user/alice") == "alice"
    assert short_actor("arn:aws:sts::1:assumed-role/Admin/s") == "Admin/s"
    assert short_actor("system:serviceaccount:ns:sa") == "sa:ns:sa"
    assert short_actor(None) == "-"


def test_detail_pretty_raw_and_embedded_json_are_inert():
    import json

    from logconsole.tui.screens.detail import RAW_DISPLAY_CAP, embedded_json, pretty_raw

    inner = {"eventName": "Get\x1b[2J", "userIdentity": {"arn": "[bold]x[/bold]\u202e"}}
    raw = json.dumps({"EventId": "1", "CloudTrailEvent": json.dumps(inner), "n": "{not json"})
    text, lexer = pretty_raw(raw, "cloudtrail")
    assert lexer == "json" and '\n  "EventId": "1",' in text and "\x1b" not in text
    [(key, decoded)] = embedded_json(raw)
    assert key == "CloudTrailEvent" and '"eventName": "Get\\u001b[2J"' in decoded
    assert "\u202e" not in decoded and "\\u202e" in decoded and "[bold]x[/bold]" in decoded
    line = "type=SYSCALL msg=audit(1:2): comm=\"x\x1b]0;t\x07\"\nsecond\tline"
    text, lexer = pretty_raw(line, "auditd")
    assert lexer == "text" and "\\x1b]0;t\\x07" in text and "\n" in text and "\t" not in text
    text, _ = pretty_raw("x" * (RAW_DISPLAY_CAP + 10), "jsonl")
    assert "truncated" in text and len(text) < RAW_DISPLAY_CAP + 200
    assert embedded_json("not json") == [] and embedded_json("[1]") == []


@sync
async def test_palette_shows_hostile_view_names_as_text(case):
    from logconsole.tui.app import palette_text
    from textual.content import Content

    for hostile in (HOSTILE_USER, "[@click=app.quit]x[/]", "a\\[b", "[$accent]v"):
        c = Content.from_markup(palette_text(hostile, 500))
        assert not c.spans and "[" in c.plain
    with case.begin() as conn:
        ann.save_view(conn, "[@click=app.quit]v[/]", f'actor:"{HOSTILE_USER}"')
    app = make_app(case)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "ctrl+p")
        await type_text(app, pilot, "Open view")
        assert "[@click=app.quit]v[/]" in screen_text(app)
        _assert_inert(app)
        await press(app, pilot, "enter")
        assert app.is_running and tl(app).count == 1


@sync
async def test_drill_down_on_a_hostile_value_stays_inert(case):
    from logconsole.tui.inert_filter import InertFilter, visible_controls

    assert visible_controls("a\x1b[2Jb\x07\u202e") == "a\u241b[2Jb\u2407\ufffd"
    # ESC and BEL count 0 cells for Rich: the symbols take their place and the padding shrinks
    segs = InertFilter().apply([Segment("x\x1b]0;t\x07y  ", None)], None)
    assert "".join(s.text for s in segs) == "x\u241b]0;t\u2407y"
    clean = [Segment("plain", None)]
    assert InertFilter().apply(clean, None) is clean
    app = make_app(case)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        tl(app).post_message(FacetPanel.DrillDown("actor", HOSTILE_USER))
        await settle(app, pilot)
        assert tl(app).count == 1 and "\x1b" in tl(app).current_text  # the filter holds the real value
        _assert_inert(app)  # ... but the input shows it as symbols
        assert "\u241b]52;c;" in screen_text(app)
