"""The identity screen (Textual Pilot and 80x24 snapshots) on the sample case."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import DataTable, Static

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    from logconsole.ingest import formats  # noqa: F401
    from logconsole.ingest.pipeline import ingest_paths
    from logconsole.store.db import open_db

    eng = open_db(str(tmp_path_factory.mktemp("idtui") / "case.db"))
    ingest_paths(eng, [str(SAMPLE / "cloudtrail"), str(SAMPLE / "k8s"), str(SAMPLE / "app")])
    yield eng
    eng.dispose()


class Host(App):
    def __init__(self, factory) -> None:
        super().__init__()
        self.factory = factory
        self.results: list = []

    def on_mount(self) -> None:
        self.push_screen(self.factory(), self.results.append)


async def _ready(pilot, app) -> None:
    for _ in range(300):
        await pilot.pause(0.02)
        s = app.screen
        if getattr(s, "walk", None) is not None and getattr(s, "page", None):
            return
    raise AssertionError("identity screen never loaded")


def _rows(table: DataTable, col: int = 0) -> list[str]:
    return [str(table.get_row_at(i)[col]) for i in range(table.row_count)]


def test_graph_tree_evidence_and_enter_gives_a_timeline_filter(case):
    from logconsole.tui.screens.identity import EvidenceScreen, IdentityScreen

    async def run():
        app = Host(lambda: IdentityScreen(case, alias="AKIARZ5EXAMPLE7CIDK2"))
        async with app.run_test(size=(80, 24)) as pilot:
            await _ready(pilot, app)
            graph = app.screen.query_one("#graph", DataTable)
            rows = _rows(graph)
            assert rows[0].startswith("AWS access key AKIARZ5EXAMPLE7CIDK2")
            assert any("━ → created_credential aws_key AKIARZ5EXAMPLEBK9Q4W" in r for r in rows)
            assert any("━ → assumed_session aws_session" in r and "ci-sync-1710379397" in r for r in rows)
            weak = [r for r in rows if "~weak" in r]
            assert any("same_name ~weak k8s_user ci-deploy" in r for r in weak)
            assert any("credential_use ~weak app_user svc-portal-admin" in r for r in weak)
            assert all(len(r) <= 80 for r in rows)
            # strong rows come before every weak row
            first_weak = next(i for i, r in enumerate(rows) if "~weak" in r)
            assert all("~weak" not in r for r in rows[:first_weak])
            # Enter on the created-credential link: its evidence, the CreateAccessKey call
            idx = next(i for i, r in enumerate(rows) if "created_credential" in r)
            graph.move_cursor(row=idx)
            await pilot.press("enter")
            await pilot.pause(0.2)
            assert isinstance(app.screen, EvidenceScreen)
            ev = app.screen.query_one("#ev-table", DataTable)
            assert _rows(ev, 3) == ["CreateAccessKey"]
            await pilot.press("enter")
            await pilot.pause(0.2)
        assert len(app.results) == 1 and app.results[0].startswith("id:")

    asyncio.run(run())


def test_events_pane_pages_by_keyset_and_flags_created_credentials(case):
    from logconsole.tui.screens.identity import PAGE, IdentityScreen

    async def run():
        app = Host(lambda: IdentityScreen(case, alias="AKIARZ5EXAMPLE7CIDK2"))
        async with app.run_test(size=(80, 24)) as pilot:
            await _ready(pilot, app)
            scr = app.screen
            await pilot.press("e")
            await pilot.pause(0.1)
            table = scr.query_one("#events", DataTable)
            assert table.row_count == PAGE  # one page, not every event
            first_page = list(scr.page)
            # the CreateAccessKey and AssumeRole calls are flagged +cred
            flagged = {a for a, f in zip(_rows(table, 3), _rows(table, 4)) if f == "+cred"}
            assert {"CreateAccessKey", "AssumeRole"} <= flagged
            table.move_cursor(row=table.row_count - 1)
            await pilot.press("down")
            for _ in range(100):
                await pilot.pause(0.02)
                if scr.page and scr.page[0] != first_page[0]:
                    break
            assert scr.page[0][:2] > first_page[-1][:2]  # the next keyset page, in time order
            line = str(scr.query_one("#id-line", Static).render())
            assert "events of every alias" in line
            # and back: the previous keyset page is the first one again
            table.move_cursor(row=0)
            await pilot.press("up")
            for _ in range(100):
                await pilot.pause(0.02)
                if scr.page[0] == first_page[0]:
                    break
            assert scr.page == first_page
            # sessions: Enter shows only that session's events
            await pilot.press("s")
            await pilot.pause(0.1)
            await pilot.press("enter")
            for _ in range(100):
                await pilot.pause(0.02)
                if scr.timeline_label.endswith("ci-sync-1710379397") and scr.page_total == 256:
                    break
            assert scr.page_total == 256
            # weak links off: the EKS user and the portal user leave the graph
            await pilot.press("escape")
            await pilot.press("g")
            await pilot.press("w")
            for _ in range(100):
                await pilot.pause(0.02)
                if scr.strong_only and scr.walk and all(r["reach"] == "strong" for r in scr.walk.aliases.values()):
                    break
            rows = _rows(scr.query_one("#graph", DataTable))
            assert not any("~weak" in r or "k8s_user" in r for r in rows)

    asyncio.run(run())


def test_w_from_the_timeline_opens_the_identity_of_the_event(case):
    from logconsole.tui.app import create_app
    from logconsole.tui.screens.identity import IdentityScreen

    async def run():
        app = create_app(case, initial_filter="action:CreateAccessKey outcome:success", analytics=False,
                         cursor_blink=False)
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(200):
                await pilot.pause(0.02)
                tl = app.timeline
                if tl is not None and tl.events.row_count:
                    break
            await pilot.press("W")
            await _ready(pilot, app)
            assert isinstance(app.screen, IdentityScreen)
            start = app.screen.walk.aliases[app.screen.walk.start]
            assert start["value"] == "AKIARZ5EXAMPLE7CIDK2"
            await pilot.press("e")
            await pilot.pause(0.1)
            await pilot.press("enter")
            await pilot.pause(0.3)
            assert app.timeline is app.screen
            assert app.timeline.current_text.startswith("id:")

    asyncio.run(run())


def test_actors_grouped_by_identity_role_session_under_its_caller(case):
    from logconsole.tui.screens.actors import ActorsScreen

    async def run():
        app = Host(lambda: ActorsScreen(case))
        async with app.run_test(size=(160, 48)) as pilot:
            for _ in range(300):
                await pilot.pause(0.02)
                if app.screen.analysis is not None:
                    break
            await pilot.press("i")
            for _ in range(300):
                await pilot.pause(0.02)
                if app.screen.groups is not None:
                    break
            await pilot.pause(0.1)
            table = app.screen.query_one("#actors-table", DataTable)
            names = _rows(table)
            head = next(i for i, n in enumerate(names)
                        if n.startswith("identity ") and n.endswith("arn:aws:iam::111122223333:user/ci-deploy"))
            block = []
            for i in range(head + 1, len(names)):
                if app.screen.rows[i] is None:
                    break
                block.append((app.screen.rows[i].name, names[i].strip()))
            assert block[0][0] == "arn:aws:iam::111122223333:user/ci-deploy"
            role = [text for name, text in block if name == "arn:aws:iam::111122223333:role/DataAnalyticsRole"]
            assert role and role[0].startswith("↳") and role[0].endswith("(session ci-sync-1710379397)")
            assert app.screen.rows[head] is None  # a heading, not an actor
            assert "grouped by identity" in str(app.screen.query_one("#actors-status", Static).render())
            await pilot.press("i")
            await pilot.pause(0.1)
            assert None not in app.screen.rows

    asyncio.run(run())


def test_hostile_names_are_inert(tmp_path):
    import json

    from logconsole.ingest import formats  # noqa: F401
    from logconsole.ingest.pipeline import ingest_paths
    from logconsole.store.db import open_db
    from logconsole.tui.screens.identity import IdentityScreen

    bad = "x\x1b]52;c;cHduZWQ=\x07[bold red]PWN[/bold red]\x1b[2J"
    f = tmp_path / "app.jsonl"
    f.write_text("\n".join(json.dumps({"time": f"2026-01-01T00:00:0{i}Z", "user": bad, "action": "login",
                                       "ip": "192.0.2.1"}) for i in range(3)) + "\n")
    eng = open_db(str(tmp_path / "h.db"))
    ingest_paths(eng, [str(f)], fmt="jsonl")

    async def run():
        app = Host(lambda: IdentityScreen(eng, event_id=1))
        async with app.run_test(size=(80, 24)) as pilot:
            await _ready(pilot, app)
            text = " ".join(_rows(app.screen.query_one("#graph", DataTable)))
            assert "\x1b" not in text and "\x07" not in text
            title = str(app.screen.query_one("#id-title", Static).render())
            assert "\x1b" not in title

    asyncio.run(run())
    eng.dispose()


@pytest.mark.parametrize("pane", ["graph", "events", "sessions"])
def test_snapshot_identity_screen_80x24(case, snap_compare, pane):
    """The identity screen of the leaked key at 80x24: the graph tree, the merged timeline, the sessions."""
    from logconsole.tui.screens.identity import IdentityScreen

    async def run_before(pilot) -> None:
        await _ready(pilot, pilot.app)
        if pane != "graph":
            await pilot.press(pane[0])
        else:
            await pilot.press("down", "down")
        await pilot.pause(0.2)

    app = Host(lambda: IdentityScreen(case, alias="AKIARZ5EXAMPLE7CIDK2"))
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
