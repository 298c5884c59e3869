"""PostgreSQL logs with pgAudit entries: csvlog and stderr (``log_line_prefix``) format.

* csvlog (``log_destination = 'csvlog'``): one CSV record per log entry; quoted
  fields (SQL text, DETAIL, CONTEXT ...) may span several lines.  Records are
  re-assembled line by line (a record is complete when its ``"`` count is
  even) and parsed with :mod:`csv`; ``line`` is the record's first line.  The
  column layout is chosen by the column count (22 before 9.0, 23 up to 12,
  24 in 13, 26 from 14).
* stderr: ``TIMESTAMP [prefix] SEVERITY:  message`` lines (the default
  ``log_line_prefix = '%m [%p] '`` and the common ``user=%u,db=%d,app=%a,client=%h``
  and ``%u@%d`` variants); tab-indented continuation lines belong to the entry
  above, and ``DETAIL``/``HINT``/``STATEMENT``/``CONTEXT``/``QUERY`` lines are merged
  into the entry they explain (``records=N, merged=N-1``).

``AUDIT: SESSION|OBJECT,stmt,substmt,class,command,object_type,object_name,statement,parameter``
becomes ``action="<class> <command>"`` (``READ SELECT``), ``resource`` = the object
name, the statement in ``extra.statement``.  An audit entry directly followed
(same session, same virtual transaction) by an ERROR is marked ``failure``
with that SQLSTATE.  ``connection authorized`` / authentication failures are
``login`` events; every other entry is still an event (``action="log"`` or
``"error"``).
"""

from __future__ import annotations

import csv
import io
import re
from collections import OrderedDict
from datetime import datetime, timedelta, timezone, tzinfo, UTC
from typing import Any
from collections.abc import Iterator

from logconsole.ingest.base import Event, Evidence, FormatFacts, ParseError, Parser, Quarantined, norm_ip
from logconsole.ingest.reader import Input, Sample, TruncatedInput
from logconsole.util.timeparse import MAX_US, MIN_US, dt_to_us, parse_tz
from logconsole.store.sanitize import one_line

_BASE_COLS = [
    "log_time", "user_name", "database_name", "process_id", "connection_from", "session_id",
    "session_line_num", "command_tag", "session_start_time", "virtual_transaction_id", "transaction_id",
    "error_severity", "sql_state_code", "message", "detail", "hint", "internal_query", "internal_query_pos",
    "context", "query", "query_pos", "location",
]
_LAYOUTS = {
    22: _BASE_COLS,
    23: _BASE_COLS + ["application_name"],
    24: _BASE_COLS + ["application_name", "backend_type"],
    26: _BASE_COLS + ["application_name", "backend_type", "leader_pid", "query_id"],
}
_TS = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?: ?(?:[A-Za-z]{1,6}|[+-]\d{2}(?::?\d{2})?))?"
_CSV_START = re.compile(rb"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?: ?(?:[A-Za-z]{1,6}|[+-]\d{2}(?::?\d{2})?))?,")
_TIME = re.compile(r"(?P<dt>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?) ?(?P<zone>[A-Za-z]{1,6}|[+-]\d{2}(?::?\d{2})?)?")
_SEVERITIES = "LOG|NOTICE|WARNING|ERROR|FATAL|PANIC|INFO|DEBUG[1-5]?"
_AUX_SEV = "DETAIL|HINT|STATEMENT|CONTEXT|QUERY|LOCATION"
_STDERR = re.compile(rf"(?P<ts>{_TS})\s*(?P<prefix>.*?)\b(?P<sev>{_SEVERITIES}|{_AUX_SEV}):  (?P<msg>.*)", re.S)
_STDERR_SNIFF = re.compile(rb"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\S*(?: \S+)?\s.*?\b(?:LOG|NOTICE|WARNING|ERROR|FATAL):  ")
_AUDIT = re.compile(r"AUDIT: (?P<kind>SESSION|OBJECT),(?P<rest>.*)", re.S)

