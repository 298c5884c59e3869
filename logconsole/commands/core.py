"""Core commands: ingest, sources, search, quarantine, formats, detect."""

from __future__ import annotations

import csv
import json
import os
import signal
import sys
from typing import Any

import click

from sqlalchemy.exc import SQLAlchemyError

from logconsole.commands.common import (
    IngestProgress, JsonProgress, db_option, emit_json, fail, ingest_warnings, json_option, open_engine, parse_trust, resolve_db,
    trust_options, warn, write_error_text,
)
from logconsole.util.timeparse import format_us
from logconsole.store.sanitize import one_line
from logconsole.util.refs import record_ref
from logconsole.util.termsafe import json_dumps


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", default=None, help="Force a format (see `logconsole formats`) instead of detecting it.")
@click.option("--map", "mapping", default=None, help="jsonl mapping: ts=@timestamp,actor=user.name,... or a mapping file.")
@click.option("--year", type=int, default=None, help="Year for syslog lines that carry none (default: the file's mtime).")
@click.option("--tz", default=None, help="Zone of local times that carry none (syslog, PostgreSQL, Windows): UTC, +02:00 or Europe/Berlin.")
@click.option("--max-quarantined", type=click.IntRange(min=0), default=10_000, show_default=True,
              help="Stop a file (keeping nothing from it) once this many of its records are quarantined and they "
                   "are 90%+ of it: the wrong format or not a log. 0 = no limit.")
@click.option("--defer-fulltext", is_flag=True,
              help="Return once the events and their indexes are written; the full-text index catches up later "
                   "(`logconsole fulltext`, or the console). Free-text searches scan what it has not indexed yet.")
@click.option("--follow", "-f", "follow_", is_flag=True,
              help="Then keep following the files (and new files in the directories): ingest what is appended "
                   "every quarter second, until Ctrl-C.")
@click.option("--progress-json", "progress_json", is_flag=True,
              help="Write progress as JSON lines on stdout (start, each batch, each file, each step after the "
                   "ingest, then the result), for a program that drives the ingest; see docs/cli.md.")
@click.option("--import-grants", "import_grants", is_flag=True, hidden=True,
              help="Also import the grants files found among the PATHs (what `open` does).")
@click.option("--batch-size", "batch_size", type=click.IntRange(min=1), default=None, hidden=True,
              help="Records per committed batch (tests).")
