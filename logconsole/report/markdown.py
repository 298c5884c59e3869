"""The Markdown findings report (``logconsole export``).

Sections, in order: 1 header, 2 summary, 3 evidence and integrity, 4 method,
5 findings, 6 actors involved, 7 gaps and limitations.

Rules: every log-derived value goes through :func:`~logconsole.report.escape.md`
(tables cannot break, no link/HTML/formatting injection); every ordering is
explicit (events by time, source path, line, record index, SHA-256), so the
same index and findings give a byte-identical report for the same ``--at``;
all times are UTC.  Sections that need another area (chain verification,
privileges) say "not available" when that area has nothing to offer.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select, text

from logconsole import __version__
from logconsole.ingest.reader import open_readonly
from logconsole.util.timeparse import format_us
from logconsole.report.escape import md, md_code, md_table, narrative_block
from logconsole.report.integrations import OVERPRIVILEGE_MIN_GRANTED, OVERPRIVILEGE_RATIO, Privileges, index_checkpoint, verification_results
from logconsole.report.readiness import by_format, source_readiness
from logconsole.store import findings as F
from logconsole.store.schema import events, quarantine, sources
from logconsole.util.refs import record_ref

#: a findings timeline longer than HEAD + TAIL rows keeps the first HEAD and the last TAIL
#: (the Timesketch story exporter's 20 + 5)
HEAD_ROWS = 20
TAIL_ROWS = 5
#: quiet periods: no event of a format for at least this long
GAP_US = 60 * 60 * 1_000_000
MAX_GAPS_PER_FORMAT = 5


@dataclass
class ReportOptions:
    title: str = "Findings report"
    at_us: int | None = None  # generated-at; None = now
    evidence_root: str | None = None  # paths shown relative to this (as given); None = common parent
    db_label: str | None = None
    head_rows: int = HEAD_ROWS
    tail_rows: int = TAIL_ROWS
    case_id: str | None = None
    analyst: str | None = None
    rehash: bool = False  # re-hash every evidence file at export and compare with the ingest hash
    summary: str | None = None  # the investigator's executive summary (Markdown)


def _t(us: int | None) -> str:
    return format_us(us) if us is not None else "-"


def _int(n: int | None) -> str:
    return f"{n:,}" if n is not None else "-"


class _Paths:
    """Source paths shown relative to the evidence root."""

    def __init__(self, paths: list[str], root: str | None) -> None:
        real = [p for p in paths if p and p != "-"]
        self.base: str | None
        if root is not None:
            self.label = root
            self.base = os.path.realpath(root)
        elif real:
            common = os.path.commonpath(real) if len(real) > 1 else os.path.dirname(real[0])
            if len(real) == 1 or not os.path.isdir(common):
                common = os.path.dirname(common) if not os.path.isdir(common) else common
            self.label = common
            self.base = common
        else:
            self.label = "-"
            self.base = None

    def show(self, path: str) -> str:
        if not path or path == "-":
            return path
        full = path if os.path.isabs(path) else os.path.realpath(path)
        if self.base and (full == self.base or full.startswith(self.base.rstrip(os.sep) + os.sep)):
            return os.path.relpath(full, self.base)
        return path


def build_report(engine: Engine, opts: ReportOptions | None = None) -> str:
    opts = opts or ReportOptions()
    at_us = opts.at_us if opts.at_us is not None else int(time.time() * 1_000_000)
    priv = Privileges(engine)
    with engine.connect() as conn:
        srcs = [dict(r._mapping) for r in conn.execute(select(sources).order_by(sources.c.path, sources.c.id))]
        paths = _Paths([s["path"] for s in srcs], opts.evidence_root)
        finds = F.severity_sorted(F.list_findings(conn))
        total_events, first_all, last_all = conn.execute(
            select(func.count(), func.min(events.c.ts_us), func.max(events.c.ts_us))
        ).one()
        out: list[str] = []
        out.append(_header(conn, engine, opts, at_us, srcs, paths, total_events))
        out.append(_summary(conn, finds, total_events, first_all, last_all, srcs, opts.summary))
        ready = source_readiness(engine)
        out.append(_evidence(conn, engine, srcs, paths, ready, priv, opts.rehash))
        out.append(_method(conn, finds, srcs))
        actors: dict[str, dict[str, Any]] = {}
        out.append(_findings(conn, finds, opts, actors))
        _actor_stats(conn, finds, actors)
        out.append(_actors(conn, actors, priv))
        out.append(_gaps(conn, engine, srcs, paths, ready, priv, actors, first_all, last_all))
        out.append(_detections(conn))
    return "\n".join(s.rstrip("\n") + "\n" for s in out)


# ====================================================================== 1 header
def _header(conn, engine, opts, at_us, srcs, paths, total_events) -> str:
    rows = []
    if opts.case_id:
        rows.append(["Case", md(opts.case_id, 300)])
    if opts.analyst:
        rows.append(["Analyst", md(opts.analyst, 300)])
    rows += [
        ["Generated at (UTC)", md(format_us(at_us))],
        ["Tool", md(f"logconsole {__version__}")],
        ["Index", md(opts.db_label or os.path.basename(engine.url.database or "") or "-")
         + f" ({_int(len(srcs))} sources, {_int(total_events)} events)"],
    ]
    cp = index_checkpoint(engine)
    if cp:
        val = (f"RFC 9162 Merkle root `{md(cp.get('root'))}` over {_int(cp.get('size'))} events (raw SHA-256 in ingest order)"
               f", recorded {format_us(cp['created_us'], precision='s') if cp.get('created_us') else '-'}")
        if cp.get("trigger"):
            val += f" after {md(cp['trigger'])}"
        rows.append(["Index checkpoint", val])
        if cp.get("size") != total_events:
            rows.append(["Checkpoint note", f"the index now holds {_int(total_events)} events; "
                         "run `logconsole verify --index` to see what changed"])
    else:
        rows.append(["Index checkpoint", "not available (no index checkpoint recorded; the chain-of-custody "
                     "module records one after every ingest)"])
    rows.append(["Evidence root", md(paths.label)])
    rows.append(["Times", "all times are UTC (ISO 8601, `Z`)"])
    return f"# {md(opts.title, 300)}\n\n" + md_table(["Field", "Value"], rows)


# ====================================================================== 2 summary
def _summary(conn, finds, total_events, first_all, last_all, srcs, summary: str | None = None) -> str:
    out = ["## 2. Summary\n"]
    if summary and summary.strip():
        out.append(narrative_block(summary))
    by = dict.fromkeys(reversed(F.SEVERITIES), 0)
    for f in finds:
        by[f["severity"]] = by.get(f["severity"], 0) + 1
    out.append(f"{len(finds)} finding(s) over {_int(total_events)} events from {_int(len(srcs))} sources.\n")
    out.append(md_table(["Severity", "Findings"], [[s, str(n)] for s, n in by.items()], align="lr"))
    fe_first = min((f["first_us"] for f in finds if f["first_us"] is not None), default=None)
    fe_last = max((f["last_us"] for f in finds if f["last_us"] is not None), default=None)
    out.append(md_table(
        ["Time range", "From (UTC)", "To (UTC)"],
        [["All events in the index", _t(first_all), _t(last_all)], ["Events in findings", _t(fe_first), _t(fe_last)]],
    ))
    if finds:
        out.append(md_table(
            ["Finding", "Severity", "Title", "Events", "First (UTC)", "Last (UTC)"],
            [[f"F{f['id']}", f["severity"], md(f["title"]), _int(f["events"]), _t(f["first_us"]), _t(f["last_us"])] for f in finds],
            align="lllrll",
        ))
    else:
        out.append("No findings recorded (`logconsole finding add`).\n")
    return "\n".join(out)


# ====================================================================== 3 evidence
def rehash_status(path: str, sha256: str) -> str:
    """Re-hash an evidence file now (read-only, streamed): ``same``, ``CHANGED ...``, ``not found``."""
    import hashlib

    if not path or path == "-":
        return "n/a (stdin)"
    try:
        h = hashlib.sha256()
        with open_readonly(path) as fh:  # access time left alone
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except FileNotFoundError:
        return "not found"
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc.__class__.__name__})"
    now = h.hexdigest()
    return "same" if now == sha256 else f"CHANGED (now {now[:12]})"


def _evidence(conn, engine, srcs, paths, ready, priv, rehash: bool = False) -> str:
    out = ["## 3. Evidence and integrity\n", "### 3.1 Sources\n"]
    out.append(
        "One row per evidence file as ingested (opened read-only; SHA-256 of the file's bytes at ingest). "
        "Accounting per file: records read = events + duplicates + merged + quarantined.\n"
    )
    if not srcs:
        out.append("No sources ingested (`logconsole ingest PATH...`).\n")
    with_merged = any(s.get("merged") for s in srcs)
    rows = []
    changed = 0
    for s in srcs:
        row = [
            f"S{s['id']}", md(paths.show(s["path"]), 300), md(s["format"]), f"`{s['sha256']}`" if s["sha256"] else "",
            _int(s["bytes"]), _int(s["records"]), _int(s["events"]), _int(s["duplicates"]),
        ]
        if with_merged:
            row.append(_int(s.get("merged") or 0))
        row += [_int(s["quarantined"]), _t(s["first_ts"]), _t(s["last_ts"])]
        if rehash:
            st = rehash_status(s["path"], s["sha256"])
            changed += st != "same"
            row.append(md(st))
        rows.append(row)
    if rows:
        head = ["Source", "Path", "Format", "SHA-256", "Bytes", "Records", "Events", "Duplicates"]
        align = "lllrrrrr"
        if with_merged:
            head.append("Merged")
            align += "r"
        head += ["Quarantined", "First event (UTC)", "Last event (UTC)"]
        align += "rll"
        if rehash:
            head.append("At export")
            align += "l"
        out.append(md_table(head, rows, align=align))
        if rehash:
            out.append("Every file was hashed again when this report was written: "
                       + ("all match the hashes taken at ingest.\n" if not changed
                          else f"{changed} file(s) differ from, or are missing since, the ingest (column \"At export\").\n"))
        else:
            out.append("The files were not hashed again for this report (`logconsole export --rehash` compares them "
                       "with the hashes taken at ingest).\n")
    incomplete = [s for s in srcs if s["status"] != "complete"]
    if incomplete:
        out.append(f"{len(incomplete)} source(s) were left incomplete by an interrupted ingest: "
                   + ", ".join(f"S{s['id']}" for s in incomplete) + ".\n")
    out.append("### 3.2 Verification\n")
    results = verification_results(engine)
    if not results:
        out.append("Chain verification: not available (no verification results are stored in this index; "
                   "run `logconsole verify PATH...` and `logconsole verify --index`).\n")
    else:
        vrows, frows = [], []
        for r in sorted(results, key=lambda r: (r.get("scheme") == "index", str(r.get("path") or ""), str(r.get("scheme") or ""))):
            p = "the index (" + os.path.basename(str(r.get("path") or "")) + ")" if r.get("scheme") == "index" else paths.show(str(r.get("path") or ""))
            fails = r.get("failures") or []
            vrows.append([md(p, 300), md(r.get("scheme")), md(r.get("status")), _int(r.get("records")),
                          md(_coverage(r.get("coverage"))), md(r.get("anchor") or "none"), _int(len(fails))])
            for fl in fails:
                frows.append([md(p, 300), md(fl.get("kind")), md(fl.get("line")), md(fl.get("seq")), md(fl.get("detail"), 300)])
        out.append(md_table(["Target", "Scheme", "Status", "Records", "Coverage", "Anchor", "Failures"], vrows, align="llllllr"))
        if frows:
            out.append(md_table(["Target", "Failure", "Line", "Seq", "Detail"], _cut_simple(frows, 50, 5), align="llrrl"))
    out.append("### 3.3 Audit readiness\n")
    out.append(
        "Checklist per format (`logconsole readiness` scores each source): comprehensive (successes and failures both "
        "recorded; resource actions recorded), tamper-evident (chain or digest verified), contextual (share of events "
        "with an actor id, with millisecond-or-better timestamps, with a target resource). Score = points out of 7.\n"
    )
    fr = by_format(ready)
    if not fr:
        out.append("No sources to score.\n")
    out.append("" if not fr else md_table(
        ["Format", "Sources", "Events", "Success / failure", "Resource actions", "Tamper-evident", "Actor id", "ms timestamps", "Target resource", "Score"],
        [[md(f.format), _int(f.sources), _int(f.events), f"{_int(f.success)} / {_int(f.failure)}",
          "yes" if f.with_resource else "no", md(", ".join(f"{k} {v}" for k, v in f.tamper.items())),
          _pct(f.with_actor, f.events), _pct(f.with_ms, f.events), _pct(f.with_resource, f.events),
          f"{f.score}%" + (f" ({f.score_min}-{f.score_max}% per source)" if f.score_min != f.score_max else "")]
         for f in fr],
        align="lrrllllrrr"))
    counts = priv.counts()
    if counts is None:
        out.append("Grants: not available (" + (md(priv.error) if priv.error else "no grants imported; `logconsole grants import FILE`") + ").\n")
    else:
        out.append(
            f"Grants ({counts['snapshots']} snapshot(s) imported): {len(counts['dormant'])} dormant actor(s)"
            + (": " + ", ".join(md(a) for a in counts["dormant"]) if counts["dormant"] else "")
            + f"; {len(counts['overprivileged'])} over-privileged actor(s) (a wildcard grant, or at least "
            + f"{int(OVERPRIVILEGE_RATIO * 100)}% of {OVERPRIVILEGE_MIN_GRANTED} or more granted permissions unused)"
            + (": " + ", ".join(md(a) for a in counts["overprivileged"]) if counts["overprivileged"] else "")
            + ".\n"
        )
    return "\n".join(x for x in out if x)


def _coverage(c: Any) -> str:
    if c is None:
        return "-"
    if isinstance(c, dict):
        return ", ".join(f"{k} {v}" for k, v in sorted(c.items()))
    if isinstance(c, float):
        return f"{100 * c:.1f}%" if c <= 1 else str(c)
    return str(c)


def _pct(n: int, d: int) -> str:
    return f"{100 * n / d:.0f}%" if d else "-"


def _cut_simple(rows: list[list[str]], head: int, tail: int) -> list[list[str]]:
    if len(rows) <= head + tail:
        return rows
    n = len(rows[0])
    gap = ["…", f"{len(rows) - head - tail} more"] + [""] * (n - 2)
    return rows[:head] + [gap] + rows[-tail:]


# ====================================================================== 4 method
def _method(conn, finds, srcs) -> str:
    from logconsole.store import annotations as A

    out = ["## 4. Method\n"]
    out.append(
        "All times are UTC. Events were normalized by the parsers listed below into one index; each finding's events "
        "are the events attached to it (for example bookmarked in the timeline) plus every event matching its saved "
        "filter (logconsole filter language, `docs/query.md`). Relative times in a filter (`since:24h`) are resolved "
        "against the moment the finding was saved (shown when a filter uses them). Timeline rows are ordered by time, source file, line "
        "and record index; raw SHA-256 values are those of the exact record bytes in the evidence file.\n"
    )
    if finds:
        relative = any(f["query"] and is_relative(f["query"]) for f in finds)
        rows = []
        for f in finds:
            sel = []
            if f["attached"]:
                sel.append(f"{f['attached']} attached event(s)")
            if f["query"]:
                sel.append("saved filter")
            row = [f"F{f['id']}", md(" + ".join(sel) or "none"), md(f["query"], 500) if f["query"] else "-"]
            if relative:
                row.append(_t(f["query_now_us"]) if f["query"] and is_relative(f["query"]) else "-")
            row.append(f"{_t(f['first_us'])} .. {_t(f['last_us'])}" if f["events"] else "no events")
            rows.append(row)
        head = ["Finding", "Selection", "Filter"] + (["Filter resolved at (UTC)"] if relative else []) + ["Time range (UTC)"]
        out.append(md_table(head, rows))
        out.append("Each filter lists its events again with `logconsole search 'FILTER' -n 0`.\n")
    views = A.list_views(conn)
    if views:
        out.append("Saved views:\n")
        out.append(md_table(["View", "Filter"], [[md(n), md(q, 500)] for n, q in views]))
    parsers = sorted({(s["format"], s["parser"], s["parser_version"]) for s in srcs})
    if parsers:
        out.append(md_table(["Format", "Parser", "Version"], [[md(a), md(b), md(c)] for a, b, c in parsers]))
    return "\n".join(out)


_RELATIVE = re.compile(r"(?i)\b(since|until):(now|\d+(\.\d+)?[smhdw])(?=\s|\)|$)")


def is_relative(query: str) -> bool:
    """Does the filter use a time relative to "now" (``since:24h``, ``until:now``)?"""
    return bool(_RELATIVE.search(query or ""))


# ====================================================================== 5 findings
_EV_COLS = [
    events.c.id, events.c.ts_us, events.c.source_id, events.c.line, events.c.rec_index, events.c.record_id,
    events.c.actor, events.c.actor_type, events.c.action, events.c.resource, events.c.outcome, events.c.error_code,
    events.c.src_ip, events.c.raw_sha256, events.c.dedup, events.c.format,
]


def finding_rows(conn, row: dict[str, Any]) -> list[dict[str, Any]]:
    """A finding's events in report order."""
    q = (
        select(*_EV_COLS, sources.c.path.label("source_path"))
        .select_from(events.join(sources, sources.c.id == events.c.source_id))
        .where(F.finding_where(row, F.saved_queries(conn)))
        .order_by(*F.REPORT_ORDER)
    )
    return [dict(r._mapping) for r in conn.execute(q)]


