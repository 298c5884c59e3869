"""``logconsole fulltext``: where the full-text index stands, and its catch-up."""

from __future__ import annotations

import sys

import click
from sqlalchemy.exc import SQLAlchemyError

from logconsole.commands.common import db_option, emit_json, fail, json_option, open_engine, write_error_text
from logconsole.store import dialect, fulltext_index


@click.command("fulltext")
@click.option("--status", "status_only", is_flag=True, help="Only say where the index stands; index nothing.")
@db_option
@json_option
def fulltext_cmd(status_only, db_path, as_json):
    """Bring the full-text index up to date with the events (after `ingest --defer-fulltext`,
    or an ingest stopped during its catch-up); resumable at any moment.

    Free-text searches never wait for it: events not yet in the index are scanned.
    """
    if status_only:
        engine = open_engine(db_path, readonly=True)
        with engine.connect() as conn:
            st = fulltext_index.state(conn)
    else:
        engine = open_engine(db_path)
        tty = not as_json and sys.stderr.isatty()

        def progress(done: int, total: int) -> None:
            if tty:
                click.echo(f"\rfull-text index: {done:,} of {total:,} events", err=True, nl=False)

        try:
            with dialect.of(engine).writer_lock(engine):
                st = fulltext_index.catch_up(engine, progress)
        except (RuntimeError, OSError, SQLAlchemyError) as exc:
            fail(write_error_text(exc, db_path), as_json=as_json)
        if tty:
            click.echo("", err=True)
    if as_json:
        emit_json(st.as_dict())
    elif st.complete:
        click.echo(f"full-text index complete: {st.max_id:,} events")
    else:
        click.echo(f"full-text index: events up to id {st.upto:,} of {st.max_id:,}; {st.pending:,} not yet indexed "
                   "(searched by a scan until then)")