@trust_options
@db_option
@json_option
def ingest(paths, fmt, mapping, year, tz, max_quarantined, defer_fulltext, follow_, no_verify, verify_opts, db_path,
           as_json, progress_json=False, import_grants=False, batch_size=None):
    """Ingest log files, directories (recursively) or - (stdin) into the index.

    Every record becomes an event, a duplicate or a quarantined record (blank
    lines are counted, not stored); files already ingested (same SHA-256) are
    skipped, a file that grew since it was ingested is continued where it ended.
    Exit 0 on success (also with quarantined records, with a warning), 1 if a
    file changed while it was read (nothing from it is kept), 2 if a path could
    not be read, its format is unknown or the index cannot be written.
    """
    from logconsole.ingest.formats import BY_NAME, names
    from logconsole.workflows.ingest import FULLTEXT_STEP, INGEST_STEPS, run_ingest, without

    if fmt and fmt not in BY_NAME:
        fail(f"unknown format {fmt!r}; known: {', '.join(names())}")
    options = {}
    if mapping:
        from logconsole.ingest.jsonl import parse_map

        try:
            parse_map(mapping)
        except ValueError as exc:
            fail(str(exc))
        options["map"] = mapping
    if year:
        options["year"] = year
    if tz:
        from logconsole.util.timeparse import parse_tz

        try:
            parse_tz(tz)
        except ValueError as exc:
            fail(f"--tz: {exc}")
        options["tz"] = tz
    if as_json and progress_json:
        fail("--json and --progress-json: choose one")
    trust = parse_trust(no_verify, verify_opts, grants=import_grants)
    engine = open_engine(db_path, create=True)
    if progress_json:
        _ingest_driven(engine, list(paths), fmt, options or None, max_quarantined, defer_fulltext, follow_, trust,
                       db_path, batch_size)
        return
    progress = IngestProgress() if not as_json and sys.stderr.isatty() else None
    try:
        result = run_ingest(engine, list(paths), fmt=fmt, options=options or None, progress=progress,
                            step_progress=progress.step if progress is not None else None,
                            max_quarantined=max_quarantined, trust=trust, batch_size=_batch(batch_size),
                            complete_lines=follow_,  # followed files: a last line being written waits
                            steps=without(INGEST_STEPS, FULLTEXT_STEP) if defer_fulltext else INGEST_STEPS)
    except (RuntimeError, OSError, SQLAlchemyError) as exc:
        if progress is not None:
            progress.finish()
        fail(write_error_text(exc, db_path), as_json=as_json)
    except KeyboardInterrupt:
        if progress is not None:
            progress.finish()
        fail(INTERRUPTED, 130, as_json=as_json)
    if progress is not None:
        progress.finish()
    if as_json:
        emit_json(result.as_json())
    else:
        for s in result.sources:
            if s.status == "ingested":
                click.echo(
                    f"{s.path}: {s.format}: {s.records:,} records -> {s.events:,} events, "
                    f"{s.duplicates:,} duplicates, {s.merged:,} merged, {s.quarantined:,} quarantined"
                    + (f", {s.blank_lines:,} blank lines" if s.blank_lines else "")
                )
            elif s.status == "skipped" and s.message:
                click.echo(s.message)
        click.echo(
            f"total: {result.total('records'):,} records -> {result.total('events'):,} events, "
            f"{result.total('duplicates'):,} duplicates, {result.total('merged'):,} merged, "
            f"{result.total('quarantined'):,} quarantined in {result.seconds:.2f}s ({resolve_db(db_path)})"
        )
        for n in result.notes:
            click.echo(one_line(n, 500))
    for w in ingest_warnings(result):
        warn(w)
    for e in result.errors + result.changed:
        click.echo(f"logconsole: error: {e}", err=True)
    if follow_:
        _follow(engine, list(paths), fmt, options or None, db_path, as_json)
    if result.errors:
        sys.exit(2)
    if result.changed:
        sys.exit(1)


INTERRUPTED = "interrupted; the files ingested so far are kept, a partly ingested file is redone by the next run"


def _batch(batch_size: int | None) -> int:
    from logconsole.ingest.batches import BATCH_SIZE

    return batch_size or BATCH_SIZE


