"""Least-privilege policies from what an actor actually did in the window.

* AWS: an IAM policy document (JSON) with one statement per service, listing the
  used actions (``used`` and ``used_not_granted``) and the resources seen in the
  events when every one of them is an ARN (at most 20), else ``"*"``.
* Kubernetes: a Role per namespace (plus a ClusterRole for cluster-scoped,
  all-namespace and non-resource requests) with matching bindings, as YAML.
* generic: a ``logconsole-policy`` document.

Denied attempts are never included: they are what the actor must *not* get.

A suggested policy never re-grants an incident (:func:`suggest_full`): actions used
only by events that are tampered, part of an investigator's finding, or matched by an
``exclude`` filter are left out; sensitive actions (identity and access management,
logging, key and policy management, ``sts:AssumeRole`` into a privileged
role; Kubernetes secrets, exec and escalation) that were used are listed "review before
granting", each with its events, instead of being granted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import yaml
from sqlalchemy import ColumnElement, Connection, Engine, func, not_, or_, select

from logconsole.analysis.privileges import catalog as cat
from logconsole.analysis.privileges import mapping, risk
from logconsole.analysis.privileges.usage import event_ids
from logconsole.analysis.privileges.views import ActorView, PermRow
from logconsole.store.schema import events

MAX_RESOURCES = 20
MAX_SCAN = 5000


@dataclass
class Suggestion:
    """A suggested policy and what it leaves out: ``review`` (used, sensitive: a person decides) and
    ``left_out`` (used only by excluded events: tampered, in a finding, or matched by ``exclude``)."""

    provider: str
    policy: Any
    review: list[dict[str, Any]] = field(default_factory=list)
    left_out: list[dict[str, Any]] = field(default_factory=list)

    def policy_text(self) -> str:
        if self.provider == "aws":
            return json.dumps(self.policy, indent=2)
        if self.provider == "k8s":
            return yaml.safe_dump_all(self.policy, sort_keys=False)
        return yaml.safe_dump(self.policy, sort_keys=False)

    def notes_text(self) -> str:
        """The review and left-out lists as ``#`` comment lines (empty when there are none)."""
        lines = []
        if self.review:
            lines.append("# review before granting (used, sensitive: not in the policy above):")
            lines += [f"#   {r['action']}  ({r['reason']}; {r['count']} event(s): {_ids(r['events'])})"
                      for r in self.review]
        if self.left_out:
            lines.append("# left out (used only by excluded events: tampered, in a finding, or --exclude):")
            lines += [f"#   {r['action']}  ({r['count']} event(s): {_ids(r['events'])})" for r in self.left_out]
        return "\n".join(lines)

    def text(self) -> str:
        notes = self.notes_text()
        return self.policy_text() + ("\n" + notes + "\n" if notes else "")

    def as_json(self) -> dict[str, Any]:
        return {"policy": self.policy, "review_before_granting": self.review, "left_out": self.left_out}


def _ids(ids: list[int]) -> str:
    return ", ".join(f"id:{i}" for i in ids[:10]) + (" ..." if len(ids) > 10 else "")


def suggest(engine: Engine, v: ActorView, since: int | None = None, until: int | None = None) -> str:
    """The policy text alone, every used action granted (no exclusion, no review)."""
    if v.provider == "aws":
        return json.dumps(suggest_aws(engine, v, since, until), indent=2)
    if v.provider == "k8s":
        return yaml.safe_dump_all(suggest_k8s(v), sort_keys=False)
    return yaml.safe_dump(suggest_generic(v), sort_keys=False)


def suggest_full(engine: Engine, v: ActorView, since: int | None = None, until: int | None = None, *,
                 exclude: ColumnElement[bool] | None = None) -> Suggestion:
    """The suggested policy that never re-grants the incident (see the module docstring)."""
    with engine.connect() as conn:
        excluded = _excluded(conn, exclude)
        privileged = _privileged_roles(conn) if v.provider == "aws" else set()
        kept, review, left_out = _screen(conn, v, since, until, excluded, privileged)
    view = replace(v, rows=kept)
    if v.provider == "aws":
        policy: Any = suggest_aws(engine, view, since, until, exclude=excluded)
    elif v.provider == "k8s":
        policy = suggest_k8s(view)
    else:
        policy = suggest_generic(view)
    return Suggestion(v.provider, policy, review, left_out)


def _excluded(conn: Connection, exclude: ColumnElement[bool] | None) -> ColumnElement[bool]:
    """Events a suggestion must not be built from: tampered, in any finding, or matched by *exclude*."""
    from logconsole.store.filter import compile_for
    from logconsole.store.trust import integrity_clause

    parts = [integrity_clause("tampered"), compile_for(conn, "finding:*").where]
    if exclude is not None:
        parts.append(exclude)
    return or_(*parts)