def finding_window(conn, row: dict[str, Any], head: int, tail: int) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]] | None]:
    """``(count, first rows, last rows or None)``: all rows when count <= head + tail, else the first
    *head* and the last *tail* in report order (two LIMIT queries; nothing else is loaded)."""
    where = F.finding_where(row, F.saved_queries(conn))
    n = conn.execute(select(func.count()).select_from(events).where(where)).scalar_one()
    base = select(*_EV_COLS, sources.c.path.label("source_path")).select_from(
        events.join(sources, sources.c.id == events.c.source_id)).where(where)
    if n <= head + tail:
        return n, [dict(r._mapping) for r in conn.execute(base.order_by(*F.REPORT_ORDER))], None
    first = [dict(r._mapping) for r in conn.execute(base.order_by(*F.REPORT_ORDER).limit(head))]
    last = [dict(r._mapping) for r in conn.execute(base.order_by(*[c.desc() for c in F.REPORT_ORDER]).limit(tail))]
    last.reverse()
    return n, first, last


def _collect_actors(conn, where, fid: int, actors: dict[str, dict[str, Any]]) -> None:
    """Record which actors appear in finding *fid* (counts come from :func:`_actor_stats`)."""
    for (actor,) in conn.execute(select(events.c.actor).where(where).distinct()):
        actors.setdefault(actor or "", {"findings": set()})["findings"].add(fid)


