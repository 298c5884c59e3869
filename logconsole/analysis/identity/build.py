"""Build the identity graph from the indexed events, incrementally.

One build reads only the events added since the last one (``meta``
``identity.last_event_id``):

1. one ``GROUP BY`` over the new events' identity columns gives each distinct
   combination with its time range, count, addresses and user agents; every
   combination is mapped to its primary alias and the merging links it proves
   (:mod:`.aliases`) - Python runs per combination, not per event;
2. ``identity_events`` gets one row per event (its primary alias) from one
   ``INSERT … SELECT`` joining the events with the combination map;
3. the few records whose links live in fields the columns do not hold are read
   whole: CloudTrail STS and credential-creating calls, Kubernetes exec and
   impersonation, sshd logins, auditd login/sudo records, sudo/su lines, GCP
   delegation chains;
4. links that join events across sources or time (sshd login -> auditd session,
   pod -> service account, console login -> session, same name, credential read ->
   use) are recomputed over the whole index: their inputs are small sets found by
   indexed columns;
5. identities are the connected components of the merging strong links
   (union-find), numbered by their smallest alias id.
"""

from __future__ import annotations

import bisect
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


class _Row:
    """One alias in memory (slots: a million aliases must not cost a gigabyte)."""

    __slots__ = ("events", "first_ts", "id", "identity_id", "kind", "last_ts", "value")

    def __init__(self, id: int, kind: str, value: str, identity_id: int, first_ts: int | None, last_ts: int | None,
                 events: int) -> None:
        self.id, self.kind, self.value, self.identity_id = id, kind, value, identity_id
        self.first_ts, self.last_ts, self.events = first_ts, last_ts, events

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self, key, value)


class _AliasTable:
    """The aliases in memory (there are far fewer aliases than events)."""

    def __init__(self, conn: Connection) -> None:
        self.ids: dict[Alias, int] = {}
        self.rows: dict[int, _Row] = {}
        self.lists: dict[int, tuple[list[str], list[str]]] = {}  # addresses, user agents (few aliases have them)
        self.dirty: set[int] = set()
        self.new: set[int] = set()
        a = identity_aliases.c
        for r in conn.execute(select(a.id, a.kind, a.value, a.identity_id, a.first_ts, a.last_ts, a.events,
                                     a.src_ips, a.user_agents)):
            self.ids[(r.kind, r.value)] = r.id
            self.rows[r.id] = _Row(r.id, r.kind, r.value, r.identity_id, r.first_ts, r.last_ts, r.events)
            if r.src_ips or r.user_agents:
                self.lists[r.id] = (json.loads(r.src_ips or "[]"), json.loads(r.user_agents or "[]"))
        self.next_id = max(self.rows, default=0) + 1

    def get(self, alias: Alias) -> int:
        aid = self.ids.get(alias)
        if aid is None:
            aid = self.next_id
            self.next_id += 1
            self.ids[alias] = aid
            self.rows[aid] = _Row(aid, alias[0], alias[1], aid, None, None, 0)
            self.new.add(aid)
        return aid

    def touch(self, aid: int, first: int | None, last: int | None, count: int = 0,
              ip: str | None = None, ua: str | None = None) -> None:
        row = self.rows[aid]
        if first is not None and (row.first_ts is None or first < row.first_ts):
            row.first_ts = first
        if last is not None and (row.last_ts is None or last > row.last_ts):
            row.last_ts = last
        row.events += count
        if ip or ua:
            ips, uas = self.lists.setdefault(aid, ([], []))
            if ip and ip not in ips and len(ips) < LIST_CAP:
                ips.append(ip)
            if ua and ua not in uas and len(uas) < LIST_CAP:
                uas.append(ua)
        if aid not in self.new:
            self.dirty.add(aid)

    def flush(self, conn: Connection) -> None:
        def out(aid: int) -> tuple:
            r = self.rows[aid]
            ips, uas = self.lists.get(aid, ([], []))
            return (r.identity_id, r.first_ts, r.last_ts, r.events, json.dumps(ips) if ips else None,
                    json.dumps(uas) if uas else None, r.kind, r.value, r.id)

        if self.new:
            dialect.of(conn).insert_rows(conn, identity_aliases, ("identity_id", "first_ts", "last_ts", "events",
                                                                  "src_ips", "user_agents", "kind", "value", "id"),
                                         [out(a) for a in sorted(self.new)])
        if self.dirty:
            _update_rows(conn, "UPDATE identity_aliases SET first_ts = ?, last_ts = ?, events = ?, src_ips = ?, "
                               "user_agents = ? WHERE id = ?", [(*out(a)[1:6], a) for a in sorted(self.dirty)])
        self.new.clear()
        self.dirty.clear()


