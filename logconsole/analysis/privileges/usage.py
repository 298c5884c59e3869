"""What each actor did, from the index, as SQL aggregations.

Nothing here loops over events in Python except denied events (few): the
per-actor / per-action figures are ``GROUP BY`` queries, so the cost is a few
scans of the events table whatever its size (see benchmarks/bench_actors.py).
"""

from __future__ import annotations

import json
import re
import time
import zlib
from dataclasses import dataclass, field
from typing import Any
from sqlalchemy import ColumnElement, and_, case, func, literal, not_, or_, select

from logconsole.analysis.privileges import mapping
from logconsole.store import dialect
from logconsole.store.schema import events

E = events.c
CT = "cloudtrail"
K8S = "k8s-audit"
_GENERIC_DENIED = re.compile(r"denied|forbidden|not permitted|unauthori|insufficient.privilege|eacces|eperm|permission", re.I)


@dataclass
class Used:
    key: str  # privilege action (s3:ListBucket, k8s:core/pods:list, generic action)
    resource: str | None = None  # k8s: NS/NAME; generic: events.resource; AWS: None (action level)
    count: int = 0
    first: int | None = None
    last: int | None = None
    first_id: int | None = None
    last_id: int | None = None
    raw: set[tuple[str | None, str | None]] = field(default_factory=set)  # (service, events.action) pairs
    targets: set[str] = field(default_factory=set)  # IAM target users (escalation "for another user")

    def add(self, n: int, first: int, last: int, fid: int, lid: int) -> None:
        self.count += n
        self.first = first if self.first is None else min(self.first, first)
        self.last = last if self.last is None else max(self.last, last)
        self.first_id = fid if self.first_id is None else min(self.first_id, fid)
        self.last_id = lid if self.last_id is None else max(self.last_id, lid)


@dataclass
class DeniedEvent:
    id: int
    ts: int
    key: str
    resource: str | None
    raw_action: str | None
    service: str | None
    code: str | None


@dataclass
class ActorUsage:
    name: str
    provider: str  # aws | k8s | generic
    type: str | None = None
    events: int = 0
    first: int | None = None
    last: int | None = None
    ips: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, int] = field(default_factory=dict)
    groups: set[str] = field(default_factory=set)
    formats: set[str] = field(default_factory=set)
    used: dict[tuple[str, str | None], Used] = field(default_factory=dict)
    denied: list[DeniedEvent] = field(default_factory=list)
    admission: list[DeniedEvent] = field(default_factory=list)  # k8s 403s from admission, not RBAC
    impersonated_by: set[str] = field(default_factory=set)

    def touch(self, n: int, first: int, last: int) -> None:
        self.events += n
        self.first = first if self.first is None else min(self.first, first)
        self.last = last if self.last is None else max(self.last, last)


@dataclass
class UsageData:
    actors: dict[tuple[str, str], ActorUsage]  # (provider, name)
    data_services: set[str]  # AWS services with data events in the window
    window: tuple[int | None, int | None]
    bounds: tuple[int | None, int | None]  # first/last event time in the window
    assumed: dict[str, int] = field(default_factory=dict)  # role ARN -> successful AssumeRole calls



def used_by_action(u: ActorUsage) -> dict[str, tuple[int, int | None, int | None, set[tuple[str | None, str | None]], list[str]]]:
    """Used actions merged over resources: key -> (count, first, last, raw pairs, resources)."""
    out: dict[str, list[Any]] = {}
    for (key, rkey), uu in u.used.items():
        d = out.setdefault(key, [0, None, None, set(), []])
        d[0] += uu.count
        d[1] = uu.first if d[1] is None else min(d[1], uu.first)
        d[2] = uu.last if d[2] is None else max(d[2], uu.last)
        d[3] |= uu.raw
        if rkey and rkey not in d[4]:
            d[4].append(rkey)
    return {k: (d[0], d[1], d[2], d[3], sorted(d[4])) for k, d in out.items()}

def _window(since: int | None, until: int | None):
    cond = []
    if since is not None:
        cond.append(E.ts_us >= since)
    if until is not None:
        cond.append(E.ts_us <= until)
    return cond


def _denied_sql():
    return or_(E.error_code.like("%AccessDenied%"), E.error_code.like("%UnauthorizedOperation%"),
               E.error_code.in_(mapping.DENIED_CODES))


#: shape of the cached aggregate rows (bump when the queries below change)
CACHE_VERSION = 1
_OTHER_USER_APIS = ("CreateAccessKey", "CreateLoginProfile", "UpdateLoginProfile")


