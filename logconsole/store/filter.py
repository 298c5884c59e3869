"""The filter language, shared by the CLI and the console.

    actor:"arn:aws:iam::1:user/alice" action:Get* -outcome:success
    (ip:10.0.0.0/8 OR ip:203.0.113.7) since:24h until:2026-03-14T02:00:00Z
    secret* "access denied"          # bare words and phrases: full-text search

* ``field:value``: exact match; ``*`` and ``?`` are wildcards; quote values
  with spaces or parentheses: ``resource:"a b"`` (``\\"`` and ``\\\\`` escape);
* ``-field:value`` or ``NOT term``: negation (an absent value counts as "not");
* terms are ANDed; ``OR`` between terms; parentheses group;
* ``since:``/``until:`` take ISO 8601 times or relative ``15m``, ``24h``, ``7d``,
  ``2w`` (before now); ``ip:`` takes an address, a CIDR block or a wildcard;
* ``extra.KEY:value`` matches a format-specific field (``extra.serial:1234``);
* bare words go to the FTS5 index (``word*`` is a prefix search).

Everything compiles to bound SQLAlchemy expressions: user text never becomes
SQL text, and FTS5 query syntax is neutralised by quoting each word.  Other
areas add fields with :func:`register_field` (``marked:``, ``tag:`` ...).
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import time
from dataclasses import dataclass, field
from collections.abc import Callable

from sqlalchemy import ColumnElement, and_, false, func, not_, or_, select, text, true

from logconsole.store.schema import events, sources
from logconsole.util.errors import ParseError
from logconsole.util.timeparse import parse_iso


class FilterError(ValueError):
    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"at position {position + 1}: {message}")
        self.message = message
        self.position = position


@dataclass(frozen=True)
class Value:
    text: str
    quoted: bool
    position: int

    @property
    def wild(self) -> bool:
        return not self.quoted and ("*" in self.text or "?" in self.text)


@dataclass
class Context:
    now_us: int


Builder = Callable[[Value, Context], ColumnElement[bool]]


@dataclass
class FieldSpec:
    name: str
    build: Builder
    help: str
    aliases: tuple[str, ...] = ()


FIELDS: dict[str, FieldSpec] = {}
_ALIASES: dict[str, str] = {}


def register_field(name: str, build: Builder, help: str, aliases: tuple[str, ...] = ()) -> None:
    """Add a field to the language (e.g. ``marked``); *build* gets the value and context."""
    FIELDS[name] = FieldSpec(name, build, help, aliases)
    for a in aliases:
        _ALIASES[a] = name


def field_names() -> list[str]:
    return sorted(FIELDS)


# ------------------------------------------------------------- value helpers


def glob_escape(s: str) -> str:
    """Escape GLOB metacharacters so *s* matches literally."""
    return re.sub(r"([\[\]*?])", r"[\1]", s)


def _pattern(v: Value) -> str:
    """Wildcard value -> GLOB pattern (``*`` and ``?`` kept, ``[`` ``]`` literal)."""
    return re.sub(r"([\[\]])", r"[\1]", v.text)


def column_match(col, v: Value, *, lower: bool = False) -> ColumnElement[bool]:
    s = v.text.lower() if lower else v.text
    if v.wild:
        pat = _pattern(Value(s, False, v.position))
        if pat == "*":
            return col.is_not(None)
        return col.op("GLOB")(pat)
    return col == s


def _column(col, help: str, *, lower: bool = False, choices: tuple[str, ...] | None = None) -> Builder:
    def build(v: Value, ctx: Context) -> ColumnElement[bool]:
        if choices is not None and not v.wild and v.text.lower() not in choices:
            raise FilterError(f"{v.text!r} is not one of {', '.join(choices)}", v.position)
        return column_match(col, v, lower=lower)

    return build


_REL = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d|w)$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(v: Value, ctx: Context) -> int:
    s = v.text.strip()
    if s == "now":
        return ctx.now_us
    m = _REL.match(s)
    if m:
        return ctx.now_us - int(float(m.group(1)) * _UNIT[m.group(2)] * 1_000_000)
    try:
        return parse_iso(s)
    except ParseError:
        raise FilterError(f"bad time {s!r}: use ISO 8601 (2026-03-14T01:05:00Z) or relative 15m, 24h, 7d", v.position) from None


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
        return and_(events.c.src_ip_key >= lo, events.c.src_ip_key <= hi)
    try:
        ip = ipaddress.ip_address(s)
    except ValueError:
        return events.c.src_ip == s  # a host name written where an address goes
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return events.c.src_ip_key == _ip_key(ip)


def _int_field(col, what: str) -> Builder:
    def build(v: Value, ctx: Context) -> ColumnElement[bool]:
        s = v.text
        m = re.fullmatch(r"(\d+)\.\.(\d+)", s)
        if m:
            return and_(col >= int(m.group(1)), col <= int(m.group(2)))
        if not s.isdigit():
            raise FilterError(f"{what} takes a number or a range N..M, got {s!r}", v.position)
        return col == int(s)

    return build


def _source(v: Value, ctx: Context) -> ColumnElement[bool]:
    if v.text.isdigit():
        return events.c.source_id == int(v.text)
    if v.wild:
        cond = sources.c.path.op("GLOB")(_pattern(v))
    else:
        cond = or_(sources.c.path == v.text, sources.c.path.op("GLOB")("*/" + glob_escape(v.text)))
    return events.c.source_id.in_(select(sources.c.id).where(cond))


def fts_query(word: str, *, prefix: bool = False) -> str:
    """One FTS5 phrase for *word*: any FTS5 syntax in it is neutralised."""
    return '"' + word.replace('"', '""') + '"' + ("*" if prefix else "")


def fts_match(query: str) -> ColumnElement[bool]:
    sub = select(text("rowid")).select_from(text("events_fts")).where(text("events_fts MATCH :q").bindparams(q=query))
    return events.c.id.in_(sub)


def _text(v: Value, ctx: Context) -> ColumnElement[bool]:
    s = v.text
    prefix = not v.quoted and s.endswith("*")
    core = s.rstrip("*") if prefix else s
    if not core.strip(" *\"'"):
        raise FilterError("full-text search needs at least one letter or digit", v.position)
    # FTS5 tokenizes on punctuation; a quoted phrase of the tokens keeps order.
    return fts_match(fts_query(core, prefix=prefix))


def _sha(v: Value, ctx: Context) -> ColumnElement[bool]:
    s = v.text.lower()
    if not re.fullmatch(r"[0-9a-f]{4,64}", s):
        raise FilterError("sha takes 4 to 64 hex digits", v.position)
    if len(s) == 64:
        return events.c.raw_sha256 == s
    return events.c.raw_sha256.op("GLOB")(s + "*")


def _extra(key: str, v: Value) -> ColumnElement[bool]:
    expr = func.json_extract(events.c.extra, "$." + key)
    if v.wild:
        return expr.op("GLOB")(_pattern(v))
    if re.fullmatch(r"-?\d+", v.text) and not v.quoted:
        return or_(expr == int(v.text), expr == v.text)
    if v.text in ("true", "false") and not v.quoted:
        return expr == (1 if v.text == "true" else 0)
    return expr == v.text


def _register_core() -> None:
    c = events.c
    register_field("since", _since, "events at or after a time (ISO 8601 or 15m/24h/7d ago)")
    register_field("until", _until, "events at or before a time (ISO 8601 or 15m/24h/7d ago)")
    register_field("actor", _column(c.actor, ""), "who acted (AWS: the ARN; k8s: user.username)", ("user",))
    register_field("actor_type", _column(c.actor_type, ""), "IAMUser, AssumedRole, ServiceAccount ...")
    register_field("actor_uid", _column(c.actor_uid, ""), "actor id: ARN, uid, SID", ("uid",))
    register_field("action", _column(c.action, ""), "what was done (eventName, verb resource, syscall ...)")
    register_field("service", _column(c.service, ""), "service / event source")
    register_field("outcome", _column(c.outcome, "", lower=True, choices=("success", "failure", "unknown")), "success, failure or unknown")
    register_field("error", _column(c.error_code, ""), "error code (AccessDenied, 403 Forbidden ...)", ("error_code",))
    register_field("session", _column(c.session, ""), "session / credential (access key, session name)")
    register_field("target", _column(c.target_user, ""), "target user", ("target_user",))
    register_field("ip", _ip, "source IP: address, CIDR block (10.0.0.0/8) or wildcard", ("src_ip",))
    register_field("ua", _column(c.user_agent, ""), "user agent", ("user_agent",))
    register_field("host", _column(c.host, ""), "host name")
    register_field("resource", _column(c.resource, ""), "resource acted on")
    register_field("account", _column(c.account, ""), "cloud account / project")
    register_field("region", _column(c.region, ""), "cloud region")
    register_field("format", _column(c.format, "", lower=True), "log format (cloudtrail, k8s-audit, ...)")
    register_field("message", _column(c.message, ""), "the one-line summary (use wildcards)", ("msg",))
    register_field("record", _column(c.record_id, ""), "the format's record id (eventID, auditID ...)", ("record_id",))
    register_field("id", _int_field(c.id, "id"), "event id in the index (N or N..M)")
    register_field("line", _int_field(c.line, "line"), "line number in the source file (N or N..M)")
    register_field("source", _source, "source file: index id, path or file name (wildcards allowed)")
    register_field("sha", _sha, "raw record SHA-256 (full or a prefix of 4+ hex digits)")
    register_field("text", _text, "full-text search (same as a bare word)")


_register_core()


# ------------------------------------------------------------------- lexing

_FIELD_RE = re.compile(r"-?[A-Za-z_][\w.]*:")


@dataclass
class Tok:
    kind: str  # LP RP OR AND NOT TERM WORD
    pos: int
    neg: bool = False
    field: str | None = None
    value: Value | None = None


def _read_value(s: str, i: int) -> tuple[Value, int]:
    """A value starting at s[i]: quoted string or a run up to whitespace/paren."""
    if i < len(s) and s[i] == '"':
        start = i
        i += 1
        out = []
        while i < len(s):
            ch = s[i]
            if ch == "\\" and i + 1 < len(s):
                out.append(s[i + 1])
                i += 2
                continue
            if ch == '"':
                return Value("".join(out), True, start), i + 1
            out.append(ch)
            i += 1
        raise FilterError("unterminated quoted value", start)
    start = i
    while i < len(s) and not s[i].isspace() and s[i] not in "()":
        i += 1
    return Value(s[start:i], False, start), i


def tokenize(s: str) -> list[Tok]:
    toks: list[Tok] = []
    i = 0
    n = len(s)
    while i < n:
        ch = s[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "(":
            toks.append(Tok("LP", i))
            i += 1
            continue
        if ch == ")":
            toks.append(Tok("RP", i))
            i += 1
            continue
        m = _FIELD_RE.match(s, i)
        if m:
            raw = m.group(0)[:-1]
            neg = raw.startswith("-")
            name = raw[1:] if neg else raw
            j = m.end()
            if j >= n or s[j].isspace() or s[j] in "()":
                raise FilterError(f"{name}: needs a value", j)
            val, i = _read_value(s, j)
            toks.append(Tok("TERM", m.start(), neg=neg, field=name, value=val))
            continue
        neg = False
        start = i
        if ch == "-" and i + 1 < n and not s[i + 1].isspace():
            neg = True
            i += 1
        val, i = _read_value(s, i)
        if not val.quoted and not neg:
            up = val.text
            if up == "OR" or up == "||":
                toks.append(Tok("OR", start))
                continue
            if up == "AND" or up == "&&":
                toks.append(Tok("AND", start))
                continue
            if up == "NOT":
                toks.append(Tok("NOT", start))
                continue
        if not val.text and not val.quoted:
            raise FilterError(f"unexpected {s[start]!r}", start)
        toks.append(Tok("WORD", start, neg=neg, value=Value(val.text, val.quoted, start)))
    return toks


# ------------------------------------------------------------------ parsing


class _Parser:
    def __init__(self, toks: list[Tok], ctx: Context, text: str) -> None:
        self.toks = toks
        self.i = 0
        self.ctx = ctx
        self.text = text

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def parse(self) -> ColumnElement[bool]:
        if not self.toks:
            return true()
        e = self.or_expr()
        t = self.peek()
        if t is not None:
            raise FilterError("unbalanced ')'" if t.kind == "RP" else f"unexpected {t.kind}", t.pos)
        return e

    def or_expr(self) -> ColumnElement[bool]:
        parts = [self.and_expr()]
        while (t := self.peek()) is not None and t.kind == "OR":
            self.i += 1
            if self.peek() is None or self.peek().kind in ("OR", "AND", "RP"):
                raise FilterError("OR needs a term on both sides", t.pos)
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else or_(*parts)

    def and_expr(self) -> ColumnElement[bool]:
        first = self.peek()
        if first is not None and first.kind in ("OR", "AND"):
            raise FilterError(f"{first.kind} needs a term on both sides", first.pos)
        parts = [self.unary()]
        while (t := self.peek()) is not None and t.kind not in ("OR", "RP"):
            if t.kind == "AND":
                self.i += 1
                nxt = self.peek()
                if nxt is None or nxt.kind in ("OR", "AND", "RP"):
                    raise FilterError("AND needs a term on both sides", t.pos)
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else and_(*parts)

    def unary(self) -> ColumnElement[bool]:
        t = self.peek()
        if t is None:
            raise FilterError("expected a term", len(self.text))
        if t.kind == "NOT":
            self.i += 1
            if self.peek() is None:
                raise FilterError("NOT needs a term", t.pos)
            return _negate(self.unary())
        if t.kind == "LP":
            self.i += 1
            if self.peek() is not None and self.peek().kind == "RP":
                raise FilterError("empty parentheses", t.pos)
            e = self.or_expr()
            r = self.peek()
            if r is None or r.kind != "RP":
                raise FilterError("missing ')'", t.pos)
            self.i += 1
            return e
        if t.kind == "RP":
            raise FilterError("unbalanced ')'", t.pos)
        self.i += 1
        if t.kind == "TERM":
            e = self.term(t)
        else:
            e = _text(t.value, self.ctx)
        return _negate(e) if t.neg else e

    def term(self, t: Tok) -> ColumnElement[bool]:
        name = t.field or ""
        if name.startswith("extra."):
            key = name[6:]
            if not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", key):
                raise FilterError(f"bad extra field name {key!r}", t.pos)
            return _extra(key, t.value)
        canon = _ALIASES.get(name, name)
        spec = FIELDS.get(canon)
        if spec is None:
            close = difflib.get_close_matches(name, list(FIELDS) + list(_ALIASES), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise FilterError(f"unknown field {name!r}{hint}; valid fields: {', '.join(field_names())}, extra.KEY", t.pos)
        return spec.build(t.value, self.ctx)


def _negate(e: ColumnElement[bool]) -> ColumnElement[bool]:
    # an absent (NULL) value counts as "not equal"
    return not_(func.coalesce(e, false()))


@dataclass
class Filter:
    text: str
    where: ColumnElement[bool]
    now_us: int
    terms: list[Tok] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.terms


def compile_filter(text_: str | None, *, now_us: int | None = None) -> Filter:
    """Compile a filter string; raises :class:`FilterError` naming the position."""
    s = text_ or ""
    ctx = Context(now_us if now_us is not None else int(time.time() * 1_000_000))
    toks = tokenize(s)
    where = _Parser(toks, ctx, s).parse()
    return Filter(s, where, ctx.now_us, toks)


def quote_value(value: str) -> str:
    """Quote a value for use in a filter string (for drill-downs and pivots)."""
    if value and re.fullmatch(r"[^\s()\"*?\\]+", value) and value not in ("OR", "AND", "NOT"):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def term(field_: str, value: str) -> str:
    """``term("actor", "a b") -> 'actor:"a b"'`` (exact match)."""
    return f"{field_}:{quote_value(value)}"


def _register_feature_fields() -> None:
    """Fields of the feature modules (``marked:``, ``tag:``, ``note:``, ``finding:``).

    They register when the schema imports them; if this module was imported
    first, that happened while it was half-loaded, so they are asked again here.
    """
    import importlib

    for name in ("logconsole.store.annotations", "logconsole.store.findings_schema"):
        mod = importlib.import_module(name)
        register = getattr(mod, "register_filter_fields", None)
        if register is not None:  # else it is mid-import and registers at its own end
            register()


_register_feature_fields()
