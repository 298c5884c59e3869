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

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from logconsole.analysis.chain.model import TargetResult
from logconsole.analysis.chain.results import latest_results, timeline_filter, unverified_sources
from logconsole.store.sanitize import one_line
from logconsole.tui.cells import distinct_labels
from logconsole.tui.widgets.failure_list import STATUS_STYLE, FailureList
from logconsole.tui.actions import bindings


TARGET_W = 44  # target column, in cells


class IntegrityScreen(Screen[str | None]):
    """Per-target verification status; dismisses with a timeline filter (Enter) or None."""

    DEFAULT_CSS = """
    IntegrityScreen { layout: vertical; }
    IntegrityScreen > #integrity-title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    IntegrityScreen > #integrity-targets { height: auto; max-height: 12; }
    IntegrityScreen > #integrity-detail { height: auto; max-height: 6; padding: 0 1; color: $text-muted; }
    IntegrityScreen > #integrity-failures-title { height: 1; padding: 0 1; background: $panel; }
    """
    BINDINGS = bindings("IntegrityScreen")

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
        labels = distinct_labels([r.path for r in results], TARGET_W)  # 40 digests do not all read ".../AWSLogs/1111"
        for k, r in enumerate(results):
            counts[r.status] = counts.get(r.status, 0) + 1
            table.add_row(
                Text(r.status.upper(), style=STATUS_STYLE.get(r.status, "")),
                Text(r.scheme),
                Text(labels[k]),
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
                        else f"no failures ({r.status})", r.path)

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