def _ct_select(cond):
    """AWS: allowed (non-denied) calls per actor / API, with the target user of
    "for another user" IAM calls."""
    iam_target = case((and_(E.service == "iam.amazonaws.com", E.action.in_(_OTHER_USER_APIS)), E.target_user),
                      else_=None)
    return (
        select(literal("ct"), E.actor, E.actor_type, E.service, E.action, iam_target, func.count(), func.min(E.ts_us),
               func.max(E.ts_us), func.min(E.id), func.max(E.id))
        .where(E.format == CT, E.actor.is_not(None), or_(E.error_code.is_(None), ~_denied_sql()), *cond)
        .group_by(E.actor, E.actor_type, E.service, E.action, iam_target)
    )


_IMP = dialect.json_field_text(E.extra, "impersonated_user")


def _k8s_select(cond):
    """Kubernetes: requests per effective user (the impersonated user, else the
    user), real user, groups, action, namespace, resource and decision."""
    eff = func.coalesce(_IMP, E.actor)
    groups = func.coalesce(dialect.json_field(E.extra, "impersonated_groups"), dialect.json_field(E.extra, "groups"))
    rgroups = dialect.json_field(E.extra, "groups")
    ns = dialect.json_field_text(E.extra, "namespace")
    decision = dialect.json_field_text(E.extra, "decision")
    code = dialect.json_field(E.extra, "code")
    cols = (eff, E.actor, E.actor_type, _IMP, groups, rgroups, E.action, ns, E.resource, decision, code, E.error_code)
    return (
        select(literal("k8s"), *cols, func.count(), func.min(E.ts_us), func.max(E.ts_us), func.min(E.id), func.max(E.id))
        .where(E.format == K8S, E.actor.is_not(None), *cond)
        .group_by(*cols)
    )


def _source_rows(conn, sid: int, fmt: str) -> list[tuple]:
    lo, hi = conn.execute(select(func.min(E.id), func.max(E.id)).where(E.source_id == sid)).one()
    if lo is None:
        return []
    cond = [E.id.between(lo, hi), E.source_id == sid]  # a rowid range: one sequential pass
    q = _ct_select(cond) if fmt == CT else _k8s_select(cond)
    return [tuple(r) for r in conn.execute(q)]


def _aggregate_rows(conn, since: int | None, until: int | None) -> list[tuple]:
    """All aggregate rows for the window.  Whole index: per-source cache (computed
    once per complete source, stored in ``priv_usage_cache``); a window: live."""
    if since is not None or until is not None:
        win = _window(since, until)
        return [tuple(r) for r in conn.execute(_ct_select(win))] + [tuple(r) for r in conn.execute(_k8s_select(win))]
    from logconsole.store.grants_schema import priv_usage_cache as C
    from logconsole.store.schema import sources as S

    srcs = conn.execute(select(S.c.id, S.c.format, S.c.status, S.c.events).where(S.c.format.in_([CT, K8S]))).all()
    cached = {r.source_id: r for r in conn.execute(select(C.c.source_id, C.c.version, C.c.events, C.c.rows))}
    rows: list[tuple] = []
    fresh: list[dict[str, Any]] = []
    for sid, fmt, status, nev in srcs:
        c = cached.get(sid)
        if c is not None and c.version == CACHE_VERSION and c.events == nev and status == "complete":
            rows.extend(tuple(x) for x in _unpack_rows(c.rows))
            continue
        got = _source_rows(conn, sid, fmt)
        rows.extend(got)
        if status == "complete":
            fresh.append({"source_id": sid, "version": CACHE_VERSION, "computed_at": time.time_ns() // 1000,
                          "events": nev or 0, "rows": _pack_rows(got)})
    if fresh:
        _store_cache(conn, fresh)
    return rows


def _pack_rows(rows: list) -> bytes:
    """Cache rows as zlib-compressed JSON (a tenth of the text's size)."""
    return zlib.compress(json.dumps(rows, separators=(",", ":")).encode(), 6)


def _unpack_rows(value: bytes | str) -> list:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return json.loads(zlib.decompress(bytes(value)))
    return json.loads(value)  # written as text by an earlier version


