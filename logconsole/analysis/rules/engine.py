"""Running compiled Sigma rules over the index and storing their hits.

1. The formats present in the index select the targets (``targets.py``) and the
   rules are compiled for them (``compiler.py``).
2. Each rule has a watermark (``sigma_rules.last_event_id``); a target's working
   table is built from the events newer than the lowest watermark of its rules
   (so after an ingest only the new events are read), or from the events that
   match a filter (``QUERY``; then no watermark moves).  A working table is a
   table in the run's scratch SQLite database (:mod:`logconsole.store.scratch`,
   the same on every index engine) with one ``TEXT COLLATE NOCASE`` column
   per field its rules use (Sigma compares case-insensitively), filled from
   the normalized columns where they hold exactly the field, else from the
   decoded raw record.
3. Each rule's SQL runs on its working table; new (rule, event) pairs go to
   ``sigma_hits``; every rule's time is measured (slow rules are reported).
"""

from __future__ import annotations

import multiprocessing
import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Engine, bindparam, func, select

from logconsole.analysis.rules.compiler import EID, TEXT_FIELD, Compiled, Unmapped, compile_rules
from logconsole.analysis.rules.loader import LoadedRule, LoadProblem
from logconsole.analysis.rules.targets import TARGET_BY_KEY, Record, Target, rows_for
from logconsole.store import detections as ds
from logconsole.store import scratch
from logconsole.store.rawcodec import decode_bytes
from logconsole.store.schema import events, sources

BATCH = 5000
#: columns read for every event besides raw (text readers and column shortcuts use them)
_COLUMNS = ("action", "service", "actor", "target_user", "src_ip", "host", "resource", "outcome",
            "error_code", "session", "message", "region", "user_agent", "record_id")


@dataclass
class RuleRun:
    rule: LoadedRule
    targets: list[str]
    new_hits: int = 0
    seconds: float = 0.0
    error: str | None = None


@dataclass
class RunResult:
    loaded: int
    ran: list[RuleRun] = field(default_factory=list)
    unmapped: list[Unmapped] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)
    not_applicable: int = 0  # rules whose formats are not in the index
    events_read: int = 0
    rows: int = 0
    seconds_build: float = 0.0
    seconds_match: float = 0.0
    formats: list[str] = field(default_factory=list)


def _regexp(cache: dict[str, re.Pattern[str] | None]) -> Callable[[str, Any], int | None]:
    def fn(pattern: str, value: Any) -> int | None:
        if value is None or pattern is None:
            return None
        if pattern not in cache:
            try:
                cache[pattern] = re.compile(pattern)
            except re.error:
                cache[pattern] = None  # an invalid pattern matches nothing
        rx = cache[pattern]
        if rx is None:
            return 0
        return 1 if rx.search(str(value)) else 0

    return fn


def rule_functions() -> dict[str, tuple[int, Callable[..., Any]]]:
    """SQL functions the compiled rules use (``REGEXP``: Python ``re``, search semantics)."""
    return {"regexp": (2, _regexp({}))}


def formats_present(conn) -> set[str]:
    return {r[0] for r in conn.execute(select(sources.c.format).distinct()) if r[0]}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Tables:
    """The run's working tables (in the run's scratch database, :mod:`logconsole.store.scratch`)."""

    def __init__(self, dbapi, plan: dict[str, tuple[Target, list[str]]]) -> None:
        self.dbapi = dbapi
        self.plan = plan
        self.rows = 0
        for key, (_t, fields) in plan.items():
            cols = ", ".join([f"{EID} INTEGER"] + [f"{_quote(f)} TEXT COLLATE NOCASE" for f in fields])
            dbapi.execute(f"DROP TABLE IF EXISTS {_quote(key)}")
            dbapi.execute(f"CREATE TABLE {_quote(key)} ({cols})")

    def insert(self, key: str, rows: list[tuple]) -> None:
        if not rows:
            return
        fields = self.plan[key][1]
        marks = ", ".join("?" * (len(fields) + 1))
        self.dbapi.executemany(f"INSERT INTO {_quote(key)} VALUES ({marks})", rows)
        self.rows += len(rows)

    def drop(self) -> None:
        for key in self.plan:
            self.dbapi.execute(f"DROP TABLE IF EXISTS {_quote(key)}")


def _group_by_formats(plan: dict[str, tuple[Target, list[str]]]) -> dict[tuple[str, ...], list[str]]:
    groups: dict[tuple[str, ...], list[str]] = {}
    for key, (t, _f) in plan.items():
        groups.setdefault(t.formats, []).append(key)
    return groups


#: run the record decoding in worker processes from this many events (0 = never); env LOGCONSOLE_RULES_WORKERS=N
PARALLEL_FROM = 20_000
_WINDOW = 3  # batches in flight per worker


def _workers(n_events: int) -> int:
    env = os.environ.get("LOGCONSOLE_RULES_WORKERS")
    if env is not None and env.strip().isdigit():
        return int(env)
    cpus = os.cpu_count() or 1
    return min(cpus, 4) if cpus > 1 and n_events >= PARALLEL_FROM else 0


