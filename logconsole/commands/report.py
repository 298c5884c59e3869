"""``logconsole readiness`` and ``logconsole export``."""

from __future__ import annotations

import hashlib
import os
import sys

import click

from logconsole.commands.common import db_option, emit_json, fail, json_option, open_engine, resolve_db
from logconsole.store.sanitize import inert, one_line


def _tail(path: str, width: int) -> str:
    """A path cut from the left so the file name stays visible."""
    s = one_line(path)
    return s if len(s) <= width else "…" + s[-(width - 1):]


def _parse_at(value: str | None) -> int | None:
    if value is None:
        return None
    from logconsole.util.errors import ParseError
    from logconsole.util.timeparse import parse_iso

    try:
        return parse_iso(value)
    except (ParseError, ValueError):
        fail(f"--at {value!r}: not an ISO 8601 time (e.g. 2026-03-14T12:00:00Z)")


@click.command("readiness")
@click.option("--by-source", is_flag=True, help="One row per source (default: per format, then the weakest sources).")
@db_option
@json_option
def readiness_cmd(by_source, db_path, as_json):
    """Score each source against the audit-ready checklist.

    comprehensive: successful and failed attempts both recorded, resource
    actions recorded; tamper-evident: chain or digest verified (intact 2
    points, consistent 1), else unverified/absent; contextual: share of events
    with an actor id, with millisecond-or-better timestamps, with a target
    resource (>= 90% 1 point, >= 50% half).  Score = points / 7.  With grants
    imported, also the dormant and over-privileged actors.
    """
    from logconsole.report.readiness import by_format, readiness

    eng = open_engine(db_path, readonly=True)
    res = readiness(eng)
    if as_json:
        emit_json(res)
        return
    from logconsole.report.readiness import source_readiness

    rows = source_readiness(eng)
    if not rows:
        click.echo("no sources in the index (run `logconsole ingest PATH...`)")
        return

    def pct(n, d):
        return f"{100 * n / d:5.1f}%" if d else "    -"

    if not by_source:
        click.echo(f"{'format':<18} {'src':>4} {'events':>9} {'ok/fail':>15} {'actor':>7} {'ms':>7} {'resrc':>7}  {'tamper-evident':<28} score")
        for f in by_format(rows):
            tam = ", ".join(f"{k} {v}" for k, v in f.tamper.items())
            rng = f" ({f.score_min}-{f.score_max})" if f.score_min != f.score_max else ""
            click.echo(
                f"{one_line(f.format, 18):<18} {f.sources:>4} {f.events:>9,} {f'{f.success:,}/{f.failure:,}':>15} "
                f"{pct(f.with_actor, f.events):>7} {pct(f.with_ms, f.events):>7} {pct(f.with_resource, f.events):>7}  "
                f"{one_line(tam, 28):<28} {f.score:>3}%{rng}"
            )
        weak = sorted(rows, key=lambda r: (r.score, r.path))[:5]
        click.echo("")
        click.echo("weakest sources (all: --by-source):")
        for r in weak:
            click.echo(f"  {r.score:>3}% {r.grade:<9} {_tail(r.path, 70)}  {one_line('; '.join(r.notes), 90)}")
    else:
        for r in rows:
            click.echo(f"{r.score:>3}% {r.grade:<9} {one_line(r.format, 16):<16} {r.events:>8,} ev  "
                       f"tamper: {r.tamper:<12} {_tail(r.path, 80)}")
            if r.notes:
                click.echo(f"      {one_line('; '.join(r.notes), 140)}")
    g = res["grants"]
    click.echo("")
    if g is None:
        click.echo(f"grants: {one_line(res['grants_note'])}")
    else:
        click.echo(f"grants: {len(g['dormant'])} dormant actor(s), {len(g['overprivileged'])} over-privileged actor(s), "
                   f"{g['unknown_permissions']:,} permission(s) in state unknown")
        for name in g["dormant"]:
            click.echo(f"  dormant: {one_line(name, 120)}")
        for name in g["overprivileged"]:
            click.echo(f"  over-privileged: {one_line(name, 120)}")


