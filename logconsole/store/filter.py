"""The filter language, shared by the CLI and the console.

    actor:"arn:aws:iam::1:user/alice" action:Get* -outcome:success
    (ip:10.0.0.0/8 or ip:203.0.113.7) since:-24h until:2026-03-14T02:00:00Z
    action:(StopLogging OR DeleteTrail)  outcome:failure,unknown
    denied  "access denied"  secret*  # free text: substring, exact words, prefix

* ``field:value``: exact match; ``*`` and ``?`` are wildcards; quote values
  with spaces, commas or parentheses: ``resource:"a b"`` (``\\"`` and ``\\\\`` escape);
* ``field:A,B`` and ``field:(A OR B)``: any of the values (a group may use
  ``AND``/``NOT``/``-``/parentheses; its bare values belong to the field);
* ``-field:value`` or ``NOT term``: negation (an absent value counts as "not");
* terms are ANDed; ``OR`` between terms; parentheses group; ``and``, ``or``,
  ``not`` work in any case (quote them to search the word: ``"or"``);
* ``since:``/``until:`` take ISO 8601 times, partial times (``01:18``,
  ``14 01:18``) and offsets (``-2h``) resolved against the view's time range
  (:mod:`logconsole.util.timeref`), or ages ``15m``, ``24h``, ``7d`` (before now);
* ``ip:`` takes an address, a CIDR block or a wildcard;
* ``extra.KEY:value`` matches a format-specific field (``extra.serial:1234``);
* a bare word matches inside indexed words (``denied`` finds ``AccessDenied``,
  :mod:`logconsole.store.fulltext`); ``"quoted words"`` match whole words in
  that order; ``word*`` matches words that start with it.

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
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, literal, literal_column, not_, or_, select, table, true

from logconsole.store import fulltext
from logconsole.store.schema import events, fts_terms, sources
from logconsole.util.timeref import TimeRef, TimeSyntaxError, resolve_time

#: limits that keep a hostile filter a clear error instead of a RecursionError
#: or SQLite's "Expression tree is too large"
MAX_DEPTH = 64
MAX_TERMS = 256
#: SQLite integers are signed 64-bit
_INT_MAX = 2**63 - 1


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
    #: the view's time range that partial times and ``-2h`` are resolved against
    ref: TimeRef | None = None

    @property
    def timeref(self) -> TimeRef:
        r = self.ref or TimeRef()
        return TimeRef(r.anchor_us, r.start_us, r.end_us, self.now_us)


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


def parse_when(v: Value, ctx: Context) -> int:
    """A ``since:``/``until:`` value as UTC µs (:func:`logconsole.util.timeref.resolve_time`)."""
    try:
        return resolve_time(v.text, ctx.timeref, position=v.position)
    except TimeSyntaxError as exc:
        raise FilterError(exc.message, exc.position) from None


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


def _int(s: str, v: Value, what: str) -> int:
    n = int(s)
    if n > _INT_MAX:
        raise FilterError(f"{what}: {s[:30]!r} is too large (at most {_INT_MAX})", v.position)
    return n


def _int_field(col, what: str) -> Builder:
    def build(v: Value, ctx: Context) -> ColumnElement[bool]:
        s = v.text
        m = re.fullmatch(r"(\d+)\.\.(\d+)", s)
        if m:
            return and_(col >= _int(m.group(1), v, what), col <= _int(m.group(2), v, what))
        if not (s.isascii() and s.isdigit()):
            raise FilterError(f"{what} takes a number or a range N..M, got {s!r}", v.position)
        return col == _int(s, v, what)

    return build


def _source(v: Value, ctx: Context) -> ColumnElement[bool]:
    if v.text.isascii() and v.text.isdigit():
        return events.c.source_id == _int(v.text, v, "source")
    cond: ColumnElement[bool]
    if v.wild:
        cond = sources.c.path.op("GLOB")(_pattern(v))
    else:
        cond = or_(sources.c.path == v.text, sources.c.path.op("GLOB")("*/" + glob_escape(v.text)))
    return events.c.source_id.in_(select(sources.c.id).where(cond))


def fts_query(word: str, *, prefix: bool = False) -> str:
    """One FTS5 phrase for *word*: any FTS5 syntax in it is neutralised."""
    return '"' + word.replace('"', '""') + '"' + ("*" if prefix else "")


_FTS = table("events_fts")


def fts_match(query) -> ColumnElement[bool]:
    """Events whose FTS row matches *query* (a string or an SQL string expression)."""
    q = literal(query) if isinstance(query, str) else query
    sub: Select[Any] = select(literal_column("rowid")).select_from(_FTS).where(literal_column("events_fts").op("MATCH")(q))
    return events.c.id.in_(sub)


def _quoted_term(col) -> ColumnElement:
    return literal('"') + func.replace(col, '"', '""') + literal('"')


def substring_match(text_: str) -> ColumnElement[bool] | None:
    """Events whose indexed text contains *text_* (case-insensitive; separators
    match separators), through the vocabulary (:mod:`logconsole.store.fulltext`).
    None if *text_* has no letter or digit."""
    parts = fulltext.substring_parts(text_)
    if parts is None:
        return None
    toks, open_start, open_end = parts
    first = toks[0]
    base = fulltext.phrase(toks, prefix=open_end)
    if not open_start or len(first) < fulltext.MIN_INFIX:
        return fts_match(base)
    term = fts_terms.c.term
    if len(toks) == 1 and open_end:
        # inside a word, not at its start (the prefix form covers those)
        cond = func.instr(term, first) > 1
        alt = _quoted_term(term)
    else:
        # the first word ends a longer word: "ccessdenied" -> accessdenied
        cond = and_(func.length(term) > len(first), func.substr(term, -len(first)) == first)
        rest = " ".join(toks[1:])
        alt = (literal('"') + func.replace(term, '"', '""') + literal((" " + rest if rest else "") + '"')
               + literal("*" if open_end else ""))
    expansion = select(func.group_concat(alt, " OR ")).where(cond).scalar_subquery()
    return fts_match(func.coalesce(expansion + literal(" OR "), literal("")) + literal(base))


def _text(v: Value, ctx: Context) -> ColumnElement[bool]:
    s = v.text
    if v.quoted:
        # exact form: whole words in this order
        toks = fulltext.words(s)
        if not toks:
            raise FilterError("full-text search needs at least one letter or digit", v.position)
        return fts_match(fulltext.phrase(toks))
    if s.endswith("*"):
        # prefix form: words starting with it
        toks = fulltext.words(s.rstrip("*"))
        if not toks:
            raise FilterError("full-text search needs at least one letter or digit", v.position)
        return fts_match(fulltext.phrase(toks, prefix=True))
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


_OPERATORS = {"OR": "OR", "||": "OR", "AND": "AND", "&&": "AND", "NOT": "NOT"}


def tokenize(s: str) -> list[Tok]:
    """Tokens of a filter; ``field:(...)`` groups give their bare values the field."""
    toks: list[Tok] = []
    i = 0
    n = len(s)
    # one entry per open parenthesis: the field its bare values belong to (or None)
    groups: list[tuple[str | None, int]] = []
    terms = 0

    def count_term(pos: int) -> None:
        nonlocal terms
        terms += 1
        if terms > MAX_TERMS:
            raise FilterError(f"too many terms (at most {MAX_TERMS}); narrow the filter", pos)

    def open_group(field_: str | None, pos: int) -> None:
        if len(groups) >= MAX_DEPTH:
            raise FilterError(f"parentheses nested too deeply (at most {MAX_DEPTH})", pos)
        groups.append((field_, pos))

    while i < n:
        ch = s[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "(":
            open_group(groups[-1][0] if groups else None, i)
            toks.append(Tok("LP", i))
            i += 1
            continue
        if ch == ")":
            if groups:
                groups.pop()
            toks.append(Tok("RP", i))
            i += 1
            continue
        m = _FIELD_RE.match(s, i)
        if m:
            raw = m.group(0)[:-1]
            neg = raw.startswith("-")
            name = raw[1:] if neg else raw
            j = m.end()
            if j >= n or s[j].isspace() or s[j] == ")":
                raise FilterError(f"{name}: needs a value", j)
            if s[j] == "(":
                # field:(A OR B): a group whose bare values are values of the field
                open_group(name, j)
                toks.append(Tok("LP", m.start(), neg=neg, field=name))
                i = j + 1
                continue
            val, i = _read_value(s, j)
            count_term(m.start())
            toks.append(Tok("TERM", m.start(), neg=neg, field=name, value=val))
            continue
        neg = False
        start = i
        if ch == "-" and i + 1 < n and not s[i + 1].isspace():
            neg = True
            i += 1
        val, i = _read_value(s, i)
        if not val.quoted and not neg:
            op = _OPERATORS.get(val.text.upper())
            if op is not None:
                toks.append(Tok(op, start))
                continue
        if not val.text and not val.quoted:
            raise FilterError(f"unexpected {s[start]!r}", start)
        count_term(start)
        group_field = groups[-1][0] if groups else None
        if group_field is not None:
            toks.append(Tok("TERM", start, neg=neg, field=group_field, value=Value(val.text, val.quoted, val.position)))
        else:
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
            nxt = self.peek()
            if nxt is None or nxt.kind in ("OR", "AND", "RP"):
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
        # NOT NOT NOT ... is a loop, not a recursion (a hostile filter has thousands)
        negs = 0
        while (t := self.peek()) is not None and t.kind == "NOT":
            self.i += 1
            negs += 1
            if self.peek() is None:
                raise FilterError("NOT needs a term", t.pos)
        e = self.primary()
        return _negate(e) if negs % 2 else e

    def primary(self) -> ColumnElement[bool]:
        t = self.peek()
        if t is None:
            raise FilterError("expected a term", len(self.text))
        if t.kind == "LP":
            self.i += 1
            nxt = self.peek()
            if nxt is not None and nxt.kind == "RP":
                raise FilterError("empty parentheses", t.pos)
            e = self.or_expr()
            r = self.peek()
            if r is None or r.kind != "RP":
                raise FilterError("missing ')'", t.pos)
            self.i += 1
            return _negate(e) if t.neg else e
        if t.kind == "RP":
            raise FilterError("unbalanced ')'", t.pos)
        if t.kind in ("OR", "AND"):
            raise FilterError(f"{t.kind} needs a term on both sides", t.pos)
        self.i += 1
        assert t.value is not None
        if t.kind == "TERM":
            e = self.term(t)
        else:
            e = _text(t.value, self.ctx)
        return _negate(e) if t.neg else e

    def term(self, t: Tok) -> ColumnElement[bool]:
        assert t.value is not None
        values = _split_list(t.value)
        if len(values) > 1:
            return or_(*(self._term_value(t, v) for v in values))
        return self._term_value(t, values[0])

    def _term_value(self, t: Tok, v: Value) -> ColumnElement[bool]:
        name = t.field or ""
        if name.startswith("extra."):
            key = name[6:]
            if not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", key):
                raise FilterError(f"bad extra field name {key!r}", t.pos)
            return _extra(key, v)
        canon = _ALIASES.get(name, name)
        spec = FIELDS.get(canon)
        if spec is None:
            close = difflib.get_close_matches(name, list(FIELDS) + list(_ALIASES), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise FilterError(f"unknown field {name!r}{hint}; valid fields: {', '.join(field_names())}, extra.KEY "
                              f"(to search the text, write text:{name}:… or quote it)", t.pos)
        if canon in ("since", "until") and v is not t.value:
            raise FilterError(f"{canon}: takes one time, not a list", v.position)
        try:
            return spec.build(v, self.ctx)
        except OverflowError:
            raise FilterError(f"{name}: value out of range", v.position) from None


def _split_list(v: Value) -> list[Value]:
    """``A,B`` -> two values (an unquoted value only; quote a value with a comma)."""
    if v.quoted or "," not in v.text:
        return [v]
    out = []
    pos = v.position
    for part in v.text.split(","):
        if not part:
            raise FilterError("empty value in a list (A,B)", pos)
        out.append(Value(part, False, pos))
        pos += len(part) + 1
    return out


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


def compile_filter(text_: str | None, *, now_us: int | None = None, ref: TimeRef | None = None) -> Filter:
    """Compile a filter string; raises :class:`FilterError` naming the position.

    *ref* is the time range partial times (``since:01:18``) and offsets
    (``since:-2h``) are resolved against: the view's range (see
    :func:`logconsole.store.queries.time_reference`); without it, now.
    """
    s = text_ or ""
    ctx = Context(now_us if now_us is not None else int(time.time() * 1_000_000), ref)
    toks = tokenize(s)
    try:
        where = _Parser(toks, ctx, s).parse()
    except RecursionError:  # not reachable within MAX_DEPTH; never a traceback
        raise FilterError("filter nested too deeply", 0) from None
    return Filter(s, where, ctx.now_us, toks)


def quote_value(value: str) -> str:
    """Quote a value for use in a filter string (for drill-downs and pivots)."""
    if value and re.fullmatch(r"[^\s(),\"*?\\]+", value) and value.upper() not in _OPERATORS:
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