def _privileged_roles(conn: Connection) -> set[str]:
    """Roles whose imported grants allow everything, or all of IAM (assuming them is an escalation)."""
    from logconsole.analysis.privileges.grants import load_active

    out = set()
    for r in load_active(conn).rules:
        if r.provider == "aws" and r.effect == "allow" and not r.not_action and any(
                a.strip() in ("*", "iam:*") for a in r.actions):
            out.add(r.subject)
    return out


def _screen(conn: Connection, v: ActorView, since: int | None, until: int | None, excluded: ColumnElement[bool],
            privileged: set[str]) -> tuple[list[PermRow], list[dict[str, Any]], list[dict[str, Any]]]:
    """Split the used rows: grant, review before granting, left out (only excluded events)."""
    kept: list[PermRow] = []
    review: list[dict[str, Any]] = []
    left_out: list[dict[str, Any]] = []
    for r in v.rows:
        if r.state not in ("used", "used_not_granted"):
            kept.append(r)
            continue
        remaining = event_ids(conn, v.name, v.provider, r.raw, since=since, until=until, limit=50,
                              exclude=excluded)
        if r.raw and not remaining:
            every = event_ids(conn, v.name, v.provider, r.raw, since=since, until=until, limit=50)
            left_out.append({"action": r.action, "count": r.count, "events": every})
            continue
        reason = _review_reason(conn, v, r, remaining, privileged)
        if reason is not None:
            review.append({"action": r.action, "reason": reason, "count": r.count, "events": remaining})
            continue
        kept.append(r)
    return kept, review, left_out


def _review_reason(conn: Connection, v: ActorView, r: PermRow, ids: list[int], privileged: set[str]) -> str | None:
    if v.provider == "aws":
        low = r.action.lower()
        if low == "sts:assumerole":
            roles = {x for (x,) in conn.execute(select(events.c.resource).where(events.c.id.in_(ids)))} if ids else set()
            hit = sorted(roles & privileged)
            return f"assumes a privileged role: {', '.join(hit[:3])}" if hit else None
        return risk.review_reason(low, cat.access_level(low))
    if v.provider == "k8s":
        for used in r.used_actions or [r.action]:
            key = used.split(" ", 1)[0]
            why = risk.k8s_match(risk.K8S_ESCALATION, r.action) or risk.k8s_match(risk.K8S_SENSITIVE, r.action) \
                or risk.k8s_match(risk.K8S_SENSITIVE, key)
            if why:
                return why
    return None


def _string_prefix(values: set[str]) -> str:
    """The longest common prefix of *values*, character by character (ARNs are not file paths)."""
    lo, hi = min(values), max(values)
    n = 0
    while n < len(lo) and lo[n] == hi[n]:
        n += 1
    return lo[:n]


def _resources(engine: Engine, actor: str, raw: set[tuple[str | None, str | None]], since, until,
               exclude: ColumnElement[bool] | None = None) -> list[str]:
    """The resources an action was used on, as IAM Resource patterns: the ARNs
    when there are few, their common ARN prefix + ``*`` when there are many,
    ``"*"`` when any event has no ARN (or the prefix would be the service)."""
    E = events.c
    out: set[str] = set()
    with engine.connect() as conn:
        for svc, act in raw:
            q = select(E.resource).distinct().where(E.actor == actor, E.action == act)
            q = q.where(E.service.is_(None) if svc is None else E.service == svc)
            q = q.where(E.error_code.is_(None))
            if exclude is not None:
                q = q.where(not_(func.coalesce(exclude, False)))
            if since is not None:
                q = q.where(E.ts_us >= since)
            if until is not None:
                q = q.where(E.ts_us <= until)
            for (res,) in conn.execute(q.limit(MAX_SCAN)):
                if res is None or not str(res).startswith("arn:"):
                    return ["*"]
                out.add(str(res))
    if not out:
        return ["*"]
    if len(out) <= MAX_RESOURCES:
        return sorted(out)
    prefix = _string_prefix(out)
    cut = max(prefix.rfind("/"), prefix.rfind(":"))
    prefix = prefix[: cut + 1] if cut >= 0 else ""
    if (prefix.count(":") < 5 and not prefix.startswith("arn:aws:s3:::")) or prefix in ("arn:aws:s3:::",):
        return ["*"]
    return [prefix + "*"]


