"""Timeline exports for other tools: CSV, JSON lines, Timesketch JSONL.

Rows are the events matching a filter in (time, index id) order, which is
time, then source file in ingest order, then record position - the same
order every time for the same index.

* ``csv``: one header row, the columns of :data:`COLUMNS`.  A text cell that a
  spreadsheet would run as a formula (starting with ``= + - @``, tab or CR) is
  prefixed with ``'`` (OWASP CSV-injection rule); the JSON outputs keep values
  exact.
* ``jsonl``: one ASCII-only object per line (so U+2028 and friends cannot split
  a line for line-based readers) with the same keys (times as ISO 8601 UTC
  and ``ts_us``), optionally the raw record.
* ``timesketch``: JSONL with the fields Timesketch requires - ``message``,
  ``datetime`` (ISO 8601 with offset), ``timestamp`` (epoch µs),
  ``timestamp_desc`` - plus the normalized fields as attributes and ``tag``
  from the investigator's tags.
"""

from __future__ import annotations

import csv
import json
from typing import IO, Any
from collections.abc import Iterator

from sqlalchemy import Connection, select

from logconsole.ingest.formats import facts_of
from logconsole.util.timeparse import format_us
from logconsole.store import queries
from logconsole.store.schema import sources

FORMATS = ("csv", "jsonl", "timesketch")
COLUMNS = [
    "time", "ts_us", "format", "source", "line", "rec_index", "record_id", "service", "action", "outcome",
    "error_code", "actor", "actor_type", "actor_uid", "session", "target_user", "src_ip", "user_agent", "host",
    "resource", "account", "region", "message", "raw_sha256", "event_id",
]
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def timestamp_desc(fmt: str) -> str:
    """What an event's time means (Timesketch ``timestamp_desc``): the parser's
    ``facts.timestamp_desc``; "Event time" for a format no parser of this version has."""
    facts = facts_of(fmt)
    return facts.timestamp_desc if facts is not None else "Event time"


def export_rows(conn: Connection, where, with_raw: bool) -> Iterator[dict[str, Any]]:
    paths = {r.id: r.path for r in conn.execute(select(sources.c.id, sources.c.path))}
    for e in queries.iter_events(conn, where, with_raw=with_raw):
        d = {
            "time": format_us(e["ts_us"]), "ts_us": e["ts_us"], "format": e["format"], "source": paths.get(e["source_id"]),
            "line": e["line"], "rec_index": e["rec_index"], "record_id": e["record_id"], "service": e["service"],
            "action": e["action"], "outcome": e["outcome"], "error_code": e["error_code"], "actor": e["actor"],
            "actor_type": e["actor_type"], "actor_uid": e["actor_uid"], "session": e["session"],
            "target_user": e["target_user"], "src_ip": e["src_ip"], "user_agent": e["user_agent"], "host": e["host"],
            "resource": e["resource"], "account": e["account"], "region": e["region"], "message": e["message"],
            "raw_sha256": e["raw_sha256"], "event_id": e["id"],
        }
        if with_raw:
            d["raw"] = e["raw"]
        yield d


def csv_safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def write_csv(conn: Connection, where, out: IO[str]) -> int:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    n = 0
    for d in export_rows(conn, where, False):
        w.writerow([csv_safe(d[c]) if d[c] is not None else "" for c in COLUMNS])
        n += 1
    return n


def write_jsonl(conn: Connection, where, out: IO[str], *, with_raw: bool = False) -> int:
    n = 0
    for d in export_rows(conn, where, with_raw):
        out.write(json.dumps(d, ensure_ascii=True, separators=(",", ":")) + "\n")
        n += 1
    return n


def _tags(conn: Connection) -> dict[str, list[str]]:
    """The investigator's tags by raw SHA-256 (annotations are keyed by record content)."""
    from logconsole.store.annotations_schema import annotation_tags, annotations

    out: dict[str, list[str]] = {}
    q = select(annotations.c.raw_sha256, annotation_tags.c.tag).select_from(
        annotations.join(annotation_tags, annotation_tags.c.annotation_id == annotations.c.id)
    ).order_by(annotation_tags.c.tag)
    for sha, tag in conn.execute(q):
        lst = out.setdefault(sha, [])
        if tag not in lst:
            lst.append(tag)
    return out


def write_timesketch(conn: Connection, where, out: IO[str]) -> int:
    tags = _tags(conn)
    n = 0
    for d in export_rows(conn, where, False):
        us = d["ts_us"]
        rec = {
            "message": d["message"] or f"{d['actor'] or '?'} {d['action'] or '?'} {d['resource'] or ''}".strip(),
            "datetime": format_us(us, precision="us").replace("Z", "+00:00"),
            "timestamp": us,
            "timestamp_desc": timestamp_desc(d["format"]),
        }
        for k in COLUMNS:
            if k in ("time", "ts_us", "format") or d[k] is None:
                continue
            rec[k] = d[k]
        rec["data_type"] = f"logconsole:{d['format']}"
        t = tags.get(d["raw_sha256"])
        if t:
            rec["tag"] = t
        out.write(json.dumps(rec, ensure_ascii=True, separators=(",", ":")) + "\n")
        n += 1
    return n


def export_timeline(conn: Connection, where, fmt: str, out: IO[str], *, with_raw: bool = False) -> int:
    if fmt == "csv":
        return write_csv(conn, where, out)
    if fmt == "jsonl":
        return write_jsonl(conn, where, out, with_raw=with_raw)
    if fmt == "timesketch":
        return write_timesketch(conn, where, out)
    raise ValueError(f"unknown export format {fmt!r}; one of {', '.join(FORMATS)}")

