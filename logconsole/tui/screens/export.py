"""Export the report or a timeline to a file (`e` on the findings screen)."""

from __future__ import annotations

import hashlib
import os

from rich.text import Text
from sqlalchemy import Engine
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

from logconsole.store import findings as F
from logconsole.store.sanitize import one_line
from logconsole.tui.actions import bindings


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

    BINDINGS = bindings("ExportScreen")
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
    """Write the report or a timeline to *path*; returns a one-line summary (no Textual here).

    The screen has asked before overwriting; the index and ingested evidence files are
    refused whatever the name, and files are created 0600 (``report.output``)."""
    from logconsole.report.output import open_output, protected_files

    protected = protected_files(engine, str(engine.url.database or "") or None)
    if fmt == "markdown":
        from logconsole.report.markdown import ReportOptions, build_report

        text = build_report(engine, ReportOptions(title=title, at_us=at_us,
                                                  db_label=os.path.basename(str(engine.url.database or ""))))
        data = text.encode("utf-8")
        with open_output(path, force=True, protected=protected, binary=True) as fh:
            fh.write(data)
        sha = hashlib.sha256(data).hexdigest()
        with open_output(path + ".sha256", force=True, protected=protected) as fh:
            fh.write(f"{sha}  {os.path.basename(path)}\n")
        return f"report written to {path} ({len(data):,} bytes, SHA-256 {sha[:16]}…)"
    from sqlalchemy import true

    from logconsole.report.exports import export_timeline

    with engine.connect() as conn:
        if scope == "finding" and finding_id is not None:
            where = F.finding_where(F.get_finding_row(conn, finding_id), F.saved_queries(conn))
        elif scope == "filter" and filter_text.strip():
            where = F.check_query(filter_text, saved=F.saved_queries(conn)).where
        else:
            where = true()
        with open_output(path, force=True, protected=protected) as fh:
            n = export_timeline(conn, where, fmt, fh)
    return f"{n:,} event(s) written to {path}"
