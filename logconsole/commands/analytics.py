"""``logconsole freq`` and ``logconsole histogram``: the console's frequency table and histogram, headless.

Both take a filter in the filter language (docs/query.md) and print a table, or
JSON with ``--json``.  The counting is the same SQL the console uses
(:mod:`logconsole.store.aggregates`).
"""

from __future__ import annotations

import click

from logconsole.commands.common import db_option, emit_json, fail, json_option, open_engine


def _compile(query: tuple[str, ...], conn=None, now_us: int | None = None):
    from logconsole.store.filter import FilterError, compile_filter, saved_queries

    text = " ".join(query)
    try:
        return compile_filter(text, now_us=now_us, saved_queries=saved_queries(conn) if conn is not None else None)
    except FilterError as exc:
        fail(f"filter: {exc}")


@click.command("freq")
@click.argument("column")
@click.argument("query", nargs=-1)
@click.option("--limit", "-n", type=int, default=20, show_default=True, help="At most N values (0 = all).")
@click.option("--offset", type=int, default=0, help="Skip the N most frequent values.")
@json_option
@db_option
def freq(column, query, limit, offset, as_json, db_path):
    """Values of COLUMN by count among the events matching QUERY (the console's Shift+F).

    COLUMN is one of actor, action, src_ip (ip), outcome, resource, service, format,
    error_code (error), host, account, region, actor_type, actor_uid, session,
    target_user, user_agent, record_id.  Each row gives the drill-down filter term.

    \b
    Examples:
      logconsole freq action ip:203.0.113.77
      logconsole freq actor outcome:failure --limit 0 --json
    """
    from logconsole.store import aggregates
    from logconsole.store.sanitize import one_line

    try:
        name = aggregates.canonical_column(column)
    except KeyError as exc:
        fail(str(exc.args[0]))
    flt = _compile(query)
    engine = open_engine(db_path, readonly=True)
    with engine.connect() as conn:
        flt = _compile(query, conn, flt.now_us)  # again, with the saved filters that finding:N reads
        if limit == 0:
            first = aggregates.frequency(conn, flt.where, name, 1, 0)
            limit = max(1, first.distinct - offset)
        page = aggregates.frequency(conn, flt.where, name, limit, offset)
    if as_json:
        emit_json({
            "column": name, "filter": flt.text, "events": page.total, "distinct": page.distinct,
            "offset": page.offset,
            "values": [
                {"value": r.value, "count": r.count, "percent": round(r.percent, 3),
                 "term": aggregates.drill_term(name, r.value)}
                for r in page.rows
            ],
        })
        return
    label = aggregates.LABELS.get(name, name)
    click.echo(f"{label}: {page.distinct:,} distinct values in {page.total:,} events"
               + (f" matching {one_line(flt.text, 200)}" if flt.text else ""))
    if not page.rows:
        return
    cw = max(5, len(f"{page.max_count:,}"))
    for r in page.rows:
        value = "(empty)" if r.value is None else one_line(r.value, 120)
        click.echo(f"{r.count:>{cw},}  {r.percent:5.1f}%  {value}")
    shown = page.offset + len(page.rows)
    if shown < page.distinct:
        click.echo(f"... {page.distinct - shown:,} more (--limit 0 for all, --offset {shown} for the next)")


@click.command("histogram")
@click.argument("query", nargs=-1)
@click.option("--buckets", "-b", type=click.IntRange(1, 10_000), default=48, show_default=True,
              help="At most this many buckets (widths are round: 1m, 5m, 1h, 1d ...).")
@click.option("--since", "since", default=None, help="Start (ISO 8601, UTC if no zone); default: the first match.")
@click.option("--until", "until", default=None, help="End (inclusive); default: the last match.")
@json_option
@db_option
def histogram(query, buckets, since, until, as_json, db_path):
    """Events over time for QUERY, per bucket, split by outcome (the console's histogram).

    \b
    Examples:
      logconsole histogram outcome:failure --buckets 24
      logconsole histogram ip:203.0.113.77 --since 2026-03-14T01:00:00Z --until 2026-03-14T02:00:00Z --json
    """
    from logconsole.util.errors import ParseError
    from logconsole.util.timeparse import format_us, parse_iso
    from logconsole.store import aggregates

    flt = _compile(query)
    engine = open_engine(db_path, readonly=True)
    with engine.connect() as conn:
        flt = _compile(query, conn, flt.now_us)  # again, with the saved filters that finding:N reads
        bounds = aggregates.time_bounds(conn, flt.where)
        if bounds is None:
            if as_json:
                emit_json({"filter": flt.text, "events": 0, "bucket_us": None, "buckets": []})
            else:
                click.echo("no events match")
            return
        try:
            lo = parse_iso(since) if since else bounds[0]
            hi = parse_iso(until) if until else bounds[1]
        except ParseError as exc:
            fail(f"--since/--until: {exc}")
        if hi < lo:
            fail("--until is before --since")
        start, width, n = aggregates.plan_buckets(lo, hi, buckets)
        where = flt.where
        if since or until:  # the edge buckets count only events inside [since, until]
            from sqlalchemy import and_

            from logconsole.store.schema import events

            where = and_(where, events.c.ts_us >= lo, events.c.ts_us <= hi)
        rows = aggregates.histogram(conn, where, start, start + width * n, n, width=width)
    if as_json:
        emit_json({
            "filter": flt.text, "events": sum(b.total for b in rows), "bucket_us": width,
            "buckets": [
                {"start": format_us(b.start_us), "start_us": b.start_us, "total": b.total, "success": b.success,
                 "failure": b.failure, "unknown": b.unknown}
                for b in rows
            ],
        })
        return
    peak = max(b.total for b in rows) or 1
    click.echo(f"{sum(b.total for b in rows):,} events, buckets of {_width_label(width)} (UTC); "
               "bar: █ success, ▒ failure, ░ unknown")
    for b in rows:
        cells = 40 * b.total / peak
        f = round(40 * b.failure / peak) if b.failure else 0
        u = round(40 * b.unknown / peak) if b.unknown else 0
        f = max(f, 1 if b.failure else 0)
        u = max(u, 1 if b.unknown else 0)
        sc = max(round(cells) - f - u, 1 if b.success else 0)
        click.echo(f"{format_us(b.start_us)}  {b.total:>8,}  {b.failure:>7,} failed  "
                   + "▒" * f + "░" * u + "█" * sc)


def _width_label(width_us: int) -> str:
    s = width_us / 1_000_000
    for unit, secs in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= secs and s % secs == 0:
            return f"{int(s // secs)}{unit}"
    return f"{width_us}µs"

