"""From the timeline: bookmark events (m), then b adds them to a new finding."""

import asyncio

from textual.widgets import Input

from logconsole.store import findings as F
from logconsole.tui.app import create_app
from logconsole.tui.screens.choice import ChoiceScreen

from .tui_support import build_index, press, settle


def test_b_adds_bookmarked_events_to_a_new_finding(tmp_path):
    _db, eng = build_index(tmp_path)

    async def go():
        app = create_app(eng, cursor_blink=False, analytics=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot)
            await press(app, pilot, "m", "down", "down", "m", "b")
            for _ in range(200):
                if isinstance(app.screen, ChoiceScreen):
                    break
                await pilot.pause(0.01)
            await press(app, pilot, "home", "enter")  # "new finding"
            for _ in range(200):
                if app.screen.query(Input):
                    break
                await pilot.pause(0.01)
            app.screen.query_one(Input).value = "Recon from the leaked key"
            await press(app, pilot, "enter")
            for _ in range(200):
                if isinstance(app.screen, ChoiceScreen):
                    break
                await pilot.pause(0.01)
            await press(app, pilot, "home", "enter")  # most severe first: critical
            await settle(app, pilot)

    asyncio.run(go())
    with eng.connect() as conn:
        rows = F.list_findings(conn, with_counts=False)
        assert [r["title"] for r in rows] == ["Recon from the leaked key"]
        assert rows[0]["severity"] == "critical"
        assert len(F.finding_event_ids(conn, rows[0]["id"])) == 2