def _store_cache(conn, fresh: list[dict[str, Any]]) -> None:
    from logconsole.store.grants_schema import priv_usage_cache as C

    try:
        with conn.engine.connect() as wconn:
            d = dialect.of(wconn)
            # a cache: never wait long for an ingest that holds the write lock
            with d.short_lock_wait(wconn):
                try:
                    d.upsert_rows(wconn, C, fresh, ["source_id"], ["version", "computed_at", "events", "rows"])
                    wconn.commit()
                except Exception:
                    wconn.rollback()
                    raise
            wconn.commit()
    except Exception:  # read-only index or a concurrent writer: the rows are still used, just not kept
        pass


def precompute(engine, result=None) -> int:
    """Compute the per-source usage aggregates of every complete CloudTrail /
    Kubernetes source that has none yet (a step of the ingest workflow,
    :mod:`logconsole.workflows.ingest`; *result* is unused), so that the first ``logconsole actors`` after an ingest is as fast
    as the next ones.  Returns the number of sources aggregated."""
    from logconsole.store.grants_schema import priv_usage_cache as C
    from logconsole.store.schema import sources as S

    with engine.connect() as conn:
        have = {r[0] for r in conn.execute(select(C.c.source_id).where(C.c.version == CACHE_VERSION))}
        todo = [r for r in conn.execute(select(S.c.id, S.c.format, S.c.events).where(
            S.c.format.in_([CT, K8S]), S.c.status == "complete")) if r[0] not in have]
        fresh = [{"source_id": sid, "version": CACHE_VERSION, "computed_at": time.time_ns() // 1000,
                  "events": nev or 0, "rows": _pack_rows(_source_rows(conn, sid, fmt))}
                 for sid, fmt, nev in todo]
        if fresh:
            _store_cache(conn, fresh)
    return len(fresh)