class _Links:
    """Links with their evidence, merged into what is stored.

    Pending links are ``[first_ts, count, ids]`` lists; writes go through the driver's
    ``executemany`` (hundreds of thousands of rows: SQLAlchemy's per-row parameter
    processing cost more than the inserts)."""

    _MERGING = frozenset(k for k, v in LINK_KINDS.items() if v.merges and k != "same_name")

    def __init__(self, conn: Connection, aliases: _AliasTable) -> None:
        self.aliases = aliases
        self.pending: dict[tuple[str, int, int], list[Any]] = {}
        self.stored: dict[tuple[str, int, int], list[Any]] = {}  # key -> [id, first_ts, count]
        t = identity_links.c
        for lid, kind, fa, tb, first, count in conn.execute(
                select(t.id, t.kind, t.from_alias, t.to_alias, t.first_ts, t.evidence_count)):
            self.stored[(kind, fa, tb)] = [lid, first, count]
        self._old_ids = {v[0] for v in self.stored.values()}

    def forget(self, kinds: tuple[str, ...]) -> None:
        self.stored = {k: v for k, v in self.stored.items() if k[0] not in kinds}

    def add(self, kind: str, a: Alias, b: Alias, event_ids: list[int] | tuple[int, ...], ts: int | None,
            count: int | None = None) -> None:
        if a == b:
            return
        get = self.aliases.get
        fa, tb = get(a), get(b)
        key = (kind, fa, tb)
        p = self.pending.get(key)
        if p is None and kind in self._MERGING:  # merging links are symmetric: one row per pair
            rev = (kind, tb, fa)
            if rev in self.pending or rev in self.stored:
                key = rev
                p = self.pending.get(rev)
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
        ev_rows: list[tuple[int, int]] = []
        new_rows: list[tuple] = []
        upd: list[tuple] = []
        next_id = (conn.execute(select(func.max(identity_links.c.id))).scalar() or 0) + 1
        for key, (first, count, ids) in self.pending.items():
            kind, fa, tb = key
            st = self.stored.get(key)
            if st is None:
                lid = next_id
                next_id += 1
                new_rows.append((lid, kind, fa, tb, LINK_KINDS[kind].strength, first, count))
                self.stored[key] = [lid, first, count]
                have = 0
            else:
                lid = st[0]
                have = min(st[2], EVIDENCE_CAP)
                if first is not None and (st[1] is None or first < st[1]):
                    st[1] = first
                st[2] += count
                upd.append((st[2], st[1], lid))
            ev_rows.extend((lid, e) for e in ids[:max(0, EVIDENCE_CAP - have)])
        if new_rows:
            dialect.of(conn).insert_rows(conn, identity_links, ("id", "kind", "from_alias", "to_alias", "strength",
                                                                "first_ts", "evidence_count"), new_rows)
        if upd:
            _update_rows(conn, "UPDATE identity_links SET evidence_count = ?, first_ts = ? WHERE id = ?", upd)
        if ev_rows:
            have_ev: set[tuple[int, int]] = set()
            old = [r for r in {lid for lid, _ in ev_rows} if r in self._old_ids]
            for i in range(0, len(old), 500):
                have_ev.update((r[0], r[1]) for r in conn.execute(
                    select(identity_evidence.c.link_id, identity_evidence.c.event_id)
                    .where(identity_evidence.c.link_id.in_(old[i:i + 500]))))
            rows = [r for r in dict.fromkeys(ev_rows) if r not in have_ev]
            dialect.of(conn).insert_rows(conn, identity_evidence, ("link_id", "event_id"), rows)
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


def build(engine: Engine, *, rebuild: bool = False) -> BuildStats:
    """Add the events indexed since the last build to the identity graph."""
    with gc_paused():  # ~200,000 small alias/link containers: see logconsole.util.gcpause
        return _build(engine, rebuild)


