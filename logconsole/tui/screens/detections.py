"""The Detections screen (``D`` from the timeline): Sigma rule hits by level and rule.

One row per rule with hits on indexed events, most severe level first, then by
hits: level, hits, title and (in wide terminals) author and status.  The line
under the table shows the highlighted rule in full with its author and link
(DRL 1.1 asks to keep both with anything based on a rule's matches).

``Enter`` dismisses with ``rule:KEY`` (the timeline shows the rule's events);
``f`` makes a finding of the rule's hits (title, severity from the level,
narrative with the rule's description, author and link, the events attached);
``r`` runs the rules again over events they have not seen (the shipped rules
and the rule paths of earlier runs); ``Esc``/``q`` go back.  Reading and the
rules run happen in thread workers; every text from a rule file is shown as
``rich.text.Text`` after :func:`~logconsole.store.sanitize.one_line`.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from sqlalchemy import Engine
from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from logconsole.store.sanitize import one_line
from logconsole.tui.actions import bindings

LEVEL_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "cyan",
               "informational": "dim"}
WIDE = 110


class DetectionsScreen(Screen[str | None]):
    """Rules with hits; Enter shows a rule's events in the timeline."""

    BINDINGS = bindings("DetectionsScreen")

    DEFAULT_CSS = """
    DetectionsScreen #det-title { height: 1; padding: 0 1; background: $panel; }
    DetectionsScreen #det-status { height: auto; padding: 0 1; color: $text-muted; }
    DetectionsScreen #det-table { height: 1fr; }
    DetectionsScreen #det-line { height: 2; padding: 0 1; background: $panel; }
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.rows: list[dict[str, Any]] = []
        self._wide = False

    def compose(self) -> ComposeResult:
        yield Static(Text("Detections (Sigma rules)", style="bold"), id="det-title")
        yield Static(Text("reading detections…"), id="det-status")
        yield DataTable(id="det-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="det-line")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#det-table", DataTable).focus()
        self._load()

    def on_resize(self, event: Any) -> None:
        if self.rows and (self.size.width >= WIDE) != self._wide:
            self._fill()

    @work(thread=True, exclusive=True, group="detections-load")
    def _load(self) -> None:
        from logconsole.store.detections import rules_with_hits

        try:
            with self.engine.connect() as conn:
                rows = rules_with_hits(conn)
        except Exception as exc:  # shown, never a crash
            self.app.call_from_thread(self._status, f"cannot read detections: {exc.__class__.__name__}: {exc}", True)
            return
        self.app.call_from_thread(self._show, rows)

    def _status(self, message: str, error: bool = False) -> None:
        self.query_one("#det-status", Static).update(Text(one_line(message, 300), style="bold red" if error else ""))

    def _show(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self._fill()

    def _fill(self) -> None:
        table = self.query_one("#det-table", DataTable)
        self._wide = wide = self.size.width >= WIDE
        table.clear(columns=True)
        if wide:
            table.add_columns("Level", "Hits", "Rule", "Author", "Status")
            title_w = max(30, self.size.width - 80)
        else:
            table.add_columns("Level", "Hits", "Rule")
            title_w = max(20, self.size.width - 26)
        by_level: dict[str, int] = {}
        for r in self.rows:
            by_level[r["level"]] = by_level.get(r["level"], 0) + r["n"]
            cells = [Text(r["level"], style=LEVEL_STYLE.get(r["level"], "")),
                     Text(f"{r['n']:,}", justify="right"), Text(one_line(r["title"], title_w))]
            if wide:
                cells += [Text(one_line(r["author"] or "-", 34)), Text(one_line(r["status"] or "-", 12))]
            table.add_row(*cells)
        if not self.rows:
            self._status("no rule hits: `logconsole rules run` (r here) runs the shipped rules; "
                         "--rules PATH adds a SigmaHQ checkout")
            self.query_one("#det-line", Static).update("")
            return
        status = Text(f"{len(self.rows)} rule(s) with hits, {sum(r['n'] for r in self.rows):,} hit(s): ")
        status.append(", ".join(f"{lv} {n:,}" for lv, n in by_level.items()))
        self.query_one("#det-status", Static).update(status)
        self._describe(table.cursor_row)

    def _current(self) -> dict[str, Any] | None:
        table = self.query_one("#det-table", DataTable)
        if not self.rows or not (0 <= table.cursor_row < len(self.rows)):
            return None
        return self.rows[table.cursor_row]

    def _describe(self, row: int) -> None:
        if not (0 <= row < len(self.rows)):
            return
        r = self.rows[row]
        line = Text()
        line.append(one_line(r["title"], 200), style="bold")
        line.append(f"  {r['level']}, {r['n']:,} event(s)\n")
        line.append(f"by {one_line(r['author'] or 'unknown author', 80)}  ")
        line.append(one_line(r["link"] or r["file"], 200), style="underline")
        self.query_one("#det-line", Static).update(line)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._describe(event.cursor_row)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        from logconsole.store.filter import term

        r = self._current()
        if r is not None:
            self.dismiss(term("rule", r["key"]))

    def action_finding(self) -> None:
        r = self._current()
        if r is not None:
            self._make_finding(r)

    @work(thread=True, exclusive=True, group="detections-finding")
    def _make_finding(self, r: dict[str, Any]) -> None:
        from logconsole.analysis.rules.findings import finding_from_rule

        try:
            fid, n = finding_from_rule(self.engine, r["key"])
        except Exception as exc:
            self.app.call_from_thread(self.notify, one_line(f"no finding made: {exc}", 200), severity="error")
            return
        self.app.call_from_thread(self.notify, f"finding {fid}: {n} event(s) of this rule (R opens the findings)")

    def action_run(self) -> None:
        self._status("running the rules over new events…")
        self._run()

    @work(thread=True, exclusive=True, group="detections-run")
    def _run(self) -> None:
        from logconsole.analysis.rules.engine import rerun_after_ingest

        try:
            res = rerun_after_ingest(self.engine)
        except Exception as exc:
            self.app.call_from_thread(self._status, f"rules run failed: {exc.__class__.__name__}: {exc}", True)
            return
        new = sum(r.new_hits for r in res.ran) if res is not None else 0
        self.app.call_from_thread(self.notify, f"{new:,} new hit(s)")
        self.app.call_from_thread(self._load)

    def action_back(self) -> None:
        self.dismiss(None)
