"""Event detail: normalized fields, provenance, annotations and the raw record (pygments).

Every value from the record goes through ``sanitize`` and is placed in Rich
``Text``/``Syntax`` objects, never in markup.  The raw record is pretty-printed
when it is JSON and highlighted by pygments (``rich.syntax.Syntax``, ANSI theme
so it reads in 16 colours); line formats are shown as text.

The screen dismisses with ``None`` (back) or a :class:`Pivot` that the timeline
applies as a new filter.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from rich.console import Group
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from sqlalchemy import Engine
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from logconsole.util.timeparse import format_us
from logconsole.store import annotations as ann
from logconsole.store.filter import term
from logconsole.store.queries import get_event
from logconsole.util.refs import record_ref
from logconsole.store.sanitize import inert, one_line
from logconsole.store.trust import event_integrity
from logconsole.tui.actions import bindings
from logconsole.store.highlight import HighlightTerm, highlight_terms, match_spans
from logconsole.tui.cells import MATCH_STYLE, highlighted
from logconsole.tui.screens.field_pick import FIELD_ROWS, FILTER_FIELD, FieldPickScreen, Pivot, field_choices

RAW_DISPLAY_CAP = 60_000  # characters highlighted; larger records are cut (y copies all)
WINDOW_US = 5 * 60 * 1_000_000


def pretty_raw(raw: str, fmt: str) -> tuple[str, str]:
    """(display text, pygments lexer name): JSON pretty-printed, other formats as text; made inert."""
    text = raw
    lexer = "text"
    stripped = raw.strip()
    if stripped[:1] in ("{", "["):
        try:
            obj = json.loads(stripped)
        except ValueError:
            pass
        else:
            text = json.dumps(obj, indent=2, ensure_ascii=False)
            lexer = "json"
    truncated = len(text) > RAW_DISPLAY_CAP
    if truncated:
        text = text[:RAW_DISPLAY_CAP]
    text = inert(text, keep_newlines=True).replace("\t", "    ")
    if truncated:
        text += f"\n… truncated at {RAW_DISPLAY_CAP:,} characters (y copies the whole record)"
    return text, lexer


def embedded_json(raw: str, limit: int = 3) -> list[tuple[str, str]]:
    """Top-level string fields of a JSON record that hold a JSON object themselves
    (e.g. CloudTrail Lookup's ``CloudTrailEvent``), pretty-printed and made inert."""
    stripped = raw.strip()
    if not stripped.startswith("{"):
        return []
    try:
        obj = json.loads(stripped)
    except ValueError:
        return []
    out = []
    for k, v in obj.items() if isinstance(obj, dict) else ():
        if isinstance(v, str) and v.lstrip().startswith("{") and len(v) <= RAW_DISPLAY_CAP:
            try:
                inner = json.loads(v)
            except ValueError:
                continue
            if isinstance(inner, dict):
                out.append((inert(str(k)), inert(json.dumps(inner, indent=2, ensure_ascii=False), keep_newlines=True)))
                if len(out) >= limit:
                    break
    return out


def raw_matches(text: str, terms: list[HighlightTerm]) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(line, column) ranges of the free-text matches in the raw record as shown (1-based lines)."""
    out = []
    if not terms:
        return out
    for n, line in enumerate(text.split("\n"), 1):
        for s, e in match_spans(line, terms):
            out.append(((n, s), (n, e)))
    return out


def fields_table(ev: dict, terms: list[HighlightTerm] | None = None) -> Table:
    t = Table.grid(padding=(0, 1))
    t.add_column(style="bold", no_wrap=True, max_width=24, overflow="ellipsis")
    t.add_column(overflow="fold")
    for label, key in FIELD_ROWS:
        v = ev.get(key)
        if v in (None, ""):
            continue
        if key == "ts_us":
            s = format_us(v)
        elif key == "outcome":
            s = str(v)
        else:
            s = one_line(str(v), 2000)
        style = "bold" if key == "outcome" and v == "failure" else ""
        field = FILTER_FIELD.get(key)
        spans = match_spans(s, terms or [])
        values = [x for x in terms or [] if x.kind == "value"]
        if field and values and match_spans(str(v), values, field=field):
            spans = [(0, len(s))]
        cell = highlighted(s, spans)
        cell.stylize(style)
        t.add_row(Text(label), cell)
    extra = ev.get("extra") or {}
    for k in sorted(extra):
        v = extra[k]
        s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
        s = one_line(s, 2000)
        t.add_row(Text(one_line("extra." + str(k), 60)), highlighted(s, match_spans(s, terms or [])))
    return t


def provenance_table(ev: dict, integrity: dict | None = None) -> Table:
    t = Table.grid(padding=(0, 1))
    t.add_column(style="bold", no_wrap=True)
    t.add_column(overflow="fold")
    if integrity is not None:
        t.add_row(Text("integrity"), integrity_text(integrity))
    t.add_row(Text("source file"), Text(one_line(ev.get("source_path") or "?", 1000)))
    t.add_row(Text("record"), Text(record_ref(ev.get("line"), ev.get("rec_index"))))
    t.add_row(Text("raw SHA-256"), Text(ev.get("raw_sha256") or ""))
    t.add_row(Text("file SHA-256"), Text(ev.get("source_sha256") or ""))
    t.add_row(Text("event id"), Text(str(ev.get("id"))))
    return t


def integrity_text(info: dict) -> Text:
    """Whether verification covers the event, and why (the glyph is the timeline's)."""
    status = info.get("integrity", "unverified")
    t = Text()
    glyph = {"verified": "✓ verified", "tampered": "✗ TAMPERED", "unverified": "unverified"}[status]
    t.append(glyph, style="bold reverse" if status == "tampered" else ("bold" if status == "verified" else "dim"))
    if info.get("kind"):
        t.append(f"  {info['kind']}", style="bold")
    where = " ".join(x for x in (one_line(info.get("file") or "", 300),
                                 f"line {info['line']}" if info.get("line") is not None else "") if x)
    if where:
        t.append(f"  ({where})")
    if info.get("detail"):
        t.append("\n" + one_line(info["detail"], 600))
    if info.get("original_hash"):
        t.append("\noriginal record's hash (as the chain recorded it): ")
        t.append(one_line(info["original_hash"], 200), style="bold")
    if status == "unverified":
        t.append("  - nothing verifies this event's source (a hash chain, CloudTrail digests or sequence "
                 "numbers; v verifies a path)", style="dim")
    return t


def annotation_text(a: dict | None) -> Text:
    if not a:
        return Text("not bookmarked - m bookmarks, c adds a note, t adds a tag", style="dim")
    t = Text()
    t.append("★ bookmarked" if a["marked"] else "not bookmarked", style="bold" if a["marked"] else "dim")
    if a["tags"]:
        t.append("   tags: ")
        t.append(one_line(", ".join(a["tags"]), 500))
    who = ann.authors_text(a)
    if who:
        t.append("   by ")
        t.append(one_line(who, 200))
    if a["note"]:
        t.append("\nnote: ", style="bold")
        t.append(inert(a["note"], keep_newlines=True))
    return t


class EventDetailScreen(Screen["Pivot | None"]):
    """The event detail.  *step* moves the timeline cursor and returns the new event id."""

    BINDINGS = bindings("EventDetailScreen")

    def __init__(self, engine: Engine, event_id: int, *, step: Callable[[int], int | None] | None = None,
                 highlight: str = "") -> None:
        super().__init__()
        self.engine = engine
        self.event_id = event_id
        self.step = step
        #: the timeline's filter: its words and values are highlighted in the fields and the raw record
        self.terms = highlight_terms(highlight)
        self.event: dict | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-scroll"):
            yield Static(id="detail-title")
            yield Static(id="detail-annotations")
            yield Static(Text("Fields", style="bold underline"), classes="section")
            yield Static(id="detail-fields")
            yield Static(Text("Provenance", style="bold underline"), classes="section")
            yield Static(id="detail-provenance")
            yield Static(Text("Raw record", style="bold underline"), classes="section")
            yield Static(id="detail-raw")
        yield Footer()

    def on_mount(self) -> None:
        self.load(self.event_id)
        self.query_one("#detail-scroll").focus()

    def load(self, event_id: int) -> None:
        self.event_id = event_id
        with self.engine.connect() as conn:
            ev = get_event(conn, event_id)
            a = ann.get_annotation(conn, event_id) if ev else None
            integ = event_integrity(conn, event_id, ev["source_id"]) if ev else None
        self.event = ev
        if ev is None:
            self.query_one("#detail-title", Static).update(Text(f"event {event_id} is no longer in the index"))
            return
        title = Text(no_wrap=False)
        title.append(format_us(ev["ts_us"]), style="bold")
        title.append("  ")
        title.append(one_line(ev.get("actor") or "-", 200))
        title.append("  ")
        title.append(one_line(ev.get("action") or "-", 200), style="bold")
        title.append("  ")
        title.append("FAILURE" if ev.get("outcome") == "failure" else (ev.get("outcome") or "?"),
                     style="bold reverse" if ev.get("outcome") == "failure" else "")
        self.query_one("#detail-title", Static).update(title)
        self.query_one("#detail-annotations", Static).update(annotation_text(a))
        self.query_one("#detail-fields", Static).update(fields_table(ev, self.terms))
        self.query_one("#detail-provenance", Static).update(provenance_table(ev, integ))
        text, lexer = pretty_raw(ev["raw"], ev.get("format") or "")
        raw = Syntax(text, lexer, theme="ansi_dark", word_wrap=True, background_color="default")
        for start, end in raw_matches(text, self.terms):
            raw.stylize_range(MATCH_STYLE, start, end)
        parts = [raw]
        for key, inner in embedded_json(ev["raw"]):
            parts.append(Text(""))
            parts.append(Text(f"{key} (a JSON string in the record), decoded:", style="bold underline"))
            parts.append(Syntax(inner, "json", theme="ansi_dark", word_wrap=True, background_color="default"))
        self.query_one("#detail-raw", Static).update(Group(*parts))
        self.query_one("#detail-scroll", VerticalScroll).scroll_home(animate=False)

    def refresh_annotations(self) -> None:
        with self.engine.connect() as conn:
            a = ann.get_annotation(conn, self.event_id)
        self.query_one("#detail-annotations", Static).update(annotation_text(a))

    # ---------------------------------------------------------------- actions
    def action_back(self) -> None:
        self.dismiss(None)

    def _pivot(self, key: str, field: str, what: str) -> None:
        if not self.event:
            return
        v = self.event.get(key)
        if v in (None, ""):
            self.app.notify(f"this event has no {what}", severity="warning", markup=False)
            return
        clause = term(field, str(v))
        self.dismiss(Pivot(clause, clause, self.event_id, add=True))

    def action_pivot_actor(self) -> None:
        self._pivot("actor", "actor", "actor")

    def action_pivot_ip(self) -> None:
        self._pivot("src_ip", "ip", "IP")

    def action_pivot_resource(self) -> None:
        self._pivot("resource", "resource", "resource")

    def action_identity(self) -> None:
        from logconsole.tui.screens.identity import IdentityScreen

        def done(result: str | None) -> None:
            if result:
                self.dismiss(Pivot(result, f"identity: {result}"))

        self.app.push_screen(IdentityScreen(self.engine, event_id=self.event_id), done)

    def action_pick_field(self) -> None:
        if not self.event:
            return

        def done(result) -> None:
            if result is not None:
                self.dismiss(result)

        self.app.push_screen(FieldPickScreen(field_choices(self.event), self.event_id), done)

    def action_pivot_window(self) -> None:
        if not self.event:
            return
        ts = self.event["ts_us"]
        flt = f"since:{format_us(ts - WINDOW_US)} until:{format_us(ts + WINDOW_US)}"
        self.dismiss(Pivot(flt, f"±5 min of {format_us(ts, precision='s')}", self.event_id))

    def _step(self, delta: int) -> None:
        if self.step is None:
            return
        nid = self.step(delta)
        if nid is None:
            self.app.bell()
        else:
            self.load(nid)

    def action_next_event(self) -> None:
        self._step(1)

    def action_prev_event(self) -> None:
        self._step(-1)

    def action_toggle_mark(self) -> None:
        with self.engine.begin() as conn:
            on = ann.toggle_mark(conn, self.event_id)
        self.refresh_annotations()
        self.app.notify("bookmarked" if on else "bookmark removed", markup=False)
        self.app.annotations_changed()

    def action_edit_note(self) -> None:
        self.app.edit_note(self.event_id, self.refresh_annotations)

    def action_add_tag(self) -> None:
        self.app.edit_tag(self.event_id, self.refresh_annotations)

    def action_copy_raw(self) -> None:
        if self.event:
            self.app.copy_value(self.event["raw"], "raw record")

    def action_copy_sha(self) -> None:
        if self.event:
            self.app.copy_value(self.event["raw_sha256"], "SHA-256")

    def action_help(self) -> None:
        self.app.action_help()