def _build(engine: Engine, rebuild: bool) -> BuildStats:
    stats = BuildStats()
    t0 = time.perf_counter()
    with engine.begin() as conn:
        if rebuild:
            for t in (identity_events, identity_evidence, identity_links, identity_aliases):
                conn.execute(delete(t))
            meta_set(conn, META_LAST, "0")
        last = int(meta_get(conn, META_LAST, "0") or 0)
        top = conn.execute(select(func.max(events.c.id))).scalar() or 0
        if top <= last:
            stats.seconds = time.perf_counter() - t0
            return stats
        scopes = _scopes(conn)
        aliases = _AliasTable(conn)
        links = _Links(conn, aliases)
        rng = and_(events.c.id > last, events.c.id <= top)

        tp = time.perf_counter()
        combo_map, formats = _combinations(conn, rng, scopes, aliases, links, stats)
        stats.phases["combinations"] = time.perf_counter() - tp

        tp = time.perf_counter()
        _map_events(conn, last, top, combo_map)
        stats.phases["event map"] = time.perf_counter() - tp

        tp = time.perf_counter()
        overrides = _record_links(conn, last, top, formats, scopes, aliases, links)
        stats.phases["record links"] = time.perf_counter() - tp

        aliases.flush(conn)
        links.flush(conn)
        _apply_overrides(conn, overrides, aliases)

        tp = time.perf_counter()
        stale = [r[0] for r in conn.execute(select(identity_links.c.id)
                                            .where(identity_links.c.kind.in_(_GLOBAL_KINDS)))]
        if stale:
            for i in range(0, len(stale), 500):
                conn.execute(delete(identity_evidence).where(identity_evidence.c.link_id.in_(stale[i:i + 500])))
            conn.execute(delete(identity_links).where(identity_links.c.kind.in_(_GLOBAL_KINDS)))
        links.forget(_GLOBAL_KINDS)
        _global_links(conn, scopes, aliases, links)
        aliases.flush(conn)
        links.flush(conn)
        stats.phases["cross-source links"] = time.perf_counter() - tp

        tp = time.perf_counter()
        stats.identities = _components(conn, aliases)
        stats.phases["identities"] = time.perf_counter() - tp
        meta_set(conn, META_LAST, str(top))
        stats.events = top - last
        stats.aliases = len(aliases.rows)
        stats.links = conn.execute(select(func.count()).select_from(identity_links)).scalar_one()
    stats.seconds = time.perf_counter() - t0
    return stats


_COMBO_COLS = ("format", "source_id", "actor", "actor_type", "actor_uid", "session", "host")


def _combinations(conn: Connection, rng, scopes: dict[int, str], aliases: _AliasTable, links: _Links,
                  stats: BuildStats) -> tuple[dict[tuple, int], set[str]]:
    """One GROUP BY over the new events' identity columns; Python runs once per combination.

    ``target_user`` is grouped too: a Kubernetes impersonation and a sudo/su line name their
    target there, so those links come from this pass instead of another scan."""
    cols = [events.c[c] for c in _COMBO_COLS]
    switch = case((and_(events.c.format == "syslog-auth", events.c.target_user.is_not(None),
                        events.c.outcome == "success"), events.c.action), else_=None)
    q = (select(*cols, events.c.target_user, switch, func.min(events.c.ts_us), func.max(events.c.ts_us),
                func.count(), func.min(events.c.id))
         .where(rng, or_(events.c.actor.is_not(None), events.c.session.is_not(None)))
         .group_by(*cols, events.c.target_user, switch))
    combo_map: dict[tuple, int] = {}
    formats: set[str] = set()
    memo: dict[tuple, tuple[Alias | None, list[LinkSpec]]] = {}
    for r in _rows(conn.execute(q)):
        fmt, sid, actor, atype, auid, sess, host, target, action, first, last, n, min_id = r
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
        aid = aliases.get(primary)
        aliases.touch(aid, first, last, n)
        combo_map[(fmt, sid, actor, atype, auid, sess, host)] = aid
        for kind, a, b in combo_links:
            if a != primary:
                aliases.touch(aliases.get(a), first, last, 0)
            if b != primary:
                aliases.touch(aliases.get(b), first, last, 0)
            links.add(kind, a, b, [min_id], first, count=n)
        if target and actor and target != actor:
            if fmt == "k8s-audit":  # target_user is the impersonated user
                tgt = k8s_alias(target)
                aliases.touch(aliases.get(tgt), first, last, 0)
                links.add("impersonation", primary, tgt, [min_id], first, count=n)
            elif fmt == "syslog-auth" and action in ("sudo", "session_open"):
                tgt = ("host_user", f"{target}@{scope}")
                aliases.touch(aliases.get(tgt), first, last, 0)
                links.add("sudo", primary, tgt, [min_id], first, count=n)
    return combo_map, formats


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
            aliases.rows[aid]["events"] += delta


def _event_alias(r, scopes: dict[int, str]) -> Alias | None:
    scope = r.host or scopes.get(r.source_id, f"source {r.source_id}")
    return combo_aliases(r.format, scope, r.actor, r.actor_type, r.actor_uid, r.session)[0]


