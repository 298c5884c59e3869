"""Pilot tests: the Findings screen (edit, reorder, delete, new from bookmarks) and its export dialog."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import DataTable, Input, Select, Static, TextArea

from logconsole.ingest.pipeline import ingest_paths
from logconsole.store import annotations as A
from logconsole.store import findings as F
from logconsole.store import queries
from logconsole.store.db import open_db
from logconsole.tui.screens.choice import ChoiceScreen as PickScreen
from logconsole.tui.screens.export import ExportScreen
from logconsole.tui.screens.findings import FindingsScreen
from logconsole.tui.screens.narrative import NarrativeScreen


def sync(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    wrapper.__signature__ = inspect.signature(fn)
    return wrapper


async def settle(pilot, cond, tries: int = 500) -> None:
    for _ in range(tries):
        await pilot.pause(0.01)
        if cond():
            return
    raise AssertionError("condition not reached")


@pytest.fixture
def case(tmp_path: Path):
    src = tmp_path / "app.jsonl"
    lines = [json.dumps({"ts": f"2026-03-14T01:{i:02d}:00Z", "actor": "evil\x1b[2J[bold]x[/]" if i == 3 else f"user{i % 3}",
                         "action": "login" if i % 2 else "export", "outcome": "failure" if i % 4 == 0 else "success",
                         "resource": f"r{i}", "src_ip": "203.0.113.9"}) for i in range(12)]
    src.write_text("\n".join(lines) + "\n")
    eng = open_db(str(tmp_path / "case.db"))
    ingest_paths(eng, [str(src)], fmt="jsonl")
    with eng.begin() as conn:
        ids = [e["id"] for e in queries.search(conn, None, limit=None)]
        F.create_finding(conn, "First", severity="low", query="outcome:failure", narrative="why\x1b[31m it matters")
        F.create_finding(conn, "Second", severity="high", event_ids=ids[:2])
        A.set_mark(conn, ids[5], True)
        A.set_mark(conn, ids[6], True)
    yield eng, tmp_path
    eng.dispose()


class Host(App):
    def __init__(self, engine, **kw) -> None:
        super().__init__()
        self.engine = engine
        self.kw = kw
        self.result = "unset"

    def on_mount(self) -> None:
        def done(r):
            self.result = r

        self.push_screen(FindingsScreen(self.engine, **self.kw), done)

    def annotations_changed(self) -> None:  # what the real app offers
        pass


def positions(eng) -> list[tuple[int, str]]:
    with eng.connect() as conn:
        return [(f["id"], f["title"]) for f in F.list_findings(conn, with_counts=False)]


@sync
async def test_list_detail_reorder_severity_delete(case):
    eng, _ = case
    app = Host(eng)
    async with app.run_test(size=(120, 30)) as pilot:
        scr = app.screen
        assert isinstance(scr, FindingsScreen)
        await settle(pilot, lambda: len(scr.items) == 2)
        table = scr.query_one(DataTable)
        assert table.row_count == 2
        detail = str(scr.query_one("#finding-detail", Static).render())
        assert "First" in detail and "\x1b" not in detail and "\\x1b" in detail
        # move the first finding down
        await pilot.press("J")
        await settle(pilot, lambda: positions(eng) == [(2, "Second"), (1, "First")])
        await settle(pilot, lambda: scr.current() is not None and scr.current()["id"] == 1)
        await pilot.press("K")
        await settle(pilot, lambda: positions(eng) == [(1, "First"), (2, "Second")])
        # severity through the picker
        await pilot.press("s")
        await settle(pilot, lambda: app.screen is not scr)
        await pilot.press("home", "enter")  # first item: critical
        await settle(pilot, lambda: app.screen is scr)
        with eng.connect() as conn:
            assert F.get_finding_row(conn, 1)["severity"] == "critical"
        # title through the prompt
        await pilot.press("t")
        await settle(pilot, lambda: app.screen is not scr)
        inp = app.screen.query_one(Input)
        inp.value = "Renamed | finding"
        await pilot.press("enter")
        await settle(pilot, lambda: F.get_finding_row(eng.connect().__enter__(), 1)["title"] == "Renamed | finding")
        # delete with confirmation
        await pilot.press("x")
        await settle(pilot, lambda: app.screen is not scr)
        await pilot.press("end", "enter")  # "yes, delete"
        await settle(pilot, lambda: positions(eng) == [(2, "Second")])
        await settle(pilot, lambda: len(scr.items) == 1)


@sync
async def test_new_from_bookmarks_and_open_in_timeline(case):
    eng, _ = case
    app = Host(eng, filter_text="outcome:success")
    async with app.run_test(size=(120, 30)) as pilot:
        scr = app.screen
        await settle(pilot, lambda: len(scr.items) == 2)
        await pilot.press("a")
        await settle(pilot, lambda: app.screen is not scr)
        app.screen.query_one(Input).value = "From bookmarks"
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, PickScreen))
        await pilot.press("home", "down", "enter")  # high
        await settle(pilot, lambda: len(scr.items) == 3)
        with eng.connect() as conn:
            f = [x for x in F.list_findings(conn) if x["title"] == "From bookmarks"][0]
        assert f["severity"] == "high" and f["attached"] == 2 and f["events"] == 2
        # a finding from the timeline's filter
        await pilot.press("c")
        await settle(pilot, lambda: app.screen is not scr)
        app.screen.query_one(Input).value = "From filter"
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, PickScreen))
        await pilot.press("enter")  # first severity (critical)
        await settle(pilot, lambda: len(scr.items) == 4)
        with eng.connect() as conn:
            f = [x for x in F.list_findings(conn) if x["title"] == "From filter"][0]
        assert f["query"] == "outcome:success" and f["events"] == 9
        await settle(pilot, lambda: scr.current() is not None and scr.current()["title"] == "From filter")
        await pilot.press("enter")
        await settle(pilot, lambda: app.result != "unset")
        assert app.result == f"finding:{f['id']}"


@sync
async def test_narrative_editor(case):
    eng, _ = case
    app = Host(eng)
    async with app.run_test(size=(120, 30)) as pilot:
        scr = app.screen
        await settle(pilot, lambda: len(scr.items) == 2)
        await pilot.press("n")
        await settle(pilot, lambda: isinstance(app.screen, NarrativeScreen))
        app.screen.query_one(TextArea).text = "# Heading\n\nline two | with pipe"
        await pilot.press("ctrl+o")
        await settle(pilot, lambda: app.screen is scr)
        with eng.connect() as conn:
            assert F.get_finding_row(conn, 1)["narrative"] == "# Heading\n\nline two | with pipe"


@sync
async def test_export_dialog_writes_report_and_timeline(case):
    eng, tmp = case
    app = Host(eng)
    async with app.run_test(size=(120, 40)) as pilot:
        scr = app.screen
        await settle(pilot, lambda: len(scr.items) == 2)
        await pilot.press("e")
        await settle(pilot, lambda: isinstance(app.screen, ExportScreen))
        dlg = app.screen
        out = tmp / "out.md"
        dlg.query_one("#export-path", Input).value = str(out)
        dlg.query_one("#export-at", Input).value = "2026-03-15T09:00:00Z"
        dlg.query_one("#export-title", Input).value = "From the console"
        await pilot.press("enter")
        await settle(pilot, lambda: app.screen is scr)
        text = out.read_text()
        assert text.startswith("# From the console\n") and "| Generated at (UTC) | 2026-03-15T09:00:00Z |" in text
        assert (tmp / "out.md.sha256").exists()
        # a timeline of the selected finding as CSV
        await pilot.press("e")
        await settle(pilot, lambda: isinstance(app.screen, ExportScreen))
        dlg = app.screen
        dlg.query_one("#export-format", Select).value = "csv"
        await settle(pilot, lambda: dlg.query_one("#export-path", Input).value.endswith(".csv"))
        csv_path = tmp / "f1.csv"
        dlg.query_one("#export-path", Input).value = str(csv_path)
        dlg.action_export()
        await settle(pilot, lambda: app.screen is scr)
        rows = csv_path.read_text().splitlines()
        assert rows[0].startswith("time,") and len(rows) == 1 + 3  # finding 1: the 3 failures


@sync
async def test_export_dialog_reports_bad_time(case):
    eng, tmp = case
    app = Host(eng)
    async with app.run_test(size=(120, 40)) as pilot:
        scr = app.screen
        await settle(pilot, lambda: len(scr.items) == 2)
        await pilot.press("e")
        await settle(pilot, lambda: isinstance(app.screen, ExportScreen))
        dlg = app.screen
        dlg.query_one("#export-path", Input).value = str(tmp / "x.md")
        dlg.query_one("#export-at", Input).value = "not a time"
        dlg.action_export()
        await pilot.pause(0.05)
        assert isinstance(app.screen, ExportScreen)
        assert "not an ISO 8601 time" in str(dlg.query_one("#export-status", Static).render())
        assert not (tmp / "x.md").exists()
        await pilot.press("escape")
        await settle(pilot, lambda: app.screen is scr)


@sync
async def test_readiness_screen(case):
    from logconsole.tui.screens.readiness import ReadinessScreen

    eng, _ = case
    app = Host(eng)
    async with app.run_test(size=(140, 30)) as pilot:
        scr = app.screen
        await settle(pilot, lambda: len(scr.items) == 2)
        await pilot.press("r")
        await settle(pilot, lambda: isinstance(app.screen, ReadinessScreen) and app.screen.result is not None)
        rs = app.screen
        table = rs.query_one(DataTable)
        assert table.row_count == 1  # one format
        assert "jsonl" in str(table.get_row_at(0)[0])
        await pilot.press("s")
        await settle(pilot, lambda: len(rs.query_one(DataTable).columns) == 11)
        assert rs.query_one(DataTable).row_count == 1
        await pilot.press("escape")
        await settle(pilot, lambda: app.screen is scr)


@sync
async def test_add_marked_to_existing_and_new_finding(case):
    from textual.widgets import Static as _Static

    from logconsole.tui.screens.findings import add_marked_to_finding

    eng, _ = case

    class Plain(App):
        def __init__(self):
            super().__init__()
            self.done = []

        def compose(self):
            yield _Static("timeline stand-in")

    app = Plain()
    async with app.run_test(size=(120, 30)) as pilot:
        add_marked_to_finding(app, eng, app.done.append)
        await settle(pilot, lambda: isinstance(app.screen, PickScreen))
        await pilot.press("home", "down", "down", "enter")  # F2 (second existing finding)
        await settle(pilot, lambda: app.done == [2])
        with eng.connect() as conn:
            assert F.get_finding_row(conn, 2) and len(F.finding_event_ids(conn, 2)) == 4
        add_marked_to_finding(app, eng, app.done.append)
        await settle(pilot, lambda: isinstance(app.screen, PickScreen))
        await pilot.press("home", "enter")  # new finding
        await settle(pilot, lambda: not isinstance(app.screen, PickScreen) and app.screen.query(Input))
        app.screen.query_one(Input).value = "Fresh"
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, PickScreen))
        await pilot.press("home", "enter")
        await settle(pilot, lambda: len(app.done) == 2)
        fid = app.done[1]
        with eng.connect() as conn:
            row = F.get_finding_row(conn, fid)
            assert row["title"] == "Fresh" and row["severity"] == "critical"
            assert len(F.finding_event_ids(conn, fid)) == 2


def test_findings_keys_come_from_the_action_table():
    from logconsole.tui.actions import actions_of, help_rows

    table = actions_of("FindingsScreen")
    assert [b.action for b in FindingsScreen.BINDINGS] == [a.action for a in table]
    for a in table:
        assert hasattr(FindingsScreen, f"action_{a.action}")
    assert [r for r in help_rows() if r[0] == "Findings"] == [("Findings", a.display, a.description) for a in table]


@sync
async def test_export_dialog_asks_before_overwriting(case):
    eng, tmp = case
    app = Host(eng)
    target = tmp / "existing.md"
    target.write_text("keep me")
    async with app.run_test(size=(120, 40)) as pilot:
        scr = app.screen
        await settle(pilot, lambda: len(scr.items) == 2)
        await pilot.press("e")
        await settle(pilot, lambda: isinstance(app.screen, ExportScreen))
        dlg = app.screen
        dlg.query_one("#export-path", Input).value = str(target)
        dlg.action_export()
        await pilot.pause(0.05)
        assert "exists" in str(dlg.query_one("#export-status", Static).render()) and target.read_text() == "keep me"
        dlg.action_export()
        await settle(pilot, lambda: app.screen is scr)
        assert target.read_text().startswith("# Findings report")
