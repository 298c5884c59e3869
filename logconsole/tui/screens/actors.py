"""The Actors screen (``A`` from the timeline) and the actor detail.

``ActorsScreen(engine)`` lists every actor (CloudTrail, Kubernetes audit,
policy-covered events, plus the principals of the imported grants) with events,
last seen, granted / used / unused / unknown / used_not_granted permissions,
denied attempts, findings and a used/granted bar.  ``s`` cycles the sort
(over-privilege first by default), ``r`` reverses it, ``Enter`` opens the
actor, ``t`` shows the actor's events in the timeline.

``ActorDetailScreen(engine, actor)`` shows the permission matrix (one row per
permission with its state, plus the denied attempts) and the findings.
``Enter`` on a permission or denied row dismisses with the timeline filter for
that actor and action; on a finding, with a filter selecting its evidence
events (``id:`` terms) or the actor.  ``p`` shows the suggested least-privilege
policy.  ``Tab`` moves between the two tables.

Both screens dismiss with a filter string (which the timeline applies) or
None.  The computation is :mod:`logconsole.analysis.privileges` run in a thread
worker; all log-derived text is shown as ``rich.text.Text`` after
:func:`~logconsole.store.sanitize.one_line`.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from sqlalchemy import Engine
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Static

from logconsole.store.sanitize import inert, one_line

STATE_STYLE = {
    "used": "green",
    "unused": "yellow",
    "unknown": "cyan",
    "used_not_granted": "bold red",
    "denied": "magenta",
}
SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}
SORT_LABELS = {
    "overprivilege": "over-privilege (unused/granted)", "events": "events", "denied": "denied attempts",
    "findings": "findings", "unused": "unused permissions", "granted": "granted permissions",
    "last_seen": "last seen", "name": "name",
}
BAR_WIDTH = 12


#: terminal width from which the actors list shows every column
WIDE = 130


def tail(name: str, width: int) -> str:
    """Shorten from the left: ARNs and service-account names end with the part that matters."""
    return name if len(name) <= width else "…" + name[-(width - 1):]


def used_bar(used: int, granted: int | None, width: int = BAR_WIDTH) -> Text:
    """``████········`` : the share of granted permissions that were used."""
    if not granted:
        return Text(("no grants" if width >= 9 else "-").ljust(width), style="dim")
    n = max(0, min(width, round(width * used / granted)))
    if used and n == 0:
        n = 1
    t = Text()
    t.append("█" * n, style="green")
    t.append("·" * (width - n), style="yellow")
    return t


def window_from_filter(text: str) -> tuple[int | None, int | None]:
    """The ``since:``/``until:`` terms of the timeline's filter, as the privilege window."""
    import re

    from logconsole.analysis.privileges.actors import window_us

    def term(name: str) -> str | None:
        m = re.search(rf'(?:^|[\s(]){name}:("[^"]*"|\S+)', text)
        return m.group(1).strip('"').rstrip(")") if m else None

    try:
        return window_us(term("since"), term("until"))
    except Exception:  # an unparsable term: the whole index
        return None, None


def evidence_filter(view: Any, finding: dict[str, Any]) -> str:
    """Filter for a finding's evidence events, or for the actor when it has none."""
    from logconsole.analysis.privileges.actors import timeline_filter

    ids = [int(i) for i in finding.get("events") or []][:50]
    if not ids:
        return timeline_filter(view)
    if len(ids) == 1:
        return f"id:{ids[0]}"
    return "(" + " OR ".join(f"id:{i}" for i in ids) + ")"