def _extract(job: tuple[list[tuple[str, list[str]]], list[tuple]]) -> dict[str, list[tuple]]:
    """Rows of a batch of events for the working tables (runs in a worker process too)."""
    specs, batch = job
    out: dict[str, list[tuple]] = {k: [] for k, _f in specs}
    targets = [(TARGET_BY_KEY[k], f, out[k]) for k, f in specs]
    for eid, fmt, colvals, extra, blob in batch:
        colmap = dict(zip(_COLUMNS, colvals))
        if extra:
            try:
                colmap["extra"] = orjson.loads(extra)
            except orjson.JSONDecodeError:
                colmap["extra"] = None
        rec = Record(eid, fmt, decode_bytes(blob) if blob is not None else b"", colmap)
        cache: dict[str, Any] = {}
        for t, fields, rows in targets:
            for r in rows_for(t, rec, fields, cache):
                rows.append((eid, *r))
    return out


def _actions_matching(conn, bound: frozenset[str]) -> list[str]:
    """The action values in the index that equal one of *bound* ignoring case (Sigma compares
    case-insensitively; the ``action`` index is exact): one pass over that index's keys."""
    return [a for (a,) in conn.execute(select(events.c.action).distinct()) if a is not None and a.lower() in bound]


def _fill(conn, tables: _Tables, formats: tuple[str, ...], keys: list[str], lo: int, hi: int,
          where: Any, bound: frozenset[str] | None = None) -> int:
    """Read the events of *formats* with lo < id <= hi (and *where*) into the tables *keys*;
    with *bound* (every rule of these tables requires one of those actions), only the events
    whose action is one of them."""
    plan = tables.plan
    if bound is not None:
        actions = _actions_matching(conn, bound)
        if not actions:
            return 0
        where = events.c.action.in_(actions) if where is None else (where & events.c.action.in_(actions))
    need_raw = any(not (plan[k][0].reader == "json" and set(plan[k][1]) <= set(plan[k][0].columns))
                   for k in keys)
    cols = [events.c.id, events.c.format] + [events.c[c] for c in _COLUMNS] + [events.c.extra]
    if need_raw:
        cols.append(events.c.raw)
    q = select(*cols).where(events.c.format.in_(formats), events.c.id > bindparam("after"), events.c.id <= hi)
    if where is not None:
        q = q.where(where)
    q = q.order_by(events.c.id).limit(BATCH)
    specs = [(k, plan[k][1]) for k in keys]
    ncols = len(_COLUMNS)

    def batches() -> Iterator[list[tuple]]:
        after = lo
        while True:
            rows = conn.execute(q, {"after": after}).fetchall()
            if not rows:
                return
            yield [(r[0], r[1], tuple(r[2:2 + ncols]), r[2 + ncols], r[3 + ncols] if need_raw else None)
                   for r in rows]
            after = rows[-1][0]

    def store(out: dict[str, list[tuple]]) -> None:
        for k, rows in out.items():
            tables.insert(k, rows)

    n = 0
    todo = hi - lo
    if bound is not None:  # the few events of those actions: worker processes would not pay
        todo = conn.execute(select(func.count()).select_from(events)
                            .where(events.c.id > lo, events.c.id <= hi, where)).scalar() or 0
    workers = _workers(todo)
    if workers > 0:
        try:
            with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                pending: deque = deque()
                for b in batches():
                    pending.append(pool.submit(_extract, (specs, b)))
                    n += len(b)
                    while len(pending) >= workers * _WINDOW:
                        store(pending.popleft().result())
                while pending:
                    store(pending.popleft().result())
            return n
        except BrokenProcessPool:  # workers could not start (e.g. no importable __main__): read in-process
            for k in keys:
                tables.dbapi.execute(f"DELETE FROM {_quote(k)}")
            n = 0
    for b in batches():
        store(_extract((specs, b)))
        n += len(b)
    return n


