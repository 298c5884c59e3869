"""Options and helpers shared by every CLI command."""

from __future__ import annotations

import os
import sys
import time
from typing import Any, NoReturn

import click
from sqlalchemy import Engine

from logconsole.store.db import IndexError_, default_db_path, open_db, open_db_readonly
from logconsole.util.termsafe import json_dumps, write_control
from logconsole.store.dialect import AS_OPTION

db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Index: a file, or a database URL such as postgresql+psycopg://user@host/case "
         "(default: $LOGCONSOLE_DB, else ./logconsole.db).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


def resolve_db(db_path: str | None) -> str:
    return db_path or default_db_path()


def open_engine(db_path: str | None, *, create: bool = False, readonly: bool = False) -> Engine:
    """Open the index or exit 2 with a one-line error.  *readonly*: for commands
    that only read - the file is opened read-only and nothing is created,
    migrated or indexed (``store.db.open_db_readonly``).  Changes made through the
    engine (annotations, findings) are attributed to ``--as NAME`` / ``$LOGCONSOLE_AS``."""
    try:
        if readonly:
            engine = open_db_readonly(resolve_db(db_path))
        else:
            engine = open_db(resolve_db(db_path), create=create)
    except IndexError_ as exc:
        fail(str(exc))
    who = investigator_name()
    return engine.execution_options(**{AS_OPTION: who}) if who else engine


def investigator_name() -> str | None:
    """``logconsole --as NAME`` (or ``$LOGCONSOLE_AS``): who annotations and findings are attributed to."""
    ctx = click.get_current_context(silent=True)
    name = ctx.find_root().params.get("as_name") if ctx is not None else None
    return name or os.environ.get("LOGCONSOLE_AS") or None


def fail(message: str, code: int = 2, *, as_json: bool = False) -> NoReturn:
    """One line on stderr (and with ``--json`` an ``{"error": ...}`` object on stdout), then exit."""
    if as_json:
        emit_json({"error": message, "exit_status": code})
    click.echo(f"logconsole: error: {message}", err=True)
    sys.exit(code)


def write_error_text(exc: BaseException, db_path: str | None) -> str:
    """One line for an ingest that could not go on (another writer, disk full, file size
    limit, I/O error); what was committed before stays consistent in the index."""
    import errno

    if isinstance(exc, RuntimeError) and not isinstance(exc, OSError):
        return str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    reason = text[0] if text else exc.__class__.__name__
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        reason = exc.strerror or reason
    return (f"{resolve_db(db_path)}: cannot write the index: {reason}; the sources completed before are kept "
            "and an interrupted file is ingested again by the next run")


def warn(message: str) -> None:
    click.echo(f"logconsole: warning: {message}", err=True)


def emit_json(obj: Any) -> None:
    """JSON on stdout; every control, zero-width and bidi character in a string is
    escaped (``\u001b``, ``\u200b``), so the output is inert on a terminal."""
    click.echo(json_dumps(obj, indent=2, default=str))


def ingest_warnings(result) -> list[str]:
    """The warnings of an ingest, where a file skipped in a directory walk that is a
    grants file (IAM authorization details, RBAC YAML, policy file) says how to import it."""
    hints: dict[str, str] = {}
    for s in result.sources:
        if s.status != "skipped" or s.format is not None or s.source_id is not None:
            continue
        if not s.path.lower().endswith((".json", ".yaml", ".yml")) or s.bytes > 64 * 1024 * 1024:
            continue
        try:
            from logconsole.analysis.privileges.grants import detect_format

            kind = detect_format(s.path)
        except Exception:  # not a grants file either: keep the plain warning
            continue
        hints[s.path] = (f"{s.path}: a grants file ({kind}), not a log; import it with "
                         f"`logconsole grants import {s.path}`")
    out = []
    for w in result.warnings:
        path = w.split(": not a known log format", 1)[0]
        out.append(hints.get(path, w))
    return out


