"""Per-actor privilege analysis: granted versus used, denied, escalated, dormant.

:func:`analyze` returns one :class:`ActorView` per actor (everyone seen in the
CloudTrail / Kubernetes audit / policy-covered events of the window, plus every
principal of the imported grants), each with its permission rows in one of the
four states, its denied attempts and its findings.  :func:`actor_report`
returns the JSON-able detail for one actor (``logconsole actor NAME --json``).

States (exact names): ``used``, ``unused``, ``unknown`` (not observable in these
logs, or granted after the window started), ``used_not_granted``.
Finding kinds (exact names): ``unused_permission``, ``used_not_granted``,
``denied_attempt``, ``privilege_escalation``, ``dormant``, ``wildcard_grant``,
``sensitive_action``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select

from logconsole.analysis.privileges import catalog as cat
from logconsole.analysis.privileges import mapping, risk
from logconsole.analysis.privileges.evaluate import (
    EffRule,
    effective_aws,
    effective_generic,
    effective_k8s,
    evaluate,
    match_eff,
)
from logconsole.analysis.privileges.grants import GrantSet, load_active
from logconsole.analysis.privileges.model import Principal, Rule
from logconsole.analysis.privileges.usage import ActorUsage, DeniedEvent, Used, UsageData, collect, event_ids
from functools import lru_cache

from logconsole.util.timeparse import format_us as _format_us
from logconsole.store.schema import events

format_us = lru_cache(maxsize=200_000)(_format_us)

STATES = ("used", "unused", "unknown", "used_not_granted")
FINDING_KINDS = ("unused_permission", "used_not_granted", "denied_attempt", "privilege_escalation", "dormant",
                 "wildcard_grant", "sensitive_action")
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2, "info": 3}
#: enumeration burst: at least this many distinct denied actions ...
BURST_ACTIONS = 5
#: ... within this many microseconds
BURST_WINDOW_US = 10 * 60 * 1_000_000
EVIDENCE_LIMIT = 50
SORTS = ("overprivilege", "events", "denied", "findings", "unused", "granted", "last_seen", "name")


@dataclass
class PermRow:
    action: str
    resource: str
    state: str
    count: int = 0
    last_used: int | None = None
    first_used: int | None = None
    provenance: list[str] = field(default_factory=list)
    access_level: str | None = None
    conditional: bool = False
    actions: int = 1  # concrete actions this row stands for (collapsed service rows)
    note: str | None = None
    raw: set[tuple[str | None, str | None]] = field(default_factory=set)
    used_actions: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "action": self.action, "resource": self.resource, "state": self.state, "count": self.count,
            "last_used": format_us(self.last_used) if self.last_used is not None else None,
            "provenance": self.provenance,
        }
        if self.access_level:
            d["access_level"] = self.access_level
        if self.conditional:
            d["conditional"] = True
        if self.actions != 1:
            d["actions"] = self.actions
        if self.note:
            d["note"] = self.note
        if self.used_actions:
            d["used_actions"] = self.used_actions
        return d


@dataclass
class Finding:
    kind: str
    detail: str
    severity: str = "info"
    events: list[int] = field(default_factory=list)
    provenance: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    # not serialized: how to fetch evidence lazily
    raw: set[tuple[str | None, str | None]] = field(default_factory=set)
    ids: list[int] = field(default_factory=list)
    target_not: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d = {"kind": self.kind, "detail": self.detail, "severity": self.severity, "events": self.events}
        if self.provenance:
            d["provenance"] = self.provenance
        d.update(self.extra)
        return d


@dataclass
class ActorView:
    name: str
    provider: str
    type: str | None
    usage: ActorUsage | None
    principal: Principal | None
    covered: bool  # grants of this actor's provider/account were imported
    rows: list[PermRow] = field(default_factory=list)
    denied: list[dict[str, Any]] = field(default_factory=list)
    admission_denied: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    granted_actions: set[str] = field(default_factory=set)  # AWS: lowercase concrete actions

    def counts(self) -> dict[str, int]:
        c = dict.fromkeys(STATES, 0)
        for r in self.rows:
            c[r.state] += r.actions
        return c

    def summary(self) -> dict[str, Any]:
        c = self.counts()
        granted = c["used"] + c["unused"] + c["unknown"] if self.covered else None
        u = self.usage
        return {
            "actor": self.name, "type": self.type or "", "provider": self.provider,
            "events": u.events if u else 0,
            "first_seen": format_us(u.first) if u and u.first is not None else None,
            "last_seen": format_us(u.last) if u and u.last is not None else None,
            "granted": granted, "used": c["used"], "unused": c["unused"], "unknown": c["unknown"],
            "used_not_granted": c["used_not_granted"], "denied": len(u.denied) if u else 0,
            "findings": len(self.findings),
            "overprivilege": round(c["unused"] / granted, 4) if granted else 0.0,
        }


@dataclass
class Analysis:
    actors: list[ActorView]
    grants: GrantSet
    usage: UsageData
    since: int | None
    until: int | None

    def window_text(self) -> str:
        lo = self.since if self.since is not None else self.usage.bounds[0]
        hi = self.until if self.until is not None else self.usage.bounds[1]
        return f"{format_us(lo) or 'start'} .. {format_us(hi) or 'end'}"


# ====================================================================== entry


def analyze(engine: Engine, since: int | None = None, until: int | None = None, *, only: str | None = None,
            provider: str | None = None, with_events: bool = False, detail: bool = False) -> Analysis:
    """Per-actor analysis.  *detail* (implied by *only* / *with_events*) fills the
    provenance of every permission row; without it rows carry states and counts
    only (the actors list), which is what makes 300 actors x 20,000 actions fast."""
    with engine.connect() as conn:
        grants = load_active(conn)
        gformats = {f for fs in grants.generic_formats.values() for f in fs}
        if any(s["format"] == "policy" and not json.loads(s["summary"] or "{}").get("meta", {}).get("formats")
               for s in grants.snapshots):
            gformats |= _generic_format_names(conn)
        usage = collect(conn, since, until, gformats, only_actor=only, only_provider=provider)
        usage.assumed = _assumed_roles(conn, since, until)
        # the window is the index's time span (clipped to --since/--until), the same for every actor
        lo, hi = conn.execute(select(func.min(events.c.ts_us), func.max(events.c.ts_us))).one()
        if lo is not None:
            usage.bounds = (max(lo, since) if since is not None else lo, min(hi, until) if until is not None else hi)
        views = _build(conn, grants, usage, since, until, only, provider, detail or with_events or only is not None)
        if with_events:
            for v in views:
                _fill_evidence(conn, v, since, until)
    return Analysis(views, grants, usage, since, until)


def _assumed_roles(conn, since: int | None, until: int | None) -> dict[str, int]:
    """Role ARN -> successful sts:AssumeRole calls naming it (via the action index)."""
    E = events.c
    q = select(E.resource, func.count()).where(
        E.action.in_(["AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity"]), E.format == "cloudtrail",
        E.error_code.is_(None), E.resource.is_not(None))
    if since is not None:
        q = q.where(E.ts_us >= since)
    if until is not None:
        q = q.where(E.ts_us <= until)
    return {r: n for r, n in conn.execute(q.group_by(E.resource))}


def _generic_format_names(conn) -> set[str]:
    """Formats in the index other than CloudTrail / Kubernetes (from the sources table)."""
    from logconsole.store.schema import sources

    rows = conn.execute(select(sources.c.format).distinct()).all()
    return {r[0] for r in rows if r[0] not in ("cloudtrail", "k8s-audit")}


def resolve_name(analysis: Analysis, name: str) -> list[ActorView]:
    """Actors matching NAME: the exact name, or a user / role / service-account
    name or id (``ci-deploy`` for ``arn:aws:iam::1:user/ci-deploy``).  Every
    match is returned, so a name that is exact for one actor and a short name
    of another is reported as ambiguous rather than silently picked; an ARN or
    other full name is exact only."""
    exact = [v for v in analysis.actors if v.name == name]
    if exact and (name.startswith("arn:") or ":" in name):
        return exact
    low = name.lower()
    hits = list(exact)
    for v in analysis.actors:
        if v in hits:
            continue
        aliases = [a.lower() for a in (v.principal.aliases if v.principal else [])]
        tail = v.name.rsplit("/", 1)[-1].lower() if v.provider == "aws" else v.name.lower()
        if low in aliases or low == tail or (v.provider == "k8s" and v.name.lower().endswith(":" + low)):
            hits.append(v)
    return hits


def sort_views(views: list[ActorView], key: str = "overprivilege") -> list[ActorView]:
    def k(v: ActorView):
        s = v.summary()
        if key == "name":
            return (s["actor"],)
        if key == "last_seen":
            return (-(v.usage.last or 0) if v.usage else 0, s["actor"])
        if key == "overprivilege":
            return (-s["overprivilege"], -(s["unused"] or 0), -s["findings"], s["actor"])
        return (-(s.get(key) or 0), s["actor"])
    return sorted(views, key=k)


# ====================================================================== build


def _principal_index(grants: GrantSet) -> dict[tuple[str, str], Principal]:
    out: dict[tuple[str, str], Principal] = {}
    for p in grants.principals:
        if p.kind in ("aws_group", "k8s_group"):
            continue
        out.setdefault((p.provider, p.name), p)
    return out


def _build(conn, grants: GrantSet, usage: UsageData, since, until, only: str | None, only_provider: str | None,
           detail: bool) -> list[ActorView]:
    principals = _principal_index(grants)
    keys: dict[tuple[str, str], None] = dict.fromkeys(usage.actors)
    keys.update(dict.fromkeys(principals))
    if only is not None:
        keys = {k: None for k in keys if k[1] == only and (only_provider is None or k[0] == only_provider)}
    accounts = grants.aws_accounts()
    has_k8s = any(s["format"] == "k8s-rbac" for s in grants.snapshots)
    window_start = since if since is not None else usage.bounds[0]
    window_end = until if until is not None else usage.bounds[1]
    views = []
    for prov, name in keys:
        u = usage.actors.get((prov, name))
        p = principals.get((prov, name))
        if prov == "aws":
            acct = name.split(":")[4] if name.startswith("arn:") and name.count(":") >= 5 else ""
            covered = p is not None or (acct in accounts and (u is None or u.type != "AWSService"))
            v = ActorView(name, "aws", (u.type if u else None) or _aws_type(p, name), u, p, covered)
            _aws(v, grants, usage, window_start, detail)
        elif prov == "k8s":
            v = ActorView(name, "k8s", (u.type if u else None) or _k8s_kind(p, name), u, p, has_k8s)
            _k8s(v, grants)
        else:
            fmts = grants.generic_formats.get(name)
            covered = p is not None or any(s["format"] == "policy" for s in grants.snapshots)
            v = ActorView(name, "generic", (u.type if u else None) or "principal", u, p, covered)
            _generic(v, grants, fmts)
        _denied(v)
        _findings(conn, v, grants, usage, window_start, window_end)
        views.append(v)
    return views


def _aws_type(p: Principal | None, name: str) -> str:
    if p is not None:
        return {"aws_user": "IAMUser", "aws_role": "Role"}.get(p.kind, p.kind)
    return "Root" if name.endswith(":root") else ""


def _k8s_kind(p: Principal | None, name: str) -> str:
    if p is not None and p.kind == "k8s_sa":
        return "ServiceAccount"
    if name.startswith("system:serviceaccount:"):
        return "ServiceAccount"
    return "User"


def _prov(r: Rule, via: str | None = None) -> str:
    return f"{via or r.via} @ {r.provenance}"


def _res_text(r: Rule) -> str:
    return ("NOT " if r.not_resource else "") + ", ".join(r.resources)


# ---------------------------------------------------------------- AWS


def _aws(v: ActorView, grants: GrantSet, usage: UsageData, window_start: int | None, detail: bool = True) -> None:
    rules = [r for r in grants.rules if r.provider == "aws" and r.subject == v.name]
    is_root = v.name.endswith(":root") or (v.type == "Root")
    if is_root and v.covered:
        rules = [Rule(provider="aws", subject=v.name, effect="allow", actions=["*"], resources=["*"],
                      via="root user of the account (all permissions; IAM policies cannot limit it)",
                      container="root", provenance="implicit")]
    eff = effective_aws(rules)
    v.granted_actions = set(eff.actions) if v.covered else set()
    used: dict[str, Used] = {}
    if v.usage:
        for (key, _r), u in v.usage.used.items():
            used[key.lower()] = u
    # grants newer than the window start: unused ones cannot be judged
    old: set[str] = set()
    for r in rules:
        if r.policy_type != "boundary" and r.effect == "allow":
            if r.effective_from is None or window_start is None or r.effective_from <= window_start:
                from logconsole.analysis.privileges.evaluate import _rset

                old |= _rset(r)
    rows: list[PermRow] = []
    by_service: dict[str, list[str]] = {}
    for a in eff.actions:
        by_service.setdefault(a.split(":", 1)[0], []).append(a)
    prov_cache: dict[tuple[int, ...], tuple[list[str], str, bool]] = {}

    def prov_for(a: str) -> tuple[list[str], str, bool]:
        if not detail:  # the actors list needs states and counts, not the provenance of every row
            return [], "*", False
        rs = eff.granting(a)
        key = tuple(id(r) for r in rs)
        hit = prov_cache.get(key)
        if hit is None:
            hit = prov_cache[key] = ([_prov(r) for r in rs], (_res_text(rs[0]) if rs else "*"),
                                     all(r.conditional for r in rs) if rs else False)
        return hit

    unobs = _unobservable(frozenset(usage.data_services))
    for svc, acts in sorted(by_service.items()):
        svc_all = cat.service_set(svc)
        any_used = False
        states: dict[str, Any] = {}
        all_unused = True
        for a in acts:
            if a in used:
                states[a] = "used"
                any_used = True
                all_unused = False
                continue
            reason = unobs.get(a)
            if reason is None and a not in old:
                reason = "granted after the window started"
            if reason:
                states[a] = ("unknown", reason)
                all_unused = False
            else:
                states[a] = _UNUSED
        collapse = (all_unused and not any_used and svc_all and (len(acts) > 1 or len(svc_all) == 1)
                    and len(acts) >= len(svc_all) and svc_all.issubset(acts))
        if collapse:
            provs, res, cond = prov_for(acts[0])
            rows.append(PermRow(f"{svc}:*", res, "unused", provenance=provs, actions=len(acts), conditional=cond,
                                note=f"all {len(acts)} {svc} actions granted, none used"))
            continue
        for a in (sorted(acts) if detail else acts):
            if detail:
                ci = cat.info(a)
                name, level = ci if ci else (a, "unknown")
            else:  # the actors list: states and counts only
                name, level = a, None
            st = states[a]
            provs, res, cond = prov_for(a)
            if st == "used":
                u = used[a]
                rows.append(PermRow(name, res, "used", u.count, u.last, u.first, provs, level,
                                    cond or a in eff.conditional, raw=set(u.raw)))
            else:
                rows.append(PermRow(name, res, st[0], provenance=provs, access_level=level,
                                    conditional=cond or a in eff.conditional, note=st[1]))
    # used actions that no imported grant gives
    for a, u in used.items():
        if a in eff.actions:
            continue
        d = evaluate(rules, u.key) if rules else None
        if d is not None and d.allowed:
            # granted by a pattern the catalogue does not expand (unknown action name)
            rows.append(PermRow(u.key, _res_text(d.allow[0]), "used", u.count, u.last, u.first,
                                [_prov(r) for r in d.allow], cat.access_level(a), d.conditional, raw=set(u.raw)))
            continue
        note = None
        if d is not None and d.deny:
            note = "an explicit deny applies: " + "; ".join(_prov(r) for r in d.deny)
        elif a in eff.boundary_cut:
            note = "outside the permission boundary"
        state = "used_not_granted" if v.covered else "used"
        if not v.covered:
            note = "no grants imported for this actor's account"
        rows.append(PermRow(cat.canonical(u.key) if cat.known(u.key) else u.key, "*", state, u.count, u.last, u.first,
                            [], cat.access_level(a), note=note, raw=set(u.raw)))
    v.rows = _sort_rows(rows) if detail else rows
    v._eff = eff  # type: ignore[attr-defined]
    v._detail = detail  # type: ignore[attr-defined]
    v._rules = rules  # type: ignore[attr-defined]


_UNUSED = ("unused", None)


@lru_cache(maxsize=64)
def _unobservable(data_services: frozenset[str]) -> dict[str, str]:
    """Lowercase AWS actions that cannot be judged from these logs -> why."""
    out = {}
    for a in risk.AWS_NEVER_LOGGED | risk.AWS_DATA_EVENTS:
        reason = risk.unobservable_reason(a, set(data_services))
        if reason:
            out[a] = reason
    return out


def _sort_rows(rows: list[PermRow]) -> list[PermRow]:
    order = {"used": 0, "used_not_granted": 1, "unknown": 2, "unused": 3}
    return sorted(rows, key=lambda r: (order[r.state], -r.count, r.action.lower()))


# ---------------------------------------------------------------- K8s / generic


def _pattern_rows(v: ActorView, eff: list[EffRule], used: dict[tuple[str, str | None], Used]) -> None:
    rows: dict[tuple[str, str], PermRow] = {}
    for er in eff:
        r = er.rule
        if r.effect != "allow":
            continue
        for pat in r.actions:
            for res in r.resources:
                k = (pat, res)
                if k not in rows:
                    rows[k] = PermRow(pat, res, "unused", provenance=[f"{er.via} @ {er.provenance}"],
                                      conditional=r.conditional)
                else:
                    rows[k].provenance.append(f"{er.via} @ {er.provenance}")
    extra: list[PermRow] = []
    for (key, rkey), u in used.items():
        allow, deny = match_eff(eff, key, rkey)
        if allow is not None and deny is None:
            row = None
            for pat in allow.rule.actions:
                if cat.glob_match(pat, key):
                    for res in allow.rule.resources:
                        if rkey is None or cat.glob_match(res, rkey):
                            row = rows.get((pat, res))
                            break
                if row is not None:
                    break
            if row is not None:
                row.state = "used"
                row.count += u.count
                row.last_used = u.last if row.last_used is None else max(row.last_used, u.last or 0)
                row.first_used = u.first if row.first_used is None else min(row.first_used, u.first or u.last or 0)
                row.raw |= u.raw
                disp = mapping.k8s_display(key) if key.startswith("k8s:") else key
                label = f"{disp} {rkey}" if rkey else disp
                if label not in row.used_actions:
                    row.used_actions.append(label)
                continue
        state = "used_not_granted" if v.covered else "used"
        note = None
        if deny is not None:
            note = f"an explicit deny applies: {deny.via} @ {deny.provenance}"
        elif not v.covered:
            note = "no grants imported for this provider"
        elif v.provider == "k8s":
            builtin = _k8s_default_grant(key, rkey)
            if builtin:
                note = (f"every cluster grants this to system:authenticated through the default ClusterRole "
                        f"{builtin} unless it was removed; it is not in the imported RBAC")
        extra.append(PermRow(key, rkey or "*", state, u.count, u.last, u.first, [], note=note, raw=set(u.raw)))
    v.rows = _sort_rows(list(rows.values()) + extra)


#: what the default ClusterRoles bound to system:authenticated allow (kube-apiserver bootstrap policy)
_K8S_DEFAULTS = [
    ("k8s:authorization.k8s.io/selfsubjectaccessreviews:create", "*", "system:basic-user"),
    ("k8s:authorization.k8s.io/selfsubjectrulesreviews:create", "*", "system:basic-user"),
    ("k8s:authentication.k8s.io/selfsubjectreviews:create", "*", "system:basic-user"),
    ("k8s:nonresource:get", "/api*", "system:discovery"),
    ("k8s:nonresource:get", "/openapi*", "system:discovery"),
    ("k8s:nonresource:get", "/version*", "system:public-info-viewer"),
    ("k8s:nonresource:get", "/healthz*", "system:public-info-viewer"),
    ("k8s:nonresource:get", "/livez*", "system:public-info-viewer"),
    ("k8s:nonresource:get", "/readyz*", "system:public-info-viewer"),
]


def _k8s_default_grant(key: str, rkey: str | None) -> str | None:
    for pat, res, role in _K8S_DEFAULTS:
        if cat.glob_match(pat, key) and (res == "*" or cat.glob_match(res, rkey or "")):
            return role
    return None


def _k8s(v: ActorView, grants: GrantSet) -> None:
    groups = sorted(v.usage.groups) if v.usage else []
    eff, warns = effective_k8s(v.name, groups, grants.rules, grants.edges)
    v.warnings.extend(warns)
    v._effk = eff  # type: ignore[attr-defined]
    _pattern_rows(v, eff, v.usage.used if v.usage else {})


def _generic(v: ActorView, grants: GrantSet, formats: list[str] | None) -> None:
    eff = effective_generic(v.name, grants.rules, grants.edges)
    v._effk = eff  # type: ignore[attr-defined]
    _pattern_rows(v, eff, v.usage.used if v.usage else {})


# ---------------------------------------------------------------- denied


def _denied(v: ActorView) -> None:
    if not v.usage:
        return
    for src, dest in ((v.usage.denied, v.denied), (v.usage.admission, v.admission_denied)):
        groups: dict[tuple[str, str | None], list[DeniedEvent]] = {}
        for d in src:
            groups.setdefault((d.key, d.resource), []).append(d)
        for (key, res), ds in sorted(groups.items(), key=lambda kv: (kv[1][0].ts, kv[0][0])):
            dest.append({
                "action": cat.canonical(key) if v.provider == "aws" and cat.known(key) else key,
                "resource": res, "count": len(ds), "first": format_us(ds[0].ts), "last": format_us(ds[-1].ts),
                "last_us": ds[-1].ts,
                "events": [d.id for d in ds[:EVIDENCE_LIMIT]], "error": ds[0].code,
                "raw_actions": sorted({d.raw_action for d in ds if d.raw_action}),
                "service": ds[0].service if len({d.service for d in ds}) == 1 else None,
            })


def enumeration_bursts(denied: list[DeniedEvent]) -> list[tuple[int, int, list[DeniedEvent]]]:
    """Maximal runs where >= BURST_ACTIONS distinct denied actions fall within BURST_WINDOW_US.

    Returns (start index, end index, events) per burst, non-overlapping."""
    out = []
    ds = sorted(denied, key=lambda d: (d.ts, d.id))
    i = 0
    n = len(ds)
    while i < n:
        j = i
        while j + 1 < n and ds[j + 1].ts - ds[i].ts <= BURST_WINDOW_US:
            j += 1
        distinct = {d.key for d in ds[i:j + 1]}
        if len(distinct) >= BURST_ACTIONS:
            # extend while the next event stays within the window of the previous one
            while j + 1 < n and ds[j + 1].ts - ds[j].ts <= BURST_WINDOW_US:
                j += 1
            out.append((i, j, ds[i:j + 1]))
            i = j + 1
        else:
            i += 1
    return out


# ---------------------------------------------------------------- findings


def _self_username(name: str) -> str | None:
    if ":user/" in name:
        return name.rsplit("/", 1)[-1]
    return None


def _findings(conn, v: ActorView, grants: GrantSet, usage: UsageData, wstart, wend) -> None:
    f = v.findings
    u = v.usage
    events_n = u.events if u else 0
    # ---- dormant
    assumed = usage.assumed.get(v.name, 0) if v.provider == "aws" else 0
    if v.covered and v.principal is not None and events_n == 0:
        created = v.principal.created_at
        if created is not None and wend is not None and created > wend:
            pass  # created after the window: too new to be dormant
        elif assumed:
            pass  # assumed (sts:AssumeRole) but its sessions made no logged call: not dormant
        else:
            c = v.counts()
            detail = (f"no events in the window ({format_us(wstart) or 'start'} .. {format_us(wend) or 'end'}); "
                      f"{c['unused'] + c['unknown'] + c['used']} permission(s) granted")
            if v.principal.info.get("role_last_used"):
                detail += f"; IAM RoleLastUsed says {v.principal.info['role_last_used']}"
            if v.principal.info.get("service_linked"):
                detail += " (service-linked role)"
            if created is not None and wstart is not None and created > wstart:
                detail += f"; created {format_us(created)}, inside the window"
            if u is not None and u.impersonated_by:
                detail += f"; impersonated by {', '.join(sorted(u.impersonated_by))}"
            prov = [v.principal.info["pointer"]] if v.principal.info.get("pointer") else []
            f.append(Finding("dormant", detail, "medium" if c["unused"] else "low", provenance=prov))
    # ---- unused permissions (per service for AWS, per grant for K8s/generic)
    if v.covered and events_n > 0:
        groups: dict[str, list[PermRow]] = {}
        for r in v.rows:
            if r.state == "unused":
                gk = r.action.split(":", 1)[0] if v.provider == "aws" else (r.provenance[0].split(" @ ", 1)[0] if r.provenance else "?")
                groups.setdefault(gk, []).append(r)
        whole = {gk: rows for gk, rows in groups.items() if v.provider == "aws" and len(rows) == 1
                 and rows[0].action.endswith(":*")}
        if len(whole) > 10:  # e.g. "*": one finding for all untouched services, not hundreds
            n = sum(rows[0].actions for rows in whole.values())
            provs = sorted({p for rows in whole.values() for p in rows[0].provenance})
            f.append(Finding("unused_permission", f"{n} action(s) in {len(whole)} service(s) granted and never used in the "
                             f"window: {_list(sorted(whole), 12)}", "low", provenance=provs[:20],
                             extra={"services": sorted(whole), "count": n}))
            for gk in whole:
                groups.pop(gk)
        totals: dict[str, int] = {}
        if v.provider == "aws":
            for r in v.rows:
                if r.state != "used_not_granted":
                    sk = r.action.split(":", 1)[0]
                    totals[sk] = totals.get(sk, 0) + r.actions
        for gk, rows in sorted(groups.items()):
            n = sum(r.actions for r in rows)
            if v.provider == "aws":
                total = totals.get(gk, n)
                names = [r.action for r in rows]
                detail = f"{n} of {total} granted {gk} action(s) unused in the window: " + _list(names)
            else:
                detail = f"{n} granted rule(s) of {gk} unused in the window: " + _list([f"{r.action} on {r.resource}" for r in rows])
            provs = sorted({p for r in rows for p in r.provenance})
            f.append(Finding("unused_permission", detail, "low", provenance=provs[:20],
                             extra={"service" if v.provider == "aws" else "grant": gk, "count": n,
                                    "actions": [r.action if v.provider == "aws" else f"{r.action} on {r.resource}"
                                                for r in rows][:200]}))
    # ---- used but not granted
    for r in v.rows:
        if r.state == "used_not_granted":
            detail = f"{r.action} used {r.count} time(s) (last {format_us(r.last_used)}) but granted by nothing imported"
            if r.note:
                detail += f"; {r.note}"
            sev = "low" if r.note and "default ClusterRole" in r.note else "medium"
            f.append(Finding("used_not_granted", detail, sev, raw=set(r.raw), extra={"action": r.action}))
    # ---- denied attempts (+ enumeration bursts)
    later: dict[str, Used] = {}
    if u is not None:
        for (key, _r), uu in u.used.items():
            k = key.lower()
            if k not in later or (uu.last or 0) > (later[k].last or 0):
                later[k] = uu
    for d in v.denied:
        res = f" on {d['resource']}" if d["resource"] else ""
        detail = f"{d['action']}{res} denied {d['count']} time(s) ({d['first']} .. {d['last']}), {d['error'] or 'denied'}"
        extra: dict[str, Any] = {"action": d["action"], "resource": d["resource"]}
        sev = "low"
        uu = later.get(str(d["action"]).lower())
        if uu is not None and uu.last is not None and d["last_us"] is not None and uu.last > d["last_us"]:
            # denied, then allowed: the privileges changed in between (or another resource was used)
            detail += f"; later allowed: used {uu.count} time(s), last {format_us(uu.last)}"
            extra["later_allowed"] = True
            sev = "medium"
        f.append(Finding("denied_attempt", detail, sev, ids=list(d["events"]), extra=extra))
    if u is not None:
        for _i, _j, ds in enumeration_bursts(u.denied):
            acts = sorted({d.key for d in ds})
            services = sorted({a.split(":", 1)[0] for a in acts})
            span = (ds[-1].ts - ds[0].ts) / 1_000_000
            f.append(Finding(
                "denied_attempt",
                f"enumeration: {len(acts)} distinct denied actions across {len(services)} service(s) in "
                f"{_dur(span)} ({format_us(ds[0].ts)} .. {format_us(ds[-1].ts)}): {_list(acts, 8)}",
                "high", ids=[d.id for d in ds][:EVIDENCE_LIMIT], extra={"enumeration": True, "actions": acts},
            ))
    # ---- privilege escalation: exercised
    if v.provider == "aws":
        _aws_escalation(conn, v, usage)
    else:
        granted_desc: dict[str, list[str]] = {}
        if u is not None:
            for key, (cnt, _first, last, raws, ress) in _by_action(u).items():
                desc = risk.k8s_match(risk.K8S_ESCALATION, key)
                if desc:
                    f.append(Finding("privilege_escalation",
                                     f"exercised: {mapping.k8s_display(key)} on {_list(ress, 5)} ({desc}), {cnt} time(s), "
                                     f"last {format_us(last)}", "high", raw=raws,
                                     extra={"exercised": True, "action": key, "resources": ress}))
        if v.covered and v.provider == "k8s":
            eff: list[EffRule] = getattr(v, "_effk", [])
            exercised = {x.extra.get("action") for x in f if x.kind == "privilege_escalation"}
            exercised_desc = {risk.k8s_match(risk.K8S_ESCALATION, a) for a in exercised if a}
            for pat, verbs, desc in risk.K8S_ESCALATION:
                for verb in verbs:
                    key = f"k8s:{pat.replace('/*', '/x')}:{verb}"
                    allow, _deny = match_eff(eff, key, None)
                    if allow is None:
                        allow = next((er for er in eff if er.rule.effect == "allow" and any(cat.glob_match(p, key) for p in er.rule.actions)), None)
                    if allow is not None and key not in exercised and desc not in exercised_desc:
                        granted_desc.setdefault(desc, []).append(f"{allow.via} @ {allow.provenance}")
                        break
            if granted_desc:
                f.append(Finding("privilege_escalation", "granted, not exercised: " + "; ".join(sorted(granted_desc)),
                                 "medium", provenance=sorted({p for ps in granted_desc.values() for p in ps})[:20],
                                 extra={"exercised": False, "methods": sorted(granted_desc)}))
    # ---- wildcard grants
    _wildcards(v)
    # ---- sensitive actions used
    if u is not None:
        for key, (cnt, first, last, raws, ress) in sorted(_by_action(u).items()):
            if v.provider == "aws":
                catg = risk.AWS_SENSITIVE.get(key.lower())
                label = cat.canonical(key) if cat.known(key) else key
            elif v.provider == "k8s":
                catg = risk.k8s_match(risk.K8S_SENSITIVE, key)
                label = mapping.k8s_display(key)
            else:
                catg = None
                label = key
            if catg:
                on = f" on {_list(ress, 5)}" if ress else ""
                f.append(Finding("sensitive_action", f"{label}{on} ({catg}) used {cnt} time(s), "
                                 f"{format_us(first)} .. {format_us(last)}",
                                 "high" if catg in ("credentials", "secrets", "log tampering", "exec") else "medium",
                                 raw=raws, extra={"action": label, "category": catg, "resources": ress}))
    f.sort(key=lambda x: (SEVERITY_ORDER.get(x.severity, 9), FINDING_KINDS.index(x.kind)))


def _by_action(u: ActorUsage) -> dict[str, tuple[int, int | None, int | None, set, list[str]]]:
    """Used actions merged over resources: key -> (count, first, last, raw pairs, resources)."""
    out: dict[str, list] = {}
    for (key, rkey), uu in u.used.items():
        d = out.setdefault(key, [0, None, None, set(), []])
        d[0] += uu.count
        d[1] = uu.first if d[1] is None else min(d[1], uu.first)
        d[2] = uu.last if d[2] is None else max(d[2], uu.last)
        d[3] |= uu.raw
        if rkey and rkey not in d[4]:
            d[4].append(rkey)
    return {k: (d[0], d[1], d[2], d[3], sorted(d[4])) for k, d in out.items()}


def _aws_escalation(conn, v: ActorView, usage: UsageData) -> None:
    f = v.findings
    u = v.usage
    me = _self_username(v.name)
    exercised: set[str] = set()
    eff = getattr(v, "_eff", None)
    granted = eff.actions if eff is not None and v.covered else set()
    if u is not None:
        for (key, _r), uu in u.used.items():
            k = key.lower()
            label = cat.canonical(key) if cat.known(key) else key
            if k in risk.AWS_ESCALATION_EVENTS:
                target_not = None
                if k in risk.AWS_OTHER_USER:
                    others = sorted(t for t in uu.targets if t != me)
                    if not others:
                        continue
                    target_not = me or ""
                    detail = f"exercised: {label} for another user ({', '.join(others[:5])}), {uu.count} time(s)"
                else:
                    detail = f"exercised: {label}, {uu.count} time(s), last {format_us(uu.last)}"
                exercised.add(k)
                f.append(Finding("privilege_escalation", detail, "high", raw=set(uu.raw), target_not=target_not,
                                 extra={"exercised": True, "action": label}))
            elif k in risk.AWS_PASSROLE_COMPUTE and ("iam:passrole" in granted or not v.covered):
                # iam:PassRole has no event of its own: a compute creation by an actor that may pass
                # roles is reported; the roles named in the requests are added in the detail view
                exercised.add(k)
                exercised.add("iam:passrole")
                f.append(Finding("privilege_escalation",
                                 f"exercised: {label} by an actor allowed iam:PassRole (PassRole is not logged; "
                                 f"inferred), {uu.count} time(s), last {format_us(uu.last)}", "high", raw=set(uu.raw),
                                 extra={"exercised": True, "action": label, "passrole_inferred": True}))
            elif k == "sts:assumerole":
                exercised.add(k)
                f.append(Finding("privilege_escalation",
                                 f"exercised: sts:AssumeRole {uu.count} time(s) (role chaining: the assumed role's "
                                 "permissions apply to the new session)", "medium", raw=set(uu.raw),
                                 extra={"exercised": True, "action": "sts:AssumeRole"}))
    if granted:
        methods = []
        provs: set[str] = set()
        for mname, (need, desc) in risk.AWS_ESCALATION.items():
            if all(n in granted for n in need) and not all(n in exercised for n in need if n != "iam:passrole"):
                methods.append(f"{mname} ({desc})")
                if getattr(v, "_detail", True):
                    for r in eff.granting(need[0])[:1]:
                        provs.add(_prov(r))
        if methods:
            f.append(Finding("privilege_escalation", f"granted, not exercised: {len(methods)} method(s): "
                             + _list(methods, 6), "medium", provenance=sorted(provs)[:20],
                             extra={"exercised": False, "methods": methods}))


def _passed_roles(conn, actor: str, uu: Used) -> list[str]:
    from logconsole.store.rawcodec import decode

    ids = event_ids(conn, actor, "aws", uu.raw, limit=20)
    roles: list[str] = []
    for (raw,) in conn.execute(select(events.c.raw).where(events.c.id.in_(ids))) if ids else []:
        try:
            rec = json.loads(decode(raw))
        except ValueError:
            continue
        if "CloudTrailEvent" in rec and isinstance(rec["CloudTrailEvent"], str):
            try:
                rec = json.loads(rec["CloudTrailEvent"])
            except ValueError:
                continue
        params = rec.get("requestParameters") or {}
        if not isinstance(params, dict):
            continue
        for k in ("role", "roleArn", "roleARN", "iamInstanceProfile", "taskRoleArn", "executionRoleArn", "serviceRole"):
            val = params.get(k)
            if isinstance(val, dict):
                val = val.get("arn") or val.get("name")
            if isinstance(val, str) and val and val not in roles:
                roles.append(val)
    return roles


def _wildcards(v: ActorView) -> None:
    f = v.findings
    seen: set[str] = set()
    if v.provider == "aws":
        for r in getattr(v, "_rules", []):
            if r.effect != "allow" or r.policy_type == "boundary" or r.provenance in seen:
                continue
            why = []
            if any(a.strip() == "*" for a in r.actions) and not r.not_action:
                why.append('Action "*"')
            svcw = [a for a in r.actions if a.endswith(":*") and not r.not_action]
            if svcw:
                why.append("service wildcard " + ", ".join(svcw))
            if r.not_action:
                why.append("Allow with NotAction " + ", ".join(r.actions))
            if "*" in r.resources and not r.not_resource and not r.conditional and not why:
                if _has_write(tuple(r.actions), r.not_action):
                    why.append('Resource "*" on write/permissions-management actions')
            if why:
                seen.add(r.provenance)
                sev = "high" if ('Action "*"' in why or r.not_action) else "medium"
                if r.conditional:
                    sev = "low"
                f.append(Finding("wildcard_grant", "; ".join(why) + f" via {r.via}" + (" (conditional)" if r.conditional else ""),
                                 sev, provenance=[_prov(r)], extra={"actions": r.actions, "resources": r.resources}))
    else:
        for er in getattr(v, "_effk", []):
            r = er.rule
            if r.effect != "allow":
                continue
            why = []
            if r.provider == "k8s":
                if "system:masters" in er.via:
                    why.append("member of system:masters (bypasses RBAC)")
                elif "cluster-admin" in er.via:
                    why.append("bound to cluster-admin")
                elif any(a.endswith(":*") or "/*:" in a or a.startswith("k8s:*") for a in r.actions):
                    why.append("wildcard in apiGroups/resources/verbs: " + _list(r.actions, 4))
            elif any("*" in a for a in r.actions):
                why.append("wildcard actions: " + _list(r.actions, 4))
            key = er.via if ("cluster-admin" in er.via or "system:masters" in er.via) else er.provenance + er.via
            if why and key not in seen:
                seen.add(key)
                f.append(Finding("wildcard_grant", "; ".join(why) + f" via {er.via}", "high" if "masters" in why[0] or "cluster-admin" in why[0] else "medium",
                                 provenance=[f"{er.via} @ {er.provenance}"], extra={"actions": r.actions, "resources": r.resources}))


@lru_cache(maxsize=4096)
def _has_write(actions: tuple[str, ...], not_action: bool) -> bool:
    from logconsole.analysis.privileges.evaluate import rule_action_set

    return any(cat.access_level(a) in ("write", "permissions management") for a in rule_action_set(actions, not_action))


def _fill_evidence(conn, v: ActorView, since, until) -> None:
    for fd in v.findings:
        if fd.extra.get("passrole_inferred") and v.usage is not None:
            key = fd.extra["action"]
            uu = next((x for (k, _r), x in v.usage.used.items() if k.lower() == key.lower()), None)
            if uu is not None:
                roles = _passed_roles(conn, v.name, uu)
                fd.extra["roles"] = roles
                if roles:
                    fd.detail += f"; roles in the requests: {', '.join(roles[:5])}"
                else:
                    fd.detail += "; no role named in the requests read"
        if fd.ids:
            fd.events = fd.ids[:EVIDENCE_LIMIT]
        elif fd.raw:
            fd.events = event_ids(conn, v.name, v.provider, fd.raw, since=since, until=until, limit=EVIDENCE_LIMIT,
                                  target_not=fd.target_not)


def _list(items: list[str], n: int = 10) -> str:
    items = list(items)
    s = ", ".join(items[:n])
    return s + (f", ... (+{len(items) - n} more)" if len(items) > n else "")


def _dur(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


# ====================================================================== report


def actor_report(v: ActorView, analysis: Analysis) -> dict[str, Any]:
    u = v.usage
    out = v.summary()
    out.update({
        "window": {"since": format_us(analysis.since) if analysis.since else None,
                   "until": format_us(analysis.until) if analysis.until else None,
                   "text": analysis.window_text()},
        "grants_imported": v.covered,
        "source_ips": sorted(u.ips, key=lambda ip: -u.ips[ip])[:50] if u else [],
        "sessions": [{"session": s, "events": n} for s, n in sorted(u.sessions.items(), key=lambda kv: -kv[1])][:100] if u else [],
        "groups": sorted(u.groups) if u else [],
        "impersonated_by": sorted(u.impersonated_by) if u else [],
        "denied_events": len(u.denied) if u else 0,
        "permissions": [r.as_dict() for r in v.rows],
        "denied": [{k: d[k] for k in ("action", "resource", "count", "first", "last", "events", "error")} for d in v.denied],
        "findings": [fd.as_dict() for fd in v.findings],
    })
    if v.admission_denied:
        out["admission_denied"] = v.admission_denied
    if v.principal is not None:
        out["principal"] = {"kind": v.principal.kind, "aliases": v.principal.aliases,
                            "created": format_us(v.principal.created_at) if v.principal.created_at else None}
    if v.warnings:
        out["warnings"] = v.warnings
    return out


def timeline_filter(v: ActorView, row: PermRow | dict[str, Any] | None = None) -> str:
    """A filter-language string selecting this actor's events (and the row's action)."""
    from logconsole.store.filter import quote_value

    if v.provider == "k8s" and v.usage is not None and v.usage.impersonated_by:
        who = f"(actor:{quote_value(v.name)} OR extra.impersonated_user:{quote_value(v.name)})"
    else:
        who = f"actor:{quote_value(v.name)}"
    # names are per system: the same user name may exist in the cluster and in an application log
    if v.provider == "k8s":
        who = f"format:k8s-audit {who}"
    elif v.provider == "generic" and v.usage is not None and v.usage.formats:
        fm = sorted(v.usage.formats)
        who = (f"format:{quote_value(fm[0])} " if len(fm) == 1
               else "(" + " OR ".join(f"format:{quote_value(x)}" for x in fm) + ") ") + who
    raws: set[tuple[str | None, str | None]] = set()
    action = None
    if isinstance(row, PermRow):
        raws = row.raw
        action = row.action
    elif isinstance(row, dict):
        raws = {(None, a) for a in row.get("raw_actions") or []}
        action = row.get("action")
    imps = sorted({a.split(" ", 1)[1] for _s, a in raws if a and a.startswith("impersonate ")})
    if imps:
        return (f"format:k8s-audit actor:{quote_value(v.name)} ("
                + " OR ".join(f"extra.impersonated_user:{quote_value(i)}" for i in imps) + ")")
    names = sorted({a for _s, a in raws if a})
    if not names and action and v.provider == "aws" and ":" in action and "*" not in action:
        names = [action.split(":", 1)[1]]
    if not names:
        return who
    if len(names) == 1:
        out = f"{who} action:{quote_value(names[0])}"
    else:
        out = f"{who} (" + " OR ".join(f"action:{quote_value(n)}" for n in names) + ")"
    if v.provider == "aws":
        # the same API name exists in several services (ListTags, DescribeRegions ...)
        services = {svc for svc, a in raws if svc}
        if not services and isinstance(row, dict) and row.get("service"):
            services = {row["service"]}
        if len(services) == 1:
            out += f" service:{quote_value(services.pop())}"
    resource = row.resource if isinstance(row, PermRow) else (row.get("resource") if isinstance(row, dict) else None)
    if v.provider == "k8s" and resource and "/" in resource and not resource.startswith("/"):
        ns = resource.split("/", 1)[0]
        if ns and "*" not in ns and "?" not in ns:
            out += f" extra.namespace:{quote_value(ns)}"
    if isinstance(row, PermRow) and row.state in ("used", "used_not_granted"):
        out += " outcome:success" if v.provider == "k8s" else ""
    elif isinstance(row, dict):
        out += " outcome:failure"
    return out


def window_us(since: str | None, until: str | None) -> tuple[int | None, int | None]:
    """Parse --since/--until (ISO 8601 or 15m/24h/7d) to µs."""
    from logconsole.store.filter import Context, Value, parse_when
    import time as _t

    ctx = Context(int(_t.time() * 1_000_000))
    lo = parse_when(Value(since, True, 0), ctx) if since else None
    hi = parse_when(Value(until, True, 0), ctx) if until else None
    return lo, hi


__all__ = [
    "FINDING_KINDS",
    "SORTS",
    "STATES",
    "ActorView",
    "Analysis",
    "Finding",
    "PermRow",
    "actor_report",
    "analyze",
    "resolve_name",
    "sort_views",
    "timeline_filter",
]