def _actor_stats(conn, finds, actors: dict[str, dict[str, Any]]) -> None:
    """Distinct events per actor over all findings (an event in two findings counts once)."""
    if not finds:
        return
    from sqlalchemy import or_

    saved = F.saved_queries(conn)
    where = or_(*[F.finding_where(f, saved) for f in finds])
    for actor, ip, typ, cnt, first, last in conn.execute(
        select(events.c.actor, events.c.src_ip, func.min(events.c.actor_type), func.count(),
               func.min(events.c.ts_us), func.max(events.c.ts_us))
        .where(where).group_by(events.c.actor, events.c.src_ip)
    ):
        d = actors.setdefault(actor or "", {"findings": set()})
        if "events" not in d:
            d.update({"events": 0, "type": typ, "first": first, "last": last, "ips": {}})
        d["events"] += cnt
        d["first"] = min(d["first"], first)
        d["last"] = max(d["last"], last)
        if d["type"] is None or (typ is not None and typ < d["type"]):
            d["type"] = typ
        if ip is not None:
            d["ips"][ip] = d["ips"].get(ip, 0) + cnt


def _notes(conn, rows: list[dict[str, Any]]) -> dict[tuple[int, str], str]:
    from logconsole.store.annotations_schema import annotation_tags, annotations

    keys = {(r["dedup"], r["raw_sha256"]) for r in rows}
    if not keys:
        return {}
    out: dict[tuple[int, str], str] = {}
    ann = {}
    dedups = sorted({k[0] for k in keys})
    for i in range(0, len(dedups), 900):
        for a in conn.execute(select(annotations).where(annotations.c.dedup.in_(dedups[i:i + 900]))):
            if (a.dedup, a.raw_sha256) in keys:
                ann[a.id] = a
    tags: dict[int, list[str]] = {}
    ids = sorted(ann)
    for i in range(0, len(ids), 900):
        for t in conn.execute(select(annotation_tags).where(annotation_tags.c.annotation_id.in_(ids[i:i + 900])).order_by(annotation_tags.c.tag)):
            tags.setdefault(t.annotation_id, []).append(t.tag)
    for aid, a in ann.items():
        parts = []
        if a.note:
            parts.append(a.note)
        if tags.get(aid):
            parts.append("tags: " + ", ".join(tags[aid]))
        if parts:
            out[(a.dedup, a.raw_sha256)] = " · ".join(parts)
    return out


