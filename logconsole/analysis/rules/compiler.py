"""Compiling Sigma rules to SQL over the working tables (pySigma + pysigma-backend-sqlite).

For each rule and each target its ``logsource`` selects, a fresh ``SigmaRule`` goes
through the target's processing pipeline (field mapping) and the SQLite backend,
which gives ``SELECT DISTINCT _eid FROM <target> WHERE ...``.  Modifiers
(``contains``, ``startswith``, ``endswith``, ``re``, ``cidr``, ``all``,
``base64offset``, ``windash`` ...) and conditions (``1 of``, ``all of``, ``not``)
are pySigma's and the backend's; ``re`` needs the ``REGEXP`` function the engine
registers.  Keyword (field-less) values match ``_text``, the record's text.

Anything that does not compile is an :class:`Unmapped` with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from sigma.backends.sqlite import sqliteBackend
from sigma.exceptions import SigmaError
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldMappingTransformation
from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionOR
from sigma.rule import SigmaRule
from sigma.types import SigmaCasedString, SigmaString

from logconsole.analysis.rules.loader import LoadedRule
from logconsole.analysis.rules.targets import PRODUCTS_READ, TARGETS, Target, targets_for

TEXT_FIELD = "_text"
EID = "_eid"


class _Backend(sqliteBackend):
    """The SQLite backend, selecting the working table's event id column."""

    name: ClassVar[str] = "logconsole working tables"

    def finalize_query_default(self, rule: Any, query: str, index: int, state: Any) -> Any:
        table = self.resolve_table(state.processing_state)
        return f"SELECT DISTINCT {EID} FROM {table} WHERE {query}"


def _mapping(t: Target) -> dict[str | None, str | list[str]]:
    return {k: v for k, v in t.field_map.items()}


def pipeline_for(t: Target) -> ProcessingPipeline:
    items = []
    if t.field_map:
        items.append(ProcessingItem(identifier=f"logconsole_{t.key}_fields",
                                    transformation=FieldMappingTransformation(_mapping(t))))
    return ProcessingPipeline(name=f"logconsole {t.title}", priority=20, items=items)


@dataclass
class Compiled:
    rule: LoadedRule
    target: Target
    queries: list[str]
    fields: list[str]
    #: the values (lower case) of the target's ``action`` column the rule can match at all, when its
    #: condition provably requires one of them (``eventName: [StopLogging, ...]``); None: any event
    actions: frozenset[str] | None = None


@dataclass
class Unmapped:
    rule: LoadedRule
    reason: str
    target: Target | None = None


def _logsource_text(ls: tuple[str | None, str | None, str | None]) -> str:
    parts = [f"{k}={v}" for k, v in zip(("product", "service", "category"), ls) if v]
    return " ".join(parts) or "empty logsource"


def compile_rule(rule: LoadedRule, target: Target) -> Compiled | Unmapped:
    try:
        sr = SigmaRule.from_dict(rule.doc)
        backend = _Backend(pipeline_for(target), table=target.key, fulltext_field=TEXT_FIELD)
        queries = backend.convert_rule(sr)
        fields = backend.required_fields(sr)
    except SigmaError as exc:
        return Unmapped(rule, f"{target.title}: {str(exc).splitlines()[0]}", target)
    except Exception as exc:  # a pySigma or backend limitation is a reason, never a crash
        return Unmapped(rule, f"{target.title}: {exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", target)
    if not queries:
        return Unmapped(rule, f"{target.title}: the rule compiles to no query", target)
    if target.fields is not None:
        missing = sorted(f for f in fields if f not in target.fields)
        if missing:
            return Unmapped(rule, f"{target.title}: no field {', '.join(missing)} in these records", target)
    return Compiled(rule, target, [str(q) for q in queries], [f for f in fields if f != EID],
                    action_bound(sr, target))