#: zone abbreviations PostgreSQL prints (from the IANA data); ambiguous ones get their most common meaning
_ABBREV = {
    "UTC": 0, "GMT": 0, "UT": 0, "Z": 0, "WET": 0, "WEST": 60, "BST": 60, "CET": 60, "CEST": 120, "MET": 60,
    "MEST": 120, "EET": 120, "EEST": 180, "MSK": 180, "IST": 330, "PKT": 300, "ICT": 420, "WIB": 420,
    "HKT": 480, "SGT": 480, "AWST": 480, "PHT": 480, "JST": 540, "KST": 540, "ACST": 570, "ACDT": 630,
    "AEST": 600, "AEDT": 660, "NZST": 720, "NZDT": 780, "HST": -600, "AKST": -540, "AKDT": -480,
    "PST": -480, "PDT": -420, "MST": -420, "MDT": -360, "CST": -360, "CDT": -300, "EST": -300, "EDT": -240,
    "AST": -240, "ADT": -180, "NST": -210, "NDT": -150, "BRT": -180, "ART": -180, "SAST": 120, "CAT": 120,
    "EAT": 180, "WAT": 60,
}
_AMBIGUOUS = {"IST", "CST", "BST", "AST"}
_LOGIN_FAIL = [
    re.compile(r'(?:password |Ident |peer |md5 |SCRAM |LDAP |RADIUS |cert |PAM |GSSAPI |SSPI )?authentication failed for user "(?P<user>[^"]*)"'),
    re.compile(r'no pg_hba\.conf entry for (?:replication connection from )?host "(?P<host>[^"]*)", user "(?P<user>[^"]*)", database "(?P<db>[^"]*)"'),
    re.compile(r'pg_hba\.conf rejects connection for host "(?P<host>[^"]*)", user "(?P<user>[^"]*)", database "(?P<db>[^"]*)"'),
    re.compile(r'role "(?P<user>[^"]*)" does not exist'),
    re.compile(r'role "(?P<user>[^"]*)" is not permitted to log in'),
    re.compile(r'database "(?P<db>[^"]*)" does not exist'),
]
_MAX_RECORD_LINES = 10000
_MAX_RECORD_BYTES = 4 * 1024 * 1024
_PENDING_SESSIONS = 1024


def _tz_from_option(spec: Any) -> tzinfo | None:
    if spec in (None, ""):
        return None
    return parse_tz(str(spec), _ABBREV)


