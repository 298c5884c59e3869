"""Storing verification results in the index and reading them back (console, report)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any
from collections.abc import Iterable

from sqlalchemy import CursorResult, Engine, and_, func, insert, select

from logconsole import __version__
from logconsole.analysis.chain.model import Failure, TargetResult
from logconsole.ingest.formats import facts_of
from logconsole.store.integrity_schema import verify_failures, verify_runs, verify_targets
from logconsole.store.schema import events, sources


def _source_map(conn) -> dict[str, int]:
    out: dict[str, int] = {}
    for sid, path in conn.execute(select(sources.c.id, sources.c.path)):
        out.setdefault(path, sid)
    return out


def _resolve(path: str | None) -> str | None:
    if not path:
        return None
    try:
        return str(Path(path).resolve())
    except OSError:
        return path


def _event_at(conn, source_id: int, line: int) -> int | None:
    ids = [r[0] for r in conn.execute(
        select(events.c.id).where(and_(events.c.source_id == source_id, events.c.line == line)).limit(2))]
    return ids[0] if len(ids) == 1 else None


def _line_hashes(path: str, lines: set[int]) -> dict[int, str]:
    """SHA-256 of the given lines' bytes (what the index stores as raw_sha256 for line formats)."""
    from logconsole.analysis.chain.textio import iter_lines

    out: dict[int, str] = {}
    if not lines:
        return out
    last = max(lines)
    try:
        for n, line in iter_lines(path):
            if n in lines and line is not None:
                out[n] = hashlib.sha256(line).hexdigest()
            if n >= last:
                break
    except OSError:
        pass
    return out


def link_to_index(engine: Engine, results: Iterable[TargetResult]) -> None:
    """Fill ``source_id`` and failures' ``event_id`` where the verified files were ingested.

    A record is found by (source, line); a line the ingest counted as a duplicate of
    an event from another file (a copied log) is found by its raw SHA-256.
    """
    with engine.connect() as conn:
        smap = _source_map(conn)
        by_file: dict[str, list[Failure]] = {}
        for r in results:
            if r.scheme == "index":
                continue
            if r.source_id is None:
                r.source_id = smap.get(_resolve(r.path) or "")
            for f in (*r.failures, *r.explained):
                if f.event_id is not None or f.line is None:
                    continue
                sid = smap.get(_resolve(f.file) or "") if f.file else r.source_id
                if sid is not None:
                    f.event_id = _event_at(conn, sid, f.line)
                    if f.event_id is None and r.scheme == "hash-chain":
                        by_file.setdefault(f.file or r.path, []).append(f)
        for path, fails in by_file.items():
            hashes = _line_hashes(path, {f.line for f in fails if f.line is not None})
            wanted = sorted(set(hashes.values()))
            found: dict[str, int] = {}
            for i in range(0, len(wanted), 500):
                for eid, sha in conn.execute(select(func.min(events.c.id), events.c.raw_sha256)
                                             .where(events.c.raw_sha256.in_(wanted[i:i + 500]))
                                             .group_by(events.c.raw_sha256)):
                    found[sha] = eid
            for f in fails:
                sha = hashes.get(f.line) if f.line is not None else None
                if sha is not None and sha in found:
                    f.event_id = found[sha]