def _ingest_driven(engine, paths, fmt, options, max_quarantined, defer_fulltext, follow_, trust, db_path,
                   batch_size) -> None:
    """``ingest --progress-json``: the ingest as a program drives it (``logconsole open PATH...``
    runs it in a background process and reads the lines).  SIGTERM stops it as SIGINT does; a
    reader that goes away (the pipe closes, the parent ends) stops it too."""
    from logconsole.ingest.pipeline import index_files
    from logconsole.ingest.reader import expand_paths
    from logconsole.store import dialect
    from logconsole.workflows.ingest import FULLTEXT_STEP, INGEST_STEPS, run_ingest, without

    out = JsonProgress()

    def stop_on_term(_sig, _frame) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop_on_term)
    code = 0
    try:
        try:
            files = [f for f in expand_paths(paths, [], index_files(dialect.of(engine).location(engine)))
                     if f != "-"]
            out.emit("start", files=len(files), bytes=sum(_size(f) for f in files), paths=paths)
            out.hold()
            result = run_ingest(engine, paths, fmt=fmt, options=options, progress=out, step_progress=out.step,
                                max_quarantined=max_quarantined, trust=trust, on_source=out.source,
                                batch_size=_batch(batch_size), complete_lines=follow_,
                                steps=without(INGEST_STEPS, FULLTEXT_STEP) if defer_fulltext else INGEST_STEPS)
        except (RuntimeError, OSError, SQLAlchemyError) as exc:
            out.emit("error", message=write_error_text(exc, db_path), exit_status=2)
            sys.exit(2)
        res = result.as_json()
        res["warnings"] = ingest_warnings(result)
        out.emit("result", **res)
        code = 2 if result.errors else 1 if result.changed else 0
        if follow_:
            if "-" in paths:
                out.emit("error", message="--follow follows files and directories, not standard input",
                         exit_status=2)
                sys.exit(2)
            _follow_driven(engine, paths, fmt, options, out, db_path)
    except KeyboardInterrupt:
        try:
            out.emit("error", message=INTERRUPTED, exit_status=130)
        except KeyboardInterrupt:
            pass
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)
    sys.exit(code)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _follow_driven(engine, paths, fmt, options, out, db_path) -> None:
    from logconsole.workflows.follow import follow

    parent = os.getppid()
    out.emit("following", paths=paths)

    def on_tick(tick) -> None:
        out.emit("tick", at=tick.at, files=tick.files, events=tick.result.total("events"),
                 records=tick.result.total("records"), errors=tick.result.errors + tick.result.changed)

    def on_change(note: str) -> None:
        out.emit("changed", message=note)

    asked = [0]

    def request_stop(_sig, _frame) -> None:  # as `ingest --follow`: after the look in progress
        asked[0] += 1
        if asked[0] > 1:
            raise KeyboardInterrupt

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        res = follow(engine, paths, fmt=fmt, options=options, on_tick=on_tick, on_change=on_change,
                     should_stop=lambda: asked[0] > 0 or os.getppid() != parent)
    except (RuntimeError, OSError, SQLAlchemyError) as exc:
        out.emit("error", message=write_error_text(exc, db_path), exit_status=2)
        sys.exit(2)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    out.emit("followed", **res.as_json())


def _follow(engine, paths, fmt, options, db_path, as_json) -> None:
    """``ingest --follow``: one line per look that found something, a summary on Ctrl-C."""
    from logconsole.util.timeparse import format_us
    from logconsole.workflows.follow import follow

    if "-" in paths:
        fail("--follow follows files and directories, not standard input")
    if not as_json:
        click.echo("following (Ctrl-C stops) ...", err=True)

    def on_tick(tick) -> None:
        n = tick.result.total("events")
        if n and not as_json:
            names = ", ".join(one_line(os.path.basename(f), 40) for f in tick.files[:3])
            click.echo(f"{format_us(int(tick.at * 1_000_000))} +{n:,} events ({names})", err=True)
        for e in tick.result.errors + tick.result.changed:
            click.echo(f"logconsole: error: {e}", err=True)

    asked = [0]

    def request_stop(_sig, _frame) -> None:
        """Ctrl-C (or a service manager's SIGTERM) ends the follow after the look in progress, so
        what it read is committed whole; a second one stops at once (that look is redone next time)."""
        asked[0] += 1
        if asked[0] > 1:
            raise KeyboardInterrupt

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        res = follow(engine, paths, fmt=fmt, options=options, on_tick=on_tick, should_stop=lambda: asked[0] > 0)
    except (RuntimeError, OSError, SQLAlchemyError) as exc:
        fail(write_error_text(exc, db_path), as_json=as_json)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if as_json:
        emit_json({"follow": res.as_json()})
    else:
        click.echo(f"followed: {res.records:,} records -> {res.events:,} events in {res.ticks:,} look(s)", err=True)


@click.command("sources")
@db_option
@json_option
def sources_cmd(db_path, as_json):
    """List ingested source files with their provenance and counts."""
    from logconsole.store.queries import list_sources

    engine = open_engine(db_path, readonly=True)
    with engine.connect() as conn:
        rows = list_sources(conn)
    if as_json:
        for r in rows:
            r["options"] = json.loads(r["options"]) if r["options"] else None
            r["first_event"] = format_us(r["first_ts"]) or None
            r["last_event"] = format_us(r["last_ts"]) or None
            r["ingested"] = format_us(r["ingested_at"])
        emit_json({"sources": rows})
        return
    if not rows:
        click.echo("no sources ingested yet")
        return
    for r in rows:
        click.echo(
            f"[{r['id']}] {one_line(r['path'])}  {r['format']}  sha256:{r['sha256'][:16]}…  {r['bytes']:,} B  "
            f"{r['records']:,} rec / {r['events']:,} ev / {r['duplicates']:,} dup / {r['merged']:,} merged / "
            f"{r['quarantined']:,} quar  {format_us(r['first_ts'])} .. {format_us(r['last_ts'])}"
            + ("" if r["status"] == "complete" else f"  [{r['status']}]")
        )


