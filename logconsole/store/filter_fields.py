"""Every field of the filter language, listed once (:data:`FIELDS`).

A new field is a builder here and a line in :data:`FIELDS`; nothing registers
itself on import.  ``tests/test_filter.py`` checks that every field listed
compiles and that the list matches the documented fields.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select

from logconsole.store import dialect, fulltext
from logconsole.store.annotations import marked_clause, note_clause, tag_clause
from logconsole.store.filter_lang import (
    Builder,
    Context,
    FieldSpec,
    FieldTable,
    FilterError,
    SavedQuery,
    Value,
    bounded_int,
    column_field,
    column_match,
    glob_escape,
    parse_when,
    wildcard_pattern,
)
from logconsole.store.detections import rule_clause
from logconsole.store.findings_schema import finding_events, findings
from logconsole.store.rawfields import raw_field_match, valid_path
from logconsole.store.schema import events, sources
from logconsole.store.trust import INTEGRITY, integrity_clause

# ------------------------------------------------------------------ core fields


def _since(v: Value, ctx: Context) -> ColumnElement[bool]:
    return events.c.ts_us >= parse_when(v, ctx)


def _until(v: Value, ctx: Context) -> ColumnElement[bool]:
    return events.c.ts_us <= parse_when(v, ctx)


def _ip_key(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bytes:
    if ip.version == 4:
        return b"\0" * 10 + b"\xff\xff" + ip.packed
    return ip.packed


def _ip(v: Value, ctx: Context) -> ColumnElement[bool]:
    s = v.text.strip()
    if v.wild:
        return column_match(events.c.src_ip, v)
    if "/" in s:
        try:
            net = ipaddress.ip_network(s, strict=False)
        except ValueError:
            raise FilterError(f"bad CIDR block {s!r}", v.position) from None
        lo, hi = _ip_key(net.network_address), _ip_key(net.broadcast_address)
        return dialect.ip_block(events.c.src_ip_key, lo, hi, _inet_blocks(net))
    try:
        ip = ipaddress.ip_address(s)
    except ValueError:
        return events.c.src_ip == s  # a host name written where an address goes
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    key = _ip_key(ip)
    return dialect.ip_block(events.c.src_ip_key, key, key, [str(ipaddress.ip_network(ip))])


_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def _inet_blocks(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[str]:
    """*net* as ``inet`` blocks matching what its key range matches: addresses are stored with
    IPv4 (and IPv4-mapped IPv6) as IPv4, so an IPv6 block over the mapped range also names
    the IPv4 block it covers."""
    out = [str(net)]
    if isinstance(net, ipaddress.IPv6Network) and net.overlaps(_MAPPED):
        if net.prefixlen <= 96:
            out.append("0.0.0.0/0")
        else:
            v4 = ipaddress.IPv4Address(int(net.network_address) & 0xFFFFFFFF)
            out.append(str(ipaddress.IPv4Network((v4, net.prefixlen - 96))))
    return out


def _int_field(col: Any, what: str) -> Builder:
    def build(v: Value, ctx: Context) -> ColumnElement[bool]:
        s = v.text
        m = re.fullmatch(r"(\d+)\.\.(\d+)", s)
        if m:
            return and_(col >= bounded_int(m.group(1), v, what), col <= bounded_int(m.group(2), v, what))
        if not (s.isascii() and s.isdigit()):
            raise FilterError(f"{what} takes a number or a range N..M, got {s!r}", v.position)
        return col == bounded_int(s, v, what)

    return build


def _source(v: Value, ctx: Context) -> ColumnElement[bool]:
    if v.text.isascii() and v.text.isdigit():
        return events.c.source_id == bounded_int(v.text, v, "source")
    cond: ColumnElement[bool]
    if v.wild:
        cond = dialect.glob(sources.c.path, wildcard_pattern(v))
    else:
        cond = or_(sources.c.path == v.text, dialect.glob(sources.c.path, "*/" + glob_escape(v.text)))
    return events.c.source_id.in_(select(sources.c.id).where(cond))


def substring_match(text_: str) -> ColumnElement[bool] | None:
    """Events whose indexed text contains *text_* (case-insensitive; separators
    match separators), through the vocabulary (:mod:`logconsole.store.fulltext`).
    None if *text_* has no letter or digit."""
    parts = fulltext.substring_parts(text_)
    if parts is None:
        return None
    toks, open_start, open_end = parts
    # a word of one or two characters at an end matches a whole word: as a prefix
    # ("0*", "s*") it would expand to a large part of the vocabulary
    open_end = open_end and len(toks[-1]) >= fulltext.MIN_INFIX
    open_start = open_start and len(toks[0]) >= fulltext.MIN_INFIX
    if not open_start:
        return _with_tail(dialect.fts_match(toks, prefix=open_end), toks, open_start=False, open_end=open_end)
    return _with_tail(dialect.fts_vocabulary_match(toks, open_end=open_end), toks,
                      open_start=True, open_end=open_end)


def _with_tail(indexed: ColumnElement[bool], toks: list[str], *, open_start: bool,
               open_end: bool) -> ColumnElement[bool]:
    """A free-text clause over the full-text index *and* over the events it has not
    caught up with yet (scanned), so a search never silently misses rows."""
    return or_(indexed, dialect.fts_tail(fulltext.tail_spec(toks, open_start=open_start, open_end=open_end)))


def _text(v: Value, ctx: Context) -> ColumnElement[bool]:
    s = v.text
    if v.quoted:
        # exact form: whole words in this order
        toks = fulltext.words(s)
        if not toks:
            raise FilterError("full-text search needs at least one letter or digit", v.position)
        return _with_tail(dialect.fts_match(toks), toks, open_start=False, open_end=False)
    if s.endswith("*"):
        # prefix form: words starting with it
        toks = fulltext.words(s.rstrip("*"))
        if not toks:
            raise FilterError("full-text search needs at least one letter or digit", v.position)
        return _with_tail(dialect.fts_match(toks, prefix=True), toks, open_start=False,
                          open_end=True)
    e = substring_match(s)
    if e is None:
        raise FilterError("full-text search needs at least one letter or digit", v.position)
    return e


def _sha(v: Value, ctx: Context) -> ColumnElement[bool]:
    s = v.text.lower()
    if not re.fullmatch(r"[0-9a-f]{4,64}", s):
        raise FilterError("sha takes 4 to 64 hex digits", v.position)
    if len(s) == 64:
        return events.c.raw_sha256 == s
    return dialect.glob(events.c.raw_sha256, s + "*")


def extra_field(key: str, v: Value) -> ColumnElement[bool]:
    """``extra.KEY:value``: a format-specific field of the event's ``extra`` JSON."""
    if v.wild:
        return dialect.glob(dialect.json_field_text(events.c.extra, key), wildcard_pattern(v))
    if re.fullmatch(r"-?\d+", v.text) and not v.quoted:
        return dialect.json_field_equals(events.c.extra, key, v.text, as_number=True)
    if v.text in ("true", "false") and not v.quoted:
        return dialect.json_field_equals(events.c.extra, key, v.text, as_boolean=True)
    return dialect.json_field_equals(events.c.extra, key, v.text)


