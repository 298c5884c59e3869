"""Build the identity graph from the indexed events, incrementally.

One build reads only the events added since the last one (``meta``
``identity.last_event_id``), a window of ``WINDOW`` event ids at a time.  The graph
itself stays in the index: Python holds one window's combinations, aliases and
pending links, which each window's end resolves against the stored rows (many at a
time) and writes, so the build's memory does not grow with the graph.  Per window:

1. one ``GROUP BY`` over the window's identity columns gives each distinct
   combination with its time range, count, addresses and user agents; every
   combination is mapped to its primary alias and the merging links it proves
   (:mod:`.aliases`) - Python runs per combination, not per event.  A link's evidence
   is the first event of each combination (a combination met in an earlier window of
   the build, kept as a digest in a temporary table, adds to the count only);
2. ``identity_events`` gets one row per event (its primary alias) from one
   ``INSERT … SELECT`` joining the events with the combination map;
3. the few records whose links live in fields the columns do not hold are read
   whole: CloudTrail STS and credential-creating calls, Kubernetes exec and
   impersonation, sshd logins, auditd login/sudo records, sudo/su lines, GCP
   delegation chains.

Then, over the whole index:

4. links that join events across sources or time (sshd login -> auditd session,
   pod -> service account, console login -> session, same name, credential read ->
   use) are recomputed: their inputs are small sets found by indexed columns (bare
   names are grouped in a temporary table);
5. identities are the connected components of the merging strong links, numbered by
   their smallest alias id, computed in SQL (label propagation with pointer jumping
   over a temporary table), not in memory.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from sqlalchemy import (
    Column, Connection, Engine, Index, Integer, MetaData, Table, Text, and_, case, delete, func, insert, or_, select,
    text, update,
)

from logconsole.analysis.identity.aliases import Alias, LinkSpec, aws_principal_alias, combo_aliases, k8s_alias
from logconsole.analysis.identity.model import (
    GENERIC_NAMES, LINK_KINDS, SHARED_KINDS, UNSET_ID, short_name,
)
from logconsole.util.gcpause import gc_paused
from logconsole.util.timeparse import format_us
from logconsole.store import dialect, rawcodec
from logconsole.store.db import meta_get, meta_set
from logconsole.store.identity_schema import identity_aliases, identity_events, identity_evidence, identity_links
from logconsole.store.schema import events, sources

META_LAST = "identity.last_event_id"
EVIDENCE_CAP = 50  # evidence event ids kept per link (the count is kept in full)
LIST_CAP = 8  # addresses / user agents kept per alias
#: new events read per window (by event id): memory is bounded by a window's aliases and links
WINDOW = 25_000
#: a credential read counts as used when another principal acts from the same address within this time
USE_WINDOW_US = 60 * 60 * 1_000_000
#: sshd 'Accepted' and the auditd login of the same pid must be this close
SSH_AUDIT_SKEW_US = 120 * 1_000_000
#: an exec into a pod and the service account's requests
EXEC_WINDOW_US = 15 * 60 * 1_000_000
CONSOLE_WINDOW_US = 12 * 3600 * 1_000_000

_STS_ACTIONS = ("AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity", "GetFederationToken",
                "GetSessionToken")
_CRED_ACTIONS = ("CreateAccessKey", "CreateLoginProfile")
_EXEC_ACTIONS = ("create pods/exec", "get pods/exec", "create pods/attach", "get pods/attach")
_LOGIN_EXES = ("sshd", "sshd-session", "login", "gdm-password", "gdm-session-worker", "lightdm", "sddm")
_SWITCH_EXES = ("sudo", "su", "runuser", "pkexec", "doas")
_SECRET_READ = re.compile(r"^(get|list|watch) secrets$")
_KEY_FILE = re.compile(r"(/\.ssh/id_[a-z0-9]+$|/\.aws/credentials$|\.pem$|\.key$|/\.kube/config$|/\.docker/config\.json$)")
_LOGIN_ACTIONS = ("login", "token_login", "logon", "signin", "sign_in", "consolelogin", "ssh_login")
#: link kinds recomputed over the whole index on every build
_GLOBAL_KINDS = ("same_name", "credential_use", "exec_service_account", "pod_service_account",
                 "ssh_audit_session", "console_login")


@dataclass
class BuildStats:
    events: int = 0  # new events read
    combos: int = 0
    aliases: int = 0  # total after the build
    links: int = 0
    identities: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"events": self.events, "combinations": self.combos, "aliases": self.aliases, "links": self.links,
                "identities": self.identities, "seconds": round(self.seconds, 3),
                "phases": {k: round(v, 3) for k, v in self.phases.items()}}


class _AliasTable:
    """The aliases named by the current window of events, resolved against the index when flushed.

    Nothing is loaded up front: an alias is kept here (in the order it was first named,
    which is the order new ones are numbered in) until :meth:`flush` looks the window's
    aliases up in ``identity_aliases`` (many at a time), numbers the new ones, inserts
    them and merges the touched ones into their stored rows.  :attr:`ids` then maps the
    window's aliases to their ids until :meth:`end_window`; memory is bounded by the
    window, not by the graph."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        #: alias -> [first_ts, last_ts, events, addresses, user agents, touched]
        self.pending: dict[Alias, list[Any]] = {}
        self.ids: dict[Alias, int] = {}
        self.next_id = (conn.execute(select(func.max(identity_aliases.c.id))).scalar() or 0) + 1
        self.window_first_id = self.next_id  # the first id numbered in the current window

    def get(self, alias: Alias) -> Alias:
        if alias not in self.pending:
            self.pending[alias] = [None, None, 0, [], [], False]
        return alias

    def touch(self, alias: Alias, first: int | None, last: int | None, count: int = 0,
              ip: str | None = None, ua: str | None = None) -> None:
        row = self.pending.get(alias)
        if row is None:
            row = self.pending[alias] = [None, None, 0, [], [], False]
        if first is not None and (row[0] is None or first < row[0]):
            row[0] = first
        if last is not None and (row[1] is None or last > row[1]):
            row[1] = last
        row[2] += count
        if ip and ip not in row[3]:
            row[3].append(ip)
        if ua and ua not in row[4]:
            row[4].append(ua)
        row[5] = True

    def lookup(self, alias: Alias) -> Any:
        """The stored row (id, identity_id, first_ts) of *alias*, or None."""
        a = identity_aliases.c
        return self.conn.execute(select(a.id, a.identity_id, a.first_ts)
                                 .where(a.kind == alias[0], a.value == alias[1])).first()

    def id_of(self, alias: Alias) -> int | None:
        aid = self.ids.get(alias)
        if aid is None:
            row = self.lookup(alias)
            aid = row.id if row is not None else None
        return aid

    def has(self, alias: Alias) -> bool:
        """Whether *alias* is known: named in this window or stored."""
        return alias in self.pending or self.id_of(alias) is not None

    def flush(self, conn: Connection) -> None:
        if not self.pending:
            return
        a = identity_aliases.c
        cols = (a.id, a.kind, a.value, a.first_ts, a.last_ts, a.events, a.src_ips, a.user_agents)
        stored: dict[Alias, Any] = {}
        by_kind: dict[str, list[str]] = defaultdict(list)
        known: list[int] = []
        for alias, row in self.pending.items():
            aid = self.ids.get(alias)
            if aid is None:
                by_kind[alias[0]].append(alias[1])
            elif row[5]:  # stored by an earlier flush of this window, touched since
                known.append(aid)
        for kind, values in by_kind.items():
            for i in range(0, len(values), 500):
                for r in conn.execute(select(*cols).where(a.kind == kind, a.value.in_(values[i:i + 500]))):
                    stored[(r.kind, r.value)] = r
        for i in range(0, len(known), 500):
            for r in conn.execute(select(*cols).where(a.id.in_(known[i:i + 500]))):
                stored[(r.kind, r.value)] = r
        new_rows: list[tuple] = []
        upd: list[tuple] = []
        for alias, (first, last, n, ips, uas, touched) in self.pending.items():
            old = stored.get(alias)
            if old is None and alias in self.ids:  # stored by an earlier flush of this window, not touched
                continue
            if old is None:
                aid = self.next_id
                self.next_id += 1
                self.ids[alias] = aid
                new_rows.append((aid, first, last, n, json.dumps(ips[:LIST_CAP]) if ips else None,
                                 json.dumps(uas[:LIST_CAP]) if uas else None, alias[0], alias[1], aid))
                continue
            self.ids[alias] = old.id
            if not touched:
                continue
            f = old.first_ts if first is None or (old.first_ts is not None and old.first_ts <= first) else first
            la = old.last_ts if last is None or (old.last_ts is not None and old.last_ts >= last) else last
            have_ips = json.loads(old.src_ips or "[]")
            have_uas = json.loads(old.user_agents or "[]")
            for have, more in ((have_ips, ips), (have_uas, uas)):
                for x in more:
                    if x not in have and len(have) < LIST_CAP:
                        have.append(x)
            upd.append((f, la, old.events + n, json.dumps(have_ips) if have_ips else None,
                        json.dumps(have_uas) if have_uas else None, old.id))
        if new_rows:
            dialect.of(conn).insert_rows(conn, identity_aliases, ("identity_id", "first_ts", "last_ts", "events",
                                                                  "src_ips", "user_agents", "kind", "value", "id"),
                                         new_rows)
        if upd:
            _update_rows(conn, "UPDATE identity_aliases SET first_ts = ?, last_ts = ?, events = ?, src_ips = ?, "
                               "user_agents = ? WHERE id = ?", upd)
        self.pending.clear()

    def end_window(self) -> None:
        self.ids.clear()
        self.window_first_id = self.next_id