def collect(conn, since: int | None = None, until: int | None = None, generic_formats: set[str] | None = None,
            only_actor: str | None = None, only_provider: str | None = None) -> UsageData:
    """What every actor (or only *only_actor*) did in the window.  Actors are keyed
    by (provider, name): a Kubernetes user and a portal user may share a name."""
    win = _window(since, until)
    actors: dict[tuple[str, str], ActorUsage] = {}

    def get(name: str, provider: str) -> ActorUsage:
        a = actors.get((provider, name))
        if a is None:
            a = actors[(provider, name)] = ActorUsage(name, provider)
        return a

    rows = _aggregate_rows(conn, since, until)
    ct_rows = [r[1:] for r in rows if r[0] == "ct"]
    k8s_rows = [r[1:] for r in rows if r[0] == "k8s"]

    # ---------------- AWS: allowed (non-denied) calls per actor/action
    all_used: set[str] = set()
    for actor, atype, svc, act, tgt, n, t0, t1, i0, i1 in ct_rows:
        key = mapping.iam_action(svc, act)
        all_used.add(key.lower())
        if only_actor is not None and actor != only_actor:
            continue
        a = get(actor, "aws")
        a.type = a.type or atype
        a.touch(n, t0, t1)
        if key in mapping.IGNORED:
            continue
        u = a.used.get((key, None))
        if u is None:
            u = a.used[(key, None)] = Used(key)
        u.add(n, t0, t1, i0, i1)
        u.raw.add((svc, act))
        if tgt:
            u.targets.add(tgt)
    data_services = {k.split(":", 1)[0] for k in all_used if k in _data_events()}

    # ---------------- AWS: denied calls (individually: few, needed for bursts)
    cond = [E.format == CT, E.actor.is_not(None), *win]
    if only_actor is not None:
        cond.append(E.actor == only_actor)
    q = (
        select(E.id, E.ts_us, E.actor, E.actor_type, E.service, E.action, E.resource, E.error_code,
               dialect.json_field_text(E.extra, "errorMessage"))
        .where(E.outcome == "failure", and_(*cond), E.error_code.is_not(None), _denied_sql())
        .order_by(E.ts_us, E.id)
    )
    for eid, ts, actor, atype, svc, act, res, code, msg in conn.execute(q):
        a = get(actor, "aws")
        a.type = a.type or atype
        a.touch(1, ts, ts)
        a.denied.append(DeniedEvent(eid, ts, mapping.iam_action(svc, act, msg), res, act, svc, code))

    # ---------------- Kubernetes: effective user = impersonated user, else user
    raw_cache: dict[int, str] = {}
    for user, real, atype, impu, grp, rgrp, act, nsv, res, dec, cd, err, n, t0, t1, i0, i1 in k8s_rows:
        if only_actor is not None and only_actor not in (user, real):
            continue
        ka = None if (only_actor is not None and user != only_actor) else get(user, "k8s")
        if impu:
            b = get(real, "k8s") if (only_actor is None or real == only_actor) else None
            if b is not None:
                b.type = b.type or atype
                b.touch(n, t0, t1)
                _add_groups(b, rgrp)
                ik = ("k8s:core/users:impersonate", f"/{impu}")
                iu = b.used.get(ik)
                if iu is None:
                    iu = b.used[ik] = Used(ik[0], ik[1])
                iu.add(n, t0, t1, i0, i1)
                iu.raw.add(("kubernetes", f"impersonate {impu}"))
            if ka is not None:
                ka.impersonated_by.add(real)
        if ka is None:
            continue
        ka.type = (_k8s_type(user) if impu else (ka.type or atype or _k8s_type(user)))
        _add_groups(ka, grp)
        key, url, nonres = mapping.k8s_action(act)
        rkey = url if nonres else mapping.k8s_resource(act, res, nsv)
        is_forbid = dec == "forbid"
        is_admission = False
        if not is_forbid and cd == 403:
            if dec == "allow":
                is_admission = True
            else:  # old logs without the annotation: RBAC says "... is forbidden: User ..."
                msg = _k8s_message(conn, i0, raw_cache)
                is_admission = "admission webhook" in msg.lower()
                is_forbid = not is_admission
        ka.touch(n, t0, t1)
        if is_forbid or is_admission:
            for eid, ts in _ids_times(conn, i0, i1, n, user, act, nsv, res, impu):
                d = DeniedEvent(eid, ts, key, rkey, act, "kubernetes", err)
                (ka.denied if is_forbid else ka.admission).append(d)
            continue
        if cd is not None and isinstance(cd, int) and cd >= 400:
            continue  # failed for another reason (404, 409 ...): not evidence of a permission either way
        u = ka.used.get((key, rkey))
        if u is None:
            u = ka.used[(key, rkey)] = Used(key, rkey)
        u.add(n, t0, t1, i0, i1)
        u.raw.add(("kubernetes", act))
    for ka in actors.values():
        ka.denied.sort(key=lambda d: (d.ts, d.id))

    # ---------------- generic formats named by policy files
    if generic_formats:
        gcond = [E.format.in_(sorted(generic_formats)), E.actor.is_not(None), *win]
        if only_actor is not None:
            gcond.append(E.actor == only_actor)
        q = (
            select(E.actor, E.actor_type, E.format, E.action, E.resource, E.outcome, E.error_code, func.count(),
                   func.min(E.ts_us), func.max(E.ts_us), func.min(E.id), func.max(E.id))
            .where(and_(*gcond))
            .group_by(E.actor, E.actor_type, E.format, E.action, E.resource, E.outcome, E.error_code)
        )
        for actor, atype, fmt, act, res, outc, err, n, t0, t1, i0, i1 in conn.execute(q):
            a = get(actor, "generic")
            a.type = a.type or atype
            a.formats.add(fmt)
            a.touch(n, t0, t1)
            key = (act or "").lower()
            if outc == "failure":
                if err and _GENERIC_DENIED.search(err):
                    for eid, ts in _generic_ids(conn, actor, fmt, act, res, err, n):
                        a.denied.append(DeniedEvent(eid, ts, key, res, act, fmt, err))
                continue  # any other failure (bad password, missing object) is neither use nor denial
            u = a.used.get((key, res))
            if u is None:
                u = a.used[(key, res)] = Used(key, res)
            u.add(n, t0, t1, i0, i1)
            u.raw.add((fmt, act))

    # ---------------- sessions and source addresses (one actor's detail only: indexed by actor)
    if only_actor is not None:
        scond = [E.actor == only_actor, E.format == CT, E.session.is_not(None), *win]
        for actor, sess, n in conn.execute(select(E.actor, E.session, func.count()).where(and_(*scond)).group_by(E.actor, E.session)):
            if ("aws", actor) in actors:
                actors[("aws", actor)].sessions[sess] = n
        fmts = {"aws": [CT], "k8s": [K8S], "generic": sorted(generic_formats or ())}.get(
            only_provider or "", [CT, K8S, *sorted(generic_formats or ())])
        for extra_cond in (E.actor == only_actor, _IMP.op("=")(only_actor)):
            q = (select(E.src_ip, func.count()).where(E.format.in_(fmts), E.src_ip.is_not(None), extra_cond, *win)
                 .group_by(E.src_ip))
            for ip, n in conn.execute(q):
                for a in actors.values():
                    if a.name == only_actor and (only_provider is None or a.provider == only_provider):
                        a.ips[ip] = a.ips.get(ip, 0) + n
    firsts = [a.first for a in actors.values() if a.first is not None]
    lasts = [a.last for a in actors.values() if a.last is not None]
    return UsageData(actors, data_services, (since, until), (min(firsts, default=None), max(lasts, default=None)))


