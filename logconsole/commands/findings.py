"""``logconsole finding ...``: record what the investigation concluded, with its evidence."""

from __future__ import annotations

import sys

import click

from logconsole.commands.common import db_option, emit_json, fail, json_option, open_engine
from logconsole.util.timeparse import format_us
from logconsole.store.sanitize import inert, one_line
from logconsole.util.severity import SEVERITIES

SEVERITY_CHOICE = click.Choice(list(SEVERITIES), case_sensitive=False)


def _engine(db_path):
    return open_engine(db_path)


def _finding_json(f: dict) -> dict:
    return {
        "id": f["id"], "position": f["position"], "title": f["title"], "severity": f["severity"],
        "narrative": f["narrative"], "query": f["query"],
        "query_resolved_at": format_us(f["query_now_us"]) if f.get("query_now_us") else None,
        "events": f.get("events"), "attached": f.get("attached"), "missing": f.get("missing"),
        "first": format_us(f["first_us"]) if f.get("first_us") is not None else None,
        "last": format_us(f["last_us"]) if f.get("last_us") is not None else None,
        "created": format_us(f["created_us"]), "updated": format_us(f["updated_us"]),
        "query_error": f.get("query_error"),
    }


def _read_text(value: str | None) -> str | None:
    """``@FILE`` reads the text from a file, ``@-`` from stdin."""
    if value is None or not value.startswith("@"):
        return value
    src = value[1:]
    try:
        if src == "-":
            return sys.stdin.read()
        with open(src, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        fail(f"{src}: cannot read: {exc.strerror or exc}")


@click.group("finding")
def finding() -> None:
    """Findings: titled, graded groups of events with the investigator's narrative.

    A finding's events are the events attached to it (--marked, --event) plus
    all events of its saved filter (--query).  The report (`logconsole export`)
    is built from them.
    """


@finding.command("add")
@click.option("--title", "-t", required=True, help="One-line title.")
@click.option("--severity", "-s", type=SEVERITY_CHOICE, default="medium", show_default=True)
@click.option("--query", "-q", default=None, help="Saved filter: all events matching it belong to the finding.")
@click.option("--view", default=None, help="Saved filter: the filter of this saved view (see the console's `v`).")
@click.option("--marked", is_flag=True, help="Attach the events bookmarked in the timeline.")
@click.option("--event", "event_ids", type=int, multiple=True, help="Attach an event by index id (repeatable).")
@click.option("--note", "--narrative", "note", default=None,
              help="The narrative (Markdown); @FILE reads it from a file, @- from stdin.")
@click.option("--unmark", is_flag=True, help="With --marked: clear the bookmarks once attached.")
@db_option
@json_option
def add_cmd(title, severity, query, view, marked, event_ids, note, unmark, db_path, as_json):
    """Create a finding from a filter or saved view, the marked events, or event ids."""
    from logconsole.store import annotations as A
    from logconsole.store import findings as F

    if not (query or view or marked or event_ids):
        fail("say which events: --query Q, --view NAME, --marked or --event ID")
    if query and view:
        fail("give --query or --view, not both")
    note = _read_text(note)
    eng = _engine(db_path)
    ids = list(event_ids)
    if view:
        with eng.connect() as conn:
            views = dict(A.list_views(conn))
        if view not in views:
            fail(f"no saved view {view!r}" + (f"; saved views: {', '.join(sorted(views))}" if views else ""))
        query = views[view]
    with eng.begin() as conn:
        if marked:
            mids = A.marked_event_ids(conn)
            if not mids and not query and not event_ids:
                fail("no marked events (mark events in the console with the bookmark key, or use --query/--event)")
            ids += mids
        try:
            fid = F.create_finding(conn, title, severity=severity, narrative=note, query=query, event_ids=ids)
        except F.FindingError as exc:
            fail(str(exc))
        if marked and unmark:
            for eid in A.marked_event_ids(conn):
                A.set_mark(conn, eid, False)
    with eng.connect() as conn:
        row = next(f for f in F.list_findings(conn) if f["id"] == fid)
    if as_json:
        emit_json(_finding_json(row))
    else:
        click.echo(f"finding {fid} added: {row['events']:,} event(s)"
                   + (f", {row['attached']:,} attached" if row["attached"] else "")
                   + (" + saved filter" if row["query"] else ""))


@finding.command("list")
@db_option
@json_option
def list_cmd(db_path, as_json):
    """All findings in the investigator's order."""
    from logconsole.store import findings as F

    eng = _engine(db_path)
    with eng.connect() as conn:
        rows = F.list_findings(conn)
    if as_json:
        emit_json({"findings": [_finding_json(f) for f in rows]})
        return
    if not rows:
        click.echo("no findings (add one with `logconsole finding add`)")
        return
    for f in rows:
        span = f"{format_us(f['first_us'])} .. {format_us(f['last_us'])}" if f["events"] else "no events"
        click.echo(f"{f['id']:>4}  {f['severity']:<8}  {f['events']:>7,} ev  {span}  {one_line(f['title'], 80)}")


@finding.command("show")
@click.argument("finding_id", type=int)
@click.option("--all", "show_all", is_flag=True, help="List every event (default: the first 20 and last 5).")
@db_option
@json_option
def show_cmd(finding_id, show_all, db_path, as_json):
    """A finding with its narrative and its events in report order."""
    from logconsole.report.markdown import HEAD_ROWS, TAIL_ROWS, finding_rows, finding_window, source_ref
    from logconsole.store import findings as F

    eng = _engine(db_path)
    with eng.connect() as conn:
        try:
            F.get_finding_row(conn, finding_id)
        except F.FindingError as exc:
            fail(str(exc))
        row = next(f for f in F.list_findings(conn) if f["id"] == finding_id)
        if as_json or show_all:
            evs = finding_rows(conn, row)
            n, tail = len(evs), None
        else:
            n, evs, tail = finding_window(conn, row, HEAD_ROWS, TAIL_ROWS)
    if as_json:
        d = _finding_json(row)
        d["event_list"] = [
            {"id": e["id"], "time": format_us(e["ts_us"]), "source_id": e["source_id"], "source": e["source_path"],
             "line": e["line"], "rec_index": e["rec_index"], "record_id": e["record_id"], "actor": e["actor"],
             "action": e["action"], "resource": e["resource"], "outcome": e["outcome"], "error_code": e["error_code"],
             "src_ip": e["src_ip"], "raw_sha256": e["raw_sha256"]}
            for e in evs
        ]
        emit_json(d)
        return
    click.echo(f"finding {row['id']}  [{row['severity']}]  {one_line(row['title'])}")
    if row["query"]:
        from logconsole.report.markdown import is_relative

        rel = f"  (relative times resolved at {format_us(row['query_now_us'])})" if is_relative(row["query"]) else ""
        click.echo(f"filter: {one_line(row['query'])}{rel}")
    if row.get("query_error"):
        click.echo(f"filter error: {one_line(row['query_error'])} (only attached events are shown; fix it with `finding edit {row['id']} --query`)")
    if row["attached"]:
        click.echo(f"attached events: {row['attached']:,}" + (f" ({row['missing']} no longer in the index)" if row["missing"] else ""))
    if row["narrative"]:
        click.echo("")
        click.echo(inert(row["narrative"], keep_newlines=True))
    click.echo("")
    shown: list = list(enumerate(evs, 1))
    if tail is not None:
        shown += [(None, None)] + [(n - len(tail) + i, e) for i, e in enumerate(tail, 1)]
    for i, e in shown:
        if e is None:
            click.echo(f"     … {n - len(evs) - len(tail or []):,} more (--all)")
            continue
        click.echo(
            f"{i:>5}  {format_us(e['ts_us'])}  {one_line(source_ref(e), 28):<28} {one_line(e['actor'], 40):<40} "
            f"{one_line(e['action'], 32):<32} {e['outcome']:<7} {one_line(e['src_ip'], 39):<15} {one_line(e['resource'], 60)}"
        )
    click.echo(f"{n:,} event(s)")


@finding.command("edit")
@click.argument("finding_id", type=int)
@click.option("--title", "-t", default=None)
@click.option("--severity", "-s", type=SEVERITY_CHOICE, default=None)
@click.option("--note", "--narrative", "note", default=None, help="New narrative; @FILE / @- to read it.")
@click.option("--query", "-q", default=None, help="Replace the saved filter.")
@click.option("--no-query", is_flag=True, help="Remove the saved filter (keep attached events).")
@db_option
def edit_cmd(finding_id, title, severity, note, query, no_query, db_path):
    """Change a finding's title, severity, narrative or filter."""
    from logconsole.store import findings as F

    eng = _engine(db_path)
    try:
        with eng.begin() as conn:
            F.update_finding(conn, finding_id, title=title, severity=severity, narrative=_read_text(note),
                             query=query, clear_query=no_query)
    except F.FindingError as exc:
        fail(str(exc))
    click.echo(f"finding {finding_id} updated")


@finding.command("attach")
@click.argument("finding_id", type=int)
@click.option("--marked", is_flag=True, help="Attach the bookmarked events.")
@click.option("--event", "event_ids", type=int, multiple=True, help="Event id (repeatable).")
@click.option("--query", "-q", default=None, help="Attach every event matching this filter now (a snapshot).")
@db_option
def attach_cmd(finding_id, marked, event_ids, query, db_path):
    """Attach more events to a finding."""
    from logconsole.store import annotations as A
    from logconsole.store import findings as F
    from logconsole.store.schema import events
    from sqlalchemy import select

    eng = _engine(db_path)
    try:
        with eng.begin() as conn:
            ids = list(event_ids)
            if marked:
                ids += A.marked_event_ids(conn)
            if query:
                flt = F.check_query(query, saved=F.saved_queries(conn))
                ids += [r[0] for r in conn.execute(select(events.c.id).where(flt.where))]
            if not ids:
                fail("nothing to attach (--marked, --event ID or --query Q)")
            added = F.attach_events(conn, finding_id, ids)
    except F.FindingError as exc:
        fail(str(exc))
    click.echo(f"finding {finding_id}: {added:,} event(s) attached")


@finding.command("detach")
@click.argument("finding_id", type=int)
@click.option("--event", "event_ids", type=int, multiple=True, required=True, help="Event id (repeatable).")
@db_option
def detach_cmd(finding_id, event_ids, db_path):
    """Detach events from a finding (events of its saved filter stay)."""
    from logconsole.store import findings as F

    eng = _engine(db_path)
    try:
        with eng.begin() as conn:
            n = F.detach_events(conn, finding_id, list(event_ids))
    except F.FindingError as exc:
        fail(str(exc))
    click.echo(f"finding {finding_id}: {n} event(s) detached")


@finding.command("move")
@click.argument("finding_id", type=int)
@click.argument("position", type=int)
@db_option
def move_cmd(finding_id, position, db_path):
    """Move a finding to POSITION (1 = first) in the investigator's order."""
    from logconsole.store import findings as F

    eng = _engine(db_path)
    try:
        with eng.begin() as conn:
            F.move_finding(conn, finding_id, position)
    except F.FindingError as exc:
        fail(str(exc))
    click.echo(f"finding {finding_id} moved to position {max(1, position)}")


def _event_ids(conn, ids, query, limit: int | None = None) -> list[int]:
    from sqlalchemy import select

    from logconsole.store import findings as F
    from logconsole.store.schema import events

    out = list(ids)
    if query:
        try:
            flt = F.check_query(query, saved=F.saved_queries(conn))
        except F.FindingError as exc:
            fail(str(exc))
        q = select(events.c.id).where(flt.where).order_by(events.c.ts_us, events.c.id)
        found = [r[0] for r in conn.execute(q.limit(limit + 1) if limit else q)]
        if limit and len(found) > limit:
            fail(f"--query matches more than {limit} events; narrow it")
        out += found
    if not out:
        fail("no events: give event ids or a --query that matches")
    return sorted(set(out))


@finding.command("mark")
@click.argument("event_ids", type=int, nargs=-1)
@click.option("--query", "-q", default=None, help="Mark every event matching this filter.")
@click.option("--clear", is_flag=True, help="Remove the bookmarks instead.")
@db_option
def mark_cmd(event_ids, query, clear, db_path):
    """Bookmark events (as `m` does in the console), for `finding add --marked`."""
    from logconsole.store import annotations as A

    eng = _engine(db_path)
    with eng.begin() as conn:
        ids = _event_ids(conn, event_ids, query)
        try:
            for eid in ids:
                A.set_mark(conn, eid, not clear)
        except KeyError as exc:
            fail(str(exc).strip("'\""))
    click.echo(f"{len(ids):,} event(s) {'unmarked' if clear else 'marked'}")


@finding.command("note")
@click.argument("event_ids", type=int, nargs=-1)
@click.option("--query", "-q", default=None, help="Note every event matching this filter (at most 100).")
@click.option("--text", "note", required=True, help="The note (empty clears it); shown in the report's Note column.")
@db_option
def note_cmd(event_ids, query, note, db_path):
    """Set the note of events (as `n` does in the console)."""
    from logconsole.store import annotations as A

    eng = _engine(db_path)
    with eng.begin() as conn:
        ids = _event_ids(conn, event_ids, query, limit=100)
        try:
            for eid in ids:
                A.set_note(conn, eid, note)
        except KeyError as exc:
            fail(str(exc).strip("'\""))
    click.echo(f"note set on {len(ids):,} event(s)")


@finding.command("delete")
@click.argument("finding_id", type=int)
@db_option
def delete_cmd(finding_id, db_path):
    """Delete a finding (its events stay in the index)."""
    from logconsole.store import findings as F

    eng = _engine(db_path)
    try:
        with eng.begin() as conn:
            F.delete_finding(conn, finding_id)
    except F.FindingError as exc:
        fail(str(exc))
    click.echo(f"finding {finding_id} deleted")
