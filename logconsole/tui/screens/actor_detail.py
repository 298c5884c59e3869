"""The actor detail (Enter on the actors screen): permission matrix, denied attempts and findings."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from sqlalchemy import Engine
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from logconsole.store.sanitize import inert, one_line
from logconsole.tui.actions import bindings
from logconsole.tui.screens.actors_common import STATE_STYLE, evidence_filter
from logconsole.util.severity import SEVERITY_STYLE
from logconsole.tui.screens.policy import PolicyScreen


class ActorDetailScreen(Screen[str | None]):
    """One actor: permission matrix (with denied attempts) and findings."""

    BINDINGS = bindings("ActorDetailScreen")

    DEFAULT_CSS = """
    ActorDetailScreen #actor-head { height: auto; padding: 0 1; background: $panel; }
    ActorDetailScreen #actor-body { height: 1fr; }
    ActorDetailScreen #perm-box { width: 3fr; }
    ActorDetailScreen #finding-box { width: 2fr; border-left: solid $accent; }
    ActorDetailScreen .box-title { height: 1; padding: 0 1; text-style: bold; }
    ActorDetailScreen DataTable { height: 1fr; }
    ActorDetailScreen #row-detail-box { height: auto; max-height: 7; border-top: solid $accent; padding: 0 1; }
    """

    def __init__(self, engine: Engine, actor: str, *, provider: str | None = None, since: int | None = None,
                 until: int | None = None) -> None:
        super().__init__()
        self.engine = engine
        self.actor = actor
        self.provider = provider
        self.since = since
        self.until = until
        self.view: Any = None
        self.report: dict[str, Any] | None = None
        self.perm_rows: list[tuple[str, Any]] = []  # ("perm", PermRow) | ("denied", dict)
        self.finding_rows: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        yield Static(Text(f"{one_line(self.actor, 200)}: computing…"), id="actor-head")
        with Horizontal(id="actor-body"):
            with Vertical(id="perm-box"):
                yield Static("Permissions", classes="box-title")
                yield DataTable(id="perm-table", cursor_type="row", zebra_stripes=True)
            with Vertical(id="finding-box"):
                yield Static("Findings", classes="box-title")
                yield DataTable(id="finding-table", cursor_type="row")
        with VerticalScroll(id="row-detail-box"):
            yield Static(id="row-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#perm-table", DataTable).add_columns("State", "Action", "Resource", "Count", "Last used", "Level")
        self.query_one("#finding-table", DataTable).add_columns("Severity", "Kind", "Detail", "Events")
        self.query_one("#perm-table", DataTable).focus()
        self._load()

    @work(thread=True, exclusive=True, group="actor-load")
    def _load(self) -> None:
        from logconsole.analysis.privileges.actors import actor_report, analyze

        try:
            a = analyze(self.engine, self.since, self.until, only=self.actor, provider=self.provider, with_events=True)
            view = next((v for v in a.actors if v.name == self.actor), None)
            report = actor_report(view, a) if view is not None else None
        except Exception as exc:
            self.app.call_from_thread(self._error, f"{exc.__class__.__name__}: {exc}")
            return
        self.app.call_from_thread(self._show, view, report)

    def _error(self, message: str) -> None:
        self.query_one("#actor-head", Static).update(Text(f"cannot compute: {one_line(message, 300)}", style="bold red"))

    def _show(self, view: Any, report: dict[str, Any] | None) -> None:
        if view is None or report is None:
            self._error(f"no actor {self.actor!r}")
            return
        self.view, self.report = view, report
        head = Text()
        head.append(one_line(report["actor"], 200), style="bold")
        head.append(f"  ({one_line(report['type'], 30)}, {report['provider']})\n")
        head.append(f"window {report['window']['text']}; {report['events']:,} event(s), "
                    f"first {report['first_seen'] or '-'}, last {report['last_seen'] or '-'}\n")
        g = "-" if report["granted"] is None else f"{report['granted']:,}"
        head.append(f"granted {g}  ")
        head.append(f"used {report['used']:,}  ", style="green")
        head.append(f"unused {report['unused']:,}  ", style="yellow")
        head.append(f"unknown {report['unknown']:,}  ", style="cyan")
        head.append(f"used_not_granted {report['used_not_granted']:,}  ", style="bold red")
        head.append(f"denied {report['denied_events']:,}", style="magenta")
        if report["source_ips"]:
            head.append("\nsource IPs: " + one_line(", ".join(report["source_ips"][:8]), 200))
        if report["sessions"]:
            head.append("\nsessions: " + one_line(", ".join(f"{x['session']} ({x['events']})"
                                                            for x in report["sessions"][:6]), 200))
        if report.get("impersonated_by"):
            head.append("\nimpersonated by: " + one_line(", ".join(report["impersonated_by"]), 200))
        if not report["grants_imported"]:
            head.append("\nno grants imported for this actor: states show usage only", style="yellow")
        for w in report.get("warnings", [])[:3]:
            head.append("\nwarning: " + one_line(w, 200), style="yellow")
        self.query_one("#actor-head", Static).update(head)

        perm = self.query_one("#perm-table", DataTable)
        perm.clear()
        self.perm_rows = []
        for r in view.rows:
            self.perm_rows.append(("perm", r))
            d = r.as_dict()
            count = f"{r.count:,}" if r.count else ("" if r.actions == 1 else f"({r.actions} actions)")
            perm.add_row(Text(r.state, style=STATE_STYLE.get(r.state, "")), Text(one_line(r.action, 70)),
                         Text(one_line(r.resource, 60)), Text(count, justify="right"), Text(d["last_used"] or ""),
                         Text(r.access_level or ""))
        for dd in view.denied:
            self.perm_rows.append(("denied", dd))
            perm.add_row(Text("denied", style=STATE_STYLE["denied"]), Text(one_line(dd["action"], 70)),
                         Text(one_line(dd["resource"] or "", 60)), Text(f"{dd['count']:,}", justify="right"),
                         Text(dd["last"]), Text(one_line(dd.get("error") or "", 30)))
        fin = self.query_one("#finding-table", DataTable)
        fin.clear()
        self.finding_rows = list(report["findings"])
        for f in self.finding_rows:
            fin.add_row(Text(f["severity"], style=SEVERITY_STYLE.get(f["severity"], "")), Text(f["kind"]),
                        Text(one_line(f["detail"], 160)), Text(str(len(f["events"])), justify="right"))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self._open(event.data_table.id, event.cursor_row)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Show the whole highlighted row: why the actor has it (provenance), notes, evidence."""
        event.stop()
        if event.data_table is self.focused:
            self._describe(event.data_table.id, event.cursor_row)

    def on_descendant_focus(self, event) -> None:
        w = self.focused
        if isinstance(w, DataTable):
            self._describe(w.id, w.cursor_row)

    def _describe(self, table_id: str | None, row: int) -> None:
        t = Text()
        if table_id == "perm-table" and 0 <= row < len(self.perm_rows):
            kind, obj = self.perm_rows[row]
            if kind == "perm":
                d = obj.as_dict()
                t.append(f"{d['state']}  ", style=STATE_STYLE.get(d["state"], ""))
                t.append(one_line(d["action"], 120), style="bold")
                t.append(f" on {one_line(d['resource'], 200)}")
                if d["count"]:
                    t.append(f"  {d['count']:,}x, last {d['last_used']}")
                if d.get("actions"):
                    t.append(f"  ({d['actions']} actions)")
                if d.get("conditional"):
                    t.append("  [conditional]", style="yellow")
                if d.get("note"):
                    t.append("\n" + one_line(d["note"], 400), style="italic")
                for prov in d["provenance"][:4]:
                    t.append("\nwhy: " + one_line(prov, 400), style="dim")
                if d.get("used_actions"):
                    t.append("\nused: " + one_line(", ".join(d["used_actions"][:20]), 400))
            else:
                t.append("denied  ", style=STATE_STYLE["denied"])
                t.append(one_line(obj["action"], 120), style="bold")
                t.append(f" on {one_line(obj['resource'] or '-', 200)}  {obj['count']}x  {obj['first']} .. {obj['last']}"
                         f"  {one_line(obj.get('error') or '', 60)}")
                t.append("\nevents: " + ", ".join(str(i) for i in obj["events"][:20]), style="dim")
        elif table_id == "finding-table" and 0 <= row < len(self.finding_rows):
            f = self.finding_rows[row]
            t.append(f"{f['severity']} ", style=SEVERITY_STYLE.get(f["severity"], ""))
            t.append(f["kind"], style="bold")
            t.append("\n" + inert(f["detail"]))
            if f["events"]:
                t.append("\nevents: " + ", ".join(str(i) for i in f["events"][:30]), style="dim")
            for prov in (f.get("provenance") or [])[:3]:
                t.append("\nwhy: " + one_line(prov, 400), style="dim")
        self.query_one("#row-detail", Static).update(t)

    def _table(self) -> DataTable | None:
        focused = self.focused
        return focused if isinstance(focused, DataTable) else None

    def action_row_edge(self, end: int) -> None:
        """Home/g and End/G: the first / last row of the focused table (never a sideways scroll)."""
        t = self._table()
        if t is not None and t.row_count:
            t.move_cursor(row=t.row_count - 1 if end else 0)

    def action_row_page(self, direction: int) -> None:
        """PgDn/PgUp: a screenful of rows of the focused table."""
        t = self._table()
        if t is not None and t.row_count:
            page = max(1, t.scrollable_content_region.height - 1)  # minus the header row
            t.move_cursor(row=max(0, min(t.row_count - 1, t.cursor_row + direction * page)))

    def action_open(self) -> None:
        focused = self.focused
        if isinstance(focused, DataTable):
            self._open(focused.id, focused.cursor_row)

    def _open(self, table_id: str | None, row: int) -> None:
        from logconsole.analysis.privileges.actors import timeline_filter

        if self.view is None:
            return
        if table_id == "perm-table" and 0 <= row < len(self.perm_rows):
            kind, obj = self.perm_rows[row]
            self.dismiss(timeline_filter(self.view, obj))
        elif table_id == "finding-table" and 0 <= row < len(self.finding_rows):
            self.dismiss(evidence_filter(self.view, self.finding_rows[row]))

    def action_timeline(self) -> None:
        from logconsole.analysis.privileges.actors import timeline_filter

        if self.view is not None:
            self.dismiss(timeline_filter(self.view))

    def action_policy(self) -> None:
        if self.view is None:
            return
        self._policy()

    @work(thread=True, exclusive=True, group="actor-policy")
    def _policy(self) -> None:
        from logconsole.analysis.privileges.suggest import suggest_full

        try:
            # never re-grants the incident: tampered and finding events left out, sensitive actions to review
            text = suggest_full(self.engine, self.view, self.since, self.until).text()
        except Exception as exc:
            text = f"cannot build a policy: {exc.__class__.__name__}: {exc}"
        self.app.call_from_thread(self.app.push_screen, PolicyScreen(self.actor, text))

    def action_back(self) -> None:
        self.dismiss(None)