@click.command("export")
@click.option("-o", "--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help="Write to FILE (default: stdout).  A Markdown report also gets FILE.sha256.")
@click.option("--output", "fmt", type=click.Choice(["markdown", "csv", "jsonl", "timesketch", "parquet"]),
              default="markdown", show_default=True,
              help="markdown: the findings report; csv/jsonl/timesketch/parquet: the filtered timeline (parquet needs -o FILE).")
@click.option("--title", default="Findings report", show_default=True, help="Report title.")
@click.option("--at", "at", default=None, help="Pin the report's generated-at time (ISO 8601), for reproducible reports.")
@click.option("--evidence-root", default=None,
              help="Show source paths relative to this directory (default: their common parent).")
@click.option("--rehash", is_flag=True, help="Hash every evidence file again and compare with the ingest hash.")
@click.option("--case", "case_id", default=None, help="Case id shown in the report header.")
@click.option("--analyst", default=None, help="Analyst shown in the report header.")
@click.option("--summary", default=None, help="Executive summary (Markdown) opening section 2; @FILE reads a file, @- stdin.")
@click.option("--query", "-q", default=None, help="csv/jsonl/timesketch/parquet: the filter (default: every event); also as QUERY.")
@click.option("--finding", "finding_id", type=int, default=None, help="csv/jsonl/timesketch: the events of one finding.")
@click.option("--raw", is_flag=True, help="jsonl: include the raw record.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file (never evidence or the index).")
@click.argument("query_arg", required=False, metavar="[QUERY]")
@db_option
def export_cmd(out_path, fmt, title, at, evidence_root, rehash, case_id, analyst, summary, query, finding_id, raw,
               force, query_arg, db_path):
    """Write the Markdown findings report, or the timeline as CSV / JSONL / Timesketch JSONL.

    \b
    logconsole export -o report.md --title "Case 42" --at 2026-03-15T09:00:00Z
    logconsole export --output csv --query 'ip:203.0.113.77' -o attacker.csv
    logconsole export --output timesketch --finding 3 > f3.jsonl
    logconsole export --output parquet -o events.parquet 'action:Get*'

    \b
    -o - is standard output.  An existing file is refused without --force; the
    index and any ingested evidence file are always refused (same device and
    inode, whatever the name).  Files are created with mode 0600.
    """
    from logconsole.report.output import OutputRefused, check_output_path, open_output, private_umask, protected_files
    from logconsole.store import findings as F

    if query_arg is not None:
        if query is not None:
            fail("give the filter once: as QUERY or as --query")
        query = query_arg
    at_us = _parse_at(at)
    eng = open_engine(db_path, readonly=True)
    if out_path == "-":
        out_path = None
    protected = protected_files(eng, resolve_db(db_path)) if out_path else {}
    try:  # refused before any work, and again when the file is opened
        if out_path:
            check_output_path(out_path, force=force, protected=protected)
            if fmt == "markdown":
                check_output_path(out_path + ".sha256", force=force, protected=protected)
    except OutputRefused as exc:
        fail(str(exc))
    if evidence_root is not None and not os.path.isdir(evidence_root):
        fail(f"--evidence-root {evidence_root}: not a directory")
    if fmt == "markdown":
        if query or finding_id is not None or raw:
            fail("--query, --finding and --raw apply to --output csv|jsonl|timesketch|parquet; the report covers every finding")
        from logconsole.report.markdown import ReportOptions, build_report

        from logconsole.commands.findings import _read_text

        text = build_report(eng, ReportOptions(title=title, at_us=at_us, evidence_root=evidence_root,
                                               db_label=os.path.basename(str(eng.url.database or "")),
                                               case_id=case_id, analyst=analyst, summary=_read_text(summary),
                                               rehash=rehash))
        if out_path:
            data = text.encode("utf-8")
            try:
                with open_output(out_path, force=force, protected=protected, binary=True) as report_file:
                    report_file.write(data)
                with open_output(out_path + ".sha256", force=force, protected=protected) as sum_file:
                    sum_file.write(f"{hashlib.sha256(data).hexdigest()}  {os.path.basename(out_path)}\n")
            except OutputRefused as exc:
                fail(str(exc))
            except OSError as exc:
                fail(f"{out_path}: cannot write: {exc.strerror or exc}")
            click.echo(f"report written to {out_path} ({len(data):,} bytes; SHA-256 in {out_path}.sha256)", err=True)
        else:
            click.echo(inert(text, keep_newlines=True) if sys.stdout.isatty() else text, nl=False)
        return
    from sqlalchemy import ColumnElement, true

    from logconsole.report.exports import export_timeline

    if case_id or analyst or summary or at or rehash:
        fail("--case, --analyst, --summary, --at and --rehash apply to the Markdown report")
    if query and finding_id is not None:
        fail("give --query or --finding, not both")
    where: ColumnElement[bool] = true()
    if query:
        try:
            with eng.connect() as conn:
                where = F.check_query(query, saved=F.saved_queries(conn)).where
        except F.FindingError as exc:
            fail(str(exc))
    elif finding_id is not None:
        with eng.connect() as conn:
            try:
                where = F.finding_where(F.get_finding_row(conn, finding_id), F.saved_queries(conn))
            except F.FindingError as exc:
                fail(str(exc))
    if fmt == "parquet":
        if not out_path or out_path == "-":
            fail("--output parquet writes a file: give -o FILE")
        if raw:
            fail("--raw applies to --output jsonl")
        from logconsole.report.parquet import write_parquet

        with eng.connect() as conn:
            try:
                if force and os.path.lexists(out_path):
                    os.unlink(out_path)  # checked above: not evidence, not the index; the writer creates it anew
                with private_umask():
                    n = write_parquet(conn, where, out_path)
            except OSError as exc:
                fail(f"{out_path}: cannot write: {exc.strerror or exc}")
        click.echo(f"{n:,} event(s) written to {out_path}", err=True)
        return
    with eng.connect() as conn:
        if out_path:
            try:
                with open_output(out_path, force=force, protected=protected) as fh:
                    n = export_timeline(conn, where, fmt, fh, with_raw=raw)
            except OutputRefused as exc:
                fail(str(exc))
            click.echo(f"{n:,} event(s) written to {out_path}", err=True)
        else:
            out = sys.stdout
            if out.isatty():
                out = _InertWriter(out)
            n = export_timeline(conn, where, fmt, out, with_raw=raw)
            out.flush()


class _InertWriter:
    """A stdout wrapper for terminals: control characters in the data are made visible."""

    def __init__(self, out) -> None:
        self.out = out

    def write(self, s: str) -> int:
        return self.out.write(inert(s, keep_newlines=True))

    def flush(self) -> None:
        self.out.flush()