def source_ref(r: dict[str, Any]) -> str:
    """``S3 line 1, record 4``: the source's number in the report's source table and the place in it."""
    return record_ref(r.get("line"), r.get("rec_index"), source=f"S{r['source_id']}", index_mark="")


def _findings(conn, finds, opts: ReportOptions, actors: dict[str, dict[str, Any]]) -> str:
    out = ["## 5. Findings\n"]
    if not finds:
        out.append("No findings recorded.\n")
        return "\n".join(out)
    out.append("Most severe first. Source references (`S3 line 1, record 4`: source S3 of section 3.1, line 1, "
               "element 4 (from 0) of the file's record array) and the first 12 hex digits of each record's SHA-256 lead back to the evidence.\n")
    for f in finds:
        where = F.finding_where(f, F.saved_queries(conn))
        n, rows, tail = finding_window(conn, f, opts.head_rows, opts.tail_rows)
        shown = rows + (tail or [])
        notes = _notes(conn, shown)
        out.append(f"### F{f['id']}. {md(f['title'], 300)}\n")
        meta = [f"**Severity:** {f['severity']}", f"**Events:** {_int(n)}"]
        if shown:
            meta.append(f"**Time range:** {_t(shown[0]['ts_us'])} .. {_t(shown[-1]['ts_us'])}")
        out.append(" · ".join(meta) + "\n")
        if f["query"]:
            out.append(f"**Filter:** {md_code(f['query'], 500)}\n")
        if f.get("query_error"):
            out.append(f"**Filter error:** {md(f['query_error'], 300)}; only the attached events are listed.\n")
        if f.get("missing"):
            out.append(f"**Note:** {f['missing']} attached event(s) are no longer in the index.\n")
        out.append(narrative_block(f["narrative"]))
        _collect_actors(conn, where, f["id"], actors)
        if not n:
            out.append("_No events._\n")
            continue
        table_rows = [_event_cells(i, r, notes) for i, r in enumerate(rows, start=1)]
        if tail is not None:
            left = n - len(rows) - len(tail)
            gap = ["…", f"{_int(left)} more events (rows {len(rows) + 1}-{n - len(tail)})"] + [""] * 8
            table_rows += [gap] + [_event_cells(n - len(tail) + i, r, notes) for i, r in enumerate(tail, start=1)]
        out.append(md_table(
            ["#", "Time (UTC)", "Source / record", "Actor", "Action", "Resource", "Outcome", "Source IP", "SHA-256", "Note"],
            table_rows, align="rlllllllll"))
        if tail is not None:
            out.append(f"The table keeps the first {len(rows)} and the last {len(tail)} of {_int(n)} events; "
                       f"all of them: `logconsole finding show {f['id']} --all` or `logconsole search finding:{f['id']} -n 0`.\n")
    return "\n".join(out)