def _add_groups(a: ActorUsage, text: str | None) -> None:
    try:
        for g in json.loads(text) if text else []:
            a.groups.add(str(g))
    except (ValueError, TypeError):
        pass


def _k8s_type(user: str) -> str:
    if user.startswith("system:serviceaccount:"):
        return "ServiceAccount"
    if user.startswith("system:node:"):
        return "Node"
    if user.startswith("system:"):
        return "System"
    return "User"


def _k8s_message(conn, event_id: int, cache: dict[int, str]) -> str:
    if event_id in cache:
        return cache[event_id]
    from logconsole.store.rawcodec import decode

    row = conn.execute(select(E.raw).where(E.id == event_id)).first()
    msg = ""
    if row is not None:
        try:
            obj = json.loads(decode(row[0]))
            msg = str((obj.get("responseStatus") or {}).get("message") or "")
        except (ValueError, AttributeError):
            msg = ""
    cache[event_id] = msg
    return msg


def _ids_times(conn, i0: int, i1: int, n: int, user: str, act: str | None, ns: str | None, res: str | None,
               impu: str | None) -> list[tuple[int, int]]:
    if n == 1 or i0 == i1:
        row = conn.execute(select(E.id, E.ts_us).where(E.id == i0)).first()
        return [(row[0], row[1])] if row else []
    imp = dialect.json_field_text(E.extra, "impersonated_user")
    q = select(E.id, E.ts_us).where(
        E.id.between(i0, i1), E.format == K8S,
        E.action.is_(None) if act is None else E.action == act,
        E.resource.is_(None) if res is None else E.resource == res,
        func.coalesce(imp, E.actor) == user,
    ).order_by(E.id)
    return [(r[0], r[1]) for r in conn.execute(q)]


def _generic_ids(conn, actor, fmt, act, res, err, n) -> list[tuple[int, int]]:
    q = select(E.id, E.ts_us).where(
        E.actor == actor, E.format == fmt, E.action.is_(None) if act is None else E.action == act,
        E.resource.is_(None) if res is None else E.resource == res, E.error_code == err,
    ).order_by(E.id).limit(10000)
    return [(r[0], r[1]) for r in conn.execute(q)]


def _data_events() -> set[str]:
    from logconsole.analysis.privileges.risk import AWS_DATA_EVENTS

    return AWS_DATA_EVENTS


def event_ids(conn, actor: str, provider: str, raw: set[tuple[str | None, str | None]], *, since: int | None = None,
              until: int | None = None, limit: int = 50, target_not: str | None = None,
              exclude: ColumnElement[bool] | None = None) -> list[int]:
    """Evidence: ids of events of *actor* with one of the (service/format, action) pairs."""
    if not raw:
        return []
    win = _window(since, until)
    pairs = []
    for svc, act in raw:
        if provider == "aws":
            pairs.append(and_(E.service.is_(None) if svc is None else E.service == svc, E.action == act))
        elif provider == "k8s":
            pairs.append(E.action == act)
        else:
            pairs.append(and_(E.format == svc, E.action == act))
    if provider == "k8s":
        imp = dialect.json_field_text(E.extra, "impersonated_user")
        who = or_(and_(E.format == K8S, imp == actor), and_(E.format == K8S, imp.is_(None), E.actor == actor))
        imp_pairs = [act.split(" ", 1)[1] for _s, act in raw if act and act.startswith("impersonate ")]
        if imp_pairs:
            who = and_(E.format == K8S, E.actor == actor, imp.in_(imp_pairs))
            pairs = [E.id.is_not(None)]
    else:
        who = E.actor == actor
    q = select(E.id).where(who, or_(*pairs), *win)
    if provider == "aws":
        q = q.where(or_(E.error_code.is_(None), ~_denied_sql()))
    if target_not is not None:
        q = q.where(E.target_user.is_not(None), E.target_user != target_not)
    if exclude is not None:  # coalesce: a condition that is NULL for this event does not exclude it
        q = q.where(not_(func.coalesce(exclude, False)))
    return [r[0] for r in conn.execute(q.order_by(E.ts_us, E.id).limit(limit))]
