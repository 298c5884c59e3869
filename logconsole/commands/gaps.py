"""``logconsole gaps``: where records are missing and where logging was stopped, with the evidence."""

from __future__ import annotations

import click

from logconsole.commands.common import db_option, emit_json, json_option, open_engine
from logconsole.store.sanitize import one_line


@click.command("gaps")
@db_option
@json_option
def gaps(db_path, as_json):
    """Deleted ranges and logging-stopped intervals, in timeline order.

    \b
    Deleted ranges come from verification (a hash chain's deleted or truncated
    records, sequence gaps, a log file a CloudTrail digest lists but the copy
    lacks); logging-stopped intervals from the events (CloudTrail StopLogging ..
    StartLogging, auditd DAEMON_END .. DAEMON_START, Windows 1100 and 1102).
    The timeline shows each as a marker row at its place.
    """
    from logconsole.analysis.chain.trust import gap_rows, refresh

    engine = open_engine(db_path)
    refresh(engine)  # the events may have changed since the last verification
    with engine.connect() as conn:
        rows = gap_rows(conn)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no gaps: nothing deleted was found and logging never stopped (verify the logs first: "
                   "logconsole verify PATH)", err=True)
        return
    for g in rows:
        span = f"{g['start']} .. {g['end'] or '(end of the index)'}" if g["kind"] in (
            "logging_stopped", "trail_deleted") else g["start"]
        missing = f" {g['missing']} record(s)" if g["missing"] else ""
        click.echo(f"{g['kind']:<16} {span}{missing}  [{g['evidence']}]")
        click.echo(f"    {one_line(g['detail'], 400)}")
