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
SQL text, and full-text query syntax is neutralised by quoting each word.  The
fields are listed in :mod:`logconsole.store.filter_fields`; the lexer and the
parser are in :mod:`logconsole.store.filter_lang`.  ``finding:N`` compiles in
finding N's saved filter when the caller passes the index's saved filters
(``saved_queries=saved_queries(conn)``, or :func:`compile_for`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement

from logconsole.store.filter_fields import FIELDS, TABLE, saved_queries
from logconsole.store.filter_lang import (
    MAX_DEPTH,
    MAX_TERMS,
    OPERATORS,
    Context,
    FieldSpec,
    FilterError,
    Parser,
    SavedQuery,
    Tok,
    Value,
    parse_when,
    tokenize,
)
from logconsole.util.timeref import TimeRef


@dataclass
class Filter:
    text: str
    where: ColumnElement[bool]
    now_us: int
    terms: list[Tok] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.terms


def compile_filter(
    text_: str | None, *, now_us: int | None = None, ref: TimeRef | None = None,
    saved_queries: Mapping[int, SavedQuery] | None = None,
) -> Filter:
    """Compile a filter string; raises :class:`FilterError` naming the position.

    *ref* is the time range partial times (``since:01:18``) and offsets
    (``since:-2h``) are resolved against: the view's range (see
    :func:`logconsole.store.queries.time_reference`); without it, now.
    *saved_queries*: the findings' saved filters (:func:`saved_queries`), which
    ``finding:N`` compiles in; without them ``finding:N`` is the attached events.
    """
    s = text_ or ""
    ctx = Context(now_us if now_us is not None else int(time.time() * 1_000_000), ref, saved_queries or {}, _nested)
    toks = tokenize(s)
    try:
        where = Parser(toks, ctx, s, TABLE).parse()
    except RecursionError:  # not reachable within MAX_DEPTH; never a traceback
        raise FilterError("filter nested too deeply", 0) from None
    return Filter(s, where, ctx.now_us, toks)


def compile_for(conn: Any, text_: str | None, *, now_us: int | None = None, ref: TimeRef | None = None) -> Filter:
    """:func:`compile_filter` with the saved filters of the index behind *conn* (for ``finding:N``)."""
    return compile_filter(text_, now_us=now_us, ref=ref, saved_queries=saved_queries(conn))


def _nested(text_: str, now_us: int | None, saved: Mapping[int, SavedQuery]) -> ColumnElement[bool]:
    return compile_filter(text_, now_us=now_us, saved_queries=saved).where


#: alias -> field name (``user`` -> ``actor``)
ALIASES: Mapping[str, str] = TABLE.aliases


def field_names() -> list[str]:
    return TABLE.names()


def field_spec(name: str) -> FieldSpec:
    """The field called *name* (or aliased so); ``KeyError`` if the language has none."""
    spec = TABLE.get(name)
    if spec is None:
        raise KeyError(name)
    return spec


def quote_value(value: str) -> str:
    """Quote a value for use in a filter string (for drill-downs and pivots)."""
    if value and re.fullmatch(r"[^\s(),\"*?\\]+", value) and value.upper() not in OPERATORS:
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def term(field_: str, value: str) -> str:
    """``term("actor", "a b") -> 'actor:"a b"'`` (exact match)."""
    return f"{field_}:{quote_value(value)}"


__all__ = [
    "ALIASES",
    "FIELDS",
    "MAX_DEPTH",
    "MAX_TERMS",
    "Context",
    "FieldSpec",
    "Filter",
    "FilterError",
    "SavedQuery",
    "Tok",
    "Value",
    "compile_filter",
    "compile_for",
    "field_names",
    "field_spec",
    "parse_when",
    "quote_value",
    "saved_queries",
    "term",
    "tokenize",
]
