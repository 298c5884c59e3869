"""SVG snapshots of the console: timeline, event detail and help at 80x24 and 160x48 (cursor blink off).

The histogram and facet widgets are left out (their own snapshots cover them).
Update with ``pytest tests/test_tui_snapshots.py --snapshot-update`` after
checking the new SVGs by eye.
"""

from __future__ import annotations

import pytest
from sqlalchemy import update

from logconsole.store.schema import sources
from logconsole.tui.app import create_app

from tests.tui_support import build_index, hostile_records, settle, standard_records

SIZES = [(80, 24), (160, 48)]


@pytest.fixture
def snap_engine(tmp_path):
    _, eng = build_index(tmp_path, standard_records() + hostile_records())
    with eng.begin() as conn:  # the temp path would make the provenance line differ per run
        conn.execute(update(sources).values(path="/evidence/case/cloudtrail.json", ingested_at=0))
    yield eng
    eng.dispose()


def _app(engine):
    return create_app(engine, cursor_blink=False, analytics=False)


def _runner(*keys: str):
    async def run_before(pilot) -> None:
        app = pilot.app
        await settle(app, pilot)
        for k in keys:
            await pilot.press(k)
            await settle(app, pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_timeline(snap_engine, snap_compare, size):
    # cursor on a failure, column cursor on "action"
    assert snap_compare(_app(snap_engine), terminal_size=size,
                        run_before=_runner("down", "down", "down", "down", "down", "down", "right"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_detail(snap_engine, snap_compare, size):
    assert snap_compare(_app(snap_engine), terminal_size=size,
                        run_before=_runner("down", "down", "down", "down", "down", "down", "enter"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_help(snap_engine, snap_compare, size, monkeypatch):
    from logconsole.tui.screens import help as help_screen

    # the analytics widgets' and other screens' sections (at the end) would change the scrollbar: snapshot the
    # timeline's, the detail's, the lists' and the findings' keys only
    later = {"Histogram (focused)", "Facets (focused)", "Frequency table (Shift+F)", "Actors screen (A)",
             "Integrity screen (I)"}
    rows = [r for r in help_screen.help_rows() if r[0] not in later]
    monkeypatch.setattr(help_screen, "help_rows", lambda: rows)
    monkeypatch.setattr(help_screen, "_filter_rows", lambda: [])
    assert snap_compare(_app(snap_engine), terminal_size=size, run_before=_runner("question_mark"))
