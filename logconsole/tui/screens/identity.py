"""The identity screen (``W`` on any event): who this actor is, across every source.

Three panes, switched from the keyboard (``g`` graph, ``s`` sessions, ``e`` events),
fitting 80x24:

* **graph** - the identity's links as an indented tree from the alias asked (strong
  ``━``, weak ``┄`` and marked ``~weak``), with each alias's kind and event count;
  ``Enter`` on a link shows its evidence events;
* **sessions** - role sessions, sshd/auditd logins, database sessions, tokens: start,
  end, addresses, user agents; ``Enter`` shows that session's events;
* **events** - the merged timeline of every alias, in keyset pages (one index range
  per alias, merged; never all rows): credentials created in the window are flagged
  ``+cred``; ``Enter`` shows the event in the timeline.

``w`` toggles weak links (default: shown, labelled).  The screen dismisses with a
timeline filter (``id:N`` terms) or None.  Graph reads and builds run in thread
workers; every log-derived text goes through :func:`one_line`.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from sqlalchemy import Engine
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import ContentSwitcher, DataTable, Footer, Static

from logconsole.store.sanitize import one_line
from logconsole.tui.actions import bindings

PAGE = 200
#: links whose evidence is a credential coming into existence (flagged in the merged timeline)
CREDENTIAL_LINKS = ("created_credential", "assumed_session", "console_login")


def tail(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1):]


def _ts(us: int | None) -> str:
    from logconsole.util.timeparse import format_us

    return format_us(us, precision="s") if us is not None else "-"


class EvidenceScreen(ModalScreen[str | None]):
    """The evidence events of one link; Enter: that event in the timeline, t: all of them."""

    BINDINGS = bindings("EvidenceScreen")
    DEFAULT_CSS = """
    EvidenceScreen { align: center middle; }
    EvidenceScreen > Vertical { width: 100%; height: 100%; border: round $accent; background: $surface; }
    EvidenceScreen #ev-title { height: auto; padding: 0 1; }
    EvidenceScreen #ev-table { height: 1fr; }
    """

    def __init__(self, engine: Engine, title: str, event_ids: list[int]) -> None:
        super().__init__()
        self.engine = engine
        self.title_text = title
        self.event_ids = event_ids

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text), id="ev-title")
            yield DataTable(id="ev-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        from logconsole.analysis.identity.query import event_rows

        table = self.query_one("#ev-table", DataTable)
        table.add_columns("Time (UTC)", "Source", "Actor", "Action", "Address")
        with self.engine.connect() as conn:
            rows = event_rows(conn, self.event_ids)
        w = max(10, self.app.size.width - 62)
        for eid in self.event_ids:
            r = rows.get(eid)
            if r is None:
                continue
            table.add_row(Text(_ts(r["ts_us"])), Text(one_line(r["format"], 12)), Text(tail(one_line(r["actor"]), 16)),
                          Text(one_line(r["action"], w)), Text(one_line(r["src_ip"], 15)), key=str(eid))
        table.focus()

    def _current(self) -> int | None:
        table = self.query_one("#ev-table", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return int(key) if key is not None else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        eid = self._current()
        if eid is not None:
            self.dismiss(f"id:{eid}")

    def action_all(self) -> None:
        ids = self.event_ids[:50]
        if len(ids) == 1:
            self.dismiss(f"id:{ids[0]}")
        elif ids:
            self.dismiss("(" + " OR ".join(f"id:{i}" for i in ids) + ")")

    def action_back(self) -> None:
        self.dismiss(None)


class IdentityScreen(Screen[str | None]):
    """Aliases, links, sessions and the merged timeline of the identity of one alias or event."""

    BINDINGS = bindings("IdentityScreen")

    DEFAULT_CSS = """
    IdentityScreen #id-title { height: 1; padding: 0 1; background: $panel; }
    IdentityScreen #id-status { height: 1; padding: 0 1; color: $text-muted; }
    IdentityScreen ContentSwitcher { height: 1fr; }
    IdentityScreen DataTable { height: 1fr; }
    IdentityScreen #id-line { height: 1; padding: 0 1; background: $panel; }
    """

    def __init__(self, engine: Engine, *, event_id: int | None = None, alias: str | None = None) -> None:
        super().__init__()
        self.engine = engine
        self.event_id = event_id
        self.alias_text = alias
        self.alias_id: int | None = None
        self.strong_only = False
        self.walk: Any = None
        self.tree_rows: list[dict[str, Any]] = []
        self.session_rows: list[dict[str, Any]] = []
        self.timeline_aliases: list[int] = []
        self.timeline_label = ""
        self.page: list[tuple[int, int, int]] = []
        self.flagged: set[int] = set()
        self.pane = "graph"

    def compose(self) -> ComposeResult:
        yield Static(Text("Identity", style="bold"), id="id-title")
        yield Static(Text("building the identity graph…"), id="id-status")
        with ContentSwitcher(initial="graph"):
            yield DataTable(id="graph", cursor_type="row", show_header=False)
            yield DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
            yield DataTable(id="events", cursor_type="row", zebra_stripes=True)
        yield Static(id="id-line")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#graph", DataTable).focus()
        self._load()

    # ------------------------------------------------------------------ loading
    @work(thread=True, exclusive=True, group="identity-load")
    def _load(self) -> None:
        from logconsole.analysis.identity import query
        from logconsole.analysis.identity.build import build

        try:
            build(self.engine)
            with self.engine.connect() as conn:
                if self.alias_id is None:
                    if self.event_id is not None:
                        self.alias_id = query.alias_of_event(conn, self.event_id)
                    elif self.alias_text:
                        self.alias_id = query.resolve(conn, self.alias_text)
                if self.alias_id is None:
                    raise query.AliasNotFound("this event names no actor, key or session")
                walk = query.walk(conn, self.alias_id, strong_only=self.strong_only)
                flagged: set[int] = set()
                for lk in walk.links:
                    if lk["kind"] in CREDENTIAL_LINKS:
                        flagged.update(query.evidence(conn, lk["id"]))
                evidence = {lk["id"]: query.evidence(conn, lk["id"]) for lk in walk.links}
        except query.AmbiguousAlias as exc:
            self.app.call_from_thread(self._error, f"ambiguous: {', '.join(exc.candidates[:4])}")
            return
        except LookupError as exc:
            self.app.call_from_thread(self._error, f"no identity: {exc}")
            return
        except Exception as exc:  # shown, never a crash
            self.app.call_from_thread(self._error, f"{exc.__class__.__name__}: {exc}")
            return
        self.app.call_from_thread(self._show, walk, flagged, evidence)

    def _error(self, message: str) -> None:
        self.query_one("#id-status", Static).update(Text(one_line(message, 300), style="bold red"))

    def _show(self, walk: Any, flagged: set[int], evidence: dict[int, list[int]]) -> None:
        self.walk = walk
        self.flagged = flagged
        self.evidence = evidence
        start = walk.aliases[walk.start]
        n_ev = sum(r["events"] or 0 for r in walk.aliases.values())
        weak = sum(1 for r in walk.aliases.values() if r["reach"] == "weak")
        title = Text()
        title.append(f"Identity {walk.identity}: ", style="bold")
        title.append(tail(one_line(f"{start['kind']}:{start['value']}"), max(20, self.size.width - 20)))
        self.query_one("#id-title", Static).update(title)
        self.query_one("#id-status", Static).update(Text(
            f"{len(walk.aliases)} aliases ({weak} weak), {len(walk.links)} links, {n_ev:,} events"
            f"{' · strong links only' if self.strong_only else ''}"))
        self._fill_graph()
        self._fill_sessions()
        self.timeline_aliases = list(walk.aliases)
        self.timeline_label = "every alias"
        self._load_page(None, None)

    # ------------------------------------------------------------------ graph
    def _tree(self) -> list[dict[str, Any]]:
        """The strong links first, depth-first from the asked alias; then each weak link with the
        path it opens (every link once, every alias expanded once)."""
        w = self.walk
        adj: dict[int, list[dict[str, Any]]] = {}
        for lk in w.links:
            adj.setdefault(lk["from_alias"], []).append(lk)
            adj.setdefault(lk["to_alias"], []).append(lk)
        rows: list[dict[str, Any]] = [{"depth": 0, "alias": w.start, "link": None, "seen": False}]
        seen_alias = {w.start}
        seen_link: set[int] = set()

        def visit(aid: int, depth: int, weak_too: bool) -> None:
            for lk in sorted(adj.get(aid, []), key=lambda x: (x["strength"] != "strong", x["kind"], x["id"])):
                if lk["id"] in seen_link or (lk["strength"] == "weak" and not weak_too):
                    continue
                seen_link.add(lk["id"])
                other = lk["to_alias"] if lk["from_alias"] == aid else lk["from_alias"]
                again = other in seen_alias
                rows.append({"depth": depth + 1, "alias": other, "link": lk, "seen": again,
                             "outgoing": lk["from_alias"] == aid, "via": aid})
                if not again:
                    seen_alias.add(other)
                    visit(other, depth + 1, weak_too)

        visit(w.start, 0, False)
        for aid in list(w.aliases):  # joined through the identity without a link of their own
            if aid not in seen_alias and w.aliases[aid]["reach"] == "strong":
                seen_alias.add(aid)
                rows.append({"depth": 1, "alias": aid, "link": None, "seen": False})
                visit(aid, 1, False)
        # weak links, each with what it leads to, under the alias it starts from
        for lk in w.links:
            if lk["id"] in seen_link or lk["strength"] != "weak":
                continue
            if lk["from_alias"] in seen_alias or lk["to_alias"] in seen_alias:
                here = lk["from_alias"] if lk["from_alias"] in seen_alias else lk["to_alias"]
                seen_link.add(lk["id"])
                other = lk["to_alias"] if here == lk["from_alias"] else lk["from_alias"]
                again = other in seen_alias
                rows.append({"depth": 1, "alias": other, "link": lk, "seen": again, "outgoing": here == lk["from_alias"],
                             "via": here})
                if not again:
                    seen_alias.add(other)
                    visit(other, 1, True)
        return rows

    def _fill_graph(self) -> None:
        from logconsole.analysis.identity.model import ALIAS_KINDS

        table = self.query_one("#graph", DataTable)
        table.clear(columns=True)
        width = max(40, self.size.width - 3)
        table.add_column("tree", key="tree", width=width)
        self.tree_rows = self._tree()
        for i, row in enumerate(self.tree_rows):
            a = self.walk.aliases[row["alias"]]
            lk = row["link"]
            t = Text()
            t.append("  " * min(8, max(0, row["depth"] - 1)))
            if lk is not None:
                weak = lk["strength"] == "weak"
                style = "yellow" if weak else ""
                t.append("┄ " if weak else "━ ", style="yellow" if weak else "green")
                if weak and row["depth"] == 1 and row.get("via") not in (None, self.walk.start):
                    t.append(f"{tail(one_line(self.walk.aliases[row['via']]['value']), 14)} ", style="dim")
                t.append(f"{'→' if row.get('outgoing') else '←'} {lk['kind']}{' ~weak' if weak else ''} ", style=style)
            suffix = " ↺" if row["seen"] else (f" ({a['events']:,})" if a["events"] else "")
            kind = ALIAS_KINDS.get(a["kind"], (a["kind"], False))[0] if row["depth"] == 0 else a["kind"]
            t.append(f"{kind} ", style="dim")
            room = width - len(t.plain) - len(suffix) - 1
            if room < 8:  # deep or long: keep the line to the width, the value's end visible
                t = Text(tail(t.plain, max(10, width - 18 - len(suffix))), style="yellow" if lk and
                         lk["strength"] == "weak" else "")
                room = width - len(t.plain) - len(suffix) - 1
            t.append(tail(one_line(a["value"]), max(4, room)), style="bold" if row["depth"] == 0 else "")
            t.append(suffix, style="dim")
            table.add_row(t, key=str(i))

    # ------------------------------------------------------------------ sessions
    def _fill_sessions(self) -> None:
        from logconsole.analysis.identity.model import SESSION_KINDS

        table = self.query_one("#sessions", DataTable)
        table.clear(columns=True)
        table.add_columns("Session", "Start (UTC)", "End", "Ev", "Addresses")
        self.session_rows = sorted((r for r in self.walk.aliases.values() if r["kind"] in SESSION_KINDS),
                                   key=lambda r: (r["first_ts"] or 0, r["id"]))
        import json

        for r in self.session_rows:
            ips = ", ".join(json.loads(r["src_ips"] or "[]"))
            mark = "~" if r["reach"] == "weak" else ""
            table.add_row(Text(mark + tail(one_line(r["value"]), 24)), Text(_ts(r["first_ts"])),
                          Text(_ts(r["last_ts"])[11:]), Text(f"{r['events']:,}", justify="right"),
                          Text(one_line(ips, 40)), key=str(r["id"]))

    # ------------------------------------------------------------------ events (keyset pages)
    @work(thread=True, exclusive=True, group="identity-page")
    def _load_page(self, after: tuple[int, int] | None, before: tuple[int, int] | None,
                   cursor: str = "first") -> None:
        from logconsole.analysis.identity import query

        with self.engine.connect() as conn:
            page = query.timeline_page(conn, self.timeline_aliases, after=after, before=before, limit=PAGE)
            rows = query.event_rows(conn, [p[1] for p in page])
            total = query.timeline_count(conn, self.timeline_aliases)
        self.app.call_from_thread(self._show_page, page, rows, total, cursor)

    def _show_page(self, page: list[tuple[int, int, int]], rows: dict[int, dict[str, Any]], total: int,
                   cursor: str) -> None:
        if not page and self.page:
            return  # at either end: keep what is shown
        self.page = page
        self.page_total = total
        table = self.query_one("#events", DataTable)
        table.clear(columns=True)
        w = self.size.width
        act_w = max(12, w - 61)
        table.add_column("Time (UTC)", width=20)
        table.add_column("Source", width=10)
        table.add_column("Actor", width=14)
        table.add_column("Action", width=act_w)
        table.add_column("", width=5)
        for ts, eid, aid in page:
            r = rows.get(eid) or {}
            alias = self.walk.aliases.get(aid) or {}
            weak = alias.get("reach") == "weak"
            flag = Text("+cred", style="bold magenta") if eid in self.flagged else Text("~weak" if weak else "",
                                                                                         style="yellow")
            table.add_row(Text(_ts(ts)), Text(one_line(r.get("format"), 10)),
                          Text(tail(one_line(r.get("actor") or alias.get("value")), 14)),
                          Text(one_line(r.get("action"), act_w), style="bold" if eid in self.flagged else ""),
                          flag, key=str(eid))
        if page:
            table.move_cursor(row=0 if cursor == "first" else len(page) - 1)
        self.query_one("#id-line", Static).update(Text(
            f"events of {one_line(self.timeline_label, 40)}: {total:,} · page {_ts(page[0][0]) if page else '-'} .. "
            f"{_ts(page[-1][0]) if page else '-'}"))

    def on_key(self, event) -> None:
        """Keyset paging: moving past either end of the events page loads the next/previous page."""
        if self.pane != "events" or not self.page:
            return
        table = self.query_one("#events", DataTable)
        if event.key in ("down", "pagedown", "j") and table.cursor_row >= table.row_count - 1:
            event.stop()
            self._load_page(self.page[-1][:2], None, "first")
        elif event.key in ("up", "pageup", "k") and table.cursor_row <= 0:
            event.stop()
            self._load_page(None, self.page[0][:2], "last")

    # ------------------------------------------------------------------ actions
    def action_pane(self, name: str) -> None:
        self.pane = name
        self.query_one(ContentSwitcher).current = name
        self.query_one(f"#{name}", DataTable).focus()
        if name == "graph":
            self._line_for_graph()

    def action_toggle_weak(self) -> None:
        self.strong_only = not self.strong_only
        self._load()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.data_table.id == "graph":
            self._line_for_graph()

    def _line_for_graph(self) -> None:
        from logconsole.analysis.identity.model import LINK_KINDS

        table = self.query_one("#graph", DataTable)
        if not self.tree_rows or not (0 <= table.cursor_row < len(self.tree_rows)):
            return
        row = self.tree_rows[table.cursor_row]
        a = self.walk.aliases[row["alias"]]
        line = Text()
        if row["link"] is not None:
            lk = row["link"]
            line.append(f"[{lk['strength']}] {lk['kind']}: {lk['evidence_count']:,} evidence event(s), Enter shows "
                        f"them · {one_line(LINK_KINDS[lk['kind']].evidence, 200)}")
        else:
            line.append(f"{one_line(a['value'], 120)}: {a['events'] or 0:,} event(s), {_ts(a['first_ts'])} .. "
                        f"{_ts(a['last_ts'])}")
        self.query_one("#id-line", Static).update(line)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        if self.walk is None:
            return
        if self.pane == "graph":
            table = self.query_one("#graph", DataTable)
            if not (0 <= table.cursor_row < len(self.tree_rows)):
                return
            row = self.tree_rows[table.cursor_row]
            lk = row["link"]
            if lk is None:
                return
            fa, ta = self.walk.aliases[lk["from_alias"]], self.walk.aliases[lk["to_alias"]]
            title = (f"[{lk['strength']}] {lk['kind']}: {one_line(fa['value'], 60)} → {one_line(ta['value'], 60)}"
                     f" — {lk['evidence_count']:,} evidence event(s)")

            def done(result: str | None) -> None:
                if result:
                    self.dismiss(result)

            self.app.push_screen(EvidenceScreen(self.engine, title, self.evidence.get(lk["id"], [])), done)
        elif self.pane == "sessions":
            table = self.query_one("#sessions", DataTable)
            if not (0 <= table.cursor_row < len(self.session_rows)):
                return
            r = self.session_rows[table.cursor_row]
            self.timeline_aliases = [r["id"]]
            self.timeline_label = r["value"]
            self.action_pane("events")
            self._load_page(None, None)
        elif self.pane == "events":
            table = self.query_one("#events", DataTable)
            if 0 <= table.cursor_row < len(self.page):
                self.dismiss(f"id:{self.page[table.cursor_row][1]}")

    def action_back(self) -> None:
        if self.pane == "events" and self.timeline_aliases and self.walk is not None and \
                len(self.timeline_aliases) == 1 and len(self.walk.aliases) > 1:
            # from one session's events back to the whole identity
            self.timeline_aliases = list(self.walk.aliases)
            self.timeline_label = "every alias"
            self._load_page(None, None)
            self.action_pane("sessions")
            return
        self.dismiss(None)