# ------------------------------------------------------------------ annotations

_TRUE_WORDS = {"true", "yes", "1", "y", "on"}
_FALSE_WORDS = {"false", "no", "0", "n", "off"}


def _marked(v: Value, ctx: Context) -> ColumnElement[bool]:
    s = v.text.strip().lower()
    if s in _TRUE_WORDS or s == "*":
        return marked_clause(True)
    if s in _FALSE_WORDS:
        return marked_clause(False)
    raise FilterError(f"marked: takes true or false, not {v.text!r}", v.position)


def _tag(v: Value, ctx: Context) -> ColumnElement[bool]:
    try:
        return tag_clause(v.text)
    except ValueError as exc:
        raise FilterError(f"tag: {exc}", v.position) from None


def _note(v: Value, ctx: Context) -> ColumnElement[bool]:
    return note_clause(v.text if (v.quoted or v.text != "*") else "*")


# ------------------------------------------------------------------ findings


def attached_clause(finding_id: int | None) -> ColumnElement[bool]:
    """events.id IN (events attached to the finding / to any finding), by content key."""
    e2 = events.alias("fe_ev")
    j = finding_events.join(e2, and_(e2.c.dedup == finding_events.c.dedup, e2.c.raw_sha256 == finding_events.c.raw_sha256))
    q = select(e2.c.id).select_from(j)
    if finding_id is not None:
        q = q.where(finding_events.c.finding_id == finding_id)
    return events.c.id.in_(q)


def saved_queries(conn: Any) -> dict[int, SavedQuery]:
    """Every finding's saved filter by finding id: what ``finding:N`` compiles in
    (pass it to :func:`logconsole.store.filter.compile_filter`)."""
    return {
        r.id: (r.query, r.query_now_us)
        for r in conn.execute(
            select(findings.c.id, findings.c.query, findings.c.query_now_us)
            .where(findings.c.query.is_not(None)).order_by(findings.c.id)
        )
    }


def _saved_where(query: str, now_us: int | None, saved: Mapping[int, SavedQuery], ctx: Context) -> ColumnElement[bool] | None:
    """A saved filter compiled in, or None when it no longer compiles (the attached events still count)."""
    if ctx.compile is None:
        return None
    try:
        return ctx.compile(query, now_us, saved)
    except FilterError:
        return None