class PgAuditParser(Parser):
    name = "pgaudit"
    version = "1"
    description = "PostgreSQL csvlog or stderr log with pgAudit AUDIT: SESSION/OBJECT entries, logins, errors"
    facts = FormatFacts(short_label="pg", timestamp_desc="PostgreSQL log time")

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.tz = _tz_from_option(options.get("tz"))
        self.mode: str | None = None

    # ------------------------------------------------------------------ sniff
    def sniff(self, sample: Sample) -> Evidence | None:
        lines = sample.first_nonblank(30)
        if not lines:
            return None
        audit = b"AUDIT: SESSION," in sample.data or b"AUDIT: OBJECT," in sample.data
        csv_lines = [ln for ln in lines if _CSV_START.match(ln)]
        # the first line, or most of them (a corrupt first line does not change what the file is)
        if csv_lines and (_CSV_START.match(lines[0]) or len(csv_lines) >= 2):
            try:
                row = next(csv.reader(io.StringIO(csv_lines[0].decode("utf-8", "replace"))))
            except (csv.Error, StopIteration):
                row = []
            if len(row) in _LAYOUTS:
                return Evidence(95 if audit else 80, f"PostgreSQL csvlog ({len(row)} columns)"
                                + (" with pgAudit AUDIT: entries" if audit else ""))
        err = sum(1 for ln in lines if _STDERR_SNIFF.match(ln))
        if err and (_STDERR_SNIFF.match(lines[0]) or err * 2 > len(lines)):
            if audit:
                return Evidence(90, f"{err} PostgreSQL stderr log line(s) with pgAudit AUDIT: entries")
            return Evidence(60, f"{err} PostgreSQL stderr log line(s) (TIMESTAMP ... LOG:  message)")
        return None

    def source_options(self) -> dict[str, Any]:
        # only what this parser uses (the CLI passes one options dict to every parser)
        opts: dict[str, Any] = {}
        if self.options.get("tz") not in (None, ""):
            opts["tz"] = str(self.options["tz"])
        if self.mode:
            opts["layout"] = self.mode
        return opts

    # ------------------------------------------------------------------ parse
    def parse(self, inp: Input) -> Iterator[Event | Quarantined]:
        sample = inp.sample(16384)
        lines = sample.first_nonblank(30)
        # csvlog if it starts like one, or most of its first lines do (a corrupt first line)
        if _CSV_START.match(sample.data) or sum(1 for ln in lines if _CSV_START.match(ln)) >= 2:
            self.mode = "csvlog"
            yield from self._parse_csv(inp)
        else:
            self.mode = "stderr"
            yield from self._parse_stderr(inp)

    # ---- csvlog
    def _parse_csv(self, inp: Input) -> Iterator[Event | Quarantined]:
        pend = _Pending()
        queue: list[tuple[int, bytes | None]] = []  # lines to read again after a broken record
        src = inp.iter_lines(keep_blank=True)  # a quoted csvlog field may hold blank lines
        st: dict[str, Any] = {"buf": [], "start": 0, "inp": inp}

        def lines() -> Iterator[tuple[int, bytes | None]]:
            while True:
                if queue:
                    yield queue.pop(0)
                    continue
                try:
                    yield next(src)
                except StopIteration:
                    return

        try:
            yield from self._csv_loop(lines, queue, pend, st)
        except TruncatedInput:
            # a cut .gz: account for the partial record and the held events before the pipeline
            # records the truncation
            if st["buf"]:
                yield Quarantined("csvlog record cut by the end of a truncated compressed file",
                                  b"\n".join(st["buf"]), line=st["start"])
            yield from pend.drain()
            raise
        yield from pend.drain()

    def _csv_loop(self, lines, queue, pend: _Pending, st: dict[str, Any]) -> Iterator[Event | Quarantined]:
        while True:
            buf: list[bytes] = []
            st["buf"] = buf
            start = quotes = size = 0
            for lineno, line in lines():
                if line is None:
                    if buf:
                        yield Quarantined("csvlog record contains a line longer than the 4 MiB limit",
                                          b"\n".join(buf), line=start)
                        buf.clear()
                        quotes = size = 0
                    else:
                        yield Quarantined("line longer than the 4 MiB limit", None, line=lineno)
                    continue
                if not buf:
                    if not line.strip():
                        st["inp"].blank_lines += 1  # not a record
                        continue
                    if b"\x00" in line:
                        yield Quarantined("NUL byte: binary data or a UTF-16 file, not a csvlog record", line,
                                          line=lineno)
                        continue
                    if not _CSV_START.match(line):
                        yield Quarantined("not a csvlog record (does not start with a log_time field)", line,
                                          line=lineno)
                        continue
                    start = st["start"] = lineno
                buf.append(line)
                quotes += line.count(b'"')
                size += len(line) + 1
                if quotes % 2 == 1:
                    if len(buf) >= _MAX_RECORD_LINES or size > _MAX_RECORD_BYTES:
                        break  # unterminated quote: give up on the first line, re-read the others
                    continue
                rec = b"\n".join(buf)
                buf.clear()
                quotes = size = 0
                yield from self._csv_record(rec, start, pend)
            if not buf:
                return
            capped = len(buf) >= _MAX_RECORD_LINES or size > _MAX_RECORD_BYTES
            yield Quarantined(f"unterminated quoted field: csvlog record not closed within {len(buf)} line(s)"
                              + ("" if capped else " before the end of the file"), buf[0], line=start)
            queue[:0] = list(zip(range(start + 1, start + len(buf)), buf[1:]))

    def _csv_record(self, rec: bytes, lineno: int, pend: _Pending) -> Iterator[Event | Quarantined]:
        try:
            ev = self._csv_event(rec, lineno)
        except ParseError as exc:
            yield Quarantined(str(exc), rec, line=lineno)
            return
        yield from pend.push(ev)

    def _csv_event(self, rec: bytes, lineno: int) -> Event:
        if b"\x00" in rec:
            raise ParseError("NUL byte: binary data, not a csvlog record")
        try:
            text = rec.decode("utf-8")
            bad = False
        except UnicodeDecodeError:
            text = rec.decode("utf-8", "backslashreplace")
            bad = True
        try:
            rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
        except csv.Error as exc:
            raise ParseError(f"bad CSV: {exc}") from None
        if len(rows) != 1:
            raise ParseError(f"expected one CSV record, got {len(rows)}")
        row = rows[0]
        cols = _LAYOUTS.get(len(row))
        if cols is None:
            raise ParseError(f"expected a csvlog record of 22, 23, 24 or 26 columns, got {len(row)}")
        r = dict(zip(cols, row))
        ev = self._map(r, rec, lineno)
        if bad:
            assert ev.extra is not None
            ev.extra["invalid_utf8"] = True
        return ev

    # ---- stderr
    def _parse_stderr(self, inp: Input) -> Iterator[Event | Quarantined]:
        pend = _Pending()
        cur: dict[str, Any] | None = None

        def finish(c: dict[str, Any]) -> Iterator[Event | Quarantined]:
            raw = b"\n".join(c["raw"])
            try:
                ev = self._map(c["r"], raw, c["line"])
            except ParseError as exc:
                yield Quarantined(str(exc), raw, line=c["line"], records=c["records"])
                return
            ev.records = c["records"]
            ev.merged = c["records"] - 1
            if c["bad"]:
                assert ev.extra is not None
                ev.extra["invalid_utf8"] = True
            yield from pend.push(ev)

        guard = _TruncGuard(inp)
        for lineno, line in guard:
            if line is None:
                if cur is not None:
                    yield from finish(cur)
                    cur = None
                yield Quarantined("line longer than the 4 MiB limit", None, line=lineno)
                continue
            if b"\x00" in line:
                if cur is not None:
                    yield from finish(cur)
                    cur = None
                yield Quarantined("NUL byte: binary data or a UTF-16 file, not a PostgreSQL log line", line,
                                  line=lineno)
                continue
            try:
                text = line.decode("utf-8")
                bad = False
            except UnicodeDecodeError:
                text = line.decode("utf-8", "backslashreplace")
                bad = True
            m = _STDERR.match(text)
            if m is None:
                if cur is not None and (line[:1] == b"\t" or (not line.strip() and cur["r"].get("_open"))):
                    cur["raw"].append(line)
                    cur["r"][cur["field"]] += "\n" + text[1:] if line[:1] == b"\t" else "\n"
                    cur["bad"] |= bad
                    continue
                if cur is not None:
                    yield from finish(cur)
                    cur = None
                if not line.strip():
                    inp.blank_lines += 1  # not a record
                    continue
                yield Quarantined("not a PostgreSQL log line (expected TIMESTAMP ... SEVERITY:  message)",
                                  line, line=lineno)
                continue
            sev = m.group("sev")
            prefix = m.group("prefix")
            if sev in ("DETAIL", "HINT", "STATEMENT", "CONTEXT", "QUERY", "LOCATION") and cur is not None \
                    and _prefix_pid(prefix) == cur["pid"]:
                field = {"DETAIL": "detail", "HINT": "hint", "STATEMENT": "query", "CONTEXT": "context",
                         "QUERY": "internal_query", "LOCATION": "location"}[sev]
                cur["r"][field] = m.group("msg")
                cur["field"] = field
                cur["raw"].append(line)
                cur["records"] += 1
                cur["bad"] |= bad
                continue
            if cur is not None:
                yield from finish(cur)
            r = _prefix_fields(prefix)
            r["log_time"] = m.group("ts")
            r["error_severity"] = sev
            r["message"] = m.group("msg")
            cur = {"r": r, "raw": [line], "line": lineno, "records": 1, "field": "message",
                   "pid": _prefix_pid(prefix), "bad": bad}
        if cur is not None:
            yield from finish(cur)
        yield from pend.drain()
        if guard.exc is not None:
            raise guard.exc  # after everything read was accounted for

    # ---------------------------------------------------------------- mapping
    def _time(self, value: str) -> tuple[int, str | None]:
        m = _TIME.fullmatch(value.strip())
        if m is None:
            raise ParseError(f"unparseable log_time {value[:40]!r}")
        try:
            dt = datetime.fromisoformat(m.group("dt"))
        except ValueError:
            raise ParseError(f"unparseable log_time {value[:40]!r}") from None
        zone = m.group("zone")
        note = None
        if zone and zone[0] in "+-":
            zm = re.fullmatch(r"([+-])(\d{2}):?(\d{2})?", zone)
            assert zm is not None
            off = timedelta(hours=int(zm.group(2)), minutes=int(zm.group(3) or 0))
            tz: tzinfo = timezone(-off if zm.group(1) == "-" else off)
        elif self.tz is not None:
            tz = self.tz
            if zone:
                note = f"zone {zone} read as the tz option"
        elif zone and zone.upper() in _ABBREV:
            tz = timezone(timedelta(minutes=_ABBREV[zone.upper()]))
            if zone.upper() in _AMBIGUOUS:
                note = f"ambiguous zone {zone} read as UTC{_ABBREV[zone.upper()] / 60:+g}h; pass tz= to override"
        elif zone:
            raise ParseError(f"unknown time zone abbreviation {zone!r} in log_time; pass the tz option")
        else:
            tz = UTC
            note = "no zone in log_time; read as UTC"
        us = dt_to_us(dt.replace(tzinfo=tz).astimezone(UTC))
        if not MIN_US <= us <= MAX_US:
            raise ParseError(f"log_time out of range {value[:40]!r}")
        return us, note

    def _map(self, r: dict[str, Any], raw: bytes, lineno: int) -> Event:
        ts_raw = r.get("log_time") or ""
        ts, note = self._time(ts_raw)
        extra: dict[str, Any] = {}
        if note:
            extra["time_note"] = note
        user = r.get("user_name") or None
        db = r.get("database_name") or None
        sev = r.get("error_severity") or None
        state = r.get("sql_state_code") or None
        msg = r.get("message") or ""
        conn = r.get("connection_from") or None
        src_ip = None
        if r.get("client_host"):
            conn = None
            if norm_ip(r["client_host"])[1] is not None:
                src_ip = r["client_host"]
            else:
                extra["client"] = r["client_host"]
            if r.get("client_port"):
                extra["client_port"] = r["client_port"]
        if conn:
            host = conn
            hm = re.fullmatch(r"(.*):(\d+)", conn)
            if hm and not conn.startswith("["):
                host = hm.group(1)
                extra["client_port"] = hm.group(2)
            elif hm and conn.startswith("[") and "]:" in conn:
                host = conn[1:conn.index("]:")]
                extra["client_port"] = hm.group(2)
            if norm_ip(host)[1] is not None:
                src_ip = host
            else:
                extra["client"] = conn
        for k in ("database_name", "process_id", "session_line_num", "command_tag", "session_start_time",
                  "virtual_transaction_id", "transaction_id", "error_severity", "sql_state_code", "detail", "hint",
                  "internal_query", "context", "query", "location", "application_name", "backend_type",
                  "leader_pid", "query_id"):
            v = r.get(k)
            if v not in (None, ""):
                extra[{"database_name": "database", "process_id": "pid", "virtual_transaction_id": "vxid",
                       "transaction_id": "xid", "error_severity": "severity", "sql_state_code": "sql_state",
                       "application_name": "application"}.get(k, k)] = v
        session = r.get("session_id") or None
        line_num = r.get("session_line_num") or None
        record_id = f"{session}:{line_num}" if session and line_num else None
        ev = Event(ts_us=ts, ts_raw=ts_raw, raw=raw, format=self.name, line=lineno, record_id=record_id,
                   service="postgresql", actor=user, actor_type="db-user" if user else None, session=session,
                   src_ip=src_ip, extra=extra, action="log")
        a = _AUDIT.match(msg)
        if a is not None:
            _audit(ev, a, extra)
        else:
            _plain(ev, msg, sev, state, db, extra)
        ev.message = _summary(ev, msg)
        return ev


