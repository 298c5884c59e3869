"""Query commands: ``sql`` (read-only SQL over documented views) and ``pivot``
(a two-field count table)."""

from __future__ import annotations

import csv
import sys

import click

from logconsole.commands.common import db_option, emit_json, fail, json_option, open_engine, resolve_db
from logconsole.store.sanitize import one_line


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bytes):
        return "x'" + v[:64].hex() + ("…" if len(v) > 64 else "") + "'"
    return str(v)


def _json_value(v):
    if isinstance(v, bytes):
        return {"hex": v.hex()}
    return v


@click.command("sql")
@click.argument("statement", required=False)
@click.option("--output", "-o", type=click.Choice(["table", "csv", "jsonl"]), default="table", show_default=True)
@click.option("--limit", "-n", type=click.IntRange(min=0), default=1000, show_default=True,
              help="At most N rows (0 = all).")
@click.option("--timeout", type=click.FloatRange(min=0), default=300.0, show_default=True,
              help="Stop the statement after this many seconds (0 = no limit).")
@click.option("--views", "list_views", is_flag=True, help="List the views and their columns, then exit.")
@db_option
@json_option
def sql_cmd(statement, output, limit, timeout, list_views, db_path, as_json):
    """Run one read-only SQL statement over the index's documented views.

    \b
    Views: events (every normalized column, time as ISO 8601 UTC, source_path),
    sources, findings, finding_events, annotations (see docs/query.md#sql).
    Only reads are allowed (exit 2 otherwise): a SQLite index is opened
    read-only and an authorizer refuses writes, ATTACH, PRAGMA changes and
    extension loading; on PostgreSQL each statement is a cursor's query in a
    READ ONLY transaction that is rolled back, with the same timeout and limit.

    \b
    Examples:
      logconsole sql "SELECT actor, count(*) n FROM events GROUP BY actor ORDER BY n DESC"
      logconsole sql "SELECT src_ip, min(time), max(time) FROM events WHERE outcome='failure' GROUP BY 1" --json
    """
    from logconsole.store.readonly_sql import SqlError, open_readonly, views_help

    if list_views:
        v = views_help()
        if as_json:
            emit_json({"views": v})
        else:
            for x in v:
                click.echo(f"{x['view']}: {x['description']}\n    {', '.join(x['columns'])}")
        return
    if not statement:
        fail("a statement is needed: logconsole sql \"SELECT ...\" (see --views)")
    try:
        with open_readonly(resolve_db(db_path), time_limit=timeout or None) as ro:
            res = ro.run(statement, limit=limit or None)
    except SqlError as exc:
        fail(f"sql: {exc}")
    if as_json:
        emit_json({
            "columns": res.columns,
            "rows": [[_json_value(v) for v in r] for r in res.rows],
            "count": len(res.rows), "truncated": res.truncated, "limit": res.limit,
        })
    elif output == "jsonl":
        from logconsole.util.termsafe import json_dumps

        for r in res.rows:
            click.echo(json_dumps(dict(zip(res.columns, [_json_value(v) for v in r])), default=str))
    elif output == "csv":
        from logconsole.commands.core import _csv_cell

        w = csv.writer(sys.stdout)
        w.writerow(res.columns)
        tty = sys.stdout.isatty()
        for r in res.rows:
            cells = [_csv_cell(_cell(v) if not isinstance(v, (int, float)) else v) for v in r]
            w.writerow([one_line(c) if tty else c for c in cells])
    else:
        _print_table(res.columns, [[one_line(_cell(v), 60) for v in r] for r in res.rows])
        click.echo(f"({len(res.rows):,} row{'s' if len(res.rows) != 1 else ''}"
                   + (f", stopped at --limit {res.limit:,}" if res.truncated else "") + f", {res.seconds:.2f} s)",
                   err=True)
    if res.truncated:
        click.echo(f"logconsole: warning: more than {res.limit:,} rows; raise --limit (0 = all)", err=True)


def _print_table(columns: list[str], rows: list[list[str]]) -> None:
    cols = [one_line(c, 60) for c in columns]
    widths = [len(c) for c in cols]
    for r in rows:
        for i, v in enumerate(r):
            widths[i] = max(widths[i], len(v))
    click.echo("  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip())
    click.echo("  ".join("-" * w for w in widths))
    for r in rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


@click.command("pivot")
@click.argument("row")
@click.argument("col")
@click.argument("query", nargs=-1)
@click.option("--rows", "max_rows", type=click.IntRange(min=1), default=30, show_default=True,
              help="Show the N row values with the most events (the rest: 'other').")
@click.option("--cols", "max_cols", type=click.IntRange(min=1), default=8, show_default=True,
              help="Show the N column values with the most events.")
@db_option
@json_option
def pivot_cmd(row, col, query, max_rows, max_cols, db_path, as_json):
    """Count events by two fields: ROW x COL, for the events matching QUERY.

    \b
    ROW and COL: a field (actor, action, ip, outcome, error, service, resource,
    region, account, host, format, source, extra.KEY, ...) or a time bucket
    (minute, hour, day, week, time:15m).

    \b
    Examples:
      logconsole pivot actor action outcome:failure
      logconsole pivot ip hour 'since:-24h'
    """
    from logconsole.store.filter import FilterError, compile_filter
    from logconsole.store.pivot import PivotError, dimension, pivot, source_labels
    from logconsole.store.queries import time_reference

    text = " ".join(query)
    try:
        rd, cd = dimension(row), dimension(col)
        compile_filter(text)
    except (PivotError, FilterError) as exc:
        fail(f"pivot: {exc}" if isinstance(exc, PivotError) else f"filter: {exc}")
    engine = open_engine(db_path, readonly=True)
    with engine.connect() as conn:
        try:
            flt = compile_filter(text, ref=time_reference(conn))
        except FilterError as exc:
            fail(f"filter: {exc}")
        t = pivot(conn, rd, cd, flt.where, max_rows=max_rows, max_cols=max_cols)
        names = {}
        if "source" in (rd.name, cd.name):
            names = source_labels(conn, (t.rows if rd.name == "source" else []) + (t.cols if cd.name == "source" else []))
    if as_json:
        out = t.as_json()
        out["query"] = text
        emit_json(out)
        return
    if not t.total:
        click.echo("no matching events", err=True)
        return

    def rl(v):
        return names.get(v, t.row.label(v)) if rd.name == "source" else t.row.label(v)

    def cl(v):
        return names.get(v, t.col.label(v)) if cd.name == "source" else t.col.label(v)

    header = [f"{rd.name} \\ {cd.name}"] + [cl(c) for c in t.cols] + (["other"] if t.other_cols else []) + ["total"]
    body = []
    for r in t.rows:
        line = [rl(r)] + [str(t.count(r, c)) for c in t.cols]
        if t.other_cols:
            line.append(str(t.other_col_totals.get(r, 0)))
        body.append(line + [str(t.row_totals[r])])
    if t.other_rows:
        line = [f"other ({t.other_rows:,})"] + [str(t.other_row_totals.get(c, 0)) for c in t.cols]
        if t.other_cols:
            line.append(str(t.other_other))
        body.append(line + [str(t.total - sum(t.row_totals.values()))])
    totals = ["total"] + [str(t.col_totals[c]) for c in t.cols]
    if t.other_cols:
        totals.append(str(t.total - sum(t.col_totals.values())))
    body.append(totals + [str(t.total)])
    _print_table([one_line(h, 40) for h in header], [[one_line(v, 48) for v in b] for b in body])
