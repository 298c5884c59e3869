"""The marks view: every bookmarked, noted or tagged event (`M`).

Dismisses with the event id to go to (or None).
"""

from __future__ import annotations

from rich.text import Text
from sqlalchemy import Engine, select
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from logconsole.util.timeparse import format_us
from logconsole.store import annotations as ann
from logconsole.store.schema import events
from logconsole.tui.actions import bindings
from logconsole.tui.cells import middle_cut
from logconsole.store.sanitize import one_line
from logconsole.tui.widgets.event_list import short_actor


class MarksScreen(Screen[int | None]):
    BINDINGS = bindings("MarksScreen")

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.items: list[dict] = []

    def compose(self) -> ComposeResult:
        yield Static(id="marks-title")
        yield DataTable(id="marks-table", cursor_type="row", zebra_stripes=False)
        yield Static(id="marks-note")  # the selected event's note and tags in full width
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        # fixed widths, the note takes the rest: at 80 columns it is on screen, not past the edge
        width = max(80, self.app.size.width)
        # who annotated: a column from 100 columns on, else on the line under the table
        self._w = {"actor": 12, "action": 12, "tags": 8, **({"by": 10} if width >= 100 else {})}
        note_w = max(12, width - 2 - (1 + 20 + sum(self._w.values())) - (len(self._w) + 3) * 2)
        self._w["note"] = note_w
        table.add_column("", width=1)
        table.add_column("time (UTC)", width=20)
        for name in ("actor", "action", "tags", "by", "note"):
            if name not in self._w:
                continue
            table.add_column(name, width=self._w[name])
        self.reload()
        table.focus()

    def reload(self) -> None:
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        with self.engine.connect() as conn:
            self.items = ann.annotated_events(conn)
            ids = [d["event_id"] for d in self.items if d["event_id"] is not None]
            info = {
                r.id: r
                for i in range(0, len(ids), 900)
                for r in conn.execute(select(events.c.id, events.c.actor, events.c.action).where(events.c.id.in_(ids[i:i + 900])))
            }
        for d in self.items:
            r = info.get(d["event_id"])
            cells = [
                Text("*" if d["marked"] else "+"),
                Text(format_us(d["ts_us"], precision="s") if d["ts_us"] is not None else "(not in index)"),
                Text(middle_cut(short_actor(r.actor) if r else "-", self._w["actor"])),
                Text(middle_cut((r.action if r else None) or "-", self._w["action"])),
                Text(middle_cut(", ".join(d["tags"]), self._w["tags"])),
            ]
            if "by" in self._w:
                cells.append(Text(middle_cut(one_line(d["updated_by"] or d["created_by"] or "-"), self._w["by"])))
            cells.append(Text(middle_cut(one_line(d["note"] or ""), self._w["note"])))
            table.add_row(*cells)
        n_marked = sum(1 for d in self.items if d["marked"])
        n_noted = sum(1 for d in self.items if (d["note"] or "").strip())
        n_tagged = sum(1 for d in self.items if d["tags"])
        self.query_one("#marks-title", Static).update(
            Text(f"{n_marked} bookmarked · {n_noted} with a note · {n_tagged} tagged "
                 "(* bookmarked, + note or tags only)", style="bold")
        )
        if self.items:
            table.move_cursor(row=min(keep, len(self.items) - 1))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_note()

    def _show_note(self) -> None:
        d = self._current()
        t = Text(no_wrap=True, overflow="ellipsis")
        if d is not None:
            width = max(20, self.size.width - 2)
            if d["tags"]:
                t.append("tags: ", style="bold")
                t.append(middle_cut(", ".join(d["tags"]), width // 3) + "  ")
            who = ann.authors_text(d)
            if who:
                t.append("by: ", style="bold")
                t.append(middle_cut(one_line(who), width // 3) + "  ")
            if d["note"]:
                t.append("note: ", style="bold")
                t.append(middle_cut(one_line(d["note"]), max(10, width - t.cell_len - 6)))
        self.query_one("#marks-note", Static).update(t)

    def _current(self) -> dict | None:
        table = self.query_one(DataTable)
        if not self.items:
            return None
        return self.items[min(table.cursor_row, len(self.items) - 1)]

    def action_open(self) -> None:
        d = self._current()
        if d is None:
            return
        if d["event_id"] is None:
            self.app.notify("that event is not in the index any more", severity="warning", markup=False)
            return
        self.dismiss(d["event_id"])

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_unmark(self) -> None:
        d = self._current()
        if d is None or d["event_id"] is None:
            return
        with self.engine.begin() as conn:
            ann.set_mark(conn, d["event_id"], False)
        self.app.annotations_changed()
        self.reload()

    def action_edit_note(self) -> None:
        d = self._current()
        if d is not None and d["event_id"] is not None:
            self.app.edit_note(d["event_id"], self.reload)

    def action_add_tag(self) -> None:
        d = self._current()
        if d is not None and d["event_id"] is not None:
            self.app.edit_tag(d["event_id"], self.reload)

    def action_back(self) -> None:
        self.dismiss(None)
