"""``sequence``: gaps, duplicates and time regressions in sequence numbers.

For sources without a chain: Linux audit serials (per boot), Windows
``EventRecordID`` / ``RecordNumber`` (per computer and channel) and any integer
``seq`` field in JSON lines.  Each anomaly is labelled *explained* (reboot,
auditd stopped/rotated, ``1102`` log cleared, ``1104`` log full, ...) or
*unexplained*; only unexplained ones are failures.

This is evidence, not proof: the numbers are written by the logging system
itself, so an attacker with write access can renumber consistently, and gaps
have benign causes (filtered exports, dropped records).  Every result says so.

Items come from the files directly or from the events already in the index
(auditd events carry ``extra.serial``/``extra.boot``, Windows events
``extra.record_number``), in which case failures name the index event id.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from collections.abc import Iterable, Iterator

from logconsole.analysis.chain.model import Failure, TargetResult, unverifiable
from logconsole.analysis.chain.textio import iter_lines, open_binary, read_all
from logconsole.ingest.base import Event
from logconsole.ingest.evtx_file import FILE_MAGIC as EVTX_MAGIC, EvtxParser
from logconsole.ingest.formats import facts_of
from logconsole.ingest.reader import Input, InputError, TruncatedInput
from logconsole.util.timeparse import format_us, parse_time
import itertools

#: auditd writes records of a syscall as they are produced: lower serials may
#: follow higher ones within this window.
AUDIT_WINDOW = 128
#: a stream whose numbers cover less than this share of their span is a filtered excerpt
SPARSE_RATIO = 0.5
DEFAULT_TOLERANCE_US = 1_000_000

_AUDIT = re.compile(rb"^(?:node=(\S+) )?type=(\S+) msg=audit\((\d+)(?:\.(\d+))?:(\d+)\)")

WINDOWS_MARKERS = {
    1100: "event logging service shut down (1100)",
    1101: "audit events dropped by the transport (1101)",
    1102: "audit log cleared (1102)",
    1104: "security log full (1104)",
    1105: "automatic log backup / rotation (1105)",
    104: "event log cleared (System 104)",
}
AUDIT_MARKERS = {
    "DAEMON_START": "auditd (re)started (DAEMON_START): kernel records meanwhile went to the kernel log",
    "DAEMON_END": "auditd stopped (DAEMON_END): kernel records meanwhile went to the kernel log",
    "DAEMON_ABORT": "auditd aborted (DAEMON_ABORT)",
    "DAEMON_ROTATE": "log rotation (DAEMON_ROTATE)",
    "DAEMON_RESUME": "auditd resumed logging (DAEMON_RESUME)",
}


@dataclass(slots=True)
class SeqItem:
    line: int | None
    stream: str
    seq: int | None  # None: a marker only
    ts: int | None = None
    boot: Any = None  # explicit boot/segment key (index mode)
    marker: str | None = None  # explanation text when this record explains a break
    event_id: int | None = None
    file: str | None = None
    stamp: Any = None  # what must match for a repeated number to be the same record
    index: int | None = None  # record index inside a JSON array file
    forwarded: bool = False  # came through a forwarder/SIEM export that may filter records
    resaved: bool = False  # an .evtx whose record headers were renumbered: a saved (maybe filtered) copy

FORWARDED = ("forwarded export: records came through a collection pipeline (SIEM/forwarder) that may filter "
             "events, so gaps are expected here; compare with the host's .evtx to tell a deletion from a filter")
RESAVED = ("saved copy: the .evtx record headers are numbered apart from EventRecordID, as in a log saved from "
           "Event Viewer or wevtutil (possibly filtered), so gaps are expected; compare with the host's original log")


def evtx_resaved(extra: dict[str, Any]) -> bool:
    """An event of an ``.evtx`` file whose record header id differs from its EventRecordID (a saved copy)."""
    prov = extra.get("evtx")
    return isinstance(prov, dict) and prov.get("record") is not None and prov.get("record") != extra.get("record_number")


# --------------------------------------------------------------------------- readers


def sniff(path: str) -> str | None:
    """'auditd', 'windows', 'evtx' or 'seq' when the file carries sequence numbers."""
    try:
        with open_binary(path) as f:
            if f.read(len(EVTX_MAGIC)) == EVTX_MAGIC:
                return "evtx"
    except (OSError, EOFError):
        return None
    try:
        for _n, line in iter_lines(path, limit_lines=30):
            if not line or not line.strip():
                continue
            if _AUDIT.match(line):
                return "auditd"
            s = line.lstrip()
            if s.startswith(b"[") or s.startswith(b"{"):
                obj = None
                try:
                    obj = json.loads(s)
                except ValueError:
                    if s.startswith(b"["):
                        try:
                            first = next(iter(_json_records(path, limit=1)), None)
                            obj = first[1] if first else None
                        except ValueError:
                            obj = None
                if isinstance(obj, list):
                    obj = obj[0] if obj else None
                if isinstance(obj, dict):
                    if _win_record_number(obj) is not None:
                        return "windows"
                    if isinstance(obj.get("seq"), int):
                        return "seq"
                return None
            return None
    except OSError:
        return None
    return None


def _json_records(path: str, limit: int | None = None) -> Iterator[tuple[int, dict[str, Any], int | None]]:
    """(line, object, index-in-array) from JSON lines or one JSON array / {"Records"|"Events": [...]}."""
    data = read_all(path, limit=1 << 30)
    s = data.lstrip()
    if s.startswith(b"["):
        arr = json.loads(data)
        line = 1 + data[: len(data) - len(s)].count(b"\n")
        for i, obj in enumerate(arr if isinstance(arr, list) else []):
            if isinstance(obj, dict):
                yield line, obj, i
            if limit and i + 1 >= limit:
                return
        return
    n = 0
    for lineno, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if isinstance(obj, dict):
            for key in ("Records", "Events"):
                if isinstance(obj.get(key), list) and _win_record_number(obj) is None:
                    for i, o in enumerate(obj[key]):
                        if isinstance(o, dict):
                            yield lineno, o, i
                    break
            else:
                yield lineno, obj, None
            n += 1
            if limit and n >= limit:
                return


def _dig(obj: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(p)
    return obj


def _as_int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.strip().isdigit():
        return int(v.strip())
    return None


def _win_record_number(obj: dict[str, Any]) -> int | None:
    for path in (("EventRecordID",), ("RecordNumber",), ("EventRecordId",), ("RecordId",), ("System", "EventRecordID"),
                 ("Event", "System", "EventRecordID"), ("winlog", "record_id")):
        v = _as_int(_dig(obj, *path))
        if v is not None:
            return v
    return None


def _win_fields(obj: dict[str, Any]) -> tuple[int | None, str, str, Any]:
    sysd = obj.get("System") if isinstance(obj.get("System"), dict) else _dig(obj, "Event", "System")
    sysd = sysd if isinstance(sysd, dict) else {}
    eid = _as_int(obj.get("EventID")) or _as_int(obj.get("EventId")) or _as_int(_dig(obj, "winlog", "event_id"))
    if eid is None:
        e = sysd.get("EventID")
        eid = _as_int(e.get("#text") if isinstance(e, dict) else e)
    computer = obj.get("Computer") or obj.get("Hostname") or sysd.get("Computer") or _dig(obj, "winlog", "computer_name") or ""
    channel = obj.get("Channel") or sysd.get("Channel") or _dig(obj, "winlog", "channel") or ""
    tv = obj.get("TimeCreated") or sysd.get("TimeCreated") or obj.get("EventTime") or obj.get("@timestamp")
    if isinstance(tv, dict):
        tv = tv.get("SystemTime") or tv.get("@SystemTime")
    return eid, str(computer), str(channel), tv


def _time(v: Any) -> int | None:
    if v is None:
        return None
    try:
        return parse_time(v)
    except Exception:
        return None


def _evtx_items(path: str) -> Iterator[SeqItem]:
    """EventRecordIDs of a binary ``.evtx`` file, read by the ingest parser (records it cannot
    render are left out: ``logconsole ingest`` quarantines and reports them)."""
    for ev in EvtxParser().parse(Input.open(path)):
        if not isinstance(ev, Event) or not ev.extra:
            continue
        rid = _as_int(ev.extra.get("record_number"))
        if rid is None:
            continue
        code = _as_int(ev.extra.get("event_id"))
        channel = str(ev.extra.get("channel") or "")
        marker = WINDOWS_MARKERS.get(code) if code is not None else None
        if code == 104 and "system" not in channel.lower():
            marker = None
        yield SeqItem(None, f"{ev.host or ''}/{channel}", rid, ev.ts_us, marker=marker, file=path,
                      stamp=ev.extra.get("evtx", {}).get("sha256"), index=ev.rec_index,
                      resaved=evtx_resaved(ev.extra))


def read_items(path: str, kind: str, seq_field: str = "seq", time_field: str | None = None) -> Iterator[SeqItem]:
    if kind == "evtx":
        yield from _evtx_items(path)
    elif kind == "auditd":
        for lineno, line in iter_lines(path):
            if not line:
                continue
            m = _AUDIT.match(line)
            if not m:
                continue
            node = (m.group(1) or b"").decode("utf-8", "replace")
            rtype = m.group(2).decode("ascii", "replace")
            secs, ms, serial = int(m.group(3)), int(m.group(4) or 0), int(m.group(5))
            ts = secs * 1_000_000 + ms * 1000
            if rtype.startswith("DAEMON_"):
                # auditd's own records use the daemon's serial space: markers only
                yield SeqItem(lineno, node, None, ts, marker=AUDIT_MARKERS.get(rtype, f"auditd {rtype}"), file=path)
                continue
            yield SeqItem(lineno, node, serial, ts, file=path, stamp=(secs, ms))
    elif kind == "windows":
        for lineno, obj, idx in _json_records(path):
            rid = _win_record_number(obj)
            eid, computer, channel, tv = _win_fields(obj)
            if rid is None:
                continue
            marker = WINDOWS_MARKERS.get(eid) if eid is not None else None
            if eid == 104 and "system" not in channel.lower():
                marker = None
            native = isinstance(obj.get("System"), dict) or isinstance(obj.get("Event"), dict) \
                or "ProviderName" in obj or "Payload" in obj  # evtx dump, Get-WinEvent, EvtxECmd
            yield SeqItem(lineno, f"{computer}/{channel}", rid, _time(tv), marker=marker, file=path,
                          stamp=hash(json.dumps(obj, sort_keys=True)), index=idx, forwarded=not native)
    else:
        for lineno, obj, idx in _json_records(path):
            s = _as_int(obj.get(seq_field))
            if s is None:
                continue
            tv = obj.get(time_field) if time_field else next((obj[k] for k in ("time", "timestamp", "ts", "@timestamp")
                                                               if k in obj), None)
            yield SeqItem(lineno, "", s, _time(tv), file=path, stamp=hash(json.dumps(obj, sort_keys=True)), index=idx)


# --------------------------------------------------------------------------- analysis


@dataclass
class _Seen:
    item: SeqItem
    count: int = 1


def _where(it: SeqItem) -> str:
    if it.event_id is not None:
        return f"event {it.event_id}"
    if it.index is not None:
        return f"line {it.line} record #{it.index + 1}" if it.line is not None else f"record #{it.index + 1}"
    return f"line {it.line}"


def analyze(items: Iterable[SeqItem], kind: str, res: TargetResult, tolerance_us: int = DEFAULT_TOLERANCE_US) -> int:
    """Add failures (unexplained) and explained anomalies to *res* for every stream.

    Returns how many streams were dense enough to judge (0: nothing verifiable)."""
    streams: dict[str, list[SeqItem]] = defaultdict(list)
    for it in items:
        streams[it.stream].append(it)
    if kind == "evtx":
        kind = "windows"
    label = {"auditd": "serial", "windows": "EventRecordID"}.get(kind, "seq")
    total = 0
    sparse_notes: list[str] = []
    dense_streams = 0
    summaries: list[str] = []
    for stream, its in streams.items():
        numbered = [i for i in its if i.seq is not None]
        if not numbered:
            continue
        total += len(numbered)
        # ---- segments: boots (auditd), log clears (Windows)
        segments: list[tuple[list[SeqItem], str | None]] = []
        cur: list[SeqItem] = []
        cur_reason: str | None = None
        cur_max = None
        cur_last_ts = None
        pending_marker: SeqItem | None = None
        last_boot = object()
        pre: list[Failure] = []
        for it in its:
            if it.seq is None:
                pending_marker = it
                continue
            marker = it.marker if it.marker else (pending_marker.marker if pending_marker else None)
            new_reason = None
            if it.boot is not None:
                if it.boot != last_boot and cur:
                    new_reason = f"reboot (boot {it.boot})"
                last_boot = it.boot
            elif cur_max is not None:
                if kind == "windows":
                    if marker and "clear" in marker and it.seq < cur_max:
                        new_reason = f"numbering restarted after {marker}"
                elif it.seq < cur_max - (AUDIT_WINDOW if kind == "auditd" else 0):
                    back = it.ts is not None and cur_last_ts is not None and it.ts < cur_last_ts - tolerance_us
                    if kind == "auditd" and not back:
                        new_reason = f"reboot: serials restarted at {it.seq}" + (f" ({marker})" if marker else "")
                    else:
                        what = "time_regression" if back else "seq_gap"
                        detail = f"{label} goes back from {cur_max} to {it.seq}"
                        if back:
                            detail += f" and time from {format_us(cur_last_ts)} to {format_us(it.ts)}"
                        pre.append(Failure(what, it.line, it.seq, detail, file=it.file, event_id=it.event_id))
                        new_reason = "sequence restarts"
            if new_reason is not None:
                segments.append((cur, cur_reason))
                cur, cur_reason, cur_max, cur_last_ts = [], new_reason, None, None
                if new_reason != "sequence restarts":
                    res.explained.append(Failure("seq_gap", it.line, it.seq, f"{label} restarts at {it.seq}",
                                                 file=it.file, explained=new_reason, event_id=it.event_id))
            cur.append(it)
            cur_max = it.seq if cur_max is None else max(cur_max, it.seq)
            if it.ts is not None:
                cur_last_ts = it.ts if cur_last_ts is None else max(cur_last_ts, it.ts)
            pending_marker = None
        segments.append((cur, cur_reason))
        # markers in file order, to explain gaps
        markers = [(i.file, i.line, i.index, i.marker) for i in its if i.marker]

        def marker_between(a: SeqItem, b: SeqItem) -> str | None:
            ka = (a.file or "", a.line or 0, a.index or 0)
            kb = (b.file or "", b.line or 0, b.index or 0)
            lo, hi = min(ka, kb), max(ka, kb)
            for f, ln, ix, text in markers:  # noqa: B023  (called inside this iteration only)
                k = (f or "", ln or 0, ix or 0)
                if lo <= k <= hi:
                    return text
            return None

        forwarded = FORWARDED if any(i.forwarded for i in numbered) else (
            RESAVED if any(i.resaved for i in numbered) else None)
        present = 0
        span = 0
        found: list[Failure] = list(pre)
        expl: list[Failure] = []
        for seg, _reason in segments:
            if not seg:
                continue
            first: dict[int, SeqItem] = {}
            for it in seg:
                if it.seq is None:
                    continue
                prev = first.get(it.seq)
                if prev is None:
                    first[it.seq] = it
                elif prev.stamp != it.stamp:
                    # auditd: records of one event share (time, serial) and may interleave;
                    # Windows/seq: an identical copy is an export duplicate
                    found.append(Failure("inserted", it.line, it.seq, f"duplicate {label} {it.seq}: already at "
                                         f"{_where(prev)} with different content", file=it.file, event_id=it.event_id))
                elif kind != "auditd" and (prev.line, prev.index) != (it.line, it.index):
                    expl.append(Failure("inserted", it.line, it.seq, f"identical copy of {_where(prev)}",
                                        file=it.file, explained="identical duplicate (export artefact)",
                                        event_id=it.event_id))
            nums = sorted(first)
            present += len(nums)
            span += nums[-1] - nums[0] + 1
            for a, b in itertools.pairwise(nums):
                ia, ib = first[a], first[b]
                if b - a > 1:
                    why = marker_between(ia, ib) or forwarded
                    f = Failure("seq_gap", ib.line, b, f"{b - a - 1} {label}(s) missing ({a + 1}"
                                + (f"-{b - 1}" if b - a > 2 else "") + f") before {b}"
                                + (f" (record #{ib.index + 1})" if ib.index is not None else ""), file=ib.file,
                                missing=b - a - 1, explained=why, event_id=ib.event_id)
                    (expl if why else found).append(f)
                if ia.ts is not None and ib.ts is not None and ib.ts < ia.ts - tolerance_us:
                    why = marker_between(ia, ib) or forwarded
                    f = Failure("time_regression", ib.line, b, f"{label} {b} is dated {format_us(ib.ts)}, before "
                                f"{label} {a} ({format_us(ia.ts)})", file=ib.file, explained=why, event_id=ib.event_id)
                    (expl if why else found).append(f)
        ratio = present / span if span else 1.0
        name = stream or "(all records)"
        summaries.append(f"{name}: {present} {label}s in {len([s for s in segments if s[0]])} segment(s)")
        if ratio < SPARSE_RATIO and span - present > 2:
            sparse_notes.append(
                f"{name}: only {present} of {span} {label}s in range are present ({ratio:.0%}): this looks like a "
                f"filtered excerpt, not a complete log, so its {len(found)} gap(s)/regression(s) are not judged")
            continue
        dense_streams += 1
        res.failures.extend(found)
        res.explained.extend(expl)
    res.records = total
    res.notes.extend(sparse_notes)
    res.coverage = "; ".join(summaries) if summaries else "no sequence numbers"
    return dense_streams


def verify_file(path: str, kind: str | None = None, *, seq_field: str = "seq", time_field: str | None = None,
                tolerance_us: int = DEFAULT_TOLERANCE_US) -> TargetResult:
    kind = kind or sniff(path)
    if kind is None:
        return unverifiable(path, "sequence", f"{path}: no sequence numbers found (auditd serials, Windows "
                            "EventRecordID or a seq field)")
    res = TargetResult(path, "sequence", files=[path])
    try:
        items = list(read_items(path, kind, seq_field, time_field))
    except (OSError, ValueError, InputError, TruncatedInput) as exc:
        return unverifiable(path, "sequence", f"{path}: cannot read: {str(exc)[:120]}")
    dense = analyze(items, kind, res, tolerance_us)
    res.anchor = "none (sequence numbers are evidence, not proof)"
    res.notes.insert(0, "evidence, not proof: sequence numbers are written by the logging system itself")
    return res.finish(anchored=False, verifiable=dense > 0)


# --------------------------------------------------------------------------- from the index


def verify_index_sources(engine, source_ids: list[int] | None = None,
                         tolerance_us: int = DEFAULT_TOLERANCE_US) -> list[TargetResult]:
    """Sequence analysis over events already in the index (auditd, Windows)."""
    from sqlalchemy import select

    from logconsole.store.schema import events, sources

    out: list[TargetResult] = []
    with engine.connect() as conn:
        q = select(sources.c.id, sources.c.path, sources.c.format).where(sources.c.status == "complete")
        if source_ids:
            q = q.where(sources.c.id.in_(source_ids))
        srcs = list(conn.execute(q.order_by(sources.c.id)))
        for sid, spath, fmt in srcs:
            facts = facts_of(fmt)
            if facts is None or facts.sequence is None:
                continue
            kind = facts.sequence  # "auditd" or "windows"
            items: list[SeqItem] = []
            rows = conn.execute(
                select(events.c.id, events.c.line, events.c.ts_us, events.c.host, events.c.extra, events.c.message,
                       events.c.rec_index)
                .where(events.c.source_id == sid).order_by(events.c.id)
            )
            for eid, line, ts, host, extra_s, msg, rec_index in rows:
                try:
                    extra = json.loads(extra_s) if extra_s else {}
                except ValueError:
                    extra = {}
                if kind == "auditd":
                    types = extra.get("types") or []
                    dm = next((t for t in types if isinstance(t, str) and t.startswith("DAEMON_")), None)
                    if extra.get("serial_space") == "auditd" or dm:
                        items.append(SeqItem(line, host or "", None, ts, marker=AUDIT_MARKERS.get(dm or "", "auditd record"),
                                             event_id=eid, file=spath))
                        continue
                    s = _as_int(extra.get("serial"))
                    if s is None:
                        continue
                    items.append(SeqItem(line, host or "", s, ts, boot=extra.get("boot"), event_id=eid, file=spath,
                                         stamp=extra.get("stamp")))
                else:
                    s = _as_int(extra.get("record_number"))
                    if s is None:
                        continue
                    m = re.match(r"\[(\d+)\]", msg or "")
                    code = int(m.group(1)) if m else None
                    marker = WINDOWS_MARKERS.get(code) if code is not None else None
                    items.append(SeqItem(line, f"{host or ''}/{extra.get('channel') or ''}", s, ts, marker=marker,
                                         event_id=eid, file=spath, stamp=eid, index=rec_index,
                                         forwarded=extra.get("export") in (None, "flat", "winlogbeat"),
                                         resaved=evtx_resaved(extra)))
            res = TargetResult(spath, "sequence", files=[spath], source_id=sid)
            dense = analyze(items, kind, res, tolerance_us)
            res.anchor = "none (sequence numbers are evidence, not proof)"
            res.notes.insert(0, "evidence, not proof: sequence numbers are written by the logging system itself; "
                             "read from the index")
            out.append(res.finish(anchored=False, verifiable=dense > 0))
    return out