_ROW_COLS = (events.c.id, events.c.ts_us, events.c.format, events.c.source_id, events.c.action, events.c.outcome,
             events.c.actor, events.c.actor_type, events.c.actor_uid, events.c.session, events.c.target_user,
             events.c.src_ip, events.c.user_agent, events.c.host, events.c.resource, events.c.extra)


def _record_links(conn: Connection, last: int, top: int, formats: set[str], scopes: dict[int, str],
                  aliases: _AliasTable, links: _Links) -> dict[int, tuple[int, int, Alias]]:
    """Links proven by single records whose fields the columns do not hold.

    Each query selects by ``action`` (indexed) and the new id range is checked here, so the
    planner never walks the whole id range for a handful of records; formats without new
    events are skipped."""
    overrides: dict[int, tuple[int, int, Alias]] = {}

    def new_rows(q):
        return (r for r in conn.execute(q) if last < r.id <= top)
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
        if client and alias and alias in aliases.ids:
            aliases.touch(aliases.ids[alias], None, None, 0, str(client))
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


def _same_name(conn: Connection, aliases: _AliasTable, links: _Links) -> None:
    """Weak: the same bare name in different kinds of source (IAM user x and Kubernetes user x)."""
    by_name: dict[str, list[int]] = defaultdict(list)
    for aid, row in aliases.rows.items():
        if row["first_ts"] is None:
            continue
        name = short_name(row["kind"], row["value"])
        if not name or len(name) < 3 or name.lower() in GENERIC_NAMES or name.isdigit():
            continue
        by_name[name.lower()].append(aid)
    for group in by_name.values():
        kinds = {aliases.rows[a]["kind"] for a in group}
        if len(kinds) < 2 or len(group) > 8:  # one kind only, or a name everybody has
            continue
        group.sort(key=lambda x: (aliases.rows[x]["kind"], aliases.rows[x]["value"]))  # one direction, any build order
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                ra, rb = aliases.rows[a], aliases.rows[b]
                if ra["kind"] == rb["kind"]:
                    continue
                ev = [e for e in (_first_seen(conn, a), _first_seen(conn, b)) if e is not None]
                links.add("same_name", (ra["kind"], ra["value"]), (rb["kind"], rb["value"]), ev,
                          min(x for x in (ra["first_ts"], rb["first_ts"]) if x is not None))


def _pod_accounts(conn: Connection, aliases: _AliasTable, links: _Links) -> None:
    """Pod -> service account: strong from the token's pod-name claim, else weak from exec timing and names."""
    execs = conn.execute(text(
        "SELECT l.to_alias, MIN(l.first_ts) FROM identity_links l WHERE l.kind = 'pod_exec' GROUP BY l.to_alias"
    )).all()
    for pod_aid, exec_ts in execs:
        pod = aliases.rows[pod_aid]["value"]
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
    for aid, row in aliases.rows.items():
        if row["kind"] != "ssh_session":
            continue
        m = re.match(r"^sshd\[(\d+)\]@(.*)/[^/]+$", row["value"])
        if m and row["first_ts"] is not None:
            logins.append((m.group(1), m.group(2), row.first_ts, set(aliases.lists.get(aid, ([], []))[0]), aid))
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
            links.add("ssh_audit_session", ("ssh_session", aliases.rows[aid]["value"]),
                      ("host_session", f"ses:{r.session}@{scope}"), ssh_ids[aid] + [r.id], ts)


