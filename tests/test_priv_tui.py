"""Actors screen and actor detail (Textual Pilot): list, sort, detail, Enter -> timeline filter."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import DataTable, Static

from logconsole.analysis.privileges.grants import import_file

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def demo(engine):
    from logconsole.workflows.ingest import run_ingest

    run_ingest(engine, [str(DATA / "realdata" / "k8s-audit" / "demo.log")])
    import_file(engine, str(DATA / "rbac" / "demo-rbac.yaml"))
    return engine


class Host(App):
    def __init__(self, screen_factory) -> None:
        super().__init__()
        self.factory = screen_factory
        self.results: list = []

    def on_mount(self) -> None:
        self.push_screen(self.factory(), self.results.append)


async def _wait_rows(pilot, app, table_id: str, n_min: int = 1) -> DataTable:
    for _ in range(200):
        await pilot.pause(0.02)
        try:
            t = app.screen.query_one(table_id, DataTable)
        except Exception:
            continue
        if t.row_count >= n_min:
            return t
    raise AssertionError(f"{table_id} never filled")


def _cell_text(table: DataTable, row: int, col: int) -> str:
    return str(table.get_row_at(row)[col])


def test_actors_list_detail_and_enter_gives_a_timeline_filter(demo):
    from logconsole.tui.screens.actor_detail import ActorDetailScreen
    from logconsole.tui.screens.actors import ActorsScreen

    async def run():
        app = Host(lambda: ActorsScreen(demo))
        async with app.run_test(size=(160, 40)) as pilot:
            table = await _wait_rows(pilot, app, "#actors-table", 4)
            names = [_cell_text(table, i, 0) for i in range(table.row_count)]
            assert set(names) == {"alice", "bob", "system:admin", "system:serviceaccount:ns1:sa1"}
            # default sort: over-privilege (unused/granted) first; alice has used nothing
            assert names[0] == "alice"
            assert "█" in _cell_text(table, names.index("bob"), 11)
            # sort by denied attempts
            await pilot.press("s")  # -> events
            await pilot.press("s")  # -> denied
            await pilot.pause(0.05)
            names = [_cell_text(table, i, 0) for i in range(table.row_count)]
            assert names[0] in ("bob", "system:serviceaccount:ns1:sa1")
            status = str(app.screen.query_one("#actors-status", Static).render())
            assert "denied attempts" in status
            # open bob
            table.move_cursor(row=names.index("bob"))
            await pilot.press("enter")
            perm = await _wait_rows(pilot, app, "#perm-table", 3)
            assert isinstance(app.screen, ActorDetailScreen)
            states = [_cell_text(perm, i, 0) for i in range(perm.row_count)]
            assert "used" in states and "unused" in states and states.count("denied") == 3
            fin = app.screen.query_one("#finding-table", DataTable)
            kinds = {_cell_text(fin, i, 1) for i in range(fin.row_count)}
            assert "denied_attempt" in kinds
            # Enter on the first denied row: both screens dismiss with the filter string
            perm.move_cursor(row=states.index("denied"))
            await pilot.press("enter")
            await pilot.pause(0.1)
            assert app.results and isinstance(app.results[-1], str)
            flt = app.results[-1]
            assert "extra.impersonated_user:bob" in flt and 'action:"list pods"' in flt and "outcome:failure" in flt

    asyncio.run(run())


def test_detail_finding_enter_selects_evidence_and_policy_modal(demo):
    from logconsole.tui.screens.actor_detail import ActorDetailScreen
    from logconsole.tui.screens.policy import PolicyScreen

    async def run():
        app = Host(lambda: ActorDetailScreen(demo, "system:serviceaccount:ns1:sa1"))
        async with app.run_test(size=(160, 40)) as pilot:
            await _wait_rows(pilot, app, "#perm-table", 1)
            fin = await _wait_rows(pilot, app, "#finding-table", 1)
            await pilot.press("p")
            for _ in range(100):
                await pilot.pause(0.02)
                if isinstance(app.screen, PolicyScreen):
                    break
            assert isinstance(app.screen, PolicyScreen)
            assert "ClusterRole" in app.screen.text and "list" in app.screen.text
            await pilot.press("escape")
            await pilot.pause(0.05)
            kinds = [_cell_text(fin, i, 1) for i in range(fin.row_count)]
            fin.focus()
            fin.move_cursor(row=kinds.index("denied_attempt"))
            await pilot.press("enter")
            await pilot.pause(0.1)
            assert app.results and app.results[-1].startswith(("id:", "(id:"))

    asyncio.run(run())


def test_hostile_actor_names_are_inert(engine):
    """An actor name with escapes/markup is shown as inert text."""
    import json

    from logconsole.ingest.pipeline import ingest_paths
    from logconsole.tui.screens.actors import ActorsScreen

    evil = "evil\x1b]52;c;cHduZWQ=\x07[bold red]PWNED[/bold red]"
    rec = {"eventVersion": "1.08", "userIdentity": {"type": "IAMUser", "arn": evil, "accountId": "1"},
           "eventTime": "2026-01-01T00:00:00Z", "eventSource": "s3.amazonaws.com", "eventName": "ListBuckets",
           "awsRegion": "us-east-1", "sourceIPAddress": "10.0.0.1", "eventID": "e1"}
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "ct.json"
        p.write_text(json.dumps({"Records": [rec]}))
        ingest_paths(engine, [str(p)])

    async def run():
        app = Host(lambda: ActorsScreen(engine))
        async with app.run_test(size=(160, 30)) as pilot:
            table = await _wait_rows(pilot, app, "#actors-table", 1)
            cell = table.get_row_at(0)[0]
            assert "\x1b" not in cell.plain and "\x07" not in cell.plain
            await pilot.pause(0.1)
            line = app.screen.query_one("#actor-line", Static).render()
            plain = line.plain if hasattr(line, "plain") else str(line)
            assert "\x1b" not in plain and "\\x1b]52" in plain and "[bold red]PWNED" in plain

    asyncio.run(run())


def test_window_comes_from_the_timeline_filter(demo):
    """since:/until: in the timeline's filter become the privilege window."""
    from logconsole.tui.screens.actors import ActorsScreen
    from logconsole.tui.screens.actors_common import window_from_filter

    assert window_from_filter("actor:x since:2017-09-11T20:00:00Z") == (1505160000000000, None)
    assert window_from_filter("nothing here") == (None, None)

    async def run():
        app = Host(lambda: ActorsScreen(demo, filter_text="until:2017-09-11T20:00:00Z"))
        async with app.run_test(size=(160, 40)) as pilot:
            table = await _wait_rows(pilot, app, "#actors-table", 1)
            names = {_cell_text(table, i, 0): i for i in range(table.row_count)}
            # before 20:00 only bob (19:55-19:59) made requests; alice and the SA came later
            assert _cell_text(table, names["bob"], 2) == "4"
            assert _cell_text(table, names["alice"], 2) == "0"
            status = str(app.screen.query_one("#actors-status", Static).render())
            assert "2017-09-11T20:00:00Z" in status

    asyncio.run(run())


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_actors_screen(demo, snap_compare, size):
    """The Actors screen on the demo log + RBAC (compact columns at 80x24, all at 160x48)."""
    from logconsole.tui.screens.actors import ActorsScreen

    async def run_before(pilot) -> None:
        await _wait_rows(pilot, pilot.app, "#actors-table", 4)
        await pilot.app.workers.wait_for_complete()
        await pilot.press("down")
        for _ in range(3):  # the selected actor's panel loads in a worker: wait for it, not a fixed time
            await pilot.app.workers.wait_for_complete()
            await pilot.pause(0.05)

    app = Host(lambda: ActorsScreen(demo))
    assert snap_compare(app, terminal_size=size, run_before=run_before)
