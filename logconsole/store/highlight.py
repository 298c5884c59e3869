"""Where a filter matches inside a value: spans for highlighting.

The console highlights matches in the event list and the detail view, and
``n``/``N`` jump between matching events; both ask here.  A span is a
``(start, end)`` character range of the value as given (not folded), so the
caller can slice the original text.

* a bare word (substring form) matches anywhere, case-insensitively, and the
  separators between its words match any run of separators: ``ci-deploy``
  highlights ``ci_deploy`` and ``CI deploy``;
* a quoted phrase matches whole words in order; ``word*`` the start of words;
* ``field:value`` terms highlight that field's value (wildcards as in the
  filter) when the caller names the field.

Negated terms are not highlighted (they match what is absent).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from logconsole.store.filter import ALIASES, FilterError, Tok, tokenize
from logconsole.store.fulltext import MIN_INFIX, _fold, words

#: a run of characters that are not part of a word (separators)
_SEP = r"[\W_]+"


@dataclass(frozen=True)
class HighlightTerm:
    kind: str  # "substring" | "phrase" | "prefix" | "value"
    text: str
    field: str | None = None  # for "value": the canonical field name

    def pattern(self) -> re.Pattern[str] | None:
        if self.kind == "value":
            if "*" in self.text or "?" in self.text:
                rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in self.text)
                return re.compile(rx, re.DOTALL)
            return re.compile(re.escape(self.text))
        toks = words(self.text.rstrip("*") if self.kind == "prefix" else self.text)
        if not toks:
            return None
        body = _SEP.join(re.escape(t) for t in toks)
        if self.kind == "substring":
            # as the search: a short word at an end matches a whole word
            head = r"(?<![^\W_])" if len(toks[0]) < MIN_INFIX else ""
            tail = r"(?![^\W_])" if len(toks[-1]) < MIN_INFIX else ""
            return re.compile(head + body + tail, re.IGNORECASE)
        if self.kind == "prefix":
            return re.compile(r"(?<![^\W_])" + body, re.IGNORECASE)
        return re.compile(r"(?<![^\W_])" + body + r"(?![^\W_])", re.IGNORECASE)


def _folded(value: str) -> tuple[str, list[int]]:
    """*value* folded as the index folds it (lowercase, no diacritics), and for each
    folded character the index of the original one."""
    if value.isascii():
        return value.lower(), list(range(len(value)))
    out: list[str] = []
    idx: list[int] = []
    for i, c in enumerate(value):
        f = _fold(c) if c.isalnum() else c
        out.append(f)
        idx.extend([i] * len(f))
    return "".join(out), idx


def highlight_terms(filter_text: str | None) -> list[HighlightTerm]:
    """The positive free-text and field terms of a filter (empty on a bad filter)."""
    try:
        toks = tokenize(filter_text or "")
    except FilterError:
        return []
    out: list[HighlightTerm] = []
    negated_until = -1
    depth = 0
    neg_depths: list[int] = []
    for i, t in enumerate(toks):
        if t.kind == "LP":
            depth += 1
            if t.neg or (i > 0 and toks[i - 1].kind == "NOT"):
                neg_depths.append(depth)
            continue
        if t.kind == "RP":
            if neg_depths and neg_depths[-1] == depth:
                neg_depths.pop()
            depth -= 1
            continue
        if t.kind in ("OR", "AND", "NOT"):
            continue
        if t.neg or neg_depths or (i > 0 and toks[i - 1].kind == "NOT") or i <= negated_until:
            continue
        out.extend(_terms_of(t))
    return out


def _terms_of(t: Tok) -> list[HighlightTerm]:
    v = t.value
    if v is None:
        return []
    if t.kind == "WORD" or (t.field in ("text",)):
        if v.quoted:
            return [HighlightTerm("phrase", v.text)]
        if v.text.endswith("*"):
            return [HighlightTerm("prefix", v.text)]
        return [HighlightTerm("substring", v.text)]
    name = ALIASES.get(t.field or "", t.field or "")
    values = [v.text] if v.quoted else [p for p in v.text.split(",") if p]
    return [HighlightTerm("value", p, name) for p in values]


def match_spans(value: str | None, terms: list[HighlightTerm], *, field: str | None = None) -> list[tuple[int, int]]:
    """Sorted, merged ``(start, end)`` spans of *terms* in *value*.

    Free-text terms apply to any value; ``value`` terms only when *field* (a
    filter field name or alias: ``actor``, ``src_ip`` ...) is theirs.
    """
    if not value or not terms:
        return []
    canon = ALIASES.get(field, field) if field else None
    spans: list[tuple[int, int]] = []
    folded: tuple[str, list[int]] | None = None
    for term in terms:
        if term.kind == "value":
            if canon is None or term.field != canon:
                continue
            rx = term.pattern()
            if rx is not None and rx.fullmatch(value):
                spans.append((0, len(value)))
            continue
        rx = term.pattern()
        if rx is None:
            continue
        if folded is None:
            folded = _folded(value)
        text, idx = folded
        spans.extend((idx[m.start()], idx[m.end() - 1] + 1) for m in rx.finditer(text) if m.end() > m.start())
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged
