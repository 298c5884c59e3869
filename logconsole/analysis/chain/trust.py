"""Trust on the timeline: what the stored verification results say about each event.

:func:`refresh` turns the latest stored result of every verified target into three
tables (:mod:`logconsole.store.integrity_schema`):

* ``source_trust``: the sources whose records a result covered - ``verified`` (a hash
  chain, a digest or a sequence checked each record), or ``tampered`` when the file
  itself failed (a CloudTrail log file whose hash does not match its digest, or that no
  digest lists);
* ``event_trust``: the events whose own record failed (``modified``, ``inserted``,
  ``reordered``, ``malformed``), with the file, the line and, for a modified record, the
  hash its original content had;
* ``integrity_gaps``: where records are missing (``deleted``, ``truncated``, ``seq_gap``,
  ``missing_file``, a log file a digest lists but the copy lacks) and where logging was
  stopped (CloudTrail ``StopLogging`` .. ``StartLogging``, auditd ``DAEMON_END`` ..
  ``DAEMON_START``, Windows 1100 .. the next record, 1102 log cleared).

An event's ``integrity`` is then ``tampered`` (its own record or its file failed),
``verified`` (its source was covered and nothing failed), or ``unverified`` (nothing
covers it): :func:`logconsole.store.trust.integrity_clause` and
:func:`logconsole.store.trust.integrity_of` read it.  :func:`refresh` runs after
every stored verification and at the end of every ingest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, insert, select

from logconsole.analysis.chain.cloudtrail_digest import log_file_time_us
from logconsole.analysis.chain.model import CONSISTENT, INTACT, TAMPERED, Failure, TargetResult
from logconsole.analysis.chain.results import map_failure_sources
from logconsole.store.integrity_schema import (
    event_trust,
    integrity_gaps,
    source_trust,
    verify_failures,
    verify_runs,
    verify_targets,
)
from logconsole.store.rawcodec import decode
from logconsole.store.schema import events, sources
from logconsole.util.timeparse import format_us

#: failure kinds that mark the event at that record ``tampered``
EVENT_KINDS = ("modified", "inserted", "reordered", "malformed")
#: failure kinds that are a gap (a marker row) rather than a record
GAP_KINDS = ("deleted", "truncated", "seq_gap", "missing_file")
#: fields a hash-chained record keeps its own hash in (the original content's hash of a modified record)
_HASH_FIELDS = ("hash", "entry_hash", "record_hash", "hmac", "digest")


@dataclass
class _Stored:
    target_id: int
    result: TargetResult


def _latest(conn: Connection) -> list[_Stored]:
    """The newest stored result of every (path, scheme), with its failures (event ids and sources mapped)."""
    newest = (select(func.max(verify_targets.c.id).label("id"))
              .group_by(verify_targets.c.path, verify_targets.c.scheme).subquery())
    out: list[_Stored] = []
    rows = conn.execute(select(verify_targets.c.id, verify_targets.c.result, verify_targets.c.source_id)
                        .join(newest, newest.c.id == verify_targets.c.id)
                        .join(verify_runs, verify_runs.c.id == verify_targets.c.run_id)
                        .order_by(verify_targets.c.id))
    for tid, result, sid in list(rows):
        try:
            r = TargetResult.from_json(json.loads(result))
        except (ValueError, KeyError):
            continue
        r.source_id = sid
        fails = list(conn.execute(select(verify_failures).where(verify_failures.c.target_id == tid)
                                  .order_by(verify_failures.c.id)))
        r.failures = [Failure(f.kind, f.line, f.seq, f.detail or "", f.file, f.missing, None, f.event_id)
                      for f in fails if f.explained is None]
        r.explained = []
        map_failure_sources(conn, r)
        out.append(_Stored(tid, r))
    return out


def _source_ids(conn: Connection) -> dict[str, int]:
    """Source path (as stored and resolved) -> id."""
    out: dict[str, int] = {}
    for sid, path in conn.execute(select(sources.c.id, sources.c.path).where(sources.c.status == "complete")):
        out.setdefault(path, sid)
        try:
            out.setdefault(str(Path(path).resolve()), sid)
        except OSError:
            pass
    return out


def _lookup(smap: dict[str, int], path: str) -> int | None:
    hit = smap.get(path)
    if hit is None:
        try:
            hit = smap.get(str(Path(path).resolve()))
        except OSError:
            return None
    return hit


def _covered_sources(r: TargetResult, smap: dict[str, int]) -> list[int]:
    """The index sources whose every record *r* checked."""
    if r.status not in (INTACT, CONSISTENT, TAMPERED):
        return []
    if r.scheme == "cloudtrail-digest":
        found = [_lookup(smap, str(Path(r.path) / rel)) for rel in r.covered]
        return [s for s in found if s is not None]
    if r.scheme in ("hash-chain", "sequence"):
        sid = r.source_id if r.source_id is not None else _lookup(smap, r.path)
        return [sid] if sid is not None else []
    return []


def refresh(engine: Engine) -> dict[str, int]:
    """Recompute the trust tables from the latest stored results and the events; returns counts."""
    with engine.begin() as conn:
        for t in (source_trust, event_trust, integrity_gaps):
            conn.execute(delete(t))
        smap = _source_ids(conn)
        src_rows: dict[int, dict[str, Any]] = {}
        ev_rows: dict[int, dict[str, Any]] = {}
        gaps: list[dict[str, Any]] = []
        for st in _latest(conn):
            r = st.result
            for sid in _covered_sources(r, smap):
                src_rows.setdefault(sid, {"source_id": sid, "status": "verified", "target_id": st.target_id,
                                          "scheme": r.scheme, "kind": None, "detail": None})
            if r.status not in (INTACT, CONSISTENT, TAMPERED):
                continue
            for f in r.failures:
                _place_failure(conn, st, f, src_rows, ev_rows, gaps)
        if src_rows:
            conn.execute(insert(source_trust), list(src_rows.values()))
        if ev_rows:
            conn.execute(insert(event_trust), list(ev_rows.values()))
        gaps.extend(logging_stopped(conn))
        if gaps:
            conn.execute(insert(integrity_gaps), gaps)
    return {"sources": len(src_rows), "tampered_events": len(ev_rows), "gaps": len(gaps)}


def _place_failure(conn: Connection, st: _Stored, f: Failure, src_rows: dict[int, dict[str, Any]],
                   ev_rows: dict[int, dict[str, Any]], gaps: list[dict[str, Any]]) -> None:
    r = st.result
    sid = f.source_id if f.source_id is not None else r.source_id
    if f.kind in EVENT_KINDS and f.event_id is not None:
        ev_rows.setdefault(f.event_id, {
            "event_id": f.event_id, "status": "tampered", "kind": f.kind, "target_id": st.target_id,
            "file": f.file or r.path, "line": f.line, "detail": f.detail,
            "original_hash": _original_hash(conn, f.event_id) if f.kind == "modified" else None,
        })
    elif f.kind in ("modified", "inserted") and f.line is None and sid is not None and r.scheme == "cloudtrail-digest":
        # a whole log file failed: every event of it is tampered
        src_rows[sid] = {"source_id": sid, "status": "tampered", "target_id": st.target_id, "scheme": r.scheme,
                         "kind": f.kind, "detail": f.detail}
    elif f.kind in GAP_KINDS:
        at = _gap_time(conn, r, f, sid)
        if at is not None:
            gaps.append({"kind": f.kind, "start_us": at, "end_us": None, "source_id": sid, "event_id": f.event_id,
                         "end_event_id": None, "missing": f.missing, "file": f.file or r.path,
                         "detail": f.detail, "target_id": st.target_id})


def _gap_time(conn: Connection, r: TargetResult, f: Failure, sid: int | None) -> int | None:
    """Where a gap sits on the timeline: at the record after it, the file's own time, or the source's end."""
    if f.event_id is not None:
        ts = conn.execute(select(events.c.ts_us).where(events.c.id == f.event_id)).scalar()
        if ts is not None:
            return int(ts)
    if r.scheme == "cloudtrail-digest" and f.file:
        t = log_file_time_us(Path(f.file).name)
        if t is not None:
            return t
    if sid is not None:
        ts = conn.execute(select(func.max(events.c.ts_us)).where(events.c.source_id == sid)).scalar()
        return int(ts) if ts is not None else None
    return None


def _original_hash(conn: Connection, event_id: int) -> str | None:
    raw = conn.execute(select(events.c.raw).where(events.c.id == event_id)).scalar()
    if raw is None:
        return None
    try:
        rec = json.loads(decode(raw))
    except (ValueError, TypeError):
        return None
    if isinstance(rec, dict):
        for k in _HASH_FIELDS:
            if isinstance(rec.get(k), str):
                return str(rec[k])
    return None


# ---------------------------------------------------------------- logging stopped


def logging_stopped(conn: Connection) -> list[dict[str, Any]]:
    """Intervals in which logging was stopped, from the events themselves (no verification needed)."""
    return [*_cloudtrail_stopped(conn), *_auditd_stopped(conn), *_windows_stopped(conn)]


def _ok(e: Any) -> bool:
    return e.error_code is None and e.outcome != "failure"


def _same_trail(a: str | None, b: str | None) -> bool:
    """Trail names as CloudTrail writes them: an ARN (``...:trail/NAME``) or the bare name."""
    if not a or not b:
        return True
    return a.rsplit("/", 1)[-1] == b.rsplit("/", 1)[-1]


def _cloudtrail_stopped(conn: Connection) -> list[dict[str, Any]]:
    E = events.c
    rows = list(conn.execute(
        select(E.id, E.ts_us, E.action, E.actor, E.resource, E.source_id, E.error_code, E.outcome)
        .where(E.format == "cloudtrail", E.action.in_(["StopLogging", "StartLogging", "DeleteTrail", "CreateTrail"]))
        .order_by(E.ts_us, E.id)))
    out = []
    for i, e in enumerate(rows):
        if e.action not in ("StopLogging", "DeleteTrail") or not _ok(e):
            continue
        trail = e.resource or "?"
        again = ("StartLogging",) if e.action == "StopLogging" else ("StartLogging", "CreateTrail")
        restart = next((s for s in rows[i + 1:] if s.action in again and _ok(s)
                        and _same_trail(s.resource, e.resource)), None)
        what = "trail deleted" if e.action == "DeleteTrail" else "logging stopped"
        detail = (f"CloudTrail {what} ({trail}) by {e.actor or '?'} at {format_us(e.ts_us)}; "
                  + (f"{restart.action} by {restart.actor or '?'} at {format_us(restart.ts_us)}"
                     if restart is not None else "not restarted in the index"))
        out.append({"kind": "logging_stopped" if e.action == "StopLogging" else "trail_deleted",
                    "start_us": e.ts_us, "end_us": restart.ts_us if restart is not None else None,
                    "source_id": e.source_id, "event_id": e.id,
                    "end_event_id": restart.id if restart is not None else None, "missing": None, "file": None,
                    "detail": detail, "target_id": None})
    return out


def _auditd_stopped(conn: Connection) -> list[dict[str, Any]]:
    E = events.c
    rows = list(conn.execute(select(E.id, E.ts_us, E.action, E.source_id, E.host)
                             .where(E.format == "auditd", E.action.in_(["DAEMON_END", "DAEMON_START", "DAEMON_ABORT"]))
                             .order_by(E.ts_us, E.id)))
    out = []
    for i, e in enumerate(rows):
        if e.action not in ("DAEMON_END", "DAEMON_ABORT"):
            continue
        restart = next((s for s in rows[i + 1:] if s.action == "DAEMON_START" and s.host == e.host), None)
        out.append({"kind": "logging_stopped", "start_us": e.ts_us,
                    "end_us": restart.ts_us if restart is not None else None, "source_id": e.source_id,
                    "event_id": e.id, "end_event_id": restart.id if restart is not None else None, "missing": None,
                    "file": None, "target_id": None,
                    "detail": f"auditd stopped ({e.action}) on {e.host or '?'} at {format_us(e.ts_us)}; "
                              + (f"restarted at {format_us(restart.ts_us)}" if restart is not None
                                 else "not restarted in the index")})
    return out


def _windows_stopped(conn: Connection) -> list[dict[str, Any]]:
    E = events.c
    out = []
    for e in conn.execute(select(E.id, E.ts_us, E.action, E.actor, E.source_id, E.host)
                          .where(E.format.in_(["windows-security", "windows-evtx"]),
                                 E.action.in_(["log-cleared", "eventlog-shutdown"]))
                          .order_by(E.ts_us, E.id)):
        if e.action == "log-cleared":
            out.append({"kind": "log_cleared", "start_us": e.ts_us, "end_us": None, "source_id": e.source_id,
                        "event_id": e.id, "end_event_id": None, "missing": None, "file": None, "target_id": None,
                        "detail": f"Windows audit log cleared (1102) by {e.actor or '?'} on {e.host or '?'} "
                                  f"at {format_us(e.ts_us)}: the records before it are gone"})
            continue
        nxt = conn.execute(select(E.id, E.ts_us).where(E.source_id == e.source_id, E.host == e.host,
                                                       and_(E.ts_us >= e.ts_us, E.id != e.id))
                           .order_by(E.ts_us, E.id).limit(1)).first()
        out.append({"kind": "logging_stopped", "start_us": e.ts_us, "end_us": nxt.ts_us if nxt else None,
                    "source_id": e.source_id, "event_id": e.id, "end_event_id": nxt.id if nxt else None,
                    "missing": None, "file": None, "target_id": None,
                    "detail": f"Windows event logging shut down (1100) on {e.host or '?'} at {format_us(e.ts_us)}"
                              + (f"; next record at {format_us(nxt.ts_us)}" if nxt else "")})
    return out


# ---------------------------------------------------------------- reading


def gap_rows(conn: Connection) -> list[dict[str, Any]]:
    """Every gap and logging-stopped interval, in timeline order, as JSON-able dicts."""
    out = []
    for g in conn.execute(select(integrity_gaps).order_by(integrity_gaps.c.start_us, integrity_gaps.c.id)):
        out.append({"kind": g.kind, "start": format_us(g.start_us), "end": format_us(g.end_us) if g.end_us else None,
                    "start_us": g.start_us, "end_us": g.end_us, "missing": g.missing, "source_id": g.source_id,
                    "event_id": g.event_id, "end_event_id": g.end_event_id, "file": g.file, "detail": g.detail,
                    "evidence": "verification" if g.target_id is not None else "events"})
    return out
