"""The Integrity screen: what was verified, against which anchor, and what failed.

``IntegrityScreen(engine)`` shows the latest stored verification result for
every target (``logconsole verify`` stores them in the index; ``i`` here runs
``verify --index`` in a worker): status, scheme, records, coverage and anchor,
and below it the selected target's failures (then its explained anomalies) in a
virtual list.

``Enter`` on a failure dismisses the screen with a timeline filter string that
opens the timeline at the failing record: ``id:N`` when the failure maps to an
indexed event, else ``source:S line:N`` / ``source:S``.  ``Enter`` on a target
dismisses with ``source:S`` (its events).  ``q``/``Esc`` dismiss with ``None``.
All log-derived text is made inert and rendered as Rich ``Text``/segments,
never as markup.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import DataTable, Footer, Static

from logconsole.analysis.chain.model import Failure, TargetResult
from logconsole.analysis.chain.results import latest_results, timeline_filter, unverified_sources
from logconsole.store.sanitize import one_line

STATUS_STYLE = {
    "intact": "bold green",
    "consistent": "bold cyan",
    "tampered": "bold red",
    "unverifiable": "bold yellow",
    "not verified": "dim",
}


class FailureList(ScrollView, can_focus=True):
    """Virtual list of one target's failures (and explained anomalies)."""

    DEFAULT_CSS = """
    FailureList { height: 1fr; background: $surface; }
    FailureList > .failures--kind { color: $error; text-style: bold; }
    FailureList > .failures--explained { color: $text-muted; }
    FailureList > .failures--where { color: $text; }
    FailureList > .failures--cursor { background: $accent 50%; }
    FailureList > .failures--empty { color: $text-muted; text-style: italic; }
    """
    COMPONENT_CLASSES = {"failures--kind", "failures--explained", "failures--where", "failures--cursor",
                         "failures--empty"}
    BINDINGS = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "edge(0)", "First", show=False),
        Binding("end,G", "edge(1)", "Last", show=False),
    ]

    cursor = reactive(0)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.items: list[Failure] = []
        self.empty_text = "no target selected"

    def set_items(self, items: list[Failure], empty_text: str) -> None:
        self.items = items
        self.empty_text = empty_text
        self.virtual_size = Size(self.size.width, max(1, len(items)))
        self.cursor = 0
        self.scroll_to(0, 0, animate=False)
        self.refresh()

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self.items) - 1)) if self.items else 0

    def watch_cursor(self, _old: int, new: int) -> None:
        self.scroll_to_region(Region(0, new, 1, 1), animate=False, force=True)
        self.refresh()

    def action_move(self, delta: int) -> None:
        self.cursor += delta

    def action_page(self, direction: int) -> None:
        self.cursor += direction * max(1, self.scrollable_content_region.height)

    def action_edge(self, end: int) -> None:
        self.cursor = len(self.items) - 1 if end else 0

    @property
    def current(self) -> Failure | None:
        return self.items[self.cursor] if self.items else None

    def on_resize(self, _event) -> None:
        self.virtual_size = Size(self.size.width, max(1, len(self.items)))

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(name, partial=True)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        _, sy = self.scroll_offset
        i = sy + y
        if not self.items:
            if y == 0:
                return Strip([Segment("  " + self.empty_text, base + self._style("failures--empty"))]).adjust_cell_length(width, base)
            return Strip.blank(width, base)
        if i >= len(self.items):
            return Strip.blank(width, base)
        f = self.items[i]
        where = []
        if f.line is not None:
            where.append(f"line {f.line}")
        if f.seq is not None:
            where.append(f"seq {f.seq}")
        if f.event_id is not None:
            where.append(f"event {f.event_id}")
        if f.file and f.line is None:
            where.append(one_line(f.file, 60))
        kind_style = self._style("failures--explained" if f.explained else "failures--kind")
        detail = one_line(f.detail, 400)
        if f.explained:
            detail += f"  [explained: {one_line(f.explained, 120)}]"
        segs = [
            Segment(f" {f.kind:<16}", base + kind_style),
            Segment(f"{' '.join(where):<28} ", base + self._style("failures--where")),
            Segment(detail, base + (self._style("failures--explained") if f.explained else Style())),
        ]
        if i == self.cursor and self.has_focus:
            cur = self._style("failures--cursor")
            segs = [Segment(s.text, (s.style or base) + cur) for s in segs]
        return Strip(segs).adjust_cell_length(width, base)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()