def _summary(ev: Event, msg: str) -> str:
    ex = ev.extra or {}
    who = f"{ev.actor or '?'}@{ex.get('database') or '?'}"
    failed = f" -> failed {ev.error_code or ''}".rstrip() if ev.outcome == "failure" else ""
    if ex.get("audit_type"):
        text = f"{who} {ev.action}"
        if ev.resource:
            text += f" {ev.resource}"
        text += failed
        if ex.get("statement"):
            text += f": {ex['statement']}"
    elif ev.action == "login":
        text = f"{who} login" + (f" from {ev.src_ip}" if ev.src_ip else "") + (
            f" -> failed: {msg}" if ev.outcome == "failure" else "")
    else:
        text = f"{who} {ex.get('severity') or 'LOG'}: {msg}"
    return one_line(text, 600)


def _audit(ev: Event, a: re.Match[str], extra: dict[str, Any]) -> None:
    try:
        parts = next(csv.reader(io.StringIO(a.group("rest"), newline="")))
    except (csv.Error, StopIteration):
        parts = []
    if len(parts) < 7:
        # keep it, but say the AUDIT payload could not be split
        extra["audit_type"] = a.group("kind")
        extra["audit_unparsed"] = True
        ev.action = f"AUDIT {a.group('kind')}"
        ev.outcome = "unknown"
        return
    stmt_id, sub_id, cls, command, obj_type, obj_name, statement = parts[:7]
    param = parts[7] if len(parts) > 7 else None
    extra["audit_type"] = a.group("kind")
    extra["statement_id"] = stmt_id
    extra["substatement_id"] = sub_id
    extra["class"] = cls
    extra["command"] = command
    if obj_type:
        extra["object_type"] = obj_type
    extra["statement"] = statement
    if param is not None and param not in ("<not logged>", "<none>"):
        extra["parameter"] = param
    ev.action = f"{cls} {command}".strip()
    ev.resource = obj_name or None
    ev.outcome = "success"


