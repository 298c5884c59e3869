"""``logconsole open [PATH...]``: ingest (with progress) if paths are given, then open the console.

Textual is imported only when the console actually starts, so ``--help`` and
the error paths stay light.
"""

from __future__ import annotations

import os

import click

from sqlalchemy.exc import SQLAlchemyError

from logconsole.store.sanitize import one_line

from logconsole.commands.common import (
    IngestProgress, db_option, fail, ingest_warnings, open_engine, parse_trust, resolve_db, trust_options, warn,
    write_error_text,
)


@click.command("open")
@click.argument("paths", nargs=-1, type=click.Path())
@db_option
@click.option("--filter", "-f", "initial_filter", default="", help="Start with this filter (the filter language).")
@click.option("--format", "fmt", default=None, help="Force the format of the files to ingest (see `logconsole formats`).")
@click.option("--mouse/--no-mouse", default=True,
              help="Capture the mouse (default); --no-mouse leaves it to the terminal for native text selection.")
@click.option("--no-grants", is_flag=True,
              help="Do not import the grants files (IAM, RBAC, policy) found among the PATHs.")
@trust_options
def open_cmd(paths: tuple[str, ...], db_path: str | None, initial_filter: str, fmt: str | None, mouse: bool,
             no_grants: bool = False, no_verify: bool = False, verify_opts: tuple[str, ...] = ()) -> None:
    """Open the investigation console on the index; with PATHs, ingest them first.

    \b
    Examples:
      logconsole open CASE_DIR            # ingest CASE_DIR into ./logconsole.db, then open
      logconsole open --db case.db        # open an existing index
      logconsole open -f 'outcome:failure'

    Keys: ? shows every key; Ctrl+P is the command palette; q quits.
    """
    from logconsole.store.dialect import is_url

    db = resolve_db(db_path)
    if paths:
        from logconsole.workflows.ingest import run_ingest

        if "-" in paths:
            fail("the console needs the terminal on stdin: ingest standard input with `logconsole ingest -` first")
        missing = [p for p in paths if not os.path.exists(p)]
        if missing:
            fail(f"{missing[0]}: no such file or directory")
        trust = parse_trust(no_verify, verify_opts, grants=not no_grants)
        engine = open_engine(db, create=True)
        progress = IngestProgress()
        try:
            result = run_ingest(engine, paths, fmt=fmt, progress=progress, step_progress=progress.step, trust=trust)
        except (RuntimeError, OSError, SQLAlchemyError) as exc:
            progress.finish()
            fail(write_error_text(exc, db))
        except KeyboardInterrupt:
            progress.finish()
            fail("interrupted; files ingested so far are kept, a partly ingested file is redone next time", 130)
        progress.finish()
        for n in result.notes:
            click.echo(one_line(n, 500), err=True)
        for w in ingest_warnings(result):
            warn(w)
        for e in result.errors + result.changed:
            click.echo(f"logconsole: error: {e}", err=True)
        click.echo(
            f"{result.total('events'):,} events ingested from "
            f"{sum(1 for s in result.sources if s.status == 'ingested')} file(s), "
            f"{result.total('duplicates'):,} duplicates, {result.total('quarantined'):,} quarantined "
            f"in {result.seconds:.1f} s; "
            f"{sum(1 for s in result.sources if s.status == 'skipped')} skipped",
            err=True,
        )
    else:
        if not is_url(db) and not os.path.exists(db):
            fail(f"{db}: no index here - run `logconsole open PATH...` or `logconsole ingest PATH...` first, or pass --db")
        engine = open_engine(db)
    from logconsole.store.timeline import total_events

    if total_events(engine) == 0:
        fail(f"{db}: the index holds no events - ingest some logs first (`logconsole open PATH...`)")
    if initial_filter:
        from logconsole.store.filter import FilterError, compile_filter

        try:
            compile_filter(initial_filter)
        except FilterError as exc:
            fail(f"--filter: {exc}")
    from logconsole.tui.app import create_app

    app = create_app(engine, db_path=db, initial_filter=initial_filter)
    app.run(mouse=mouse)