def _new_id(result: CursorResult[Any]) -> int:
    """The primary key of the row an INSERT just wrote."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the INSERT returned no primary key")
    return int(key[0])


def store_results(engine: Engine, results: list[TargetResult], *, command: dict[str, Any] | None = None,
                  exit_code: int | None = None, started_us: int | None = None) -> int:
    """Store one verification run; returns its id."""
    link_to_index(engine, results)
    now = int(time.time() * 1_000_000)
    with engine.begin() as conn:
        run_id = _new_id(conn.execute(insert(verify_runs).values(
            started_us=started_us or now, finished_us=now, tool_version=__version__,
            command=json.dumps(command or {}, sort_keys=True, default=str), exit_code=exit_code,
        )))
        for r in results:
            tid = _new_id(conn.execute(insert(verify_targets).values(
                # the resolved path: one target whether it was named relative, absolute or by the ingest
                run_id=run_id, path=_resolve(r.path) or r.path, scheme=r.scheme, status=r.status, records=r.records,
                coverage=r.coverage, anchor=r.anchor, source_id=r.source_id,
                result=json.dumps({**r.as_json(), "source_id": r.source_id}, ensure_ascii=False, default=str),
            )))
            rows = [dict(target_id=tid, kind=f.kind, line=f.line, seq=f.seq, detail=f.detail, file=f.file,
                         missing=f.missing, explained=f.explained, event_id=f.event_id)
                    for f in (*r.failures, *r.explained)]
            if rows:
                conn.execute(insert(verify_failures), rows)
    return run_id


def latest_results(engine: Engine) -> list[TargetResult]:
    """The most recent stored result for every (path, scheme), newest runs first."""
    with engine.connect() as conn:
        newest = (select(func.max(verify_targets.c.id).label("id"))
                  .group_by(verify_targets.c.path, verify_targets.c.scheme).subquery())
        rows = list(conn.execute(
            select(verify_targets.c.id, verify_targets.c.result, verify_targets.c.source_id, verify_runs.c.finished_us)
            .join(newest, newest.c.id == verify_targets.c.id)
            .join(verify_runs, verify_runs.c.id == verify_targets.c.run_id)
            .order_by(verify_targets.c.id.desc())))
        out: list[TargetResult] = []
        for tid, result, sid, finished in rows:
            try:
                r = TargetResult.from_json(json.loads(result))
            except (ValueError, KeyError):
                continue
            r.source_id = sid
            fails = list(conn.execute(select(verify_failures).where(verify_failures.c.target_id == tid)
                                      .order_by(verify_failures.c.id)))
            if fails:
                r.failures = [Failure(f.kind, f.line, f.seq, f.detail or "", f.file, f.missing, None, f.event_id)
                              for f in fails if f.explained is None]
                r.explained = [Failure(f.kind, f.line, f.seq, f.detail or "", f.file, f.missing, f.explained, f.event_id)
                               for f in fails if f.explained is not None]
            r.notes.append(f"verified at {_fmt(finished)}")
            map_failure_sources(conn, r)
            out.append(r)
    return out


def map_failure_sources(conn, r: TargetResult) -> None:
    """Map failures' files to index sources (CloudTrail log files are named relative to the bucket)."""
    fails = [f for f in (*r.failures, *r.explained) if f.file and f.event_id is None]
    if not fails:
        return
    smap = _source_map(conn)
    for f in fails:
        if f.file is None:
            continue
        cands = [f.file]
        if r.scheme == "cloudtrail-digest":
            cands.insert(0, str(Path(r.path) / f.file))
        for c in cands:
            sid = smap.get(_resolve(c) or "")
            if sid is not None:
                f.source_id = sid
                break


def _fmt(us: int | None) -> str:
    from logconsole.util.timeparse import format_us

    return format_us(us) if us else "?"


def timeline_filter(result: TargetResult, failure: Failure) -> str | None:
    """The filter string that opens the timeline at *failure* (``id:N``), or a source/line fallback."""
    if failure.event_id is not None:
        return f"id:{failure.event_id}"
    if failure.source_id is not None and failure.source_id != result.source_id:
        # a failure in another file of the target (a CloudTrail log file, a rotated file)
        return f"source:{failure.source_id}" + (f" line:{failure.line}" if failure.line is not None else "")
    if result.source_id is not None and failure.line is not None:
        return f"source:{result.source_id} line:{failure.line}"
    if result.source_id is not None:
        return f"source:{result.source_id}"
    return None


def _verify_hint(fmt: str) -> str:
    """How to verify a source of *fmt*: the parser's ``facts.verify_hint``."""
    facts = facts_of(fmt)
    if facts is not None and facts.verify_hint:
        return facts.verify_hint
    return f"{fmt} logs carry no chain or sequence numbers logconsole can verify"


def unverified_sources(engine: Engine, results: list[TargetResult]) -> list[TargetResult]:
    """Index sources that no stored result covers, as ``not verified`` rows (for the console)."""
    covered_ids = {r.source_id for r in results if r.source_id is not None}
    covered_paths: set[str] = set()
    for r in results:
        for p in (r.path, *r.files):
            rp = _resolve(p)
            if rp:
                covered_paths.add(rp)
    out: list[TargetResult] = []
    with engine.connect() as conn:
        rows = conn.execute(select(sources.c.id, sources.c.path, sources.c.format, sources.c.events)
                            .where(sources.c.status == "complete").order_by(sources.c.id))
        for sid, path, fmt, n in rows:
            if sid in covered_ids or path in covered_paths or any(path.startswith(c.rstrip("/") + "/")
                                                                  for c in covered_paths):
                continue
            r = TargetResult(path, fmt, "not verified", n or 0, f"{fmt}: {n or 0:,} events in the index", "-",
                             source_id=sid)
            r.notes.append(_verify_hint(fmt))
            out.append(r)
    return out
