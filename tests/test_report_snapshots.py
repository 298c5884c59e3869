"""SVG snapshots of the Findings screen and the readiness screen (80x24 and 160x48).

Update with ``pytest tests/test_report_snapshots.py --snapshot-update`` after checking the SVGs by eye.
"""

from __future__ import annotations

import json

import pytest
from textual.app import App

from logconsole.ingest.pipeline import ingest_paths
from logconsole.store import annotations as A
from logconsole.store import findings as F
from logconsole.store import queries
from logconsole.store.db import open_db
from logconsole.tui.screens.findings import FindingsScreen
from logconsole.tui.screens.readiness import ReadinessScreen

SIZES = [(80, 24), (160, 48)]


@pytest.fixture
def snap_engine(tmp_path):
    src = tmp_path / "portal.jsonl"
    lines = [json.dumps({"ts": f"2026-03-14T01:{i:02d}:00.500Z", "actor": "evil\x1b[2J[bold]x[/]" if i == 3 else f"user{i % 3}",
                         "action": "login" if i % 2 else "export", "outcome": "failure" if i % 4 == 0 else "success",
                         "resource": f"r{i}", "src_ip": "203.0.113.9"}) for i in range(12)]
    src.write_text("\n".join(lines) + "\n")
    eng = open_db(str(tmp_path / "case.db"))
    ingest_paths(eng, [str(src)], fmt="jsonl")
    with eng.begin() as conn:
        ids = [e["id"] for e in queries.search(conn, None, limit=None)]
        F.create_finding(conn, "Failed logins from one address", severity="high", query="outcome:failure",
                         narrative="Three **failures** from `203.0.113.9`.\n\nEscape \x1b[31mred\x1b[0m shown inert.", now_us=0)
        F.create_finding(conn, "Exports [link](http://x) | pipes", severity="critical", event_ids=ids[:2], now_us=0)
        F.create_finding(conn, "Background", severity="info", query="outcome:success", now_us=0)
        A.set_mark(conn, ids[5], True)
    yield eng
    eng.dispose()


class Host(App):
    def __init__(self, engine, screen_cls) -> None:
        super().__init__()
        self.engine = engine
        self.screen_cls = screen_cls

    def on_mount(self) -> None:
        self.push_screen(self.screen_cls(self.engine))


async def _loaded(pilot) -> None:
    app = pilot.app
    for _ in range(500):
        await pilot.pause(0.01)
        scr = app.screen
        if isinstance(scr, FindingsScreen) and scr.items:
            break
        if isinstance(scr, ReadinessScreen) and scr.result is not None:
            break
    await pilot.pause(0.2)
    await pilot.wait_for_scheduled_animations()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_findings(snap_engine, snap_compare, size):
    assert snap_compare(Host(snap_engine, FindingsScreen), terminal_size=size, run_before=_loaded)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_readiness(snap_engine, snap_compare, size):
    assert snap_compare(Host(snap_engine, ReadinessScreen), terminal_size=size, run_before=_loaded)
