"""Reads and writes of the detections tables (:mod:`logconsole.store.detections_schema`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select

from logconsole.store import dialect
from logconsole.store.detections_schema import LEVEL_RANK, sigma_hits, sigma_rule_paths, sigma_rules
from logconsole.store.schema import events


def upsert_rule(conn, row: dict[str, Any]) -> None:
    dialect.of(conn).upsert(conn, sigma_rules, row, ["key"], {k: v for k, v in row.items() if k != "key"})


def rule_states(conn) -> dict[str, tuple[str, int]]:
    """key -> (digest, last_event_id) of every rule that ran."""
    return {k: (d, int(w or 0)) for k, d, w in conn.execute(
        select(sigma_rules.c.key, sigma_rules.c.digest, sigma_rules.c.last_event_id))}


def reset_rule(conn, key: str) -> None:
    conn.execute(delete(sigma_hits).where(sigma_hits.c.rule_key == key))


def add_hits(conn, key: str, event_ids: list[int]) -> int:
    if not event_ids:
        return 0
    before = conn.execute(select(func.count()).select_from(sigma_hits).where(sigma_hits.c.rule_key == key)).scalar()
    dialect.of(conn).upsert_rows(conn, sigma_hits, [{"rule_key": key, "event_id": e} for e in event_ids],
                                 ["rule_key", "event_id"], ["event_id"])
    after = conn.execute(select(func.count()).select_from(sigma_hits).where(sigma_hits.c.rule_key == key)).scalar()
    return int((after or 0) - (before or 0))


def refresh_counts(conn, keys: list[str]) -> None:
    for k in keys:
        n = conn.execute(select(func.count()).select_from(sigma_hits).where(sigma_hits.c.rule_key == k)).scalar()
        conn.execute(sigma_rules.update().where(sigma_rules.c.key == k).values(hits=n or 0))


def remember_paths(conn, paths: list[str], now_us: int) -> None:
    for p in paths:
        dialect.of(conn).insert_ignore(conn, sigma_rule_paths, {"path": p, "added_us": now_us})


def rule_paths(conn) -> list[str]:
    return [r[0] for r in conn.execute(select(sigma_rule_paths.c.path).order_by(sigma_rule_paths.c.added_us))]


def rules_with_hits(conn, keys: list[str] | None = None) -> list[dict[str, Any]]:
    """Rules with at least one hit on an indexed event, most severe first, then by hits."""
    q = (select(sigma_rules, func.count(events.c.id).label("n"))
         .select_from(sigma_rules.join(sigma_hits, sigma_hits.c.rule_key == sigma_rules.c.key)
                      .join(events, events.c.id == sigma_hits.c.event_id))
         .group_by(sigma_rules.c.key))
    if keys is not None:
        q = q.where(sigma_rules.c.key.in_(keys))
    rows = [dict(r._mapping) for r in conn.execute(q)]
    rows.sort(key=lambda r: (LEVEL_RANK.get(r["level"], 9), -r["n"], r["title"], r["key"]))
    return rows


def hit_event_ids(conn, key: str) -> list[int]:
    q = (select(sigma_hits.c.event_id).join(events, events.c.id == sigma_hits.c.event_id)
         .where(sigma_hits.c.rule_key == key).order_by(events.c.ts_us, events.c.id))
    return [r[0] for r in conn.execute(q)]


def hit_rules_for_events(conn, event_ids: list[int]) -> dict[int, list[str]]:
    """event id -> levels of the rules that hit it (for timeline marks)."""
    out: dict[int, list[str]] = {}
    if not event_ids:
        return out
    q = (select(sigma_hits.c.event_id, sigma_rules.c.level)
         .join(sigma_rules, sigma_rules.c.key == sigma_hits.c.rule_key)
         .where(sigma_hits.c.event_id.in_(event_ids)))
    for eid, level in conn.execute(q):
        out.setdefault(eid, []).append(level)
    return out


def rule_clause(text: str, wild: bool, pattern: str) -> ColumnElement[bool]:
    """events.id IN (events a rule matched): ``*`` any rule; else rule id, key or title (*pattern* if *wild*)."""
    if text == "*":
        return events.c.id.in_(select(sigma_hits.c.event_id))
    if wild:
        cond = or_(dialect.glob(sigma_rules.c.title, pattern), dialect.glob(sigma_rules.c.rule_id, pattern))
    else:
        cond = or_(sigma_rules.c.rule_id == text, sigma_rules.c.key == text, sigma_rules.c.title == text)
    keys = select(sigma_rules.c.key).where(cond)
    return events.c.id.in_(select(sigma_hits.c.event_id).where(sigma_hits.c.rule_key.in_(keys)))


def hit_level(conn, event_id: int) -> str | None:
    """The most severe level of the rules that matched the event, or None."""
    levels = [r[0] for r in conn.execute(
        select(sigma_rules.c.level).join(sigma_hits, sigma_hits.c.rule_key == sigma_rules.c.key)
        .where(sigma_hits.c.event_id == event_id))]
    return min(levels, key=lambda lv: LEVEL_RANK.get(lv, 9)) if levels else None