def suggest_aws(engine: Engine, v: ActorView, since=None, until=None, *,
                exclude: ColumnElement[bool] | None = None) -> dict[str, Any]:
    by_res: dict[tuple[str, tuple[str, ...]], set[str]] = {}
    for r in v.rows:
        if r.state not in ("used", "used_not_granted") or r.action in mapping.IGNORED:
            continue
        svc = r.action.split(":", 1)[0]
        res = tuple(_resources(engine, v.name, r.raw, since, until, exclude))
        by_res.setdefault((svc, res), set()).add(cat.canonical(r.action) if cat.known(r.action) else r.action)
    statements = []
    seen: dict[str, int] = {}
    for (svc, res), acts in sorted(by_res.items()):
        base = "Used" + "".join(p.capitalize() for p in svc.replace("_", "-").split("-"))
        seen[base] = seen.get(base, 0) + 1
        sid = base if seen[base] == 1 else f"{base}Part{seen[base]}"
        statements.append({"Sid": sid, "Effect": "Allow", "Action": sorted(acts),
                           "Resource": res[0] if len(res) == 1 else list(res)})
    return {"Version": "2012-10-17", "Statement": statements}


def _k8s_parts(key: str) -> tuple[str, str, str] | None:
    """``k8s:apps/deployments/scale:get`` -> ("apps", "deployments/scale", "get"); core -> ""."""
    if not key.startswith("k8s:") or key.startswith("k8s:nonresource:"):
        return None
    gr, _, verb = key[4:].rpartition(":")
    group, _, res = gr.partition("/")
    return ("" if group == "core" else group), res, verb


@dataclass
class _Verbs:
    """Verbs used on one resource type: with resource names (per verb) and without."""

    named: dict[str, set[str]] = field(default_factory=dict)
    unnamed: set[str] = field(default_factory=set)


def suggest_k8s(v: ActorView) -> list[dict[str, Any]]:
    ns_rules: dict[str | None, dict[tuple[str, str], _Verbs]] = {}
    urls: dict[str, set[str]] = {}
    u = v.usage
    if u is None:
        return []
    for (key, rkey), _used in sorted(u.used.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        if key.startswith("k8s:nonresource:"):
            urls.setdefault(rkey or "/", set()).add(key.rsplit(":", 1)[-1])
            continue
        parts = _k8s_parts(key)
        if parts is None:
            continue
        group, res, verb = parts
        ns, _, name = (rkey or "/").partition("/")
        d = ns_rules.setdefault(ns or None, {}).setdefault((group, res), _Verbs())
        if name and verb not in ("list", "watch", "create", "deletecollection"):
            d.named.setdefault(verb, set()).add(name)
        else:
            d.unnamed.add(verb)
    subject = _subject(v.name)
    safe = "".join(c if c.isalnum() or c in "-." else "-" for c in v.name).strip("-").lower()[:50] or "actor"
    docs: list[dict[str, Any]] = []

    def rules_of(table: dict[tuple[str, str], _Verbs]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for (group, res), d in sorted(table.items()):
            if d.unnamed:
                out.append({"apiGroups": [group], "resources": [res], "verbs": sorted(d.unnamed)})
            named = {vb: ns_ for vb, ns_ in d.named.items() if vb not in d.unnamed}
            if named:
                out.append({"apiGroups": [group], "resources": [res], "verbs": sorted(named),
                            "resourceNames": sorted(set().union(*named.values()))})
        return out

    cluster = ns_rules.pop(None, {})
    for ns, table in sorted((k, t) for k, t in ns_rules.items() if k is not None):
        docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                     "metadata": {"name": f"{safe}-used", "namespace": ns}, "rules": rules_of(table)})
        docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                     "metadata": {"name": f"{safe}-used", "namespace": ns}, "subjects": [subject],
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"{safe}-used"}})
    crules = rules_of(cluster)
    for url, verbs in sorted(urls.items()):
        crules.append({"nonResourceURLs": [url], "verbs": sorted(verbs)})
    if crules:
        docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                     "metadata": {"name": f"{safe}-used"}, "rules": crules})
        docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                     "metadata": {"name": f"{safe}-used"}, "subjects": [subject],
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"{safe}-used"}})
    return docs


def _subject(name: str) -> dict[str, Any]:
    if name.startswith("system:serviceaccount:") and name.count(":") >= 3:
        _s, _a, ns, sa = name.split(":", 3)
        return {"kind": "ServiceAccount", "name": sa, "namespace": ns}
    return {"kind": "User", "name": name, "apiGroup": "rbac.authorization.k8s.io"}


def suggest_generic(v: ActorView) -> dict[str, Any]:
    rules: dict[str, set[str]] = {}
    for (key, rkey), _u in (v.usage.used.items() if v.usage else []):
        rules.setdefault(key, set()).add(rkey or "*")
    role = f"{v.name}-used"
    return {
        "logconsole-policy": 1,
        "system": "suggested",
        "formats": sorted(v.usage.formats) if v.usage else [],
        "principals": {v.name: {"roles": [role]}},
        "roles": {role: [{"effect": "allow", "actions": [k], "resources": sorted(r) if "*" not in r else ["*"]}
                         for k, r in sorted(rules.items())]},
    }