def _event_cells(i: int, r: dict[str, Any], notes: dict[tuple[int, str], str]) -> list[str]:
    outcome = r["outcome"] or "unknown"
    if r["error_code"]:
        outcome = f"{outcome} ({r['error_code']})"
    return [
        str(i), _t(r["ts_us"]), md(source_ref(r)), md(r["actor"], 120), md(r["action"], 120), md(r["resource"], 160),
        md(outcome, 80), md(r["src_ip"], 64), f"`{r['raw_sha256'][:12]}`", md(notes.get((r["dedup"], r["raw_sha256"]), ""), 200),
    ]


# ====================================================================== 6 actors
def _actors(conn, actors: dict[str, dict[str, Any]], priv: Privileges) -> str:
    out = ["## 6. Actors involved\n"]
    if not actors:
        out.append("No actor appears in a finding.\n")
        return "\n".join(out)
    order = sorted(actors, key=lambda a: (-actors[a]["events"], a))
    rows = []
    for a in order:
        d = actors[a]
        ips = sorted(d["ips"].items(), key=lambda kv: (-kv[1], kv[0]))
        ip_text = ", ".join(ip for ip, _n in ips[:3]) + (f" (+{len(ips) - 3})" if len(ips) > 3 else "")
        rows.append([md(a or "(none)", 160), md(d["type"]), _int(d["events"]), md(", ".join(f"F{x}" for x in sorted(d["findings"]))),
                     _t(d["first"]), _t(d["last"]), md(ip_text or "-", 200)])
    out.append(md_table(["Actor", "Type", "Events in findings", "Findings", "First (UTC)", "Last (UTC)", "Source IPs"], rows, align="llrllll"))
    out.append("### Privilege summary\n")
    if priv.analysis is None:
        out.append("Privilege summary: not available (" + (md(priv.error) if priv.error else "privileges analysis unavailable") + ").\n")
        return "\n".join(out)
    if not priv.grants_loaded():
        out.append("No grants are imported (`logconsole grants import FILE`): granted, unused and unknown counts are "
                   "not available; used and denied counts come from the logs alone.\n")
    prow = []
    for a in order:
        v = priv.view(a)
        if v is None:
            prow.append([md(a or "(none)", 160), "-", "-", "-", "-", "-", "-", "not analysed (no privilege-bearing events)"])
            continue
        s = v.summary()
        kinds: dict[str, int] = {}
        for alert in v.alerts:
            kinds[alert.kind] = kinds.get(alert.kind, 0) + 1
        prow.append([
            md(a or "(none)", 160), _int(s["granted"]) if s["granted"] is not None else "not imported",
            _int(s["used"]), _int(s["unused"]), _int(s["unknown"]), _int(s["used_not_granted"]), _int(s["denied"]),
            md(", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none", 300),
        ])
    out.append(md_table(["Actor", "Granted", "Used", "Unused", "Unknown", "Used not granted", "Denied", "Privilege findings"],
                        prow, align="lrrrrrrl"))
    out.append("Counts are permissions (actions) over the whole index; details: `logconsole actor NAME`.\n")
    return "\n".join(out)