class ActorsScreen(Screen[str | None]):
    """Every actor with its privilege figures; Enter opens one."""

    BINDINGS = [
        Binding("enter", "open", "Open actor", show=True),
        Binding("t", "timeline", "Actor's events", show=True),
        Binding("s", "cycle_sort", "Sort", show=True),
        Binding("r", "reverse", "Reverse", show=False),
        Binding("escape,q", "back", "Back", show=True),
    ]

    DEFAULT_CSS = """
    ActorsScreen #actors-title { height: 1; padding: 0 1; background: $panel; }
    ActorsScreen #actors-status { height: auto; padding: 0 1; color: $text-muted; }
    ActorsScreen #actors-table { height: 1fr; }
    ActorsScreen #actor-line { height: 1; padding: 0 1; background: $panel; }
    """

    def __init__(self, engine: Engine, *, since: int | None = None, until: int | None = None,
                 filter_text: str = "") -> None:
        super().__init__()
        self.engine = engine
        self.filter_text = filter_text or ""
        if since is None and until is None and self.filter_text:
            since, until = window_from_filter(self.filter_text)
        self.since = since
        self.until = until
        self.sort_key = "overprivilege"
        self.reverse = False
        self.analysis: Any = None
        self.rows: list[Any] = []  # ActorView in display order
        self._wide = False

    def compose(self) -> ComposeResult:
        yield Static(Text("Actors and privileges", style="bold"), id="actors-title")
        yield Static(Text("computing privileges…"), id="actors-status")
        table: DataTable = DataTable(id="actors-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static(id="actor-line")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#actors-table", DataTable)
        table.focus()
        self._load()

    def on_resize(self, event) -> None:
        if self.analysis is not None and (self.size.width >= WIDE) != self._wide:
            self._fill()

    @work(thread=True, exclusive=True, group="actors-load")
    def _load(self) -> None:
        from logconsole.analysis.privileges.actors import analyze

        try:
            analysis = analyze(self.engine, self.since, self.until)
        except Exception as exc:  # show it instead of crashing the console
            self.app.call_from_thread(self._error, f"{exc.__class__.__name__}: {exc}")
            return
        self.app.call_from_thread(self._show, analysis)

    def _error(self, message: str) -> None:
        self.query_one("#actors-status", Static).update(Text(f"cannot compute privileges: {one_line(message, 300)}",
                                                            style="bold red"))

    def _show(self, analysis: Any) -> None:
        self.analysis = analysis
        self._fill()

    def _fill(self) -> None:
        from logconsole.analysis.privileges.actors import sort_views

        if self.analysis is None:
            return
        table = self.query_one("#actors-table", DataTable)
        keep = None
        if self.rows and 0 <= table.cursor_row < len(self.rows):
            keep = self.rows[table.cursor_row].name
        views = sort_views(self.analysis.actors, self.sort_key)
        if self.reverse:
            views.reverse()
        self.rows = views
        # 80 columns (SSH): actor, the figures and the bar; wide terminals: every column
        self._wide = wide = self.size.width >= WIDE
        table.clear(columns=True)
        if wide:
            table.add_columns("Actor", "Type", "Events", "Last seen", "Granted", "Used", "Unused", "Unknown",
                              "Not granted", "Denied", "Findings", "Used/granted")
            name_w = max(30, min(70, self.size.width - 125))
        else:
            table.add_columns("Actor", "Granted", "Used", "Unused", "Unkn", "Ungr", "Denied", "Find", "Used/gr")
            name_w = max(16, self.size.width - 66)
        for v in views:
            s = v.summary()
            granted = "-" if s["granted"] is None else f"{s['granted']:,}"
            figures = [
                Text(granted, justify="right"), Text(f"{s['used']:,}", justify="right", style="green"),
                Text(f"{s['unused']:,}", justify="right", style="yellow" if s["unused"] else ""),
                Text(f"{s['unknown']:,}", justify="right"),
                Text(f"{s['used_not_granted']:,}", justify="right", style="bold red" if s["used_not_granted"] else ""),
                Text(f"{s['denied']:,}", justify="right", style="magenta" if s["denied"] else ""),
                Text(f"{s['findings']:,}", justify="right"),
                used_bar(s["used"], s["granted"], BAR_WIDTH if wide else 8),
            ]
            name = Text(tail(one_line(s["actor"]), name_w))
            if wide:
                table.add_row(name, Text(one_line(s["type"], 16)), Text(f"{s['events']:,}", justify="right"),
                              Text(s["last_seen"] or "-"), *figures)
            else:
                table.add_row(name, *figures)
        if keep is not None:
            for i, v in enumerate(views):
                if v.name == keep:
                    table.move_cursor(row=i)
                    break
        snaps = len(self.analysis.grants.snapshots)
        status = Text()
        status.append(f"{len(views)} actor(s), window {self.analysis.window_text()}, "
                      f"{snaps} active grants snapshot(s); sorted by {SORT_LABELS[self.sort_key]}"
                      f"{' (reversed)' if self.reverse else ''}")
        if not snaps:
            status.append("  — no grants imported: `logconsole grants import FILE`", style="yellow")
        self.query_one("#actors-status", Static).update(status)

    def _current(self) -> Any:
        table = self.query_one("#actors-table", DataTable)
        if not self.rows or not (0 <= table.cursor_row < len(self.rows)):
            return None
        return self.rows[table.cursor_row]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The highlighted actor in full (names are shortened in narrow terminals)."""
        event.stop()
        if not (0 <= event.cursor_row < len(self.rows)):
            return
        s = self.rows[event.cursor_row].summary()
        line = Text()
        line.append(one_line(s["actor"], 200), style="bold")
        line.append(f"  {one_line(s['type'], 30)} ({s['provider']}), {s['events']:,} event(s), "
                    f"last seen {s['last_seen'] or '-'}")
        self.query_one("#actor-line", Static).update(line)

    def action_open(self) -> None:
        v = self._current()
        if v is None:
            return

        def done(result: str | None) -> None:
            if result:
                self.dismiss(result)

        self.app.push_screen(ActorDetailScreen(self.engine, v.name, provider=v.provider, since=self.since,
                                               until=self.until), done)

    def action_timeline(self) -> None:
        from logconsole.analysis.privileges.actors import timeline_filter

        v = self._current()
        if v is not None:
            self.dismiss(timeline_filter(v))

    def action_cycle_sort(self) -> None:
        keys = list(SORT_LABELS)
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)]
        self._fill()

    def action_reverse(self) -> None:
        self.reverse = not self.reverse
        self._fill()

    def action_back(self) -> None:
        self.dismiss(None)


class ActorDetailScreen(Screen[str | None]):
    """One actor: permission matrix (with denied attempts) and findings."""

    BINDINGS = [
        Binding("enter", "open", "Timeline", show=True),
        Binding("p", "policy", "Suggested policy", show=True),
        Binding("t", "timeline", "Actor's events", show=True),
        Binding("escape,q", "back", "Back", show=True),
    ]

    DEFAULT_CSS = """
    ActorDetailScreen #actor-head { height: auto; padding: 0 1; background: $panel; }
    ActorDetailScreen #actor-body { height: 1fr; }
    ActorDetailScreen #perm-box { width: 3fr; }
    ActorDetailScreen #finding-box { width: 2fr; border-left: solid $accent; }
    ActorDetailScreen .box-title { height: 1; padding: 0 1; text-style: bold; }
    ActorDetailScreen DataTable { height: 1fr; }
    ActorDetailScreen #row-detail-box { height: 7; border-top: solid $accent; padding: 0 1; }
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
        from logconsole.analysis.privileges.suggest import suggest

        try:
            text = suggest(self.engine, self.view, self.since, self.until)
        except Exception as exc:
            text = f"cannot build a policy: {exc.__class__.__name__}: {exc}"
        self.app.call_from_thread(self.app.push_screen, PolicyScreen(self.actor, text))

    def action_back(self) -> None:
        self.dismiss(None)


class PolicyScreen(ModalScreen[None]):
    """The suggested least-privilege policy, as text (copy it from the terminal)."""

    BINDINGS = [Binding("escape,q,p", "close", "Close", show=True)]
    DEFAULT_CSS = """
    PolicyScreen { align: center middle; }
    PolicyScreen #policy-box { width: 90%; height: 85%; border: round $accent; background: $surface; padding: 0 1; }
    """

    def __init__(self, actor: str, text: str) -> None:
        super().__init__()
        self.actor = actor
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="policy-box"):
            yield Static(Text(f"Suggested least-privilege policy for {one_line(self.actor, 150)} (from what it used)",
                              style="bold"))
            yield Static(Text(inert(self.text, keep_newlines=True)))

    def action_close(self) -> None:
        self.dismiss(None)
