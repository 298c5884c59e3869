"""The identity graph of an index in a form that does not depend on row ids or build order.

Aliases by ``kind:value`` with their times, counts, addresses and user agents; identities as
the sets of aliases they group; links by kind and ends with strength, first time, count and
evidence; and each event's primary alias."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from logconsole.store.db import open_db


def graph(target: str) -> dict[str, Any]:
    eng = open_db(target)
    try:
        with eng.connect() as conn:
            ref = {i: f"{k}:{v}" for i, k, v in conn.execute(text("SELECT id, kind, value FROM identity_aliases"))}
            aliases = {ref[i]: (f, la, n, s, u) for i, f, la, n, s, u in conn.execute(text(
                "SELECT id, first_ts, last_ts, events, src_ips, user_agents FROM identity_aliases"))}
            groups: dict[int, list[str]] = {}
            for i, ident in conn.execute(text("SELECT id, identity_id FROM identity_aliases")):
                groups.setdefault(ident, []).append(ref[i])
            evidence: dict[int, list[int]] = {}
            for lid, e in conn.execute(text("SELECT link_id, event_id FROM identity_evidence")):
                evidence.setdefault(lid, []).append(e)
            links = sorted((k, ref[a], ref[b], s, f, c, tuple(sorted(evidence.get(lid, [])))) for lid, k, a, b, s, f, c in
                           conn.execute(text("SELECT id, kind, from_alias, to_alias, strength, first_ts, evidence_count "
                                             "FROM identity_links")))
            primary = {e: ref[a] for e, a in conn.execute(text("SELECT event_id, alias_id FROM identity_events"))}
    finally:
        eng.dispose()
    return {"aliases": aliases, "identities": sorted(sorted(g) for g in groups.values()), "links": links,
            "events": primary}