# ====================================================================== 7 gaps
def _gaps(conn, engine, srcs, paths, ready, priv, actors, first_all, last_all) -> str:
    out = ["## 7. Gaps and limitations\n"]
    # quarantine
    q = list(conn.execute(
        select(quarantine.c.source_id, func.count(), func.min(quarantine.c.line))
        .group_by(quarantine.c.source_id).order_by(quarantine.c.source_id)
    ))
    out.append("### Quarantined records\n")
    if not q:
        out.append("None: every input record became an event or a counted duplicate.\n")
    else:
        by_id = {s["id"]: s for s in srcs}
        rows = []
        for sid, n, _first in q:
            reasons = [r[0] for r in conn.execute(
                select(quarantine.c.reason, func.count()).where(quarantine.c.source_id == sid)
                .group_by(quarantine.c.reason).order_by(func.count().desc(), quarantine.c.reason).limit(3))]
            rows.append([f"S{sid}", md(paths.show(by_id[sid]["path"]) if sid in by_id else "?", 200), _int(n), md("; ".join(reasons), 300)])
        out.append(md_table(["Source", "Path", "Quarantined", "Most frequent reasons"], rows, align="llrl"))
        out.append("List them with `logconsole quarantine`.\n")
    # privileges
    out.append("### Permissions in state unknown\n")
    if priv.analysis is None or not priv.grants_loaded():
        out.append("Not available (no grants imported or no privileges analysis).\n")
    else:
        unk = []
        for a in sorted(actors, key=lambda a: (-actors[a]["events"], a)):
            v = priv.view(a)
            if v is not None and v.counts()["unknown"]:
                unk.append([md(a, 160), _int(v.counts()["unknown"])])
        total = priv.counts()["unknown_permissions"]
        out.append(f"{_int(total)} granted permission(s) across all actors cannot be judged from these logs "
                   "(the action is never logged by the source, e.g. data events not recorded, or the grant is newer than the window).\n")
        if unk:
            out.append(md_table(["Actor in findings", "Unknown permissions"], unk, align="lr"))
    # chains
    out.append("### Integrity coverage\n")
    results = verification_results(engine) or []
    weak = [r for r in results if r.get("status") in ("consistent", "tampered", "unverifiable")]
    if weak:
        out.append(md_table(["Target", "Status", "Why it matters"], [
            [md(paths.show(str(r.get("path") or "")), 300), md(r.get("status")),
             {"consistent": "chain holds but is not anchored: a cut tail would not show",
              "tampered": "records were changed, removed, inserted or reordered (section 3.2)",
              "unverifiable": "nothing could be verified"}[str(r.get("status"))]]
            for r in sorted(weak, key=lambda r: (str(r.get("path")), str(r.get("status"))))]))
    cnt: dict[str, int] = {}
    for r in ready:
        cnt[r.tamper] = cnt.get(r.tamper, 0) + 1
    unverified = [(k, n) for k, n in sorted(cnt.items()) if k in ("absent", "unverified", "sequence")]
    if unverified:
        labels = {"absent": "carry no chain, digest or signature", "unverified": "carry a chain or digest that was not verified",
                  "sequence": "carry only sequence numbers (evidence, not proof)"}
        out.append("Sources without verified integrity: " + "; ".join(f"{n} {labels[k]}" for k, n in unverified) + ".\n")
    if not weak and not unverified:
        out.append("Every source was verified intact.\n" if ready else "No sources.\n")
    # ranges
    out.append("### Sources with no events in the range\n")
    rng = f"{_t(first_all)} .. {_t(last_all)}"
    empty = [s for s in srcs if not s["events"]]
    if empty:
        out.append(md_table(["Source", "Path", "Format", "Records", "Why no events"], [
            [f"S{s['id']}", md(paths.show(s["path"]), 300), md(s["format"]), _int(s["records"]),
             "all records were duplicates of another file" if s["records"] and s["duplicates"] + (s.get("merged") or 0) >= s["records"] - s["quarantined"] and s["duplicates"]
             else "all records were quarantined" if s["records"] and s["quarantined"] == s["records"] else "the file held no records"]
            for s in empty]))
    elif srcs:
        out.append(f"Every source has events in the index range ({rng}).\n")
    else:
        out.append("No sources.\n")
    partial_dups = [s for s in srcs if s["events"] and s["duplicates"] and s["format"] != "k8s-audit"]
    if partial_dups:
        out.append("Sources whose records mostly repeat another file (duplicates are counted, not indexed twice): "
                   + ", ".join(f"S{s['id']} ({_int(s['duplicates'])} of {_int(s['records'])})" for s in partial_dups) + ".\n")
    # quiet periods
    out.append("### Quiet periods\n")
    gaps = quiet_periods(conn)
    if gaps:
        out.append(f"Stretches of at least {GAP_US // 3_600_000_000} hour(s) without any event of a format (up to "
                   f"{MAX_GAPS_PER_FORMAT} longest per format). A silence can be benign (no activity) or a sign that "
                   "logging stopped or records were removed.\n")
        out.append(md_table(["Format", "From (UTC)", "To (UTC)", "Duration"],
                            [[md(f), _t(a), _t(b), _dur(b - a)] for f, a, b in gaps], align="lllr"))
    else:
        out.append("No format has a silence of an hour or more inside its time range.\n")
    # precision
    coarse = sorted({r.format for r in ready if r.events and r.with_ms / r.events < 0.5})
    if coarse:
        out.append("Timestamps of " + ", ".join(md(c) for c in coarse) + " are written with less than millisecond "
                   "precision: events within the same second are ordered by source file and record position, not by time.\n")
    return "\n".join(out)