class IngestProgress:
    """One self-overwriting stderr line per file: ``ingesting FILE  42%  12,345 records``."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last_path: str | None = None
        self.last_t = 0.0
        self.dirty = False

    def __call__(self, path: str, done: int, total: int, records: int) -> None:
        now = time.monotonic()
        final = total and done >= total
        if path == self.last_path and not final and now - self.last_t < 0.2:
            return
        self.last_t = now
        pct = f"{100 * done // total:3d}%" if total else "   ?"
        name = path if len(path) <= 50 else "…" + path[-49:]
        line = f"ingesting {name}  {pct}  {records:,} records"
        if self.tty:  # one line, overwritten file after file
            write_control(sys.stderr, "\r\x1b[2K")
            click.echo(line, err=True, nl=False)
            self.dirty = True
        elif final:
            click.echo(line, err=True)
        self.last_path = path

    def step(self, name: str) -> None:
        """A step after the ingest (index checkpoint, usage aggregates) has started."""
        if self.tty:
            click.echo("\r\x1b[2K" + f"after ingest: {name}", err=True, nl=False)
            self.dirty = True

    def finish(self) -> None:
        if self.tty and self.dirty:
            write_control(sys.stderr, "\r\x1b[2K")
            sys.stderr.flush()


#: test hook: a FIFO ``ingest --progress-json`` reads one line from when it starts and after each
#: batch it commits (held there until a line is written; the line "go" releases every later hold)
GATE_ENV = "LOGCONSOLE_INGEST_GATE"


class JsonProgress:
    """``ingest --progress-json``: one JSON object per line on stdout, flushed at once, for a
    program that drives the ingest (the console of ``logconsole open PATH...``).

    ``{"event": "start", "files": N, "bytes": B}``, then per committed batch
    ``{"event": "batch", "path", "done", "total", "records"}`` (bytes of the file read, its
    size, records read), per settled file ``{"event": "source", ...}`` (the fields of
    ``ingest --json``'s sources), per step after the ingest ``{"event": "step", "name"}``,
    then ``{"event": "result", ...}`` (what ``ingest --json`` prints) or ``{"event": "error",
    "message", "exit_status"}``; following: ``{"event": "following"}``, ``{"event": "tick",
    "events", "records", "files", "errors"}`` per look that found something, ``{"event":
    "followed", ...}`` at the end."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self._gate = os.environ.get(GATE_ENV) or None

    def emit(self, event: str, **fields: Any) -> None:
        try:
            self.stream.write(json_dumps({"event": event, **fields}, default=str) + "\n")
            self.stream.flush()
        except (BrokenPipeError, ValueError):  # the reader is gone: stop as on Ctrl-C
            raise KeyboardInterrupt from None

    def __call__(self, path: str, done: int, total: int, records: int) -> None:
        self.emit("batch", path=path, done=done, total=total, records=records)
        self.hold()

    def hold(self) -> None:
        """The test hook (:data:`GATE_ENV`): wait here for a line on the FIFO."""
        if not self._gate:
            return
        with open(self._gate, encoding="utf-8") as fh:
            if fh.readline().strip() == "go":
                self._gate = None

    def source(self, sr: Any) -> None:
        self.emit("source", **sr.as_json())

    def step(self, name: str) -> None:
        self.emit("step", name=name)


def trust_options(fn):
    """``--no-verify`` and ``--verify-opt KEY=VALUE`` (the automatic verification after an ingest)."""
    fn = click.option("--verify-opt", "verify_opts", multiple=True, metavar="KEY=VALUE",
                      help="Option of the verification after the ingest (public_keys, pubkey, hash_field, "
                           "prev_field, canon, hmac_key_file, expected_end, start_time, end_time; repeatable); "
                           "a case file logconsole.yaml in an ingested directory gives the others.")(fn)
    fn = click.option("--no-verify", "no_verify", is_flag=True,
                      help="Do not verify hash chains, CloudTrail digests and sequence numbers after the ingest.")(fn)
    return fn


def parse_trust(no_verify: bool, verify_opts: tuple[str, ...], *, grants: bool = False) -> Any:
    """The :class:`~logconsole.workflows.ingest.TrustOptions` of ``--no-verify`` / ``--verify-opt``."""
    from dataclasses import fields

    from logconsole.analysis.chain.auto import VerifyOptions
    from logconsole.workflows.ingest import TrustOptions

    known = {f.name for f in fields(VerifyOptions)}
    values: dict[str, str] = {}
    for item in verify_opts:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in known:
            fail(f"--verify-opt {item!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(known))}")
        values[key] = value
    return TrustOptions(verify=not no_verify, verify_options=VerifyOptions(**values), grants=grants)