def _plain(ev: Event, msg: str, sev: str | None, state: str | None, db: str | None, extra: dict[str, Any]) -> None:
    if msg.startswith("connection authorized:"):
        kv = dict(re.findall(r"(\w+)=(\S+)", msg))
        ev.action, ev.outcome = "login", "success"
        ev.actor = ev.actor or kv.get("user")
        ev.actor_type = "db-user"
        dbn = kv.get("database") or db
        if dbn:
            ev.resource = f"database:{dbn}"
        if "SSL enabled" in msg:
            extra["ssl"] = True
        return
    if msg.startswith("connection received:"):
        kv = dict(re.findall(r"(\w+)=(\S+)", msg))
        ev.action, ev.outcome = "connection", "unknown"
        h = kv.get("host")
        if h and norm_ip(h)[1] is not None:
            ev.src_ip = h
        if kv.get("port"):
            extra["client_port"] = kv["port"]
        return
    if msg.startswith("disconnection:"):
        kv = dict(re.findall(r"(\w+)=(\S+)", msg))
        ev.action, ev.outcome = "logout", "success"
        ev.actor = ev.actor or kv.get("user")
        h = kv.get("host")
        if h and ev.src_ip is None and norm_ip(h)[1] is not None:
            ev.src_ip = h
        return
    if sev in ("FATAL", "ERROR") or (state or "").startswith("28"):
        for rx in _LOGIN_FAIL:
            m = rx.match(msg)
            if m is None:
                continue
            if sev == "FATAL" or (state or "").startswith("28"):
                g = m.groupdict()
                ev.action, ev.outcome = "login", "failure"
                ev.error_code = state or "auth_failed"
                if g.get("user"):
                    ev.actor = ev.actor or g["user"]
                    ev.actor_type = "db-user"
                if g.get("host") and ev.src_ip is None and norm_ip(g["host"])[1] is not None:
                    ev.src_ip = g["host"]
                if g.get("db") or db:
                    ev.resource = f"database:{g.get('db') or db}"
                return
    if sev in ("ERROR", "FATAL", "PANIC"):
        ev.action, ev.outcome, ev.error_code = "error", "failure", state
        return
    ev.action, ev.outcome = "log", "unknown"