_link_keys = Table(
    "identity_link_keys", MetaData(),
    Column("kind", Text), Column("from_alias", Integer), Column("to_alias", Integer),
    prefixes=["TEMPORARY"],
)


class _Links:
    """Links with their evidence, merged into what is stored.

    Pending links are ``[first_ts, count, ids]`` lists keyed by ``(kind, from alias,
    to alias)``; :meth:`flush` (after the aliases') resolves them against
    ``identity_links`` many at a time, so only the current window's links are in memory.
    Writes go through the driver's ``executemany`` (SQLAlchemy's per-row parameter
    processing cost more than the inserts)."""

    _MERGING = frozenset(k for k, v in LINK_KINDS.items() if v.merges and k != "same_name")

    def __init__(self, conn: Connection, aliases: _AliasTable) -> None:
        self.aliases = aliases
        self.pending: dict[tuple[str, Alias, Alias], list[Any]] = {}

    def add(self, kind: str, a: Alias, b: Alias, event_ids: list[int] | tuple[int, ...], ts: int | None,
            count: int | None = None) -> None:
        if a == b:
            return
        get = self.aliases.get
        get(a)
        get(b)
        key = (kind, a, b)
        p = self.pending.get(key)
        if p is None and kind in self._MERGING:  # merging links are symmetric: one row per pair
            rev = (kind, b, a)
            p = self.pending.get(rev)
            if p is not None:
                key = rev
        if p is None:
            p = self.pending[key] = [ts, 0, []]
        elif ts is not None and (p[0] is None or ts < p[0]):
            p[0] = ts
        p[1] += count if count is not None else len(event_ids)
        ids = p[2]
        if len(ids) < EVIDENCE_CAP:
            for e in event_ids:
                if e not in ids:
                    ids.append(e)
                    if len(ids) >= EVIDENCE_CAP:
                        break

    def flush(self, conn: Connection) -> None:
        if not self.pending:
            return
        ids_of = self.aliases.ids
        fresh = self.aliases.window_first_id  # aliases numbered in this window have no stored links
        t = identity_links.c
        keys = {(k, ids_of[a], ids_of[b]) for k, a, b in self.pending}
        probe = [k for k in keys if k[1] < fresh and k[2] < fresh]
        probe += [(k, tb, fa) for k, fa, tb in probe if k in self._MERGING]
        stored: dict[tuple[str, int, int], list[Any]] = {}  # key -> [id, first_ts, count]
        if probe:
            kt = _link_keys.c
            _link_keys.create(conn, checkfirst=True)
            try:
                conn.execute(delete(_link_keys))
                dialect.of(conn).insert_rows(conn, _link_keys, ("kind", "from_alias", "to_alias"), probe)
                dialect.of(conn).analyze(conn, _link_keys)
                for lid, kind, fa, tb, first, count in conn.execute(
                        select(t.id, t.kind, t.from_alias, t.to_alias, t.first_ts, t.evidence_count)
                        .select_from(_link_keys.join(identity_links, and_(
                            t.kind == kt.kind, t.from_alias == kt.from_alias, t.to_alias == kt.to_alias)))):
                    stored[(kind, fa, tb)] = [lid, first, count]
            finally:
                _link_keys.drop(conn, checkfirst=True)
        merged: dict[tuple[str, int, int], list[Any]] = {}
        for (kind, a, b), p in self.pending.items():
            key = (kind, ids_of[a], ids_of[b])
            if kind in self._MERGING and key not in stored and (kind, key[2], key[1]) in stored:
                key = (kind, key[2], key[1])
            q = merged.get(key)
            if q is None:
                merged[key] = p
            else:  # cannot happen for links of one window (add folds reversed pairs), kept for safety
                if p[0] is not None and (q[0] is None or p[0] < q[0]):
                    q[0] = p[0]
                q[1] += p[1]
                q[2].extend(e for e in p[2] if e not in q[2])
        # the evidence already stored for the links met again (a link keeps its first EVIDENCE_CAP)
        have_ev: dict[int, set[int]] = defaultdict(set)
        old = sorted({stored[k][0] for k in merged if k in stored})
        for i in range(0, len(old), 500):
            for lid, eid in conn.execute(select(identity_evidence.c.link_id, identity_evidence.c.event_id)
                                         .where(identity_evidence.c.link_id.in_(old[i:i + 500]))):
                have_ev[lid].add(eid)
        ev_rows: list[tuple[int, int]] = []
        new_rows: list[tuple] = []
        upd: list[tuple] = []
        next_id = (conn.execute(select(func.max(identity_links.c.id))).scalar() or 0) + 1
        for key, (first, count, ids) in merged.items():
            kind, fa, tb = key
            st = stored.get(key)
            if st is None:
                lid = next_id
                next_id += 1
                new_rows.append((lid, kind, fa, tb, LINK_KINDS[kind].strength, first, count))
                ev_rows.extend((lid, e) for e in ids[:EVIDENCE_CAP])
                continue
            lid = st[0]
            if first is not None and (st[1] is None or first < st[1]):
                st[1] = first
            st[2] += count
            upd.append((st[2], st[1], lid))
            have = have_ev.get(lid, set())
            room = EVIDENCE_CAP - len(have)
            for e in ids:
                if room <= 0:
                    break
                if e not in have:
                    ev_rows.append((lid, e))
                    room -= 1
        if new_rows:
            dialect.of(conn).insert_rows(conn, identity_links, ("id", "kind", "from_alias", "to_alias", "strength",
                                                                "first_ts", "evidence_count"), new_rows)
        if upd:
            _update_rows(conn, "UPDATE identity_links SET evidence_count = ?, first_ts = ? WHERE id = ?", upd)
        if ev_rows:
            dialect.of(conn).insert_rows(conn, identity_evidence, ("link_id", "event_id"), ev_rows)
        self.pending.clear()