def run_rules(engine: Engine, rules: list[LoadedRule], problems: list[LoadProblem] | None = None, *,
              where: Any = None, rule_paths: list[str] | None = None,
              progress: Callable[[str], None] | None = None) -> RunResult:
    """Compile and run *rules* over the index; store hits; return counts and timings.

    Without *where*, each rule sees only events newer than its watermark and the
    watermark moves to the newest event; with *where* (a compiled filter), the
    rules see the matching events and no watermark moves.
    """
    res = RunResult(loaded=len(rules) + len(problems or []), problems=list(problems or []))
    with engine.connect() as conn:
        present = formats_present(conn)
        res.formats = sorted(present)
        compiled, unmapped = compile_rules(rules, present)
        res.unmapped = unmapped
        ran_keys = {c.rule.key for c in compiled}
        res.not_applicable = len(rules) - len(ran_keys) - len({u.rule.key for u in unmapped})
        hi = conn.execute(select(func.max(events.c.id))).scalar() or 0
        states = ds.rule_states(conn)

    by_rule: dict[str, list[Compiled]] = {}
    for c in compiled:
        by_rule.setdefault(c.rule.key, []).append(c)
    # watermark per rule (0 for a new or changed rule)
    marks: dict[str, int] = {}
    for key, cs in by_rule.items():
        st = states.get(key)
        marks[key] = st[1] if (st is not None and st[0] == cs[0].rule.digest and where is None) else 0
    plan: dict[str, tuple[Target, list[str]]] = {}
    lows: dict[str, int] = {}
    #: per working table, the actions its rules can match at all (None: any event)
    bounds: dict[str, frozenset[str] | None] = {}
    for key, cs in by_rule.items():
        if where is None and marks[key] >= hi:
            continue
        for c in cs:
            t = c.target
            fields = plan.setdefault(t.key, (t, []))[1]
            for f in c.fields:
                if f not in fields:
                    fields.append(f)
            lows[t.key] = min(lows.get(t.key, marks[key]), marks[key])
            have = bounds.get(t.key, frozenset())
            bounds[t.key] = None if have is None or c.actions is None else have | c.actions
    for key in plan:
        if TEXT_FIELD in plan[key][1]:
            plan[key][1].remove(TEXT_FIELD)
            plan[key][1].append(TEXT_FIELD)

    now_us = int(time.time() * 1_000_000)
    with engine.begin() as conn:
        dbapi = scratch.open_scratch(rule_functions())
        tables = _Tables(dbapi, plan)
        try:
            t0 = time.perf_counter()
            for formats, keys in _group_by_formats(plan).items():
                lo = min(lows[k] for k in keys)
                if progress is not None:
                    progress(f"reading {', '.join(formats)} events for {len(keys)} working table(s)")
                bound: frozenset[str] | None = frozenset()
                for k in keys:
                    b = bounds.get(k)
                    bound = None if b is None or bound is None else bound | b
                res.events_read += _fill(conn, tables, formats, keys, lo, hi, where, bound)
            res.rows = tables.rows
            res.seconds_build = time.perf_counter() - t0
            t1 = time.perf_counter()
            for key, cs in by_rule.items():
                rule = cs[0].rule
                st = states.get(key)
                if st is not None and st[0] != rule.digest:
                    ds.reset_rule(conn, key)
                run = RuleRun(rule, [c.target.key for c in cs])
                r0 = time.perf_counter()
                ids: set[int] = set()
                if where is not None or marks[key] < hi:
                    for c in cs:
                        for sql in c.queries:
                            try:
                                ids.update(r[0] for r in dbapi.execute(
                                    f"SELECT {EID} FROM ({sql}) WHERE {EID} > ?", (marks[key],)))
                            except Exception as exc:  # a rule the engine cannot evaluate is reported, never fatal
                                run.error = f"{c.target.title}: {exc.__class__.__name__}: {exc}"
                ds.upsert_rule(conn, _rule_row(rule, run.targets, hi if where is None else (st[1] if st and st[0] == rule.digest else 0), now_us))
                run.new_hits = ds.add_hits(conn, key, sorted(ids))
                run.seconds = time.perf_counter() - r0
                res.ran.append(run)
            ds.refresh_counts(conn, list(by_rule))
            if rule_paths:
                ds.remember_paths(conn, rule_paths, now_us)
            res.seconds_match = time.perf_counter() - t1
        finally:
            tables.drop()
            dbapi.close()
    return res


def _rule_row(rule: LoadedRule, targets: list[str], last_event_id: int, now_us: int) -> dict[str, Any]:
    ls = "/".join(x or "" for x in rule.logsource)
    return {
        "key": rule.key, "rule_id": rule.rule_id or None, "title": rule.title, "level": rule.level,
        "status": rule.status or None, "tags": orjson.dumps(rule.tags).decode(), "author": rule.author or None,
        "description": rule.description or None, "file": rule.path, "link": rule.link, "origin": rule.origin,
        "logsource": ls, "targets": ",".join(targets), "digest": rule.digest, "last_event_id": last_event_id,
        "last_run_us": now_us,
    }


def hits_json(conn, keys: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The stored hits (of *keys*, else of every rule), most severe rule first."""
    out = []
    for r in ds.rules_with_hits(conn, list(keys) if keys is not None else None):
        out.append({
            "rule_id": r["rule_id"] or r["key"], "title": r["title"], "level": r["level"], "status": r["status"],
            "author": r["author"], "tags": orjson.loads(r["tags"] or "[]"), "file": r["file"], "link": r["link"],
            "events": ds.hit_event_ids(conn, r["key"]),
        })
    return out


def rerun_after_ingest(engine: Engine) -> RunResult | None:
    """Run the shipped rules and the rule paths earlier runs used (those still present)
    over the events they have not seen: the ingest workflow's ``detections`` step."""
    from logconsole.analysis.rules.loader import load_rules

    with engine.connect() as conn:
        paths = [p for p in ds.rule_paths(conn) if os.path.exists(p)]
    rules, problems = load_rules(paths, shipped=True)
    return run_rules(engine, rules, problems)
