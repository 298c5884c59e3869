"""The Findings screen (`R` from the timeline) and its export dialog (`e`).

Lists the findings in the investigator's order with severity, event count and
title; the pane on the right shows the selected finding (filter, time range,
narrative).  Everything here goes through :mod:`logconsole.store.findings_schema`
and :mod:`logconsole.report`; log text is shown only through ``rich.text.Text``
after :func:`~logconsole.store.sanitize.inert` / ``one_line``.

Dismisses with a filter string (``finding:N``) to show that finding's events
in the timeline, or None.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from rich.text import Text
from sqlalchemy import Engine
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Input, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option

from logconsole.util.timeparse import format_us
from logconsole.store import findings_schema as F
from logconsole.store.sanitize import inert, one_line

def _tail(path: str, width: int) -> str:
    s = one_line(path)
    return s if len(s) <= width else "…" + s[-(width - 1):]


SEVERITY_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}

#: (keys, action, description) - also shown by the screen's help line
FINDINGS_KEYS: list[tuple[str, str, str]] = [
    ("enter", "open", "Show the finding's events in the timeline"),
    ("a", "new_from_marked", "New finding from the bookmarked events"),
    ("c", "new_from_filter", "New finding from the timeline's current filter"),
    ("v", "new_from_view", "New finding from a saved view"),
    ("plus", "attach_marked", "Attach the bookmarked events to this finding"),
    ("t", "edit_title", "Edit the title"),
    ("s", "edit_severity", "Set the severity"),
    ("n", "edit_narrative", "Edit the narrative (Markdown)"),
    ("f", "edit_filter", "Edit the saved filter"),
    ("K", "move_up", "Move up"),
    ("J", "move_down", "Move down"),
    ("x,delete", "delete", "Delete the finding"),
    ("e", "export", "Export: report or timeline"),
    ("r", "readiness", "Audit readiness of the sources"),
    ("escape,q", "back", "Back"),
]


def keymap_entries() -> dict[str, list]:
    """This module's keys as ``logconsole.tui.keymap.Key`` lists, for the `?` help and the palette.

    ``KEYMAP.update(keymap_entries())`` adds the contexts "Findings",
    "Audit readiness" and "Narrative editor".
    """
    from logconsole.tui.keymap import Key

    return {
        "Findings": [Key(k, a, d, show=a in ("open", "new_from_marked", "export", "back", "delete"),
                         display=" ".join(x if len(x) == 1 else x.capitalize() for x in k.split(",")))
                     for k, a, d in FINDINGS_KEYS],
        "Audit readiness": [Key("s", "toggle", "Per source / per format", show=True),
                            Key("escape,q", "back", "Back", show=True, display="Esc q")],
        "Narrative editor": [Key("ctrl+o", "save", "Save the narrative", display="Ctrl+O"),
                             Key("escape", "cancel", "Cancel", display="Esc")],
    }


class ChoiceScreen(ModalScreen[str | None]):
    """Pick one of several (label, value) items; Enter picks, Escape cancels (None)."""

    BINDINGS = [Binding("escape,q", "cancel", "cancel", show=False)]
    DEFAULT_CSS = """
    ChoiceScreen { align: center middle; }
    ChoiceScreen #choice-box { width: 76; max-width: 100%; height: auto; border: round $accent; background: $surface; padding: 0 1; }
    ChoiceScreen OptionList { height: auto; max-height: 16; }
    """

    def __init__(self, title: str, items: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.items = items

    def compose(self) -> ComposeResult:
        with Vertical(id="choice-box"):
            yield Static(Text(one_line(self.title_text, 200), style="bold"))
            yield OptionList(*[Option(Text(one_line(label, 200)), id=str(i)) for i, (label, _) in enumerate(self.items)])

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.items[int(event.option.id or 0)][1])

    def action_cancel(self) -> None:
        self.dismiss(None)


class FindingsScreen(Screen[str | None]):
    """Edit, reorder and delete findings; `e` opens the export dialog."""

    BINDINGS = [
        Binding(keys, action, desc.split(" (")[0], show=action in ("open", "new_from_marked", "export", "back", "delete"))
        for keys, action, desc in FINDINGS_KEYS
    ]

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
        F.install_resolver(engine)

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
        from logconsole.tui.screens.prompt import PromptScreen

        self.app.push_screen(PromptScreen(title, value=value, hint=hint, validate=validate), callback)

    def _pick_severity(self, callback, current: str = "medium") -> None:
        items = [(s + ("  (current)" if s == current else ""), s) for s in reversed(F.SEVERITIES)]
        self.app.push_screen(ChoiceScreen("Severity", items), callback)

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
    from logconsole.tui.screens.prompt import PromptScreen

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


class ReadinessScreen(Screen[None]):
    """Audit readiness per format (or per source with `s`), and the grants counts."""

    BINDINGS = [Binding("s", "toggle", "per source / per format", show=True), Binding("escape,q", "back", "back", show=True)]
    DEFAULT_CSS = """
    ReadinessScreen #ready-title { height: 1; padding: 0 1; }
    ReadinessScreen #ready-table { height: 1fr; }
    ReadinessScreen #ready-grants-box { height: auto; max-height: 12; padding: 0 1; border-top: solid $accent; }
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.result: dict[str, Any] | None = None
        self.per_source = False

    def compose(self) -> ComposeResult:
        yield Static(Text("Audit readiness: computing…", style="bold"), id="ready-title")
        yield DataTable(id="ready-table", cursor_type="row", zebra_stripes=False)
        with VerticalScroll(id="ready-grants-box"):
            yield Static(id="ready-grants")
        yield Footer()

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="readiness")
    def _load(self) -> None:
        from logconsole.report.readiness import readiness

        res = readiness(self.engine)
        self.app.call_from_thread(self._show, res)

    @staticmethod
    def _pct(n: int, d: int) -> str:
        return f"{100 * n / d:.0f}%" if d else "-"

    def _show(self, res: dict[str, Any]) -> None:
        if not self.is_mounted:
            return
        self.result = res
        table = self.query_one(DataTable)
        table.clear(columns=True)
        if self.per_source:
            for label, width in (("score", 5), ("grade", 9), ("format", 16), ("events", 9), ("ok / fail", 17), ("actor", 5),
                                 ("ms", 5), ("resource", 8), ("tamper-evident", 14), ("source", 70), ("notes", 80)):
                table.add_column(label, width=width)
            for r in sorted(res["sources"], key=lambda r: (r["score"], r["path"])):
                n = r["events"]
                table.add_row(
                    Text(f"{r['score']}%", justify="right"), Text(r["grade"]), Text(one_line(r["format"], 16)), Text(f"{n:,}", justify="right"),
                    Text(f"{r['success']:,} / {r['failure']:,}"), Text(self._pct(r["with_actor"], n)), Text(self._pct(r["with_ms"], n)),
                    Text(self._pct(r["with_resource"], n)), Text(r["tamper"]), Text(_tail(r["path"], 70)), Text(one_line("; ".join(r["notes"]), 80)),
                )
        else:
            for label, width in (("format", 18), ("sources", 7), ("events", 11), ("ok / fail", 21), ("actor", 5), ("ms", 5),
                                 ("resource", 8), ("tamper-evident", 40), ("score", 14)):
                table.add_column(label, width=width)
            for f in res["formats"]:
                n = f["events"]
                rng = f" ({f['score_min']}-{f['score_max']}%)" if f["score_min"] != f["score_max"] else ""
                table.add_row(
                    Text(one_line(f["format"], 18)), Text(str(f["sources"]), justify="right"), Text(f"{n:,}", justify="right"),
                    Text(f"{f['success']:,} / {f['failure']:,}"), Text(self._pct(f["with_actor"], n)), Text(self._pct(f["with_ms"], n)),
                    Text(self._pct(f["with_resource"], n)), Text(one_line(", ".join(f"{k} {v}" for k, v in f["tamper"].items()), 40)),
                    Text(f"{f['score']}%{rng}"),
                )
        self.query_one("#ready-title", Static).update(Text(
            f"Audit readiness ({'per source' if self.per_source else 'per format'}; s toggles): comprehensive, "
            "tamper-evident, contextual; score = points / 7", style="bold"))
        g = res["grants"]
        t = Text()
        if g is None:
            t.append("grants: " + one_line(res.get("grants_note") or "not imported"), style="dim")
        else:
            t.append(f"grants: {len(g['dormant'])} dormant, {len(g['overprivileged'])} over-privileged actor(s), "
                     f"{g['unknown_permissions']:,} permission(s) in state unknown\n")
            for name in g["dormant"]:
                t.append("  dormant: " + one_line(name, 100) + "\n")
            for name in g["overprivileged"]:
                t.append("  over-privileged: " + one_line(name, 100) + "\n")
        self.query_one("#ready-grants", Static).update(t)

    def action_toggle(self) -> None:
        self.per_source = not self.per_source
        if self.result is not None:
            self._show(self.result)

    def action_back(self) -> None:
        self.dismiss(None)