def _action_bound(node: Any, action_fields: set[str]) -> frozenset[str] | None:
    """The action values (lower case) without which *node* cannot be true; None: no such bound.

    Conservative: only a plain value (no wildcard, modifier, regex or null) compared with a field
    that is exactly the ``action`` column bounds; AND takes any bounded side, OR needs every side
    bounded, NOT never bounds."""
    if isinstance(node, ConditionAND):
        out: frozenset[str] | None = None
        for arg in node.args:
            b = _action_bound(arg, action_fields)
            if b is not None:
                out = b if out is None else out & b
        return out
    if isinstance(node, ConditionOR):
        acc: set[str] = set()
        for arg in node.args:
            b = _action_bound(arg, action_fields)
            if b is None:
                return None
            acc |= b
        return frozenset(acc)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        item = node.parent
        if getattr(item, "negated", False) or node.field not in action_fields:
            return None
        v = node.value
        if isinstance(v, SigmaString) and type(v) in (SigmaString, SigmaCasedString) and not v.contains_special():
            return frozenset({str(v).lower()})
    return None


def action_bound(sr: SigmaRule, target: Target) -> frozenset[str] | None:
    """The action values a rule's every condition requires on *target* (see :func:`_action_bound`),
    so that its working table reads only those events (through the ``action`` index)."""
    mapped = {f: target.field_map.get(f, f) for f in target.columns}
    action_fields = {f for f, row_field in mapped.items() if target.columns.get(row_field) == "action"}
    if not action_fields:
        return None
    bounds: set[str] = set()
    try:
        conditions = [c.parsed for c in sr.detection.parsed_condition]
    except Exception:  # a condition pySigma cannot parse bounds nothing (the rule compiled anyway)
        return None
    for cond in conditions:
        b = _action_bound(cond, action_fields)
        if b is None:
            return None
        bounds |= b
    return frozenset(bounds)


def compile_rules(rules: list[LoadedRule], formats: set[str] | None = None) -> tuple[list[Compiled], list[Unmapped]]:
    """Compile *rules* for every target they select (only targets fed by *formats*, if given).

    A rule that selects no target, or that no selected target compiles, is unmapped
    with its reason; a rule whose targets' formats are absent is neither (it is not run).
    """
    compiled: list[Compiled] = []
    unmapped: list[Unmapped] = []
    for rule in rules:
        if rule.is_correlation:
            unmapped.append(Unmapped(rule, "correlation rules are not evaluated (only single-event rules)"))
            continue
        targets = targets_for(rule.logsource)
        if not targets:
            product = rule.logsource[0]
            why = ("no logconsole format reads this log source" if product in PRODUCTS_READ
                   else f"logconsole reads no {product or 'unnamed'} logs")
            unmapped.append(Unmapped(rule, f"{_logsource_text(rule.logsource)}: {why}"))
            continue
        if formats is not None:
            targets = [t for t in targets if set(t.formats) & formats]
            if not targets:
                continue
        results = [compile_rule(rule, t) for t in targets]
        ok = [r for r in results if isinstance(r, Compiled)]
        if ok:
            compiled.extend(ok)
        else:
            unmapped.append(next(r for r in results if isinstance(r, Unmapped)))
    return compiled, unmapped


def all_targets() -> list[Target]:
    return list(TARGETS)


def verify_sql(compiled: list[Compiled]) -> tuple[list[Compiled], list[Unmapped]]:
    """Run every compiled query once on tiny working tables (a scratch database with the
    engine's REGEXP) so that SQL SQLite rejects is reported now, not during a run."""
    import re

    from logconsole.store import scratch

    def strict_regexp(pattern: str, value: str) -> int:
        return 1 if re.compile(pattern).search(value) else 0  # re.error -> the query fails

    db = scratch.open_scratch({"regexp": (2, strict_regexp)})
    columns: dict[str, set[str]] = {}
    for c in compiled:
        columns.setdefault(c.target.key, set()).update(c.fields)
    for key, fields in columns.items():
        cols = ", ".join([f"{EID} INTEGER"] + ['"' + f.replace('"', '""') + '" TEXT COLLATE NOCASE' for f in sorted(fields)])
        db.execute(f'CREATE TABLE "{key}" ({cols})')
        db.execute(f'INSERT INTO "{key}" VALUES (1' + ", 'x'" * len(fields) + ")")
    ok: list[Compiled] = []
    bad: dict[str, Unmapped] = {}
    good_keys: set[str] = set()
    for c in compiled:
        try:
            for q in c.queries:
                db.execute(q).fetchall()
        except scratch.Error as exc:
            bad.setdefault(c.rule.key, Unmapped(c.rule, f"{c.target.title}: SQLite rejects the query: {exc}", c.target))
            continue
        ok.append(c)
        good_keys.add(c.rule.key)
    db.close()
    return ok, [u for k, u in bad.items() if k not in good_keys]