# ====================================================================== 8 detections
_SAFE_URL = re.compile(r"https://[A-Za-z0-9._~:/?#@!$&'*+,;=%-]+")


def _detections(conn) -> str:
    """Sigma rules with hits: title, level, author and link (DRL 1.1 keeps author and link)."""
    from logconsole.store.detections import hit_event_ids, rules_with_hits

    out = ["## 8. Detections\n"]
    rows = rules_with_hits(conn)
    if not rows:
        out.append("No Sigma rule matched an indexed event (`logconsole rules run` runs the shipped rules; "
                   "`--rules PATH` adds a SigmaHQ checkout).\n")
        return "\n".join(out)
    by_level: dict[str, int] = {}
    for r in rows:
        by_level[r["level"]] = by_level.get(r["level"], 0) + 1
    out.append(f"{len(rows)} rule(s) matched {sum(r['n'] for r in rows):,} event(s) "
               f"({', '.join(f'{lv}: {n}' for lv, n in by_level.items())}). Each rule keeps its author and a "
               "link to its source; SigmaHQ rules are under the Detection Rule License 1.1.\n")
    table = []
    for r in rows:
        link = r["link"] or ""
        shown = f"<{link}>" if _SAFE_URL.fullmatch(link) else md_code(link or r["file"], 200)
        ids = hit_event_ids(conn, r["key"])
        first = ", ".join(f"#{i}" for i in ids[:5]) + (f" (+{len(ids) - 5})" if len(ids) > 5 else "")
        table.append([md(r["level"]), md(r["title"], 200), md(r["author"] or "unknown", 200), _int(r["n"]),
                      md(first), shown])
    out.append(md_table(["Level", "Rule", "Author", "Events", "Event ids", "Link"], table, align="lllrll"))
    out.append("The events of a rule: `logconsole search rule:RULE_ID` (or `D` in the console).\n")
    return "\n".join(out)


def quiet_periods(conn) -> list[tuple[str, int, int]]:
    rows = conn.execute(text(
        "SELECT format, prev, ts_us FROM ("
        " SELECT format, ts_us, LAG(ts_us) OVER (PARTITION BY format ORDER BY ts_us) AS prev FROM events"
        ") AS gaps WHERE prev IS NOT NULL AND ts_us - prev >= :gap ORDER BY format, ts_us - prev DESC, prev"
    ), {"gap": GAP_US}).all()
    out: list[tuple[str, int, int]] = []
    per: dict[str, int] = {}
    for fmt, a, b in rows:
        if per.get(fmt, 0) >= MAX_GAPS_PER_FORMAT:
            continue
        per[fmt] = per.get(fmt, 0) + 1
        out.append((fmt, a, b))
    out.sort(key=lambda g: (g[0], g[1]))
    return out


def _dur(us: int) -> str:
    s = us // 1_000_000
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if h:
        return f"{h}h{m:02d}m"
    return f"{m}m{sec:02d}s"


__all__ = ["HEAD_ROWS", "TAIL_ROWS", "ReportOptions", "build_report", "finding_rows", "quiet_periods", "source_ref"]
