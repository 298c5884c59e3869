"""The filter language's building blocks: values, errors, field specs, the lexer and the parser.

The fields themselves are listed in :mod:`logconsole.store.filter_fields`; the
public entry point is :func:`logconsole.store.filter.compile_filter`.  This
module knows no field: the parser asks the :class:`FieldTable` it is given.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, false, func, not_, or_, true

from logconsole.store import dialect
from logconsole.util.timeref import TimeRef, TimeSyntaxError, resolve_time

#: limits that keep a hostile filter a clear error instead of a RecursionError
#: or the engine's "expression tree is too large"
MAX_DEPTH = 64
MAX_TERMS = 256
#: the engines' integers are signed 64-bit
INT_MAX = 2**63 - 1


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


#: A finding's saved filter and the "now" its relative times mean: ``(query, query_now_us)``.
SavedQuery = tuple[str, int | None]
#: Compiles a nested filter (a finding's saved query) with the given saved queries.
NestedCompiler = Callable[[str, "int | None", "Mapping[int, SavedQuery]"], ColumnElement[bool]]


@dataclass
class Context:
    """What a field builder may use besides its value.

    ``ref``: the view's time range that partial times and ``-2h`` are resolved
    against.  ``saved_queries``: the findings' saved filters by finding id
    (``finding:N`` compiles them in), read from the index by the caller
    (:func:`logconsole.store.filter_fields.saved_queries`); empty: ``finding:N``
    means the attached events only.  ``compile``: compiles such a saved filter.
    """

    now_us: int
    ref: TimeRef | None = None
    saved_queries: Mapping[int, SavedQuery] = field(default_factory=dict)
    compile: NestedCompiler | None = None

    @property
    def timeref(self) -> TimeRef:
        r = self.ref or TimeRef()
        return TimeRef(r.anchor_us, r.start_us, r.end_us, self.now_us)


Builder = Callable[[Value, Context], ColumnElement[bool]]
ExtraBuilder = Callable[[str, Value], ColumnElement[bool]]


@dataclass(frozen=True)
class FieldSpec:
    name: str
    build: Builder
    help: str
    aliases: tuple[str, ...] = ()


class FieldTable:
    """The fields of the language by name and alias, plus the ``extra.KEY`` builder."""

    def __init__(self, specs: Iterable[FieldSpec], extra: ExtraBuilder, raw: ExtraBuilder | None = None) -> None:
        self.raw = raw  # a dotted path (or field.PATH) that is no field: a field of the raw record
        self.specs: dict[str, FieldSpec] = {}
        self.aliases: dict[str, str] = {}
        for spec in specs:
            if spec.name in self.specs:
                raise ValueError(f"filter field {spec.name!r} listed twice")
            self.specs[spec.name] = spec
            for a in spec.aliases:
                self.aliases[a] = spec.name
        self.extra = extra

    def get(self, name: str) -> FieldSpec | None:
        return self.specs.get(self.aliases.get(name, name))

    def spec(self, name: str) -> FieldSpec:
        return self.specs[name]

    def names(self) -> list[str]:
        return sorted(self.specs)


# ------------------------------------------------------------- value helpers


def glob_escape(s: str) -> str:
    """Escape wildcard metacharacters so *s* matches literally in :func:`dialect.glob`."""
    return re.sub(r"([\[\]*?])", r"[\1]", s)


def wildcard_pattern(v: Value) -> str:
    """Wildcard value -> glob pattern (``*`` and ``?`` kept, ``[`` ``]`` literal)."""
    return re.sub(r"([\[\]])", r"[\1]", v.text)


def column_match(col, v: Value, *, lower: bool = False) -> ColumnElement[bool]:
    s = v.text.lower() if lower else v.text
    if v.wild:
        pat = wildcard_pattern(Value(s, False, v.position))
        if pat == "*":
            return col.is_not(None)
        return dialect.glob(col, pat)
    return col == s


def column_field(col, *, lower: bool = False, choices: tuple[str, ...] | None = None) -> Builder:
    """A builder matching *col* exactly or by wildcard (``choices``: the only values allowed)."""

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


def bounded_int(s: str, v: Value, what: str) -> int:
    """*s* (digits) as an integer the engines can hold."""
    n = int(s)
    if n > INT_MAX:
        raise FilterError(f"{what}: {s[:30]!r} is too large (at most {INT_MAX})", v.position)
    return n


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


OPERATORS = {"OR": "OR", "||": "OR", "AND": "AND", "&&": "AND", "NOT": "NOT"}


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
            op = OPERATORS.get(val.text.upper())
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


class Parser:
    """Recursive descent over the tokens; each term is built by its field in *fields*."""

    def __init__(self, toks: list[Tok], ctx: Context, text: str, fields: FieldTable) -> None:
        self.toks = toks
        self.i = 0
        self.ctx = ctx
        self.text = text
        self.fields = fields

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
        return negate(e) if negs % 2 else e

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
            return negate(e) if t.neg else e
        if t.kind == "RP":
            raise FilterError("unbalanced ')'", t.pos)
        if t.kind in ("OR", "AND"):
            raise FilterError(f"{t.kind} needs a term on both sides", t.pos)
        self.i += 1
        assert t.value is not None
        if t.kind == "TERM":
            e = self.term(t)
        else:
            e = self.fields.spec("text").build(t.value, self.ctx)
        return negate(e) if t.neg else e

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
            return self.fields.extra(key, v)
        spec = self.fields.get(name)
        if spec is None and "." in name and self.fields.raw is not None:
            return self.fields.raw(name[6:] if name.startswith("field.") else name, v)
        if spec is None:
            close = difflib.get_close_matches(name, self.fields.names() + sorted(self.fields.aliases), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise FilterError(f"unknown field {name!r}{hint}; valid fields: {', '.join(self.fields.names())}, extra.KEY "
                              f"(to search the text, write text:{name}:… or quote it)", t.pos)
        canon = spec.name
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


def negate(e: ColumnElement[bool]) -> ColumnElement[bool]:
    """NOT *e*, where an absent (NULL) value counts as "not equal"."""
    return not_(func.coalesce(e, false()))

