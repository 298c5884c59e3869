"""Options and helpers shared by every CLI command."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click
from sqlalchemy import Engine

from logconsole.store.db import IndexError_, default_db_path, open_db

db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Index file (default: $LOGCONSOLE_DB, else ./logconsole.db).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


def resolve_db(db_path: str | None) -> str:
    return db_path or default_db_path()


def open_engine(db_path: str | None, *, create: bool = False) -> Engine:
    """Open the index or exit 2 with a one-line error."""
    try:
        return open_db(resolve_db(db_path), create=create)
    except IndexError_ as exc:
        fail(str(exc))


def fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"logconsole: error: {message}", err=True)
    sys.exit(code)


def warn(message: str) -> None:
    click.echo(f"logconsole: warning: {message}", err=True)


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))