class IntegrityScreen(Screen[str | None]):
    """Per-target verification status; dismisses with a timeline filter (Enter) or None."""

    DEFAULT_CSS = """
    IntegrityScreen { layout: vertical; }
    IntegrityScreen > #integrity-title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    IntegrityScreen > #integrity-targets { height: auto; max-height: 12; }
    IntegrityScreen > #integrity-detail { height: auto; max-height: 6; padding: 0 1; color: $text-muted; }
    IntegrityScreen > #integrity-failures-title { height: 1; padding: 0 1; background: $panel; }
    """
    BINDINGS = [
        Binding("escape,q", "close", "Back"),
        Binding("enter", "open", "Open in timeline"),
        Binding("tab", "switch", "Targets/failures"),
        Binding("i", "verify_index", "Verify index"),
        Binding("s", "verify_sequences", "Sequence check"),
        Binding("r", "reload", "Reload"),
    ]

    class Loaded(Message):
        """Results arrived (tests wait for it)."""

    def __init__(self, engine, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self.engine = engine
        self.results: list[TargetResult] = []

    def compose(self) -> ComposeResult:
        yield Static(Text("Integrity — loading…"), id="integrity-title")
        table: DataTable = DataTable(id="integrity-targets", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static(Text(""), id="integrity-detail")
        yield Static(Text("failures"), id="integrity-failures-title")
        yield FailureList(id="integrity-failures")
        yield Footer()

    COLUMNS = ("status", "scheme", "target", "records", "failures", "anchor")

    def on_mount(self) -> None:
        self.query_one("#integrity-targets", DataTable).add_columns(*self.COLUMNS)
        self.load()

    # ------------------------------------------------------------------ data

    def _gather(self) -> tuple[list[TargetResult], str]:
        from logconsole.analysis.chain.custody import latest_checkpoint

        results = latest_results(self.engine)
        results += unverified_sources(self.engine, results)
        cp = None
        try:
            cp = latest_checkpoint(self.engine)
        except Exception:
            cp = None
        head = f"index root {cp['root'][:16]}… (size {cp['size']:,})" if cp else "no index checkpoint"
        return results, head

    @work(thread=True, exclusive=True, group="integrity")
    def load(self) -> None:
        results, head = self._gather()
        self.app.call_from_thread(self._show, results, head)

    @work(thread=True, exclusive=True, group="integrity")
    def _run_verification(self, what: str) -> None:
        from logconsole.analysis.chain.model import exit_code
        from logconsole.analysis.chain.results import store_results

        if what == "index":
            from logconsole.analysis.chain.custody import verify_index

            got = [verify_index(self.engine)]
            argv = ["verify", "--index"]
        else:
            from logconsole.analysis.chain.sequence import verify_index_sources

            got = verify_index_sources(self.engine)
            argv = ["verify", "--from-index"]
        if got:
            store_results(self.engine, got, command={"argv": argv, "from": "console"}, exit_code=exit_code(got))
        results, head = self._gather()
        self.app.call_from_thread(self._show, results, head)
        if not got:
            self.app.call_from_thread(self.notify, "no auditd or Windows sources with sequence numbers in the index",
                                      severity="warning", markup=False)

    def _show(self, results: list[TargetResult], head: str = "") -> None:
        if not self.is_attached:  # dismissed while the worker ran
            return
        self.results = results
        table = self.query_one("#integrity-targets", DataTable)
        table.clear(columns=True)  # column widths follow the new rows
        table.add_columns(*self.COLUMNS)
        counts: dict[str, int] = {}
        for k, r in enumerate(results):
            counts[r.status] = counts.get(r.status, 0) + 1
            table.add_row(
                Text(r.status.upper(), style=STATUS_STYLE.get(r.status, "")),
                Text(r.scheme),
                Text(one_line(r.path, 80)),
                Text(f"{r.records:,}", justify="right"),
                Text("-" if r.status == "not verified" else str(len(r.failures)),
                     style="bold red" if r.failures else "dim"),
                Text(one_line(r.anchor, 60)),
                key=str(k),
            )
        title = Text("Integrity — ")
        order = ["tampered", "unverifiable", "consistent", "intact", "not verified"]
        if not any(r.status != "not verified" for r in results):
            title.append("nothing verified yet: run `logconsole verify PATH...`, or press i (index) / s (sequences)")
        else:
            parts = [f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: order.index(kv[0])
                                                     if kv[0] in order else 9)]
            title.append(f"{len(results)} target(s): " + ", ".join(parts))
        if head:
            title.append("   " + head, style="dim")
        self.query_one("#integrity-title", Static).update(title)
        self._select(0 if results else None)
        self.post_message(self.Loaded())

    def _select(self, index: int | None) -> None:
        detail = self.query_one("#integrity-detail", Static)
        flist = self.query_one(FailureList)
        ftitle = self.query_one("#integrity-failures-title", Static)
        if index is None or index >= len(self.results):
            detail.update(Text(""))
            flist.set_items([], "no verification results stored in this index")
            ftitle.update(Text("failures"))
            return
        r = self.results[index]
        t = Text()
        t.append("coverage: ", style="bold")
        t.append(one_line(r.coverage or "-", 300) + "\n")
        t.append("anchor:   ", style="bold")
        t.append(one_line(r.anchor, 300))
        for n in r.notes[:3]:
            t.append("\nnote: " + one_line(n, 300))
        detail.update(t)
        items = list(r.failures) + list(r.explained)
        ftitle.update(Text(f"failures: {len(r.failures)}" + (f"   explained: {len(r.explained)}" if r.explained else "")
                           + ("   (sequence numbers: evidence, not proof)" if r.scheme == "sequence" else "")))
        flist.set_items(items, "not verified yet (see the note above)" if r.status == "not verified"
                        else f"no failures ({r.status})")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row is not None and 0 <= event.cursor_row < len(self.results):
            self._select(event.cursor_row)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self._open_target(event.cursor_row)

    # --------------------------------------------------------------- actions

    def _target_index(self) -> int | None:
        t = self.query_one("#integrity-targets", DataTable)
        return t.cursor_row if self.results else None

    def _open_target(self, index: int | None) -> None:
        if index is None or index >= len(self.results):
            return
        r = self.results[index]
        if r.source_id is not None:
            self.dismiss(f"source:{r.source_id}")
        elif r.failures:
            self.query_one(FailureList).focus()
        else:
            self.notify("this target is not in the index (verify an ingested file to open its events)",
                        severity="warning")

    def action_open(self) -> None:
        flist = self.query_one(FailureList)
        if not flist.has_focus:
            self._open_target(self._target_index())
            return
        f = flist.current
        idx = self._target_index()
        if f is None or idx is None:
            return
        flt = timeline_filter(self.results[idx], f)
        if flt is None:
            self.notify("no indexed event for this record (ingest the file to open it in the timeline)",
                        severity="warning")
            return
        self.dismiss(flt)

    def action_switch(self) -> None:
        flist = self.query_one(FailureList)
        if flist.has_focus:
            self.query_one("#integrity-targets", DataTable).focus()
        else:
            flist.focus()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_reload(self) -> None:
        self.load()

    def action_verify_index(self) -> None:
        self.query_one("#integrity-title", Static).update(Text("Integrity — verifying the index…"))
        self._run_verification("index")

    def action_verify_sequences(self) -> None:
        self.query_one("#integrity-title", Static).update(Text("Integrity — checking sequence numbers…"))
        self._run_verification("sequences")
