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
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from logconsole.store.sanitize import one_line
from logconsole.tui.actions import bindings
from logconsole.tui.screen_stack import keep_screen
from logconsole.tui.screens.actor_detail import ActorDetailScreen
from logconsole.tui.screens.actors_common import (BAR_WIDTH, SORT_LABELS, WIDE, tail, used_bar,
                                                  window_from_filter)


class ActorsScreen(Screen[str | None]):
    """Every actor with its privilege figures; Enter opens one."""

    BINDINGS = bindings("ActorsScreen")

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
        self._reopen: ActorDetailScreen | None = None
        self.filter_text = filter_text or ""
        if since is None and until is None and self.filter_text:
            since, until = window_from_filter(self.filter_text)
        self.since = since
        self.until = until
        self.sort_key = "overprivilege"
        self.reverse = False
        self.analysis: Any = None
        self.rows: list[Any] = []  # ActorView in display order (None: an identity heading)
        self.by_identity = False
        self.groups: list[dict[str, Any]] | None = None
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
        if self.rows and 0 <= table.cursor_row < len(self.rows) and self.rows[table.cursor_row] is not None:
            keep = self.rows[table.cursor_row].name
        views = sort_views(self.analysis.actors, self.sort_key)
        if self.reverse:
            views.reverse()
        headings: dict[int, str] = {}
        vias: dict[int, str] = {}
        if self.by_identity and self.groups is not None:
            by_name = {v.name: v for v in views}
            rank = {v.name: i for i, v in enumerate(views)}
            grouped: list[Any] = []
            for g in sorted(self.groups, key=lambda g: min(rank.get(m, 1 << 30) for m, _ in g["members"])):
                members = [(by_name[m], via) for m, via in g["members"] if m in by_name]
                if not members:
                    continue
                headings[len(grouped)] = (f"identity {g['identity']}" if g["identity"] is not None else "no identity") \
                    + f": {g['label']}"
                grouped.append(None)
                for v, via in members:
                    if via:
                        vias[len(grouped)] = via
                    grouped.append(v)
            views = grouped
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
        for i, v in enumerate(views):
            if v is None:  # an identity heading
                head = Text(tail(one_line(headings.get(i, "")), name_w + 20), style="bold")
                table.add_row(head, *[Text("") for _ in range(len(table.columns) - 1)])
                continue
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
            if i in vias:  # a role session's grants are its role's
                name = Text("  ↳ " + tail(f"{one_line(s['actor'])} (session {one_line(vias[i])})", name_w - 4),
                            style="cyan")
            elif self.by_identity:
                name = Text("  " + tail(one_line(s["actor"]), name_w - 2))
            else:
                name = Text(tail(one_line(s["actor"]), name_w))
            if wide:
                table.add_row(name, Text(one_line(s["type"], 16)), Text(f"{s['events']:,}", justify="right"),
                              Text(s["last_seen"] or "-"), *figures)
            else:
                table.add_row(name, *figures)
        if keep is not None:
            for i, v in enumerate(views):
                if v is not None and v.name == keep:
                    table.move_cursor(row=i)
                    break
        snaps = len(self.analysis.grants.snapshots)
        status = Text()
        status.append(f"{len(views)} actor(s), window {self.analysis.window_text()}, "
                      f"{snaps} active grants snapshot(s); sorted by {SORT_LABELS[self.sort_key]}"
                      f"{' (reversed)' if self.reverse else ''}{'; grouped by identity' if self.by_identity else ''}")
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
        if not (0 <= event.cursor_row < len(self.rows)) or self.rows[event.cursor_row] is None:
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

        self._push_detail(ActorDetailScreen(self.engine, v.name, provider=v.provider, since=self.since,
                                            until=self.until))

    def _push_detail(self, detail: ActorDetailScreen) -> None:
        keep_screen(self.app, detail, True)  # kept from the start: the result arrives after the pop

        def done(result: str | None) -> None:
            keep_screen(self.app, detail, bool(result))
            if result:
                def leave() -> None:  # once the detail is off the stack: one screen closes at a time
                    self._reopen = detail  # Esc in the timeline comes back to this actor, as it was
                    self.dismiss(result)

                self.call_after_refresh(leave)

        self.app.push_screen(detail, done)

    def on_screen_resume(self) -> None:
        if self._reopen is not None and self.app.screen is self:
            detail, self._reopen = self._reopen, None
            self._push_detail(detail)

    def action_timeline(self) -> None:
        from logconsole.analysis.privileges.actors import timeline_filter

        v = self._current()
        if v is not None:
            self.dismiss(timeline_filter(v))

    def action_cycle_sort(self) -> None:
        keys = list(SORT_LABELS)
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)]
        self._fill()

    def action_group_identity(self) -> None:
        """Group the actors by identity (a role session's grants listed under its caller's identity)."""
        self.by_identity = not self.by_identity
        if self.by_identity and self.groups is None and self.analysis is not None:
            self._load_groups()
        else:
            self._fill()

    @work(thread=True, exclusive=True, group="actors-groups")
    def _load_groups(self) -> None:
        from logconsole.analysis.identity.build import build
        from logconsole.analysis.identity.query import group_actors

        try:
            build(self.engine)
            with self.engine.connect() as conn:
                groups = group_actors(conn, [v.name for v in self.analysis.actors])
        except Exception as exc:  # shown, never a crash
            self.app.call_from_thread(self._error, f"{exc.__class__.__name__}: {exc}")
            return

        def show() -> None:
            self.groups = groups
            self._fill()

        self.app.call_from_thread(show)

    def action_reverse(self) -> None:
        self.reverse = not self.reverse
        self._fill()

    def action_back(self) -> None:
        self.dismiss(None)
