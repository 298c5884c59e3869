"""Reading the identity graph: resolve an alias, walk from it, page its merged timeline.

The walk from an alias:

* its identity (every alias joined to it by merging strong links) is reached *strongly*;
* directed strong links (a session's role, a created key, an exec into a pod, a sudo)
  are followed from caller to target, and the target's own identity comes along;
  links *into* the asked identity (who created this key, who became this account)
  are shown with their caller, who is not walked further;
* weak links are followed both ways unless ``strong_only``; everything reached
  through one is reached *weakly* - the links list says how, with evidence.
"""

from __future__ import annotations

import heapq
import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, or_, select, tuple_

from logconsole.analysis.identity.aliases import combo_aliases
from logconsole.analysis.identity.model import LINK_KINDS, SESSION_KINDS, SHARED_KINDS, STRONG, WEAK, ref
from logconsole.util.timeparse import format_us
from logconsole.store.identity_schema import identity_aliases, identity_events, identity_evidence, identity_links
from logconsole.store.schema import events, sources

#: the walk stops adding aliases here (an identity with more names is summarised by `identities`)
MAX_ALIASES = 400
MAX_WEAK_HOPS = 3


class AliasNotFound(LookupError):
    pass


class AmbiguousAlias(LookupError):
    def __init__(self, text: str, candidates: list[str]) -> None:
        super().__init__(text)
        self.candidates = candidates


def has_graph(conn: Connection) -> bool:
    return conn.execute(select(identity_aliases.c.id).limit(1)).first() is not None


def resolve(conn: Connection, text: str) -> int:
    """The alias id for what a user typed: ``kind:value``, a value, a name or session name,
    ``ses:N`` / ``uid:N`` (any host), an address (the principals that used it)."""
    a = identity_aliases.c
    text = text.strip()
    kind, sep, rest = text.partition(":")
    tries: list[Any] = []
    if sep:
        tries.append((a.kind == kind) & (a.value == rest))
    tries.append(a.value == text)
    tries.append(or_(a.value.like(f"%/{_like(text)}", escape="\\"), a.value.like(f"{_like(text)}@%", escape="\\"),
                     a.value.like(f"%:{_like(text)}", escape="\\")))
    for cond in tries:
        rows = conn.execute(select(a.id, a.kind, a.value, a.identity_id).where(cond).order_by(a.id).limit(50)).all()
        if not rows:
            continue
        idents = {r.identity_id for r in rows}
        if len(rows) == 1 or len(idents) == 1:
            return rows[0].id
        raise AmbiguousAlias(text, [ref(r.kind, r.value) for r in rows])
    # an address: the alias that acted most from it
    row = conn.execute(
        select(identity_events.c.alias_id, func.count().label("n"))
        .select_from(events.join(identity_events, identity_events.c.event_id == events.c.id))
        .where(events.c.src_ip == text).group_by(identity_events.c.alias_id).order_by(func.count().desc()).limit(1)
    ).first()
    if row is not None:
        return row[0]
    raise AliasNotFound(text)