def _console_logins(conn: Connection, aliases: _AliasTable, links: _Links) -> None:
    """ConsoleLogin of an IAM user -> the first temporary key its console session then signs with."""
    q = select(*_ROW_COLS).where(events.c.action == "ConsoleLogin")
    logins = [r for r in conn.execute(q) if r.format == "cloudtrail" and r.outcome == "success" and r.actor]
    if not logins:
        return
    issued = {r[0] for r in conn.execute(text(
        "SELECT to_alias FROM identity_links WHERE kind IN ('assumed_session', 'session_credential')"))}
    keys_of: dict[int, list[tuple[int, int]]] = defaultdict(list)  # user -> [(first_ts, key alias)]
    for k, u in conn.execute(text("SELECT from_alias, to_alias FROM identity_links WHERE kind = 'access_key'")):
        krow = aliases.rows[k]
        if krow.value.startswith("ASIA") and krow.first_ts is not None and k not in issued:
            keys_of[u].append((krow.first_ts, k))
    for lst in keys_of.values():
        lst.sort()
    claimed: set[int] = set()
    for r in sorted(logins, key=lambda x: x.ts_us):
        who = aws_principal_alias(r.actor, r.actor_type, r.actor_uid)
        uid = aliases.ids.get(who)
        keys = keys_of.get(uid, []) if uid is not None else []
        i = bisect.bisect_left(keys, (r.ts_us, -1))
        while i < len(keys) and keys[i][0] <= r.ts_us + CONSOLE_WINDOW_US and keys[i][1] in claimed:
            i += 1
        if i < len(keys) and keys[i][0] <= r.ts_us + CONSOLE_WINDOW_US:
            k = keys[i][1]
            claimed.add(k)
            first = _first_event(conn, k)
            links.add("console_login", who, ("aws_key", aliases.rows[k].value), [r.id] + ([first] if first else []),
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
    _components(conn, aliases)  # the reader's own identity is excluded from its credential's uses
    # exec sessions: pod -> (caller alias, caller address, exec ts, event id)
    execs: dict[int, list[tuple[Alias, str | None, int, int]]] = defaultdict(list)
    for lid, fa, ta in conn.execute(text("SELECT id, from_alias, to_alias FROM identity_links WHERE kind='pod_exec'")):
        for (eid,) in conn.execute(select(identity_evidence.c.event_id).where(identity_evidence.c.link_id == lid)):
            ev = conn.execute(select(events.c.src_ip, events.c.ts_us).where(events.c.id == eid)).first()
            if ev:
                execs[ta].append(((aliases.rows[fa]["kind"], aliases.rows[fa]["value"]), ev.src_ip, ev.ts_us, eid))
    pods_of_sa: dict[int, list[int]] = defaultdict(list)
    for fa, ta in conn.execute(text("SELECT from_alias, to_alias FROM identity_links "
                                    "WHERE kind IN ('pod_service_account', 'exec_service_account')")):
        pods_of_sa[ta].append(fa)
    for r in reads:
        reader = _event_alias(r, scopes)
        if reader is None or reader not in aliases.ids:
            continue
        rid = aliases.ids[reader]
        # the addresses the read came from: its own, and those of execs into the reader's pods shortly before
        origins: list[tuple[str, list[int], set[int]]] = []
        if r.src_ip:
            origins.append((r.src_ip, [r.id], {aliases.rows[rid]["identity_id"]}))
        for pod in pods_of_sa.get(rid, []):
            for caller, ip, ts, eid in execs.get(pod, []):
                if ip and ts <= r.ts_us <= ts + EXEC_WINDOW_US:
                    cid = aliases.ids.get(caller)
                    ident = {aliases.rows[rid]["identity_id"]}
                    if cid:
                        ident.add(aliases.rows[cid]["identity_id"])
                    origins.append((ip, [eid, r.id], ident))
        for ip, ev_ids, own in origins:
            uses = conn.execute(
                select(events.c.id, events.c.ts_us, events.c.format, events.c.source_id, events.c.actor,
                       events.c.actor_type, events.c.actor_uid, events.c.session, events.c.host, events.c.action)
                .where(events.c.src_ip == ip, events.c.ts_us > r.ts_us, events.c.ts_us <= r.ts_us + USE_WINDOW_US)
                .order_by(events.c.src_ip, events.c.ts_us).limit(5000))
            seen: set[Alias] = set()
            for u in uses:
                user = _event_alias(u, scopes)
                if user is None or user in seen or user not in aliases.ids:
                    continue
                seen.add(user)
                urow = aliases.rows[aliases.ids[user]]
                if urow["identity_id"] in own:
                    continue
                act = (u.action or "").lower().replace(".", "_")
                is_login = any(a in act for a in _LOGIN_ACTIONS)
                new_after_read = urow["first_ts"] is not None and urow["first_ts"] > r.ts_us
                if not (is_login or new_after_read):
                    continue
                links.add("credential_use", reader, user, ev_ids + [u.id], r.ts_us, count=len(ev_ids) + 1)


def _components(conn: Connection, aliases: _AliasTable) -> int:
    """Identities: union-find over the merging strong links (never through a shared alias)."""
    rows = aliases.rows
    parent = {aid: aid for aid in rows}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    merging = [k for k, v in LINK_KINDS.items() if v.merges]
    for fa, ta in _rows(conn.execute(select(identity_links.c.from_alias, identity_links.c.to_alias)
                                     .where(identity_links.c.kind.in_(merging)))):
        if rows[fa].kind in SHARED_KINDS or rows[ta].kind in SHARED_KINDS:
            continue
        ra, rb = find(fa), find(ta)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    changed = []
    roots = set()
    for aid, row in rows.items():
        root = find(aid)
        roots.add(root)
        if row.identity_id != root:
            row.identity_id = root
            changed.append((root, aid))
    if changed:
        _update_rows(conn, "UPDATE identity_aliases SET identity_id = ? WHERE id = ?", changed)
    return len(roots)