def _update_rows(conn: Connection, sql: str, rows: list[tuple]) -> None:
    """One ``executemany`` of plain tuples (*sql* with ``?`` marks): SQLAlchemy's per-row
    parameter processing of dict rows cost more than the updates (~100,000 rows per build)."""
    if conn.dialect.paramstyle in ("format", "pyformat"):
        sql = sql.replace("?", "%s")
    conn.exec_driver_sql(sql, rows)


def _rows(result: Any, size: int = 10_000) -> Any:
    """The rows of *result* fetched many at a time (iterating a result fetches one by one)."""
    for part in result.partitions(size):
        yield from part


def _scopes(conn: Connection) -> dict[int, str]:
    return {r.id: PurePath(r.path).name or r.path for r in conn.execute(select(sources.c.id, sources.c.path))}


def _extra(value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    try:
        obj = json.loads(value)
    except ValueError:
        return {}
    return obj if isinstance(obj, dict) else {}


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _raw(blob: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(rawcodec.decode(blob))
    except (ValueError, TypeError):
        return {}
    if isinstance(obj, dict) and isinstance(obj.get("CloudTrailEvent"), str):  # LookupEvents wrapper
        try:
            obj = json.loads(obj["CloudTrailEvent"])
        except ValueError:
            return {}
    return obj if isinstance(obj, dict) else {}


def build(engine: Engine, *, rebuild: bool = False, window: int = WINDOW) -> BuildStats:
    """Add the events indexed since the last build to the identity graph, *window* event ids at a time."""
    with gc_paused():  # tens of thousands of small alias/link containers: see logconsole.util.gcpause
        return _build(engine, rebuild, max(1, window))


def _build(engine: Engine, rebuild: bool, window: int) -> BuildStats:
    stats = BuildStats()
    t0 = time.perf_counter()
    # index-build mode: the window's sorts and the temporary tables go to a file, not RAM
    with engine.connect() as conn, dialect.of(conn).index_build(conn):
        if rebuild:
            for t in (identity_events, identity_evidence, identity_links, identity_aliases):
                conn.execute(delete(t))
            meta_set(conn, META_LAST, "0")
        last = int(meta_get(conn, META_LAST, "0") or 0)
        top = conn.execute(select(func.max(events.c.id))).scalar() or 0
        if top <= last:
            conn.commit()
            stats.seconds = time.perf_counter() - t0
            return stats
        scopes = _scopes(conn)
        aliases = _AliasTable(conn)
        links = _Links(conn, aliases)
        for phase in ("combinations", "event map", "record links", "writes"):
            stats.phases[phase] = 0.0
        # the new events a window (of event ids) at a time: what is kept in memory is one
        # window's combinations, aliases and links; the graph itself is in the index
        seen = _SeenCombos(conn) if top - last > window else None
        for lo in range(last, top, window):
            hi = min(lo + window, top)
            tp = time.perf_counter()
            combo_map, formats = _combinations(conn, and_(events.c.id > lo, events.c.id <= hi), scopes, aliases,
                                               links, stats, seen)
            stats.phases["combinations"] += time.perf_counter() - tp
            tp = time.perf_counter()
            aliases.flush(conn)
            stats.phases["writes"] += time.perf_counter() - tp

            tp = time.perf_counter()
            _map_events(conn, lo, hi, {k: aliases.ids[v] for k, v in combo_map.items()})
            del combo_map
            stats.phases["event map"] += time.perf_counter() - tp

            tp = time.perf_counter()
            overrides = _record_links(conn, lo, hi, formats, scopes, aliases, links)
            stats.phases["record links"] += time.perf_counter() - tp

            tp = time.perf_counter()
            aliases.flush(conn)
            links.flush(conn)
            _apply_overrides(conn, overrides, aliases)
            aliases.end_window()
            stats.phases["writes"] += time.perf_counter() - tp
        if seen is not None:
            seen.close()

        tp = time.perf_counter()
        stale = [r[0] for r in conn.execute(select(identity_links.c.id)
                                            .where(identity_links.c.kind.in_(_GLOBAL_KINDS)))]
        if stale:
            for i in range(0, len(stale), 500):
                conn.execute(delete(identity_evidence).where(identity_evidence.c.link_id.in_(stale[i:i + 500])))
            conn.execute(delete(identity_links).where(identity_links.c.kind.in_(_GLOBAL_KINDS)))
        _global_links(conn, scopes, aliases, links)
        aliases.flush(conn)
        links.flush(conn)
        aliases.end_window()
        stats.phases["cross-source links"] = time.perf_counter() - tp

        tp = time.perf_counter()
        stats.identities = _components(conn)
        stats.phases["identities"] = time.perf_counter() - tp
        meta_set(conn, META_LAST, str(top))
        stats.events = top - last
        stats.aliases = conn.execute(select(func.count()).select_from(identity_aliases)).scalar_one()
        stats.links = conn.execute(select(func.count()).select_from(identity_links)).scalar_one()
        conn.commit()
    stats.seconds = time.perf_counter() - t0
    return stats


_COMBO_COLS = ("format", "source_id", "actor", "actor_type", "actor_uid", "session", "host")


def _combinations(conn: Connection, rng, scopes: dict[int, str], aliases: _AliasTable, links: _Links,
                  stats: BuildStats, seen: _SeenCombos | None) -> tuple[dict[tuple, Alias], set[str]]:
    """One GROUP BY over the window's identity columns; Python runs once per combination.

    ``target_user`` is grouped too: a Kubernetes impersonation and a sudo/su line name their
    target there, so those links come from this pass instead of another scan.  A link's
    evidence is the first event of each combination that proves it: a combination already
    met in an earlier window of the build (*seen*) adds to the link's count only."""
    cols = [events.c[c] for c in _COMBO_COLS]
    switch = case((and_(events.c.format == "syslog-auth", events.c.target_user.is_not(None),
                        events.c.outcome == "success"), events.c.action), else_=None)
    q = (select(*cols, events.c.target_user, switch, func.min(events.c.ts_us), func.max(events.c.ts_us),
                func.count(), func.min(events.c.id))
         .where(rng, or_(events.c.actor.is_not(None), events.c.session.is_not(None)))
         .group_by(*cols, events.c.target_user, switch))
    combo_map: dict[tuple, Alias] = {}
    formats: set[str] = set()
    memo: dict[tuple, tuple[Alias | None, list[LinkSpec]]] = {}
    rows = conn.execute(q).all()  # one window's combinations
    old = seen.check([r[:9] for r in rows]) if seen is not None else set()
    for i, r in enumerate(rows):
        fmt, sid, actor, atype, auid, sess, host, target, action, first, last, n, min_id = r
        ev = () if i in old else (min_id,)
        stats.combos += 1
        formats.add(fmt)
        scope = host or scopes.get(sid, f"source {sid}")
        mk = (fmt, scope, actor, atype, auid, sess)
        got = memo.get(mk)
        if got is None:
            got = memo[mk] = combo_aliases(fmt, scope, actor, atype, auid, sess)
        primary, combo_links = got
        if primary is None:
            continue
        aliases.touch(primary, first, last, n)
        combo_map[(fmt, sid, actor, atype, auid, sess, host)] = primary
        for kind, a, b in combo_links:
            if a != primary:
                aliases.touch(aliases.get(a), first, last, 0)
            if b != primary:
                aliases.touch(aliases.get(b), first, last, 0)
            links.add(kind, a, b, ev, first, count=n)
        if target and actor and target != actor:
            if fmt == "k8s-audit":  # target_user is the impersonated user
                tgt = k8s_alias(target)
                aliases.touch(aliases.get(tgt), first, last, 0)
                links.add("impersonation", primary, tgt, ev, first, count=n)
            elif fmt == "syslog-auth" and action in ("sudo", "session_open"):
                tgt = ("host_user", f"{target}@{scope}")
                aliases.touch(aliases.get(tgt), first, last, 0)
                links.add("sudo", primary, tgt, ev, first, count=n)
    return combo_map, formats


class _SeenCombos:
    """The combinations met by the earlier windows of one build, as digests in a temporary table."""

    table = Table("identity_combo_seen", MetaData(), Column("digest", Text, primary_key=True),
                  prefixes=["TEMPORARY"])

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.table.create(conn, checkfirst=True)
        conn.execute(delete(self.table))

    def check(self, keys: list[tuple]) -> set[int]:
        """The positions of *keys* met before; all of *keys* count as met from now on."""
        digests = [hashlib.blake2b(repr(tuple(k)).encode(), digest_size=16).hexdigest() for k in keys]
        c = self.table.c.digest
        met: set[str] = set()
        for i in range(0, len(digests), 500):
            met.update(r[0] for r in self.conn.execute(select(c).where(c.in_(digests[i:i + 500]))))
        fresh = list(dict.fromkeys(d for d in digests if d not in met))
        if fresh:
            dialect.of(self.conn).insert_rows(self.conn, self.table, ("digest",), [(d,) for d in fresh])
        return {i for i, d in enumerate(digests) if d in met}

    def close(self) -> None:
        self.table.drop(self.conn, checkfirst=True)


_combo_table = Table(
    "identity_combo", MetaData(),
    *(Column(c, Integer if c == "source_id" else Text) for c in _COMBO_COLS), Column("alias_id", Integer),
    Index("ix_identity_combo", "source_id", "actor", "session", "actor_uid", "actor_type", "host", "format"),
    prefixes=["TEMPORARY"],
)


def _map_events(conn: Connection, last: int, top: int, combo_map: dict[tuple, int]) -> None:
    """identity_events from one INSERT ... SELECT joining the new events with the combination map."""
    if not combo_map:
        return
    c, e = _combo_table.c, events.c
    _combo_table.create(conn, checkfirst=True)
    try:
        conn.execute(delete(_combo_table))
        dialect.of(conn).insert_rows(conn, _combo_table, (*_COMBO_COLS, "alias_id"),
                                     [(*k, v) for k, v in combo_map.items()])
        dialect.of(conn).analyze(conn, _combo_table)
        join = (c.source_id == e.source_id) & dialect.same_value(c.format, e.format)
        for col in ("actor", "session", "actor_uid", "actor_type", "host"):
            join &= dialect.same_value(c[col], e[col])
        conn.execute(insert(identity_events).from_select(
            ["alias_id", "ts_us", "event_id"],
            select(c.alias_id, e.ts_us, e.id).select_from(events.join(_combo_table, join))
            .where(e.id > last, e.id <= top)))
    finally:
        _combo_table.drop(conn, checkfirst=True)


def _apply_overrides(conn: Connection, overrides: dict[int, tuple[int, int, Alias]], aliases: _AliasTable) -> None:
    """Move single events to a more specific alias (an sshd 'Accepted' line to its login)."""
    if not overrides:
        return
    for eid, (ts, old_aid, alias) in overrides.items():
        new_aid = aliases.ids[alias]
        conn.execute(delete(identity_events).where(identity_events.c.alias_id == old_aid,
                                                   identity_events.c.ts_us == ts, identity_events.c.event_id == eid))
        conn.execute(insert(identity_events).values(alias_id=new_aid, ts_us=ts, event_id=eid))
        for aid, delta in ((old_aid, -1), (new_aid, 1)):
            conn.execute(update(identity_aliases).where(identity_aliases.c.id == aid)
                         .values(events=identity_aliases.c.events + delta))


def _event_alias(r, scopes: dict[int, str]) -> Alias | None:
    scope = r.host or scopes.get(r.source_id, f"source {r.source_id}")
    return combo_aliases(r.format, scope, r.actor, r.actor_type, r.actor_uid, r.session)[0]


_ROW_COLS = (events.c.id, events.c.ts_us, events.c.format, events.c.source_id, events.c.action, events.c.outcome,
             events.c.actor, events.c.actor_type, events.c.actor_uid, events.c.session, events.c.target_user,
             events.c.src_ip, events.c.user_agent, events.c.host, events.c.resource, events.c.extra)


def _record_links(conn: Connection, last: int, top: int, formats: set[str], scopes: dict[int, str],
                  aliases: _AliasTable, links: _Links) -> dict[int, tuple[int, int, Alias]]:
    """Links proven by single records whose fields the columns do not hold.

    Each query selects by ``action`` (indexed) and the window's id range is a filter kept out
    of the planner's index choice, so it never walks the id range for a handful of records;
    formats without events in the window are skipped."""
    overrides: dict[int, tuple[int, int, Alias]] = {}
    in_window = and_(dialect.no_index(events.c.id) > last, dialect.no_index(events.c.id) <= top)

    def new_rows(q):
        return conn.execute(q.where(in_window))
    # -- CloudTrail: STS sessions and created credentials (the raw record is read)
    q = select(*_ROW_COLS, events.c.raw).where(events.c.action.in_(_STS_ACTIONS + _CRED_ACTIONS))
    for r in (new_rows(q) if "cloudtrail" in formats else ()):
        if r.format != "cloudtrail" or r.outcome != "success":
            continue
        caller = _event_alias(r, scopes)
        if caller is None:
            continue
        rec = _raw(r.raw)
        resp = _obj(rec.get("responseElements"))
        req = _obj(rec.get("requestParameters"))
        ev = [r.id]
        if r.action in _STS_ACTIONS:
            creds = _obj(resp.get("credentials"))
            key = creds.get("accessKeyId") if isinstance(creds.get("accessKeyId"), str) else None
            au = _obj(resp.get("assumedRoleUser"))
            fu = _obj(resp.get("federatedUser"))
            session: Alias | None = None
            if isinstance(au.get("arn"), str):
                session = ("aws_session", au["arn"])
            elif isinstance(fu.get("arn"), str):
                session = ("aws_federated", fu["arn"])
            if session is not None:
                aliases.touch(aliases.get(session), r.ts_us, r.ts_us)
                links.add("assumed_session", caller, session, ev, r.ts_us)
                if key:
                    links.add("session_credential", ("aws_key", key), session, ev, r.ts_us)
                role_arn = req.get("roleArn")
                if isinstance(role_arn, str):
                    links.add("session_role", session, ("aws_role", role_arn), ev, r.ts_us)
                sid = req.get("sourceIdentity") or resp.get("sourceIdentity")
                if isinstance(sid, str) and sid:
                    links.add("source_identity", ("aws_principal", sid), session, ev, r.ts_us)
            elif key:  # GetSessionToken: temporary credentials of the caller itself
                links.add("assumed_session", caller, ("aws_key", key), ev, r.ts_us)
        else:
            user_name = req.get("userName")
            acct = r.actor_uid.split(":")[4] if r.actor_uid and r.actor_uid.count(":") >= 5 else None
            target: Alias | None = None
            if isinstance(user_name, str) and acct:
                target = ("aws_user", f"arn:aws:iam::{acct}:user/{user_name}")
            elif r.actor_type == "IAMUser" and r.actor_uid:
                target = ("aws_user", r.actor_uid)  # no userName: the caller's own credential
            ak = _obj(resp.get("accessKey"))
            new_key = ak.get("accessKeyId") if isinstance(ak.get("accessKeyId"), str) else None
            if r.action == "CreateAccessKey" and new_key:
                links.add("created_credential", caller, ("aws_key", new_key), ev, r.ts_us)
                if target:
                    links.add("access_key", ("aws_key", new_key), target, ev, r.ts_us)
            elif r.action == "CreateLoginProfile" and target:
                links.add("created_credential", caller, target, ev, r.ts_us)
    # -- Kubernetes: exec/attach into a pod (impersonation comes from the combinations)
    q = select(*_ROW_COLS).where(events.c.action.in_(_EXEC_ACTIONS))
    for r in (new_rows(q) if "k8s-audit" in formats else ()):
        if r.format != "k8s-audit" or r.outcome != "success":
            continue
        caller = _event_alias(r, scopes)
        pod = _pod_of(r.resource)
        if caller and pod:
            aliases.touch(aliases.get(("k8s_pod", pod)), r.ts_us, r.ts_us)
            links.add("pod_exec", caller, ("k8s_pod", pod), [r.id], r.ts_us)
    # -- sshd 'Accepted': the login session (pid) of a host account
    q = select(*_ROW_COLS).where(events.c.action == "ssh_login")
    for r in (new_rows(q) if "syslog-auth" in formats else ()):
        if r.format != "syslog-auth" or r.outcome != "success" or not r.actor:
            continue
        ex = _extra(r.extra)
        pid = ex.get("pid")
        scope = r.host or scopes.get(r.source_id, "")
        if not pid:
            continue
        sess = ("ssh_session", f"sshd[{pid}]@{scope}/{format_us(r.ts_us)}")  # pids are reused: the time too
        sid = aliases.get(sess)
        aliases.touch(sid, r.ts_us, r.ts_us, 0, r.src_ip, f"ssh {ex.get('method')}" if ex.get("method") else None)
        links.add("ssh_login", ("host_user", f"{r.actor}@{scope}"), sess, [r.id], r.ts_us)
        primary = _event_alias(r, scopes)
        if primary is not None and primary in aliases.ids:
            overrides[r.id] = (r.ts_us, aliases.ids[primary], sess)
    # -- auditd: the login's account name, and sudo/su targets
    q = select(*_ROW_COLS).where(events.c.action.in_(("USER_START", "USER_LOGIN", "CRED_ACQ")))
    for r in (new_rows(q) if "auditd" in formats else ()):
        if r.format != "auditd" or r.outcome != "success" or not r.target_user:
            continue
        scope = r.host or scopes.get(r.source_id, "")
        exe = PurePath(r.resource or "").name
        ses = r.session if r.session and r.session != UNSET_ID else None
        auid = r.actor_uid if r.actor_uid and r.actor_uid != UNSET_ID else None
        target = ("host_user", f"{r.target_user}@{scope}")
        if exe in _SWITCH_EXES:
            src: Alias | None = ("host_session", f"ses:{ses}@{scope}") if ses else (
                ("host_uid", f"uid:{auid}@{scope}") if auid else None)
            if src:
                links.add("sudo", src, target, [r.id], r.ts_us)
        elif exe in _LOGIN_EXES and auid and r.action != "CRED_ACQ":
            links.add("uid_name", ("host_uid", f"uid:{auid}@{scope}"), target, [r.id], r.ts_us)
    # -- pgAudit/PostgreSQL: the client address of a session
    q = select(*_ROW_COLS).where(events.c.action.in_(("login", "connection")))
    for r in (new_rows(q) if "pgaudit" in formats else ()):
        if r.format != "pgaudit" or not r.session:
            continue
        client = _extra(r.extra).get("client")
        alias = _event_alias(r, scopes)
        if client and alias and aliases.has(alias):
            aliases.touch(alias, None, None, 0, str(client))
    # -- GCP: serviceAccountDelegationInfo chains
    gcp = [i for i, f in conn.execute(select(sources.c.id, sources.c.format)) if f == "gcp-audit"]
    q = select(*_ROW_COLS).where(events.c.source_id.in_(gcp), events.c.extra.like('%"delegation"%'))
    for r in (new_rows(q) if "gcp-audit" in formats and gcp else ()):
        if not r.actor:
            continue
        chain = [c for c in (_extra(r.extra).get("delegation") or []) if isinstance(c, str)]
        nodes = [("gcp_principal", c.split(":", 1)[1] if c.startswith(("user:", "serviceAccount:")) else c)
                 for c in chain] + [("gcp_principal", r.actor)]
        for a, b in itertools.pairwise(nodes):
            links.add("sa_delegation", a, b, [r.id], r.ts_us)
    return overrides


def _pod_of(resource: str | None) -> str | None:
    # k8s resource column: "pods/NAMESPACE/NAME"
    if not resource or not resource.startswith("pods/"):
        return None
    parts = resource.split("/")
    return f"{parts[1]}/{parts[2]}" if len(parts) >= 3 else None


# --------------------------------------------------------------------- cross-source
def _global_links(conn: Connection, scopes: dict[int, str], aliases: _AliasTable, links: _Links) -> None:
    _same_name(conn, aliases, links)
    _pod_accounts(conn, aliases, links)
    _ssh_to_audit(conn, scopes, aliases, links)
    _console_logins(conn, aliases, links)
    aliases.flush(conn)
    links.flush(conn)
    _credential_use(conn, scopes, aliases, links)


def _first_event(conn: Connection, aid: int) -> int | None:
    return conn.execute(select(identity_events.c.event_id).where(identity_events.c.alias_id == aid)
                        .order_by(identity_events.c.ts_us, identity_events.c.event_id).limit(1)).scalar()


def _first_seen(conn: Connection, aid: int) -> int | None:
    """The alias's first event, or (for a name only merged from others, like an IAM user whose
    events all count under its key) the first evidence event of a link that names it."""
    first = _first_event(conn, aid)
    if first is not None:
        return first
    return conn.execute(text(
        "SELECT MIN(e.event_id) FROM identity_evidence e JOIN identity_links l ON l.id = e.link_id "
        "WHERE l.from_alias = :a OR l.to_alias = :a"), {"a": aid}).scalar()


_NAMED_KINDS = ("aws_user", "k8s_user", "app_user", "host_user", "db_user", "win_user", "gcp_principal",
                "azure_principal")  # the kinds model.short_name compares
_names_table = Table(
    "identity_names", MetaData(),
    Column("name", Text), Column("alias_id", Integer), Column("kind", Text),
    Index("ix_identity_names", "name"),
    prefixes=["TEMPORARY"],
)


def _same_name(conn: Connection, aliases: _AliasTable, links: _Links) -> None:
    """Weak: the same bare name in different kinds of source (IAM user x and Kubernetes user x).

    The aliases' bare names go to a temporary table a page at a time and are grouped there."""
    a = identity_aliases.c
    n = _names_table.c
    _names_table.create(conn, checkfirst=True)
    try:
        conn.execute(delete(_names_table))
        q = (select(a.id, a.kind, a.value).where(a.first_ts.is_not(None), a.kind.in_(_NAMED_KINDS))
             .order_by(a.id))
        after = 0
        while True:
            page = conn.execute(q.where(a.id > after).limit(20_000)).all()
            if not page:
                break
            after = page[-1].id
            rows = []
            for aid, kind, value in page:
                name = short_name(kind, value)
                if not name or len(name) < 3 or name.lower() in GENERIC_NAMES or name.isdigit():
                    continue
                rows.append((name.lower(), aid, kind))
            if rows:
                dialect.of(conn).insert_rows(conn, _names_table, ("name", "alias_id", "kind"), rows)
        names = [r[0] for r in conn.execute(  # more than one kind, and not a name everybody has
            select(n.name).group_by(n.name).having(func.count(n.kind.distinct()) >= 2, func.count() <= 8)
            .order_by(n.name))]
        for name in names:
            group = list(conn.execute(select(a.id, a.kind, a.value, a.first_ts)
                                      .select_from(_names_table.join(identity_aliases, a.id == n.alias_id))
                                      .where(n.name == name)))
            group.sort(key=lambda x: (x.kind, x.value))  # one direction, any build order
            for i, ra in enumerate(group):
                for rb in group[i + 1:]:
                    if ra.kind == rb.kind:
                        continue
                    ev = [e for e in (_first_seen(conn, ra.id), _first_seen(conn, rb.id)) if e is not None]
                    links.add("same_name", (ra.kind, ra.value), (rb.kind, rb.value), ev,
                              min(x for x in (ra.first_ts, rb.first_ts) if x is not None))
    finally:
        _names_table.drop(conn, checkfirst=True)


def _alias_of(conn: Connection, aid: int) -> Alias:
    a = identity_aliases.c
    r = conn.execute(select(a.kind, a.value).where(a.id == aid)).one()
    return (r.kind, r.value)


def _pod_accounts(conn: Connection, aliases: _AliasTable, links: _Links) -> None:
    """Pod -> service account: strong from the token's pod-name claim, else weak from exec timing and names."""
    execs = conn.execute(text(
        "SELECT l.to_alias, MIN(l.first_ts) FROM identity_links l WHERE l.kind = 'pod_exec' GROUP BY l.to_alias"
    )).all()
    for pod_aid, exec_ts in execs:
        pod = _alias_of(conn, pod_aid)[1]
        ns, _, name = pod.partition("/")
        exec_ids = [r[0] for r in conn.execute(text(
            "SELECT e.event_id FROM identity_evidence e JOIN identity_links l ON l.id = e.link_id "
            "WHERE l.kind = 'pod_exec' AND l.to_alias = :p ORDER BY e.event_id LIMIT 5"), {"p": pod_aid})]
        prefix = f"system:serviceaccount:{ns}:"
        rows = conn.execute(
            select(events.c.id, events.c.ts_us, events.c.actor, events.c.raw)
            .where(events.c.actor >= prefix, events.c.actor < prefix + "\uffff",
                   events.c.ts_us >= exec_ts - EXEC_WINDOW_US, events.c.ts_us <= exec_ts + 4 * EXEC_WINDOW_US)
            .order_by(events.c.actor, events.c.ts_us).limit(2000)).all()
        claimed: dict[str, list[int]] = defaultdict(list)
        for eid, _ts, actor, raw in rows:
            if b"pod-name" not in rawcodec.decode_bytes(raw):
                continue
            user = _raw(raw).get("user") or {}
            extra = user.get("extra") if isinstance(user, dict) else None
            pods = extra.get("authentication.kubernetes.io/pod-name") if isinstance(extra, dict) else None
            if isinstance(pods, list) and name in pods:
                claimed[actor].append(eid)
        if claimed:
            for actor, eids in claimed.items():
                links.add("pod_service_account", ("k8s_pod", pod), ("k8s_sa", actor), eids, exec_ts)
            continue
        # no claim in the records: the namespace's service account named like the pod, active after the exec
        for actor in sorted({a for _, ts, a, _ in rows if ts >= exec_ts}):
            sa = actor[len(prefix):]
            if sa and name.startswith(sa + "-"):
                first = next(eid for eid, ts, a, _ in rows if a == actor and ts >= exec_ts)
                links.add("exec_service_account", ("k8s_pod", pod), ("k8s_sa", actor), exec_ids[:1] + [first],
                          exec_ts)


def _ssh_to_audit(conn: Connection, scopes: dict[int, str], aliases: _AliasTable, links: _Links) -> None:
    """sshd 'Accepted' (pid, address, time) -> the auditd login of the same sshd process (ses)."""
    logins = []
    a = identity_aliases.c
    values: dict[int, str] = {}
    for aid, value, first_ts, src_ips in conn.execute(select(a.id, a.value, a.first_ts, a.src_ips)
                                                      .where(a.kind == "ssh_session").order_by(a.id)):
        m = re.match(r"^sshd\[(\d+)\]@(.*)/[^/]+$", value)
        if m and first_ts is not None:
            logins.append((m.group(1), m.group(2), first_ts, set(json.loads(src_ips or "[]")), aid))
            values[aid] = value
    if not logins:
        return
    q = select(*_ROW_COLS).where(events.c.format == "auditd", events.c.action.in_(("USER_LOGIN", "USER_START")),
                                 events.c.session.is_not(None), events.c.session != UNSET_ID)
    audit = []
    for r in conn.execute(q):
        exe = PurePath(r.resource or "").name
        if exe not in ("sshd", "sshd-session"):
            continue
        pid = str(_extra(r.extra).get("pid") or "")
        if pid:
            audit.append((pid, r))
    ssh_ids = {aid: [e for e, in conn.execute(select(identity_events.c.event_id)
                                                 .where(identity_events.c.alias_id == aid).limit(1))]
               for *_, aid in logins}
    for pid, host, ts, ips, aid in logins:
        for apid, r in audit:
            if apid != pid or abs(r.ts_us - ts) > SSH_AUDIT_SKEW_US:
                continue
            if r.src_ip and ips and r.src_ip not in ips:
                continue
            if r.host and r.host != host:
                continue
            scope = r.host or scopes.get(r.source_id, "")
            links.add("ssh_audit_session", ("ssh_session", values[aid]),
                      ("host_session", f"ses:{r.session}@{scope}"), ssh_ids[aid] + [r.id], ts)


def _console_logins(conn: Connection, aliases: _AliasTable, links: _Links) -> None:
    """ConsoleLogin of an IAM user -> the first temporary key its console session then signs with."""
    q = select(*_ROW_COLS).where(events.c.action == "ConsoleLogin")
    logins = [r for r in conn.execute(q) if r.format == "cloudtrail" and r.outcome == "success" and r.actor]
    if not logins:
        return
    # user -> [(first_ts, key alias)]: the user's temporary keys that no STS call issued
    users: dict[Alias, int] = {}
    for r in logins:
        who = aws_principal_alias(r.actor, r.actor_type, r.actor_uid)
        if who not in users:
            uid = aliases.id_of(who)
            if uid is not None:
                users[who] = uid
    keys_of: dict[int, list[tuple[int, int]]] = defaultdict(list)
    uids = sorted(set(users.values()))
    values: dict[int, str] = {}
    for i in range(0, len(uids), 500):
        for k, u, value, first_ts in conn.execute(text(
                "SELECT l.from_alias, l.to_alias, a.value, a.first_ts FROM identity_links l "
                "JOIN identity_aliases a ON a.id = l.from_alias "
                "WHERE l.kind = 'access_key' AND l.to_alias IN (" + ", ".join(str(int(x)) for x in uids[i:i + 500])
                + ") AND a.first_ts IS NOT NULL AND NOT EXISTS (SELECT 1 FROM identity_links s "
                "WHERE s.to_alias = l.from_alias AND s.kind IN ('assumed_session', 'session_credential'))")):
            if value.startswith("ASIA"):
                keys_of[u].append((first_ts, k))
                values[k] = value
    for lst in keys_of.values():
        lst.sort()
    claimed: set[int] = set()
    for r in sorted(logins, key=lambda x: x.ts_us):
        who = aws_principal_alias(r.actor, r.actor_type, r.actor_uid)
        uid = users.get(who)
        keys = keys_of.get(uid, []) if uid is not None else []
        i = bisect.bisect_left(keys, (r.ts_us, -1))
        while i < len(keys) and keys[i][0] <= r.ts_us + CONSOLE_WINDOW_US and keys[i][1] in claimed:
            i += 1
        if i < len(keys) and keys[i][0] <= r.ts_us + CONSOLE_WINDOW_US:
            k = keys[i][1]
            claimed.add(k)
            first = _first_event(conn, k)
            links.add("console_login", who, ("aws_key", values[k]), [r.id] + ([first] if first else []),
                      r.ts_us)


def _credential_use(conn: Connection, scopes: dict[int, str], aliases: _AliasTable, links: _Links) -> None:
    """Weak: a secret or key file is read; within the window another principal acts from an address of the reader."""
    q = select(*_ROW_COLS).where(events.c.format == "k8s-audit", events.c.outcome == "success",
                                 events.c.action == "get secrets")
    reads = list(conn.execute(q))
    q = select(*_ROW_COLS).where(events.c.format == "auditd", events.c.outcome == "success",
                                 events.c.resource.is_not(None))
    reads.extend(r for r in conn.execute(q.where(or_(*[events.c.resource.like(p) for p in (
        "%/.ssh/id_%", "%/.aws/credentials", "%.pem", "%/.kube/config")]))) if _KEY_FILE.search(r.resource or ""))
    if not reads:
        return
    _components(conn)  # the reader's own identity is excluded from its credential's uses
    known: dict[Alias, Any] = {}  # alias -> stored (id, identity_id, first_ts) or None, for this pass

    def row_of(alias: Alias) -> Any:
        if alias not in known:
            known[alias] = aliases.lookup(alias)
        return known[alias]

    # exec sessions: pod -> (caller alias, caller address, exec ts, event id)
    execs: dict[int, list[tuple[Alias, str | None, int, int]]] = defaultdict(list)
    for lid, fa, ta in conn.execute(text("SELECT id, from_alias, to_alias FROM identity_links WHERE kind='pod_exec'")):
        for (eid,) in conn.execute(select(identity_evidence.c.event_id).where(identity_evidence.c.link_id == lid)):
            ev = conn.execute(select(events.c.src_ip, events.c.ts_us).where(events.c.id == eid)).first()
            if ev:
                execs[ta].append((_alias_of(conn, fa), ev.src_ip, ev.ts_us, eid))
    pods_of_sa: dict[int, list[int]] = defaultdict(list)
    for fa, ta in conn.execute(text("SELECT from_alias, to_alias FROM identity_links "
                                    "WHERE kind IN ('pod_service_account', 'exec_service_account')")):
        pods_of_sa[ta].append(fa)
    for r in reads:
        reader = _event_alias(r, scopes)
        if reader is None:
            continue
        rrow = row_of(reader)
        if rrow is None:
            continue
        rid = rrow.id
        # the addresses the read came from: its own, and those of execs into the reader's pods shortly before
        origins: list[tuple[str, list[int], set[int]]] = []
        if r.src_ip:
            origins.append((r.src_ip, [r.id], {rrow.identity_id}))
        for pod in pods_of_sa.get(rid, []):
            for caller, ip, ts, eid in execs.get(pod, []):
                if ip and ts <= r.ts_us <= ts + EXEC_WINDOW_US:
                    crow = row_of(caller)
                    ident = {rrow.identity_id}
                    if crow is not None:
                        ident.add(crow.identity_id)
                    origins.append((ip, [eid, r.id], ident))
        for ip, ev_ids, own in origins:
            uses = conn.execute(
                select(events.c.id, events.c.ts_us, events.c.format, events.c.source_id, events.c.actor,
                       events.c.actor_type, events.c.actor_uid, events.c.session, events.c.host, events.c.action)
                .where(events.c.src_ip == ip, events.c.ts_us > r.ts_us, events.c.ts_us <= r.ts_us + USE_WINDOW_US)
                .order_by(events.c.src_ip, events.c.ts_us).limit(5000)).all()
            seen: set[Alias] = set()
            for u in uses:
                user = _event_alias(u, scopes)
                if user is None or user in seen:
                    continue
                urow = row_of(user)
                if urow is None:
                    continue
                seen.add(user)
                if urow.identity_id in own:
                    continue
                act = (u.action or "").lower().replace(".", "_")
                is_login = any(a in act for a in _LOGIN_ACTIONS)
                new_after_read = urow.first_ts is not None and urow.first_ts > r.ts_us
                if not (is_login or new_after_read):
                    continue
                links.add("credential_use", reader, user, ev_ids + [u.id], r.ts_us, count=len(ev_ids) + 1)


_cc_table = Table(
    "identity_cc", MetaData(), Column("id", Integer, primary_key=True), Column("label", Integer, nullable=False),
    prefixes=["TEMPORARY"],
)
_cc_edges = Table(
    "identity_cc_edges", MetaData(), Column("a", Integer, nullable=False), Column("b", Integer, nullable=False),
    Index("ix_identity_cc_edges", "a", "b"),
    prefixes=["TEMPORARY"],
)


def _components(conn: Connection) -> int:
    """Identities: the connected components of the merging strong links (never through a
    shared alias), numbered by their smallest alias id.

    Computed in the index, not in memory: every alias starts labelled with its own id; each
    round gives every alias the smallest label among its neighbours', then lets every label
    jump to its own label's label, until a round changes nothing (rounds grow with the log
    of a component's diameter, not with the number of aliases)."""
    merging = ", ".join(f"'{k}'" for k, v in LINK_KINDS.items() if v.merges)
    shared = ", ".join(f"'{k}'" for k in sorted(SHARED_KINDS))
    for t in (_cc_table, _cc_edges):
        t.create(conn, checkfirst=True)
    try:
        conn.execute(delete(_cc_table))
        conn.execute(delete(_cc_edges))
        conn.execute(text("INSERT INTO identity_cc (id, label) SELECT id, id FROM identity_aliases"))
        pairs = (f"FROM identity_links l JOIN identity_aliases x ON x.id = l.from_alias "
                 f"JOIN identity_aliases y ON y.id = l.to_alias WHERE l.kind IN ({merging}) "
                 f"AND x.kind NOT IN ({shared}) AND y.kind NOT IN ({shared})")
        conn.execute(text(f"INSERT INTO identity_cc_edges (a, b) SELECT l.from_alias, l.to_alias {pairs}"))
        conn.execute(text(f"INSERT INTO identity_cc_edges (a, b) SELECT l.to_alias, l.from_alias {pairs}"))
        for t in (_cc_table, _cc_edges):
            dialect.of(conn).analyze(conn, t)
        while True:
            moved = conn.execute(text(
                "UPDATE identity_cc SET label = m.lab FROM (SELECT e.a AS id, MIN(c.label) AS lab "
                "FROM identity_cc_edges e JOIN identity_cc c ON c.id = e.b GROUP BY e.a) m "
                "WHERE m.id = identity_cc.id AND m.lab < identity_cc.label")).rowcount
            if not moved:
                break
            conn.execute(text(
                "UPDATE identity_cc SET label = p.label FROM identity_cc p "
                "WHERE p.id = identity_cc.label AND p.label < identity_cc.label"))
        conn.execute(text(
            "UPDATE identity_aliases SET identity_id = c.label FROM identity_cc c "
            "WHERE c.id = identity_aliases.id AND identity_aliases.identity_id <> c.label"))
        return conn.execute(text("SELECT COUNT(DISTINCT label) FROM identity_cc")).scalar_one()
    finally:
        for t in (_cc_edges, _cc_table):
            t.drop(conn, checkfirst=True)
