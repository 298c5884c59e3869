"""``logconsole db``: create an index on a database server, copy a case between engines."""

from __future__ import annotations

import click

from logconsole.commands.common import emit_json, fail, json_option


@click.group("db")
def db() -> None:
    """Index storage: a SQLite file (the default) or a PostgreSQL database shared by a team.

    \b
    Examples:
      logconsole db init postgresql+psycopg://ingester@db.example/case42
      logconsole db copy case42.db postgresql+psycopg://ingester@db.example/case42
      logconsole db copy postgresql+psycopg://reviewer@db.example/case42 archive.db
    """


@db.command("init")
@click.argument("target")
@json_option
def init_cmd(target, as_json):
    """Create the schema in TARGET (a database URL or a file), or migrate an older one.

    Run it once per case, as a role allowed to create tables (see docs/shared-case.md);
    investigators then pass the same URL with --db or LOGCONSOLE_DB.
    """
    from logconsole.store import dialect
    from logconsole.store.db import IndexError_, init_db
    from logconsole.store.schema import SCHEMA_VERSION

    try:
        eng, before = init_db(target)
    except IndexError_ as exc:
        fail(str(exc))
    eng.dispose()
    label = dialect.redact(target)
    if as_json:
        emit_json({"index": label, "schema_version": SCHEMA_VERSION, "previous_version": before})
    elif before is None:
        click.echo(f"{label}: index created (schema {SCHEMA_VERSION})")
    elif before < SCHEMA_VERSION:
        click.echo(f"{label}: index migrated from schema {before} to {SCHEMA_VERSION}")
    else:
        click.echo(f"{label}: index is up to date (schema {SCHEMA_VERSION})")


@db.command("copy")
@click.argument("source")
@click.argument("destination")
@json_option
def copy_cmd(source, destination, as_json):
    """Copy the whole case in SOURCE into the new, empty index DESTINATION.

    Either side is a file or a database URL (SQLite to PostgreSQL and back).  Events, raw
    records and their SHA-256, sources, quarantine, annotations, findings, grants and
    verification results keep their ids; the chain of custody root is the same (check it
    with `logconsole verify --index --db DESTINATION`).
    """
    import os

    from logconsole.store import dialect
    from logconsole.store.copy import CopyError, copy_index
    from logconsole.store.db import IndexError_, open_db

    if not dialect.is_url(destination) and os.path.exists(destination):
        fail(f"{destination}: already exists; copy into a new file")
    try:
        src = open_db(source, create=False)
        dst = open_db(destination, create=True)
    except IndexError_ as exc:
        fail(str(exc))
    try:
        res = copy_index(src, dst)
    except CopyError as exc:
        fail(f"{dialect.redact(destination)}: {exc}")
    finally:
        src.dispose()
    from logconsole.analysis.chain.custody import latest_checkpoint

    cp = latest_checkpoint(dst)
    dst.dispose()
    if as_json:
        emit_json({"source": dialect.redact(source), "destination": dialect.redact(destination), "rows": res.rows,
                   "custody_root": cp["root"] if cp else None})
    else:
        click.echo(f"{res.events:,} events and {sum(res.rows.values()) - res.events:,} other rows copied "
                   f"to {dialect.redact(destination)}" + (f"; custody root {cp['root']}" if cp else ""))