SEARCH_FIELDS = ["id", "time", "format", "actor", "action", "outcome", "src_ip", "resource", "error_code",
                 "service", "actor_type", "session", "target_user", "user_agent", "host", "account", "region",
                 "message", "record_id", "source_id", "line", "rec_index", "raw_sha256", "integrity"]


@click.command()
@click.argument("query", nargs=-1)
@click.option("--limit", "-n", type=int, default=50, show_default=True, help="At most N events (0 = all).")
@click.option("--output", "-o", type=click.Choice(["table", "jsonl", "csv"]), default="table", show_default=True)
@click.option("--desc", is_flag=True, help="Newest first.")
@click.option("--count", "count_only", is_flag=True, help="Print only the number of matching events.")
@click.option("--raw", "with_raw", is_flag=True, help="jsonl: include the raw record.")
@db_option
def search(query, limit, output, desc, count_only, with_raw, db_path):
    """Search the index with the filter language (see docs/query.md).

    \b
    Examples:
      logconsole search outcome:failure since:24h
      logconsole search 'actor:"arn:aws:iam::111122223333:user/ci-deploy" action:Get*'
      logconsole search ip:203.0.113.0/24 -action:Describe* --output jsonl
    """
    from logconsole.store.filter import FilterError, compile_filter, saved_queries
    from logconsole.store.queries import count, iter_events, time_reference

    text = " ".join(query)
    try:
        compile_filter(text)  # a bad filter is an error before the index is opened
    except FilterError as exc:
        fail(f"filter: {exc}")
    engine = open_engine(db_path, readonly=True)
    with engine.connect() as conn:
        try:  # partial times and offsets (since:01:18, since:-2h) resolve against the indexed range
            flt = compile_filter(text, ref=time_reference(conn), saved_queries=saved_queries(conn))
        except FilterError as exc:
            fail(f"filter: {exc}")
        _say_fulltext_pending(conn, flt.where)
        if count_only:
            click.echo(count(conn, flt.where))
            return
        rows = _limited(iter_events(conn, flt.where, with_raw=with_raw, descending=desc), limit)
        if output in ("jsonl", "csv"):
            rows = _with_integrity(conn, rows)
        out = sys.stdout
        if output == "jsonl":
            for r in rows:
                r["time"] = format_us(r["ts_us"])
                out.write(json_dumps(r, default=str) + "\n")
        elif output == "csv":
            w = csv.writer(out)
            w.writerow(SEARCH_FIELDS)
            for r in rows:
                r["time"] = format_us(r["ts_us"])
                w.writerow([_csv_cell(r.get(k)) for k in SEARCH_FIELDS])
        else:
            n = 0
            for r in rows:
                n += 1
                click.echo(
                    f"{format_us(r['ts_us']):<24} {r['format']:<14} {one_line(r['actor'], 40):<40} "
                    f"{one_line(r['action'], 32):<32} {r['outcome']:<7} {one_line(r['src_ip'], 15):<15} "
                    f"{one_line(r['resource'], 60)}"
                )
            if n == 0:
                click.echo("no matching events", err=True)


def _say_fulltext_pending(conn, where) -> None:
    """A free-text search before the full-text index has caught up still answers
    (the rest is scanned); say so, on stderr."""
    from logconsole.store import fulltext_index

    if fulltext_index.indexed_upto(conn) is None or "lc_fts_tail" not in str(where):
        return
    st = fulltext_index.state(conn)
    if st.pending:
        warn(f"full-text index has {st.pending:,} of {st.max_id:,} events still to index; "
             "those are scanned (`logconsole fulltext` completes the index)")