def _finding(v: Value, ctx: Context) -> ColumnElement[bool]:
    """``finding:N``: the events attached to finding N or matching its saved filter
    (``ctx.saved_queries``); ``finding:*``: those of any finding."""
    s = v.text.strip()
    saved = ctx.saved_queries
    if s == "*" and not v.quoted:
        parts = [attached_clause(None)]
        for _fid, (q, now) in sorted(saved.items()):
            if "finding:" in q.lower():
                continue  # a filter over findings inside "any finding" would recurse
            w = _saved_where(q, now, {}, ctx)
            if w is not None:
                parts.append(w)
        return or_(*parts)
    try:
        fid = int(s)
    except ValueError:
        raise FilterError(f"finding: takes a finding id (finding:3) or *, not {v.text!r}", v.position) from None
    parts = [attached_clause(fid)]
    if fid in saved:
        q, now = saved[fid]
        # a filter that names its own finding must not recurse: it is compiled without it
        w = _saved_where(q, now, {k: val for k, val in saved.items() if k != fid}, ctx)
        if w is not None:
            parts.append(w)
    return or_(*parts)


def _integrity(v: Value, ctx: Context) -> ColumnElement[bool]:
    """``integrity:verified|tampered|unverified``: what the latest verification says of the record."""
    if v.text.strip().lower() not in INTEGRITY:
        raise FilterError(f"{v.text!r} is not one of {', '.join(INTEGRITY)}", v.position)
    return integrity_clause(v.text)


# ------------------------------------------------------------------ detections and raw fields


def _rule(v: Value, ctx: Context) -> ColumnElement[bool]:
    return rule_clause(v.text, v.wild, wildcard_pattern(v))


def raw_field(path: str, v: Value) -> ColumnElement[bool]:
    """``a.b.c:value`` / ``field.PATH:value``: a field of the raw JSON record (:mod:`logconsole.store.rawfields`)."""
    if not valid_path(path):
        raise FilterError(f"bad field path {path!r}", v.position)
    return raw_field_match(path, v.text, v.wild)


# ------------------------------------------------------------------ the list

_c = events.c

#: Every field of the language, in help order.
FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("since", _since, "events at or after a time (ISO 8601 or 15m/24h/7d ago)"),
    FieldSpec("until", _until, "events at or before a time (ISO 8601 or 15m/24h/7d ago)"),
    FieldSpec("actor", column_field(_c.actor), "who acted (AWS: the ARN; k8s: user.username)", ("user",)),
    FieldSpec("actor_type", column_field(_c.actor_type), "IAMUser, AssumedRole, ServiceAccount ..."),
    FieldSpec("actor_uid", column_field(_c.actor_uid), "actor id: ARN, uid, SID", ("uid",)),
    FieldSpec("action", column_field(_c.action), "what was done (eventName, verb resource, syscall ...)"),
    FieldSpec("service", column_field(_c.service), "service / event source"),
    FieldSpec("outcome", column_field(_c.outcome, lower=True, choices=("success", "failure", "unknown")),
              "success, failure or unknown"),
    FieldSpec("error", column_field(_c.error_code), "error code (AccessDenied, 403 Forbidden ...)", ("error_code",)),
    FieldSpec("session", column_field(_c.session), "session / credential (access key, session name)"),
    FieldSpec("target", column_field(_c.target_user), "target user", ("target_user",)),
    FieldSpec("ip", _ip, "source IP: address, CIDR block (10.0.0.0/8) or wildcard", ("src_ip",)),
    FieldSpec("ua", column_field(_c.user_agent), "user agent", ("user_agent",)),
    FieldSpec("host", column_field(_c.host), "host name"),
    FieldSpec("resource", column_field(_c.resource), "resource acted on"),
    FieldSpec("account", column_field(_c.account), "cloud account / project"),
    FieldSpec("region", column_field(_c.region), "cloud region"),
    FieldSpec("format", column_field(_c.format, lower=True), "log format (cloudtrail, k8s-audit, ...)"),
    FieldSpec("message", column_field(_c.message), "the one-line summary (use wildcards)", ("msg",)),
    FieldSpec("record", column_field(_c.record_id), "the format's record id (eventID, auditID ...)", ("record_id",)),
    FieldSpec("id", _int_field(_c.id, "id"), "event id in the index (N or N..M)"),
    FieldSpec("line", _int_field(_c.line, "line"), "line number in the source file (N or N..M)"),
    FieldSpec("source", _source, "source file: index id, path or file name (wildcards allowed)"),
    FieldSpec("sha", _sha, "raw record SHA-256 (full or a prefix of 4+ hex digits)"),
    FieldSpec("text", _text, "full-text search (same as a bare word)"),
    FieldSpec("marked", _marked, "bookmarked events (marked:true / marked:false)"),
    FieldSpec("tag", _tag, "events with a tag (tag:NAME; tag:* for any tag)"),
    FieldSpec("note", _note, "events with a note (note:*) or whose note contains TEXT"),
    FieldSpec("finding", _finding, "events of a finding (finding:3), attached or by its query"),
    FieldSpec("rule", _rule, "events a Sigma rule matched: rule id, title (wildcards) or * for any rule"),
    FieldSpec("integrity", _integrity, "verified, tampered or unverified (what verification says of the record)"),
)

#: :data:`FIELDS` by name and alias, with the ``extra.KEY`` builder: what the parser consults.
TABLE = FieldTable(FIELDS, extra_field, raw_field)