class _TruncGuard:
    """Iterates an input's lines; a truncated compressed stream ends the iteration and is kept in ``exc``."""

    def __init__(self, inp: Input) -> None:
        self.inp = inp
        self.exc: TruncatedInput | None = None

    def __iter__(self) -> Iterator[tuple[int, bytes | None]]:
        try:
            yield from self.inp.iter_lines(keep_blank=True)  # a blank line may continue a statement
        except TruncatedInput as exc:
            self.exc = exc


class _Pending:
    """Holds the last audit event per session until the next entry of that session shows whether it failed."""

    def __init__(self) -> None:
        self.by_session: OrderedDict[str, Event] = OrderedDict()

    def push(self, ev: Event) -> Iterator[Event]:
        key = ev.session or (ev.extra or {}).get("pid")
        if key is not None:
            prev = self.by_session.pop(key, None)
            if prev is not None:
                ex = ev.extra or {}
                pex = prev.extra or {}
                if ex.get("severity") in ("ERROR", "FATAL", "PANIC") and ev.action == "error" \
                        and (ex.get("vxid") == pex.get("vxid") or not pex.get("vxid")):
                    prev.outcome = "failure"
                    prev.error_code = ex.get("sql_state")
                    pex["failed_at_line"] = ev.line
                    prev.message = _summary(prev, "")
                yield prev
        if key is not None and (ev.extra or {}).get("audit_type"):
            self.by_session[key] = ev
            if len(self.by_session) > _PENDING_SESSIONS:
                yield self.by_session.popitem(last=False)[1]
            return
        yield ev

    def drain(self) -> Iterator[Event]:
        while self.by_session:
            yield self.by_session.popitem(last=False)[1]