def _with_integrity(conn, rows, chunk: int = 500):
    """Each row with its ``integrity`` (verified / tampered / unverified), looked up a page at a time."""
    from logconsole.store.trust import integrity_of

    page: list[dict] = []
    for r in rows:
        page.append(r)
        if len(page) >= chunk:
            yield from _integrity_page(conn, page, integrity_of)
            page = []
    yield from _integrity_page(conn, page, integrity_of)


def _integrity_page(conn, page, integrity_of):
    status = integrity_of(conn, [(r["id"], r["source_id"]) for r in page])
    for r in page:
        r["integrity"] = status.get(r["id"], "unverified")
        yield r


def _csv_cell(v):
    if v is None:
        return ""
    s = str(v)
    # neutralise spreadsheet formula injection
    if s[:1] in ("=", "+", "-", "@", "\t", "\r"):
        s = "'" + s
    return s


def _limited(it, limit):
    if not limit:
        yield from it
        return
    for i, r in enumerate(it):
        if i >= limit:
            return
        yield r


@click.command("quarantine")
@click.option("--limit", "-n", type=int, default=0, help="At most N records (0 = all).")
@db_option
@json_option
def quarantine_cmd(limit, db_path, as_json):
    """List quarantined records: file, line, reason and the (capped) raw bytes."""
    from logconsole.store.queries import list_quarantine

    engine = open_engine(db_path, readonly=True)
    with engine.connect() as conn:
        rows = list_quarantine(conn, limit=limit or None)
    for r in rows:
        raw = r.pop("raw")
        r["raw"] = raw.decode("utf-8", "backslashreplace") if raw is not None else None
    if as_json:
        emit_json({"quarantined": rows, "count": len(rows)})
        return
    if not rows:
        click.echo("no quarantined records")
        return
    for r in rows:
        where = record_ref(r["line"], r["rec_index"])  # a binary .evtx record has no line: "record #7"
        click.echo(f"{one_line(r['path'])}:{where}: {one_line(r['reason'])}")
        if r["raw"]:
            click.echo(f"    {one_line(r['raw'], 160)}")


@click.command("formats")
@json_option
def formats_cmd(as_json):
    """List the log formats logconsole reads."""
    from logconsole.ingest.formats import PARSERS

    rows = [{"name": c.name, "version": c.version, "description": c.description}
            for c in sorted(PARSERS, key=lambda c: c.name)]
    if as_json:
        emit_json(rows)
        return
    w = max(len(r["name"]) for r in rows)
    for r in rows:
        click.echo(f"{r['name']:<{w}}  {r['description']}")


@click.command("detect")
@click.argument("paths", nargs=-1, required=True)
@json_option
def detect_cmd(paths, as_json):
    """Print the format each file would be ingested as, and the evidence."""
    from logconsole.ingest.detect import UnknownFormat, detect
    from logconsole.ingest.reader import Input, InputError, expand_paths

    out: list[dict[str, Any]] = []
    errors = []
    for p in expand_paths(list(paths)):
        try:
            inp = Input.open(p)
            d = detect(inp)
            out.append({"path": p, "format": d.format, "evidence": d.evidence})
        except (InputError, UnknownFormat) as exc:
            errors.append(str(exc))
            out.append({"path": p, "format": None, "evidence": str(exc)})
    if as_json:
        emit_json(out)
    else:
        for r in out:
            if r["format"]:
                click.echo(f"{r['path']}: {r['format']} ({r['evidence']})")
    for e in errors:
        click.echo(f"logconsole: error: {e}", err=True)
    if errors:
        sys.exit(2)


@click.command("migrate")
@db_option
def migrate_cmd(db_path):
    """Upgrade an index made by an older logconsole to this one's schema (writes to it).

    Read-only commands (search, sources, sql, pivot, export ...) never change
    the index and refuse an older schema; the console, ingest and this command
    upgrade it.
    """
    from logconsole.store.db import meta_get

    engine = open_engine(db_path)
    with engine.connect() as conn:
        version = meta_get(conn, "schema_version")
    engine.dispose()
    click.echo(f"{one_line(resolve_db(db_path))}: index schema {version}")
