"""The Findings screen (`R` from the timeline) and its export dialog (`e`).

Lists the findings in the investigator's order with severity, event count and
title; the pane on the right shows the selected finding (filter, time range,
narrative).  Everything here goes through :mod:`logconsole.store.findings`
and :mod:`logconsole.report`; log text is shown only through ``rich.text.Text``
after :func:`~logconsole.store.sanitize.inert` / ``one_line``.

Dismisses with a filter string (``finding:N``) to show that finding's events
in the timeline, or None.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from sqlalchemy import Engine
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from logconsole.util.timeparse import format_us
from logconsole.store import findings as F
from logconsole.store.sanitize import inert, one_line
from logconsole.util.severity import SEVERITY_STYLE
from logconsole.tui.actions import bindings
from logconsole.tui.screens.choice import ChoiceScreen
from logconsole.tui.screens.export import ExportScreen
from logconsole.tui.screens.narrative import NarrativeScreen
from logconsole.tui.screens.prompt import PromptScreen
from logconsole.tui.screens.readiness import ReadinessScreen




class FindingsScreen(Screen[str | None]):
    """Edit, reorder and delete findings; `e` opens the export dialog."""

    BINDINGS = bindings("FindingsScreen")

    DEFAULT_CSS = """
    FindingsScreen #findings-title { height: 1; padding: 0 1; }
    FindingsScreen #findings-body { height: 1fr; }
    FindingsScreen #findings-table { width: 3fr; height: 1fr; }
    FindingsScreen #finding-pane { width: 2fr; height: 1fr; border-left: solid $accent; padding: 0 1; }
    FindingsScreen #findings-help { height: auto; color: $text-muted; padding: 0 1; }
    """

    def __init__(self, engine: Engine, *, filter_text: str = "", where: Any = None) -> None:
        super().__init__()
        self.engine = engine
        self.filter_text = filter_text or ""
        self.items: list[dict[str, Any]] = []

    # ------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Static(id="findings-title")
        with Horizontal(id="findings-body"):
            yield DataTable(id="findings-table", cursor_type="row", zebra_stripes=False)
            with VerticalScroll(id="finding-pane"):
                yield Static(id="finding-detail")
        yield Static(
            Text("a new from bookmarks · c from filter · v from view · + attach bookmarks · t title · s severity · "
                 "n narrative · f filter · K/J move · x delete · e export · r readiness · Enter events", style="dim"),
            id="findings-help",
        )
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        # explicit widths: the layout never depends on when rows are measured
        for label, width in (("#", 3), ("severity", 8), ("events", 7), ("time range (UTC)", 44), ("title", 80)):
            table.add_column(label, width=width)
        self.reload()
        table.focus()

    # ------------------------------------------------------------ data
    def reload(self, select_id: int | None = None) -> None:
        self._load(select_id)

    @work(thread=True, exclusive=True, group="findings-load")
    def _load(self, select_id: int | None) -> None:
        with self.engine.connect() as conn:
            items = F.list_findings(conn)
        self.app.call_from_thread(self._show, items, select_id)

    def _show(self, items: list[dict[str, Any]], select_id: int | None) -> None:
        if not self.is_mounted:  # dismissed while loading
            return
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        self.items = items
        for f in items:
            span = f"{format_us(f['first_us'], precision='s')} .. {format_us(f['last_us'], precision='s')}" if f["events"] else "-"
            table.add_row(
                Text(str(f["position"])), Text(f["severity"], style=SEVERITY_STYLE.get(f["severity"], "")),
                Text(f"{f['events']:,}", justify="right"), Text(span), Text(one_line(f["title"], 80)), key=str(f["id"]),
            )
        n = len(items)
        self.query_one("#findings-title", Static).update(
            Text(f"Findings: {n}" + ("" if n else " - press a to make one from the bookmarked events, c from the current filter"),
                 style="bold"))
        if items:
            row = keep
            if select_id is not None:
                row = next((i for i, f in enumerate(items) if f["id"] == select_id), keep)
            table.move_cursor(row=max(0, min(row, n - 1)))
        self._detail()

    def current(self) -> dict[str, Any] | None:
        if not self.items:
            return None
        table = self.query_one(DataTable)
        return self.items[max(0, min(table.cursor_row, len(self.items) - 1))]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def _detail(self) -> None:
        f = self.current()
        pane = self.query_one("#finding-detail", Static)
        if f is None:
            pane.update(Text(""))
            return
        t = Text()
        t.append(f"F{f['id']}  ", style="bold")
        t.append(f["severity"], style=SEVERITY_STYLE.get(f["severity"], ""))
        t.append("\n")
        t.append(one_line(f["title"]), style="bold")
        t.append("\n\n")
        t.append(f"{f['events']:,} event(s)")
        if f["events"]:
            t.append(f"  {format_us(f['first_us'])} .. {format_us(f['last_us'])}")
        t.append("\n")
        if f["attached"]:
            t.append(f"{f['attached']:,} attached" + (f" ({f['missing']} no longer in the index)" if f["missing"] else "") + "\n")
        if f["query"]:
            t.append("filter: ", style="dim")
            t.append(one_line(f["query"]) + "\n")
        if f.get("query_error"):
            t.append(one_line(f["query_error"], 200) + " (f to fix it)\n", style="bold red")
        t.append("\n")
        if f["narrative"]:
            t.append(inert(f["narrative"], keep_newlines=True))
        else:
            t.append("no narrative yet (n to write one)", style="dim italic")
        pane.update(t)

    # ------------------------------------------------------------ helpers
    def _write(self, fn, *args, select_id: int | None = None, **kw) -> Any:
        try:
            with self.engine.begin() as conn:
                res = fn(conn, *args, **kw)
        except F.FindingError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return None
        self.reload(select_id)
        return res

    def _marked_ids(self) -> list[int]:
        from logconsole.store import annotations as A

        with self.engine.connect() as conn:
            return A.marked_event_ids(conn)

    def _prompt(self, title: str, callback, *, value: str = "", hint: str = "", validate=None) -> None:

        self.app.push_screen(PromptScreen(title, value=value, hint=hint, validate=validate), callback)

    def _pick_severity(self, callback, current: str = "medium") -> None:
        items = [(s + ("  (current)" if s == current else ""), s) for s in reversed(F.SEVERITIES)]
        self.app.push_screen(ChoiceScreen("Severity", items, selected=current), callback)

    @staticmethod
    def _check_filter(text: str) -> str | None:
        if not text.strip():
            return None
        try:
            F.check_query(text)
        except F.FindingError as exc:
            return str(exc)
        return None

    # ------------------------------------------------------------ actions
    def action_open(self) -> None:
        f = self.current()
        if f is not None:
            self.dismiss(f"finding:{f['id']}")

    def _new(self, *, ids: list[int], query: str | None, what: str) -> None:
        def got_title(title: str | None) -> None:
            if not title or not title.strip():
                return

            def got_sev(sev: str | None) -> None:
                if sev is None:
                    return
                fid = self._write(F.create_finding, title, severity=sev, query=query, event_ids=ids)
                if fid is not None:
                    self.reload(fid)
                    self.notify(f"finding {fid} created from {what}", markup=False, timeout=3)

            self._pick_severity(got_sev)

        self._prompt(f"New finding from {what}: title", got_title, hint="Enter to continue, Esc to cancel")

    def action_new_from_marked(self) -> None:
        ids = self._marked_ids()
        if not ids:
            self.notify("no bookmarked events: mark events in the timeline with m", severity="warning", markup=False)
            return
        self._new(ids=ids, query=None, what=f"{len(ids)} bookmarked event(s)")

    def action_new_from_filter(self) -> None:
        text = self.filter_text.strip()
        if not text:
            self.notify("the timeline has no filter; every event would match", severity="warning", markup=False)
            return
        err = self._check_filter(text)
        if err:
            self.notify(err, severity="error", markup=False)
            return
        self._new(ids=[], query=text, what="the current filter")

    def action_new_from_view(self) -> None:
        from logconsole.store import annotations as A
        with self.engine.connect() as conn:
            views = A.list_views(conn)
        if not views:
            self.notify("no saved views (save one in the timeline with s)", severity="warning", markup=False)
            return

        def picked(q: str | None) -> None:
            if q:
                self._new(ids=[], query=q, what="a saved view")

        self.app.push_screen(ChoiceScreen("New finding from the saved view", [(f"{n}: {q}", q) for n, q in views]), picked)

    def action_attach_marked(self) -> None:
        f = self.current()
        if f is None:
            return
        ids = self._marked_ids()
        if not ids:
            self.notify("no bookmarked events", severity="warning", markup=False)
            return
        n = self._write(F.attach_events, f["id"], ids, select_id=f["id"])
        if n is not None:
            self.notify(f"{n} event(s) attached to finding {f['id']}", markup=False, timeout=3)

    def action_edit_title(self) -> None:
        f = self.current()
        if f is None:
            return

        def done(title: str | None) -> None:
            if title is not None and title.strip():
                self._write(F.update_finding, f["id"], title=title, select_id=f["id"])

        self._prompt("Title", done, value=f["title"])

    def action_edit_severity(self) -> None:
        f = self.current()
        if f is None:
            return

        def done(sev: str | None) -> None:
            if sev:
                self._write(F.update_finding, f["id"], severity=sev, select_id=f["id"])

        self._pick_severity(done, f["severity"])

    def action_edit_narrative(self) -> None:
        f = self.current()
        if f is None:
            return

        def done(text: str | None) -> None:
            if text is not None:
                self._write(F.update_finding, f["id"], narrative=text, select_id=f["id"])

        self.app.push_screen(NarrativeScreen(f["title"], f["narrative"] or ""), done)

    def action_edit_filter(self) -> None:
        f = self.current()
        if f is None:
            return

        def done(text: str | None) -> None:
            if text is None:
                return
            if text.strip():
                self._write(F.update_finding, f["id"], query=text, select_id=f["id"])
            else:
                self._write(F.update_finding, f["id"], clear_query=True, select_id=f["id"])

        self._prompt("Saved filter (empty: attached events only)", done, value=f["query"] or "",
                     hint="filter language, e.g. ip:203.0.113.77 outcome:failure", validate=self._check_filter)

    def _move(self, delta: int) -> None:
        f = self.current()
        if f is None:
            return
        self._write(F.move_finding, f["id"], f["position"] + delta, select_id=f["id"])

    def action_move_up(self) -> None:
        self._move(-1)

    def action_move_down(self) -> None:
        self._move(+1)

    def action_delete(self) -> None:
        f = self.current()
        if f is None:
            return

        def done(answer: str | None) -> None:
            if answer == "yes":
                self._write(F.delete_finding, f["id"])
                self.notify(f"finding {f['id']} deleted", markup=False, timeout=3)

        self.app.push_screen(ChoiceScreen(f"Delete finding {f['id']} ({one_line(f['title'], 60)})? Its events stay in the index.",
                                        [("no, keep it", "no"), ("yes, delete", "yes")]), done)

    def action_export(self) -> None:
        f = self.current()
        self.app.push_screen(ExportScreen(self.engine, finding_id=f["id"] if f else None, filter_text=self.filter_text))

    def action_readiness(self) -> None:
        self.app.push_screen(ReadinessScreen(self.engine))

    def action_back(self) -> None:
        self.dismiss(None)


def add_marked_to_finding(app, engine: Engine, on_done=None) -> None:
    """From any screen (e.g. the timeline): attach the bookmarked events to a new or existing finding.

    Pushes a picker ("new finding…" or one of the findings); a new finding then
    asks for its title and severity.  *on_done(finding_id | None)* runs at the end.
    """
    from logconsole.store import annotations as A

    with engine.connect() as conn:
        ids = A.marked_event_ids(conn)
        existing = F.list_findings(conn, with_counts=False)
    finish = on_done or (lambda _fid: None)
    if not ids:
        app.notify("no bookmarked events: mark events with m first", severity="warning", markup=False)
        finish(None)
        return

    def attach(fid: int) -> None:
        try:
            with engine.begin() as conn:
                n = F.attach_events(conn, fid, ids)
        except F.FindingError as exc:
            app.notify(str(exc), severity="error", markup=False)
            finish(None)
            return
        app.notify(f"{n} bookmarked event(s) added to finding {fid}", markup=False, timeout=3)
        finish(fid)

    def new() -> None:
        def got_title(title: str | None) -> None:
            if not title or not title.strip():
                finish(None)
                return

            def got_sev(sev: str | None) -> None:
                if sev is None:
                    finish(None)
                    return
                try:
                    with engine.begin() as conn:
                        fid = F.create_finding(conn, title, severity=sev, event_ids=ids)
                except F.FindingError as exc:
                    app.notify(str(exc), severity="error", markup=False)
                    finish(None)
                    return
                app.notify(f"finding {fid} created from {len(ids)} bookmarked event(s)", markup=False, timeout=3)
                finish(fid)

            app.push_screen(ChoiceScreen("Severity", [(x, x) for x in reversed(F.SEVERITIES)]), got_sev)

        app.push_screen(PromptScreen(f"New finding from {len(ids)} bookmarked event(s): title",
                                     hint="Enter to continue, Esc to cancel"), got_title)

    def picked(value: str | None) -> None:
        if value is None:
            finish(None)
        elif value == "new":
            new()
        else:
            attach(int(value))

    items = [("New finding…", "new")] + [
        (f"F{f['id']}  [{f['severity']}]  {one_line(f['title'], 70)}", str(f["id"])) for f in existing
    ]
    app.push_screen(ChoiceScreen(f"Add {len(ids)} bookmarked event(s) to", items), picked)
