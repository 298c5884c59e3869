"""Two consoles on one PostgreSQL index at the same time (Pilot): nothing lost, each change attributed."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import select

from logconsole.store import annotations as ann
from logconsole.store import findings as F
from logconsole.store.annotations_schema import annotations
from logconsole.store.dialect import AS_OPTION
from logconsole.tui.app import create_app
from logconsole.tui.screens.timeline import TimelineScreen
from logconsole.tui.widgets.event_list import EventList

from tests.tui_support import press, settle, standard_records, sync, type_text


def _index(url: str, tmp_path) -> None:
    from logconsole.ingest.pipeline import ingest_paths
    from logconsole.store.db import open_db

    src = tmp_path / "case.json"
    src.write_text(json.dumps({"Records": standard_records()}), encoding="utf-8")
    eng = open_db(url)
    assert not ingest_paths(eng, [str(src)]).errors
    eng.dispose()


@sync
async def test_two_consoles_annotate_and_add_findings_at_once(pg_url, tmp_path):
    from logconsole.store.db import open_db

    _index(pg_url, tmp_path)
    engines = {name: open_db(pg_url).execution_options(**{AS_OPTION: name}) for name in ("ana", "ben")}
    rows: dict[str, list[int]] = {}

    async def console(name: str, start: int) -> None:
        eng = engines[name]
        app = create_app(eng, cursor_blink=False, analytics=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot)
            assert isinstance(app.screen, TimelineScreen)
            ev = app.screen.query_one(EventList)
            mine = []
            for i in range(start, start + 8, 2):  # the two consoles interleave rows
                ev.move_to(i)
                await press(app, pilot, "m", "t")
                await type_text(app, pilot, name)
                await press(app, pilot, "enter")
                mine.append(ev.current_row.id)
                await asyncio.sleep(0)  # let the other console run between changes
                with eng.begin() as conn:  # a finding per mark, as the findings screen makes it
                    F.create_finding(conn, f"{name} {i}", event_ids=[ev.current_row.id])
            rows[name] = mine

    await asyncio.gather(console("ana", 0), console("ben", 1))
    with engines["ana"].connect() as conn:
        marked = set(ann.marked_event_ids(conn))
        assert marked == set(rows["ana"]) | set(rows["ben"]) and len(marked) == 8
        by = dict(conn.execute(select(annotations.c.event_id, annotations.c.created_by)).all())
        for name in ("ana", "ben"):
            assert {by[i] for i in rows[name]} == {name}
            assert {ann.get_annotation(conn, i)["tags"][0] for i in rows[name]} == {name}
        found = F.list_findings(conn)
        assert len(found) == 8 and sorted(f["position"] for f in found) == list(range(1, 9))
        assert {f["created_by"] for f in found} == {"ana", "ben"}
    for eng in engines.values():
        eng.dispose()


@sync
async def test_the_console_shows_who_made_each_annotation(pg_url, tmp_path):
    """The marks view and the event detail name who annotated an event (``--as NAME`` or the
    database role) and who last changed it."""
    from logconsole.store.db import open_db
    from logconsole.tui.screens.detail import EventDetailScreen
    from logconsole.tui.screens.marks import MarksScreen

    from tests.tui_support import screen_text

    _index(pg_url, tmp_path)
    ana = open_db(pg_url).execution_options(**{AS_OPTION: "ana"})
    ben = open_db(pg_url).execution_options(**{AS_OPTION: "ben"})
    with ana.connect() as conn:
        first, second = [r[0] for r in conn.exec_driver_sql("SELECT id FROM events ORDER BY ts_us, id LIMIT 2")]
    with ana.begin() as conn:
        ann.set_mark(conn, first)
        ann.set_note(conn, first, "ana's lead")
    with ben.begin() as conn:
        ann.set_note(conn, second, "ben's lead")
    app = create_app(ben, cursor_blink=False, analytics=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "M")
        assert isinstance(app.screen, MarksScreen)
        rows = [[str(c) for c in app.screen.query_one("DataTable").get_row_at(i)] for i in range(2)]
        assert [r[5] for r in rows] == ["ana", "ben"]
        assert "by: ana" in screen_text(app)
        await press(app, pilot, "c")  # ben changes ana's note
        app.screen.query_one("#prompt-input").value = ""
        await type_text(app, pilot, "lead, checked")
        await press(app, pilot, "enter")
        assert isinstance(app.screen, MarksScreen)
        assert "by: ana, last changed by ben" in screen_text(app)
        await press(app, pilot, "enter")  # to the event on the timeline, then its detail
        await press(app, pilot, "enter")
        assert isinstance(app.screen, EventDetailScreen)
        assert "by ana, last changed by ben" in screen_text(app)
    ana.dispose()
    ben.dispose()


@sync
async def test_sql_prompt_on_postgresql(pg_url, tmp_path):
    """The console's `:` prompt on a server index: rows from the documented views, writes refused."""
    from logconsole.store.db import open_db
    from logconsole.tui.screens.sql import SqlScreen

    from tests.tui_support import screen_text

    _index(pg_url, tmp_path)
    eng = open_db(pg_url)
    with eng.connect() as conn:
        n = conn.exec_driver_sql("SELECT count(*) FROM events").scalar()
    app = create_app(eng, cursor_blink=False, analytics=False)
    async with app.run_test(size=(100, 24)) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "colon")
        scr = app.screen
        assert isinstance(scr, SqlScreen)
        for stmt, want in (("SELECT count(*) AS n FROM events", f"{n}"), ("DELETE FROM events", "not allowed")):
            if scr.result is not None:
                await press(app, pilot, "colon")  # back to the statement from the results
            scr.query_one("Input").value = ""
            await type_text(app, pilot, stmt)
            await press(app, pilot, "enter")
            for _ in range(200):
                if not scr.running:
                    break
                await pilot.pause(0.05)
            assert want in screen_text(app), stmt
    with eng.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM events").scalar() == n
    eng.dispose()