class NarrativeScreen(ModalScreen[str | None]):
    """Edit a finding's narrative (Markdown) in a text area; Ctrl+O saves, Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "cancel"), Binding("ctrl+o", "save", "save", priority=True)]
    DEFAULT_CSS = """
    NarrativeScreen { align: center middle; }
    NarrativeScreen #narrative-box { width: 100; max-width: 100%; height: 80%; border: round $accent; background: $surface; padding: 0 1; }
    NarrativeScreen TextArea { height: 1fr; }
    """

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="narrative-box"):
            yield Static(Text("Narrative: " + one_line(self.title_text, 80), style="bold"))
            yield TextArea(self.text, id="narrative-text", soft_wrap=True, tab_behavior="indent")
            yield Static(Text("Markdown. Ctrl+O save · Esc cancel", style="dim"))

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_save(self) -> None:
        self.dismiss(self.query_one(TextArea).text)

    def action_cancel(self) -> None:
        self.dismiss(None)


EXPORT_FORMATS = [
    ("Markdown report (every finding)", "markdown"),
    ("CSV timeline", "csv"),
    ("JSON lines timeline", "jsonl"),
    ("Timesketch JSONL timeline", "timesketch"),
]
_EXT = {"markdown": ".md", "csv": ".csv", "jsonl": ".jsonl", "timesketch": ".jsonl"}
TIMELINE_SCOPES = [("the selected finding's events", "finding"), ("the timeline's current filter", "filter"), ("every event", "all")]


class ExportScreen(ModalScreen[str | None]):
    """Export the report or a timeline to a file.  Dismisses with the written path (or None)."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]
    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen #export-box { width: 84; max-width: 100%; height: auto; border: round $accent; background: $surface; padding: 0 1; }
    ExportScreen .export-label { margin-top: 1; color: $text-muted; }
    ExportScreen Input { height: 3; }
    ExportScreen #export-status { margin-top: 1; height: auto; }
    ExportScreen #export-status.-error { color: $text-error; text-style: bold; }
    ExportScreen #export-buttons { height: 3; margin-top: 1; }
    """

    def __init__(self, engine: Engine, *, finding_id: int | None = None, filter_text: str = "",
                 default_dir: str | None = None) -> None:
        super().__init__()
        self.engine = engine
        self.finding_id = finding_id
        self.filter_text = filter_text or ""
        self.default_dir = default_dir or os.getcwd()
        self.fmt = "markdown"
        self._overwrite_ok: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="export-box"):
            yield Static(Text("Export", style="bold"))
            yield Static("Format", classes="export-label")
            yield Select(EXPORT_FORMATS, value="markdown", allow_blank=False, id="export-format")
            yield Static("Events (timeline formats)", classes="export-label", id="export-scope-label")
            scopes = [s for s in TIMELINE_SCOPES if s[1] != "finding" or self.finding_id is not None]
            scopes = [s for s in scopes if s[1] != "filter" or self.filter_text.strip()]
            yield Select(scopes, value=scopes[0][1], allow_blank=False, id="export-scope")
            yield Static("File", classes="export-label")
            yield Input(value=os.path.join(self.default_dir, "report.md"), id="export-path")
            yield Static("Report title", classes="export-label", id="export-title-label")
            yield Input(value="Findings report", id="export-title")
            yield Static("Pin generated-at (ISO 8601, empty = now)", classes="export-label", id="export-at-label")
            yield Input(value="", placeholder="2026-03-15T09:00:00Z", id="export-at")
            yield Static(id="export-status")
            with Horizontal(id="export-buttons"):
                yield Button("Export", variant="primary", id="export-go")
                yield Button("Cancel", id="export-cancel")

    def on_mount(self) -> None:
        self._sync()
        self.query_one("#export-path", Input).focus()

    def _sync(self) -> None:
        md = self.fmt == "markdown"
        for wid in ("#export-title", "#export-title-label", "#export-at", "#export-at-label"):
            self.query_one(wid).display = md
        for wid in ("#export-scope", "#export-scope-label"):
            self.query_one(wid).display = not md

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id != "export-format":
            return
        old = self.fmt
        self.fmt = str(event.value)
        path = self.query_one("#export-path", Input)
        root, ext = os.path.splitext(path.value)
        if ext == _EXT.get(old) or not ext:
            base = root if os.path.basename(root) not in ("report", "timeline") else os.path.join(os.path.dirname(root), "report" if self.fmt == "markdown" else "timeline")
            path.value = base + _EXT[self.fmt]
        self._sync()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_export()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "export-go":
            self.action_export()
        else:
            self.action_cancel()

    def _status(self, text: str, error: bool = False) -> None:
        if not self.is_mounted:
            return
        st = self.query_one("#export-status", Static)
        st.update(Text(one_line(text, 300)))
        st.set_class(error, "-error")

    def action_export(self) -> None:
        path = self.query_one("#export-path", Input).value.strip()
        if not path:
            self._status("give a file name", error=True)
            return
        path = os.path.expanduser(path)
        if os.path.isdir(path):
            self._status(f"{path} is a directory", error=True)
            return
        if os.path.exists(path) and self._overwrite_ok != path:
            self._overwrite_ok = path
            self._status(f"{path} exists: Export again to overwrite it", error=True)
            return
        at_us = None
        if self.fmt == "markdown":
            at_text = self.query_one("#export-at", Input).value.strip()
            if at_text:
                from logconsole.util.errors import ParseError
                from logconsole.util.timeparse import parse_iso

                try:
                    at_us = parse_iso(at_text)
                except (ParseError, ValueError):
                    self._status(f"not an ISO 8601 time: {at_text}", error=True)
                    return
        title = self.query_one("#export-title", Input).value.strip() or "Findings report"
        scope = str(self.query_one("#export-scope", Select).value)
        self._status("exporting…")
        self._run(path, self.fmt, title, at_us, scope)

    @work(thread=True, exclusive=True, group="export")
    def _run(self, path: str, fmt: str, title: str, at_us: int | None, scope: str) -> None:
        try:
            msg = export_to_file(self.engine, path, fmt, title=title, at_us=at_us, scope=scope,
                                 finding_id=self.finding_id, filter_text=self.filter_text)
        except Exception as exc:  # shown to the investigator, never raised into the UI loop
            self.app.call_from_thread(self._status, f"export failed: {exc.__class__.__name__}: {exc}", True)
            return
        self.app.call_from_thread(self._done, path, msg)

    def _done(self, path: str, msg: str) -> None:
        self.app.notify(msg, markup=False, timeout=6)
        if not self.is_mounted:
            return
        self._status(msg)
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)


def export_to_file(engine: Engine, path: str, fmt: str, *, title: str = "Findings report", at_us: int | None = None,
                   scope: str = "all", finding_id: int | None = None, filter_text: str = "") -> str:
    """Write the report or a timeline to *path*; returns a one-line summary (no Textual here)."""
    if fmt == "markdown":
        from logconsole.report.markdown import ReportOptions, build_report

        text = build_report(engine, ReportOptions(title=title, at_us=at_us,
                                                  db_label=os.path.basename(str(engine.url.database or ""))))
        data = text.encode("utf-8")
        with open(path, "wb") as fh:
            fh.write(data)
        sha = hashlib.sha256(data).hexdigest()
        with open(path + ".sha256", "w", encoding="utf-8") as fh:
            fh.write(f"{sha}  {os.path.basename(path)}\n")
        return f"report written to {path} ({len(data):,} bytes, SHA-256 {sha[:16]}…)"
    from sqlalchemy import true

    from logconsole.report.exports import export_timeline

    with engine.connect() as conn:
        if scope == "finding" and finding_id is not None:
            where = F.finding_where(F.get_finding_row(conn, finding_id))
        elif scope == "filter" and filter_text.strip():
            where = F.check_query(filter_text).where
        else:
            where = true()
        with open(path, "w", encoding="utf-8", newline="") as fh:
            n = export_timeline(conn, where, fmt, fh)
    return f"{n:,} event(s) written to {path}"
