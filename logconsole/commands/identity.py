"""Identity commands: ``identity ALIAS``, ``identities``."""

from __future__ import annotations

import click

from logconsole.commands.common import db_option, emit_json, fail, json_option, open_engine, warn
from logconsole.store.sanitize import one_line


def _graph_engine(db_path):
    """Open the index and bring the identity graph up to date (a no-op when nothing is new)."""
    from logconsole.analysis.identity.build import build

    engine = open_engine(db_path)
    try:
        build(engine)
    except Exception as exc:  # a read-only or locked index: answer from what is stored
        warn(f"identity graph not updated ({exc.__class__.__name__}); answering from the stored graph")
    return engine


@click.command("identity")
@click.argument("alias")
@click.option("--strong-only", is_flag=True, help="Follow strong links only (no same-name or credential-use links).")
@click.option("--limit", type=int, default=20, show_default=True, help="Events of the merged timeline to print.")
@db_option
@json_option
def identity_cmd(alias, strong_only, limit, db_path, as_json):
    """Every alias, link, session and event of the identity ALIAS belongs to.

    ALIAS is any name the graph knows: an ARN, an access key id, a role session
    (ARN or session name), a Kubernetes user or service account, `ses:N`/`uid:N`
    (of any host, or `ses:N@HOST`), a host or database account (`name@HOST`), an
    e-mail, or an IP address (the principal that acted most from it); `kind:value`
    picks one kind.  Links are strong (the records prove them) or weak (same name
    across sources; a credential read, then a use from the same address) -
    docs/identity.md lists each kind and its evidence.  Exit 2 if ALIAS is unknown
    or ambiguous.
    """
    from logconsole.analysis.identity import query

    engine = _graph_engine(db_path)
    with engine.connect() as conn:
        try:
            aid = query.resolve(conn, alias)
        except query.AmbiguousAlias as exc:
            fail(f"{one_line(alias, 200)!s} is ambiguous: "
                 + ", ".join(one_line(c, 120) for c in exc.candidates[:8])
                 + (" …" if len(exc.candidates) > 8 else "") + " (give kind:value)")
        except query.AliasNotFound:
            fail(f"no alias {one_line(alias, 200)} in the identity graph (`logconsole identities` lists them)")
        data = query.identity_json(conn, aid, strong_only=strong_only)
        if as_json:
            emit_json(data)
            return
        w = query.walk(conn, aid, strong_only=strong_only)
        strong_ids = w.alias_ids(strong_only=True)
        page = query.timeline_page(conn, strong_ids, limit=max(0, limit))
        rows = query.event_rows(conn, [p[1] for p in page])
    _print_identity(data, w, page, rows)


def _print_identity(data, w, page, rows) -> None:
    from logconsole.analysis.identity.model import ALIAS_KINDS, LINK_KINDS
    from logconsole.util.timeparse import format_us

    reach = {(r["kind"], r["value"]): r["reach"] for r in w.aliases.values()}
    click.echo(f"identity {data['identity']}: {len(data['aliases'])} alias(es), {data['events']:,} event(s)")
    click.echo("\naliases:")
    for a in data["aliases"]:
        label = ALIAS_KINDS.get(a["kind"], (a["kind"], False))[0]
        how = "" if reach.get((a["kind"], a["value"])) == "strong" else "  (weak)"
        click.echo(f"  {label:<26} {one_line(a['value'], 90)}  {a['events']:,} ev  "
                   f"{a['first'] or '-'} .. {a['last'] or '-'}{how}")
    click.echo("\nlinks:")
    for lk in data["links"]:
        spec = LINK_KINDS[lk["kind"]]
        ev = ", ".join(str(e) for e in lk["evidence"][:6]) + (" …" if len(lk["evidence"]) > 6 else "")
        click.echo(f"  [{lk['strength']}] {one_line(lk['from'], 70)} -- {spec.label} --> {one_line(lk['to'], 70)}"
                   f"  (events {ev})")
    if data["sessions"]:
        click.echo("\nsessions:")
        for s in data["sessions"]:
            click.echo(f"  {one_line(s['id'], 80)}  {s['start'] or '-'} .. {s['end'] or '-'}  {s['events']:,} ev  "
                       f"{one_line(', '.join(s['src_ips']), 60)}")
    if page:
        click.echo(f"\nfirst {len(page)} event(s) of the strongly linked aliases (all: --json or the console):")
        for ts, eid, _aid in page:
            r = rows.get(eid)
            if r:
                click.echo(f"  {format_us(ts):<24} #{eid:<7} {r['format']:<12} {one_line(r['actor'], 40):<40} "
                           f"{one_line(r['action'], 36):<36} {one_line(r['src_ip'], 15)}")


@click.command("identities")
@click.option("--rebuild", is_flag=True, help="Rebuild the identity graph from every event first.")
@db_option
@json_option
def identities_cmd(rebuild, db_path, as_json):
    """List the identities (principals joined by strong links) with their counts."""
    from logconsole.analysis.identity import query
    from logconsole.analysis.identity.build import build

    engine = open_engine(db_path)
    if rebuild:
        build(engine, rebuild=True)
    else:
        engine = _graph_engine(db_path)
    with engine.connect() as conn:
        rows = query.identities(conn)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no identities (ingest events first)")
        return
    click.echo(f"{'ID':>6}  {'ALIASES':>7}  {'EVENTS':>8}  {'WEAK':>4}  {'FIRST':<20}  {'LAST':<20}  LABEL")
    for r in rows:
        click.echo(f"{r['identity']:>6}  {r['aliases']:>7}  {r['events']:>8,}  {r['weak_links']:>4}  "
                   f"{(r['first'] or '-')[:20]:<20}  {(r['last'] or '-')[:20]:<20}  {one_line(r['label'], 90)}")