def _like(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def alias_of_event(conn: Connection, event_id: int) -> int | None:
    """The primary alias of one event (what the console's identity key opens), from its columns."""
    e = conn.execute(select(events.c.format, events.c.source_id, events.c.host, events.c.actor, events.c.actor_type,
                            events.c.actor_uid, events.c.session).where(events.c.id == event_id)).first()
    if e is None:
        return None
    path = conn.execute(select(sources.c.path).where(sources.c.id == e.source_id)).scalar() or ""
    scope = e.host or path.rsplit("/", 1)[-1]
    alias = combo_aliases(e.format, scope, e.actor, e.actor_type, e.actor_uid, e.session)[0]
    if alias is None:
        return None
    return conn.execute(select(identity_aliases.c.id).where(identity_aliases.c.kind == alias[0],
                                                           identity_aliases.c.value == alias[1])).scalar()


@dataclass
class Walk:
    start: int
    identity: int
    aliases: dict[int, dict[str, Any]]  # alias id -> row (+ "reach": strong|weak)
    links: list[dict[str, Any]]  # link rows (+ "reach")

    def alias_ids(self, strong_only: bool = False) -> list[int]:
        return [a for a, r in self.aliases.items() if not strong_only or r["reach"] == STRONG]


def _alias_rows(conn: Connection, ids: set[int]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    idl = sorted(ids)
    for i in range(0, len(idl), 500):
        for r in conn.execute(select(identity_aliases).where(identity_aliases.c.id.in_(idl[i:i + 500]))):
            out[r.id] = dict(r._mapping)
    return out


def _members(conn: Connection, identity_id: int) -> list[int]:
    return [r[0] for r in conn.execute(select(identity_aliases.c.id).where(identity_aliases.c.identity_id == identity_id)
                                       .order_by(identity_aliases.c.id).limit(MAX_ALIASES))]


def walk(conn: Connection, alias_id: int, *, strong_only: bool = False) -> Walk:
    start = conn.execute(select(identity_aliases).where(identity_aliases.c.id == alias_id)).first()
    if start is None:
        raise AliasNotFound(str(alias_id))
    home = start.identity_id
    reach: dict[int, str] = {}
    hops: dict[int, int] = {}
    kinds: dict[int, str] = {}
    link_rows: dict[int, dict[str, Any]] = {}
    queue: deque[int] = deque()

    def add(aid: int, how: str, weak_hops: int) -> None:
        if aid in reach and (reach[aid] == STRONG or how == WEAK):
            return
        if len(reach) >= MAX_ALIASES and aid not in reach:
            return
        reach[aid] = how
        hops[aid] = weak_hops
        queue.append(aid)

    for m in _members(conn, home):
        add(m, STRONG, 0)
    home_members = set(reach)
    while queue:
        aid = queue.popleft()
        how, nh = reach[aid], hops[aid]
        if aid not in kinds:
            kinds[aid] = conn.execute(select(identity_aliases.c.kind).where(identity_aliases.c.id == aid)).scalar_one()
        rows = conn.execute(select(identity_links).where(
            or_(identity_links.c.from_alias == aid, identity_links.c.to_alias == aid))).all()
        for lk in rows:
            spec = LINK_KINDS.get(lk.kind)
            if spec is None:
                continue
            outgoing = lk.from_alias == aid
            other = lk.to_alias if outgoing else lk.from_alias
            if spec.strength == WEAK:
                if strong_only or nh >= MAX_WEAK_HOPS:
                    continue
                link_rows.setdefault(lk.id, dict(lk._mapping))
                _add_identity(conn, other, add, WEAK, nh + 1)
                continue
            if spec.merges:
                if kinds[aid] in SHARED_KINDS and not outgoing:
                    continue  # a shared node (a service) is not walked back to everything it issued
                link_rows.setdefault(lk.id, dict(lk._mapping))
                add(other, how, nh)
                continue
            if outgoing:
                link_rows.setdefault(lk.id, dict(lk._mapping))
                _add_identity(conn, other, add, how, nh)
            elif aid in home_members:
                # who created / became / entered this identity: shown, not walked from
                link_rows.setdefault(lk.id, dict(lk._mapping))
                if other not in reach:
                    reach[other] = how
                    hops[other] = nh
    found = _alias_rows(conn, set(reach))
    for aid, r in found.items():
        r["reach"] = reach[aid]
        if r["kind"] in SESSION_KINDS and not r["src_ips"] and not r["user_agents"] and r["events"]:
            ips, uas = session_addresses(conn, aid)
            r["src_ips"], r["user_agents"] = json.dumps(ips), json.dumps(uas)
    links: list[dict[str, Any]] = []
    for link in link_rows.values():
        if link["from_alias"] in found and link["to_alias"] in found:
            link["reach"] = WEAK if WEAK in (reach[link["from_alias"]], reach[link["to_alias"]], link["strength"]) \
                else STRONG
            links.append(link)
    links.sort(key=lambda x: (x["strength"] != STRONG, x["first_ts"] if x["first_ts"] is not None else 0, x["id"]))
    return Walk(alias_id, home, found, links)


#: events of one session read for its addresses and user agents
SESSION_SCAN = 20_000


def session_addresses(conn: Connection, alias_id: int, cap: int = 8) -> tuple[list[str], list[str]]:
    """The distinct source addresses and user agents of a session's events (its first SESSION_SCAN events)."""
    t = identity_events.c
    sub = (select(t.event_id).where(t.alias_id == alias_id).order_by(t.ts_us, t.event_id).limit(SESSION_SCAN)
           .subquery())
    ips: list[str] = []
    uas: list[str] = []
    for ip, ua in conn.execute(select(events.c.src_ip, events.c.user_agent).where(events.c.id.in_(select(sub.c.event_id)))
                               .group_by(events.c.src_ip, events.c.user_agent).order_by(func.min(events.c.ts_us))):
        if ip and ip not in ips and len(ips) < cap:
            ips.append(ip)
        if ua and ua not in uas and len(uas) < cap:
            uas.append(ua)
    return ips, uas


def _add_identity(conn: Connection, aid: int, add, how: str, weak_hops: int) -> None:
    add(aid, how, weak_hops)
    row = conn.execute(select(identity_aliases.c.kind, identity_aliases.c.identity_id)
                       .where(identity_aliases.c.id == aid)).first()
    if row is not None and row.kind not in SHARED_KINDS:
        for m in _members(conn, row.identity_id):
            add(m, how, weak_hops)


def evidence(conn: Connection, link_id: int) -> list[int]:
    return [r[0] for r in conn.execute(select(identity_evidence.c.event_id)
                                       .where(identity_evidence.c.link_id == link_id)
                                       .order_by(identity_evidence.c.event_id))]


def _order(w: Walk) -> list[int]:
    def key(aid: int) -> tuple:
        r = w.aliases[aid]
        return (r["reach"] != STRONG, r["identity_id"] != w.identity, aid != w.start,
                r["first_ts"] if r["first_ts"] is not None else 2**62, aid)

    return sorted(w.aliases, key=key)


def _ts(us: int | None) -> str | None:
    return format_us(us) if us is not None else None


def identity_json(conn: Connection, alias_id: int, *, strong_only: bool = False) -> dict[str, Any]:
    """The issue's JSON shape: identity, aliases, links, sessions, events."""
    w = walk(conn, alias_id, strong_only=strong_only)
    order = _order(w)
    aliases_out = []
    sessions_out = []
    total = 0
    for aid in order:
        r = w.aliases[aid]
        total += r["events"] or 0
        aliases_out.append({"kind": r["kind"], "value": r["value"], "first": _ts(r["first_ts"]),
                            "last": _ts(r["last_ts"]), "events": r["events"] or 0})
        if r["kind"] in SESSION_KINDS:
            sessions_out.append({"kind": r["kind"], "id": r["value"], "start": _ts(r["first_ts"]),
                                 "end": _ts(r["last_ts"]), "src_ips": json.loads(r["src_ips"] or "[]"),
                                 "user_agents": json.loads(r["user_agents"] or "[]"), "events": r["events"] or 0})
    sessions_out.sort(key=lambda s: (s["start"] or "", s["id"]))
    links_out = []
    for lk in w.links:
        fa, ta = w.aliases[lk["from_alias"]], w.aliases[lk["to_alias"]]
        links_out.append({"kind": lk["kind"], "from": ref(fa["kind"], fa["value"]), "to": ref(ta["kind"], ta["value"]),
                          "strength": lk["strength"], "evidence": evidence(conn, lk["id"])})
    return {"identity": w.identity, "aliases": aliases_out, "links": links_out, "sessions": sessions_out,
            "events": total}


def identities(conn: Connection) -> list[dict[str, Any]]:
    """Every identity with its size, most events first."""
    a = identity_aliases.c
    q = (select(a.identity_id, func.count().label("aliases"), func.sum(a.events).label("events"),
                func.min(a.first_ts).label("first"), func.max(a.last_ts).label("last"),
                func.group_concat(a.kind.distinct()).label("kinds"))
         .group_by(a.identity_id).order_by(func.sum(a.events).desc(), a.identity_id))
    out = []
    for r in conn.execute(q):
        label = conn.execute(select(a.kind, a.value).where(a.identity_id == r.identity_id)
                             .order_by(a.kind.in_(["aws_key", "aws_role", "aws_service"]).asc(),
                                       a.kind.in_(sorted(SESSION_KINDS)).asc(), a.events.desc(), a.id).limit(1)).first()
        weak = conn.execute(select(func.count()).select_from(identity_links).where(
            identity_links.c.strength == WEAK,
            or_(identity_links.c.from_alias.in_(select(a.id).where(a.identity_id == r.identity_id)),
                identity_links.c.to_alias.in_(select(a.id).where(a.identity_id == r.identity_id))))).scalar_one()
        out.append({"identity": r.identity_id, "label": ref(label.kind, label.value) if label else None,
                    "aliases": r.aliases, "events": int(r.events or 0), "first": _ts(r.first), "last": _ts(r.last),
                    "kinds": sorted(set((r.kinds or "").split(","))), "weak_links": weak})
    return out


# ----------------------------------------------------------------------- timeline
Cursor = tuple[int, int]  # (ts_us, event_id)


def timeline_page(conn: Connection, alias_ids: list[int], *, after: Cursor | None = None,
                  before: Cursor | None = None, limit: int = 100) -> list[tuple[int, int, int]]:
    """The next *limit* events (ts, id, alias id) of all *alias_ids* after (or before) a cursor, in time order.

    One keyset range per alias on ``identity_events`` (its primary key), merged here:
    the cost of a page does not depend on how many events the identity has."""
    t = identity_events.c
    streams = []
    for aid in alias_ids:
        q = select(t.ts_us, t.event_id).where(t.alias_id == aid)
        if before is not None:
            q = q.where(tuple_(t.ts_us, t.event_id) < tuple_(*before)).order_by(t.ts_us.desc(), t.event_id.desc())
        else:
            if after is not None:
                q = q.where(tuple_(t.ts_us, t.event_id) > tuple_(*after))
            q = q.order_by(t.ts_us, t.event_id)
        streams.append([(r[0], r[1], aid) for r in conn.execute(q.limit(limit))])
    if before is not None:
        merged = heapq.merge(*streams, reverse=True)
    else:
        merged = heapq.merge(*streams)
    out: list[tuple[int, int, int]] = []
    seen: set[int] = set()
    for c in merged:
        if c[1] in seen:
            continue
        seen.add(c[1])
        out.append(c)
        if len(out) >= limit:
            break
    if before is not None:
        out.reverse()
    return out


def timeline_count(conn: Connection, alias_ids: list[int]) -> int:
    if not alias_ids:
        return 0
    return int(conn.execute(select(func.coalesce(func.sum(identity_aliases.c.events), 0))
                            .where(identity_aliases.c.id.in_(alias_ids))).scalar_one())


def event_rows(conn: Connection, ids: list[int]) -> dict[int, dict[str, Any]]:
    cols = [events.c[c] for c in ("id", "ts_us", "format", "action", "outcome", "actor", "session", "src_ip",
                                  "resource", "message", "source_id")]
    out: dict[int, dict[str, Any]] = {}
    for i in range(0, len(ids), 500):
        for r in conn.execute(select(*cols).where(events.c.id.in_(ids[i:i + 500]))):
            out[r.id] = dict(r._mapping)
    return out


# ----------------------------------------------------------------------- actors by identity
_ACTOR_KINDS = ("aws_user", "aws_root", "aws_role", "aws_federated", "aws_principal", "aws_service", "k8s_user",
                "k8s_sa", "k8s_node", "gcp_principal", "azure_principal", "host_user", "db_user", "win_user",
                "app_user")


def group_actors(conn: Connection, names: list[str]) -> list[dict[str, Any]]:
    """The privilege actors (ARNs, Kubernetes users ...) grouped by identity, in the order given.

    A group is ``{"identity", "label", "members": [(name, via)]}``: the identity's own actors
    (``via`` None) and, for each role session in it, the session's role (``via`` the session
    name): a role session's effective grants are its role's.  A role assumed from several
    identities appears under each; actors the graph does not know form their own groups."""
    a = identity_aliases.c
    found: dict[str, tuple[int, int, int]] = {}  # name -> (identity, alias id, kind rank)
    rank = {k: i for i, k in enumerate(_ACTOR_KINDS)}
    for i in range(0, len(names), 500):
        for r in conn.execute(select(a.id, a.kind, a.value, a.identity_id)
                              .where(a.value.in_(names[i:i + 500]), a.kind.in_(_ACTOR_KINDS))):
            prev = found.get(r.value)
            if prev is None or rank[r.kind] < prev[2]:
                found[r.value] = (r.identity_id, r.id, rank[r.kind])
    wanted = set(names)
    # role sessions of each identity -> their role, when the role is an actor here
    roles_of: dict[int, list[tuple[str, str]]] = {}
    ids = sorted({v[0] for v in found.values()})
    sess = identity_aliases.alias("s")
    role = identity_aliases.alias("r")
    for i in range(0, len(ids), 500):
        q = (select(sess.c.identity_id, sess.c.value, role.c.value)
             .select_from(identity_links.join(sess, sess.c.id == identity_links.c.from_alias)
                          .join(role, role.c.id == identity_links.c.to_alias))
             .where(identity_links.c.kind == "session_role", sess.c.identity_id.in_(ids[i:i + 500])))
        for ident, session, role_arn in conn.execute(q):
            if role_arn in wanted:
                roles_of.setdefault(ident, []).append((role_arn, session.rsplit("/", 1)[-1]))
    groups: dict[Any, dict[str, Any]] = {}
    order: list[Any] = []
    for name in names:
        hit = found.get(name)
        key: Any = hit[0] if hit else ("name", name)
        if key not in groups:
            groups[key] = {"identity": hit[0] if hit else None, "label": name, "members": []}
            order.append(key)
        groups[key]["members"].append((name, None))
    for key in order:
        g = groups[key]
        if g["identity"] is None:
            continue
        own = {m for m, _ in g["members"]}
        seen: set[str] = set()
        for role_arn, session in sorted(roles_of.get(g["identity"], [])):
            if role_arn in own or role_arn in seen:
                continue
            seen.add(role_arn)
            g["members"].append((role_arn, session))
    return [groups[k] for k in order]
