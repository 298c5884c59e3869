"""``logconsole open [PATH...]``: the console; with paths, their ingest runs behind it in a background process.

Textual is imported only when the console actually starts, so ``--help`` and
the error paths stay light.
"""

from __future__ import annotations

import os
import sys

import click

from logconsole.store.sanitize import one_line

from logconsole.commands.common import db_option, fail, open_engine, parse_trust, resolve_db, trust_options, warn


@click.command("open")
@click.argument("paths", nargs=-1, type=click.Path())
@db_option
@click.option("--filter", "-f", "initial_filter", default="", help="Start with this filter (the filter language).")
@click.option("--format", "fmt", default=None, help="Force the format of the files to ingest (see `logconsole formats`).")
@click.option("--follow", "follow_", is_flag=True,
              help="Keep following the PATHs (appended records, new and rotated files) after the ingest, until "
                   "the console quits; the status line counts the new events.")
@click.option("--mouse/--no-mouse", default=True,
              help="Capture the mouse (default); --no-mouse leaves it to the terminal for native text selection.")
@click.option("--no-grants", is_flag=True,
              help="Do not import the grants files (IAM, RBAC, policy) found among the PATHs.")
@trust_options
def open_cmd(paths: tuple[str, ...], db_path: str | None, initial_filter: str, fmt: str | None, mouse: bool,
             no_grants: bool = False, no_verify: bool = False, verify_opts: tuple[str, ...] = (),
             follow_: bool = False) -> None:
    """Open the investigation console on the index; with PATHs, ingest them while it is open.

    With PATHs the console opens at once and the ingest runs in a background process:
    the timeline shows the events as their batches are written, the status line says
    how far the ingest got (files, events, rate, time left), then the steps after it
    (verification, grants, detections ...) and its exit status.  Quitting early stops
    the ingest cleanly: what was written stays, a partly ingested file is redone by the
    next `logconsole open PATH...`.

    \b
    Examples:
      logconsole open CASE_DIR            # ingest CASE_DIR into ./logconsole.db while the console is open
      logconsole open --follow /var/log/audit/   # and keep following what is appended
      logconsole open --db case.db        # open an existing index
      logconsole open -f 'outcome:failure'

    Keys: ? shows every key; Ctrl+P is the command palette; q quits.
    """
    from logconsole.store.dialect import is_url

    db = resolve_db(db_path)
    if initial_filter:
        from logconsole.store.filter import FilterError, compile_filter

        try:
            compile_filter(initial_filter)
        except FilterError as exc:
            fail(f"--filter: {exc}")
    if follow_ and not paths:
        fail("--follow needs the PATHs to follow")
    if paths:
        if "-" in paths:
            fail("the console needs the terminal on stdin: ingest standard input with `logconsole ingest -` first")
        missing = [p for p in paths if not os.path.exists(p)]
        if missing:
            fail(f"{missing[0]}: no such file or directory")
        if fmt:
            from logconsole.ingest.formats import BY_NAME, names

            if fmt not in BY_NAME:
                fail(f"unknown format {fmt!r}; known: {', '.join(names())}")
        parse_trust(no_verify, verify_opts, grants=not no_grants)  # refuse bad options before anything starts
        engine = open_engine(db, create=True)  # the schema exists before the console and the ingest open it
        _run_with_ingest(engine, db, paths, initial_filter, mouse, fmt=fmt, follow=follow_, no_verify=no_verify,
                         verify_opts=verify_opts, grants=not no_grants)
        return
    if not is_url(db) and not os.path.exists(db):
        fail(f"{db}: no index here - run `logconsole open PATH...` or `logconsole ingest PATH...` first, or pass --db")
    engine = open_engine(db)
    from logconsole.store.timeline import total_events

    if total_events(engine) == 0:
        fail(f"{db}: the index holds no events - ingest some logs first (`logconsole open PATH...`)")
    from logconsole.tui.app import create_app

    app = create_app(engine, db_path=db, initial_filter=initial_filter)
    app.run(mouse=mouse)


def _run_with_ingest(engine, db: str, paths: tuple[str, ...], initial_filter: str, mouse: bool, **ingest) -> None:
    """The console over the index while ``ingest --progress-json`` writes it in a background process;
    the ingest is stopped when the console quits (SIGINT, then SIGTERM), and what it did, its errors
    and its exit status are printed after the console is gone."""
    from logconsole.workflows.background import BackgroundIngest, describe_exit

    job = BackgroundIngest(db, paths, runner=_ingest_here, **ingest)
    try:
        job.start()
    except OSError as exc:
        fail(f"cannot start the ingest: {exc.strerror or exc}")
    try:
        from logconsole.tui.app import create_app

        app = create_app(engine, db_path=db, initial_filter=initial_filter, ingest_job=job)
        app.run(mouse=mouse)
    except KeyboardInterrupt:
        pass
    finally:
        status = job.stop()
    for n in status.notes:
        click.echo(one_line(n, 500), err=True)
    for w in status.warnings:
        warn(w)
    for e in status.errors:
        click.echo(f"logconsole: error: {one_line(e, 1000)}", err=True)
    click.echo(f"logconsole: {describe_exit(status)}", err=True)
    if status.stopped or status.returncode in (None, 0):
        return
    sys.exit(status.returncode if status.returncode and status.returncode > 0 else 2)


def _ingest_here(args: list[str]) -> int:
    """``logconsole ingest ARGS...`` in this process (the background ingest's forked child)."""
    from logconsole.commands.core import ingest

    try:
        ingest.main(args, prog_name="logconsole ingest", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0