def _prefix_pid(prefix: str) -> str | None:
    m = re.search(r"\[(\d+)(?:-\d+)?\]", prefix)
    return m.group(1) if m else None


def _prefix_fields(prefix: str) -> dict[str, Any]:
    r: dict[str, Any] = {}
    pid = _prefix_pid(prefix)
    if pid:
        r["process_id"] = pid
    kv = dict(re.findall(r"\b(user|db|database|app|client|host|remote|session|line|vxid|xid)=([^,\s\]]*)", prefix))
    if kv.get("user"):
        r["user_name"] = kv["user"]
    if kv.get("db") or kv.get("database"):
        r["database_name"] = kv.get("db") or kv.get("database")
    if kv.get("app"):
        r["application_name"] = kv["app"]
    client = kv.get("client") or kv.get("host") or kv.get("remote")
    m = re.search(r"(?:^|[\s=,])(?P<h>[0-9A-Fa-f:.]+|\[local\])\((?P<p>\d+)\)", prefix)  # %r: host(port)
    if m:
        r["client_host"], r["client_port"] = m.group("h"), m.group("p")
    elif client:
        r["client_host"] = client  # %h: no port (an IPv6 address must not be split at a colon)
    if kv.get("session"):
        r["session_id"] = kv["session"]
    if kv.get("vxid"):
        r["virtual_transaction_id"] = kv["vxid"]
    if "user_name" not in r:
        m = re.search(r"(?:^|\s)(?P<u>[^\s@\[\]=,]+)@(?P<d>[^\s@\[\]=,:]+)", prefix)
        if m:
            r["user_name"], r["database_name"] = m.group("u"), m.group("d")
    if "session_id" not in r:
        m = re.search(r"\b([0-9a-f]{8}\.[0-9a-f]{1,8})\b", prefix)
        if m:
            r["session_id"] = m.group(1)
    return r
