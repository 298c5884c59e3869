"""Importer for Kubernetes RBAC YAML/JSON: Role, ClusterRole, RoleBinding,
ClusterRoleBinding, in multi-document files and ``kind: List`` (as printed by
``kubectl get roles,rolebindings -A -o yaml``).

Roles become rules held by ``clusterrole:NAME`` / ``role:NS:NAME``; bindings
become edges from ``user:NAME`` / ``group:NAME`` (service accounts are the
users ``system:serviceaccount:NS:NAME``) to the role, scoped to the binding's
namespace for a RoleBinding (also when it points at a ClusterRole) and
cluster-wide for a ClusterRoleBinding.  Resolution happens at evaluation time,
so roles and bindings may come from different files.

Action patterns: ``k8s:GROUP/RESOURCE[/SUB]:VERB`` (``core`` = the empty group),
``k8s:nonresource:VERB`` (the URL is the resource).  Resource patterns:
``NAMESPACE/NAME`` globs (``*`` namespace for cluster scope).
"""

from __future__ import annotations

from typing import Any
from collections.abc import Iterator

import yaml

from logconsole.analysis.privileges.model import Edge, GrantFormatError, ParsedSnapshot, Principal, Rule

RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
#: verbs a ``*`` expands to when counting granted permissions
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings (kubectl output has them)."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_documents(text: str, file: str) -> list[Any]:
    try:
        return [d for d in yaml.load_all(text, Loader=_Loader)]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark is not None else file
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise GrantFormatError(f"{where}: invalid YAML: {problem}") from None


def _objects(docs: list[Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for di, doc in enumerate(docs):
        if not isinstance(doc, dict):
            continue
        if doc.get("kind") == "List" or (str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list)):
            for ii, item in enumerate(doc.get("items") or []):
                if isinstance(item, dict):
                    yield f"doc {di} item {ii}", item
        else:
            yield f"doc {di}", doc


def looks_like(docs: list[Any]) -> bool:
    return any(obj.get("kind") in RBAC_KINDS for _pos, obj in _objects(docs))


def role_key(kind: str, name: str, namespace: str | None) -> str:
    return f"clusterrole:{name}" if kind == "ClusterRole" else f"role:{namespace or 'default'}:{name}"


def action_patterns(rule: dict[str, Any]) -> list[str]:
    out = []
    verbs = [str(v).lower() for v in rule.get("verbs") or []]
    for _url in rule.get("nonResourceURLs") or []:
        for v in verbs:
            out.append(f"k8s:nonresource:{v}")
    groups = rule.get("apiGroups")
    if rule.get("resources"):
        for g in groups if groups is not None else [""]:
            gname = "core" if g == "" else str(g)
            for res in rule.get("resources") or []:
                for v in verbs:
                    out.append(f"k8s:{gname}/{res}:{v}")
    return sorted(set(out))


def parse(docs: list[Any], file: str) -> ParsedSnapshot:
    snap = ParsedSnapshot(format="k8s-rbac", label="")
    found = 0
    seen_principals: set[str] = set()
    for pos, obj in _objects(docs):
        kind = obj.get("kind")
        if kind not in RBAC_KINDS:
            continue
        found += 1
        md = obj.get("metadata") or {}
        name = md.get("name")
        ns = md.get("namespace")
        if not isinstance(name, str) or not name:
            raise GrantFormatError(f"{file}#{pos}: {kind} without metadata.name")
        label = f"{kind}/{ns + '/' if ns and kind.startswith('Role') else ''}{name}"
        if kind in ("Role", "ClusterRole"):
            key = role_key(kind, name, ns)
            if obj.get("aggregationRule"):
                snap.warnings.append(f"{file}#{pos}: {label} has an aggregationRule; only its listed rules are used")
            for ri, rule in enumerate(obj.get("rules") or []):
                if not isinstance(rule, dict):
                    continue
                names = [str(n) for n in rule.get("resourceNames") or []] or ["*"]
                urls = [str(u) for u in rule.get("nonResourceURLs") or []]
                scope = ns if kind == "Role" else None
                acts = action_patterns(rule)
                res_acts = [a for a in acts if not a.startswith("k8s:nonresource:")]
                url_acts = [a for a in acts if a.startswith("k8s:nonresource:")]
                prov = f"{file}#{pos} ({label}) rule {ri}"
                if res_acts:
                    snap.rules.append(Rule(
                        provider="k8s", subject=key, subject_kind="role", effect="allow", actions=res_acts,
                        resources=[f"{scope or '*'}/{n}" for n in names], scope=scope, via=label, container=label,
                        provenance=prov,
                    ))
                if url_acts and kind == "ClusterRole":
                    snap.rules.append(Rule(
                        provider="k8s", subject=key, subject_kind="role", effect="allow", actions=url_acts,
                        resources=urls, via=label, container=label, provenance=prov,
                    ))
        else:
            ref = obj.get("roleRef") or {}
            rkind, rname = ref.get("kind"), ref.get("name")
            if rkind not in ("Role", "ClusterRole") or not rname:
                raise GrantFormatError(f"{file}#{pos}: {label} has no valid roleRef")
            if kind == "ClusterRoleBinding" and rkind == "Role":
                snap.warnings.append(f"{file}#{pos}: {label} references a Role (invalid); ignored")
                continue
            target = role_key(rkind, rname, ns)
            scope = (ns or "default") if kind == "RoleBinding" else None
            for si, subj in enumerate(obj.get("subjects") or []):
                if not isinstance(subj, dict):
                    continue
                skind, sname = subj.get("kind"), subj.get("name")
                if not sname:
                    continue
                if skind == "ServiceAccount":
                    sa = f"system:serviceaccount:{subj.get('namespace') or ns or 'default'}:{sname}"
                    subject = f"user:{sa}"
                    if sa not in seen_principals:
                        seen_principals.add(sa)
                        snap.principals.append(Principal("k8s", "k8s_sa", sa, [sname]))
                elif skind == "Group":
                    subject = f"group:{sname}"
                    if f"group:{sname}" not in seen_principals:
                        seen_principals.add(f"group:{sname}")
                        snap.principals.append(Principal("k8s", "k8s_group", str(sname)))
                else:
                    subject = f"user:{sname}"
                    if sname not in seen_principals:
                        seen_principals.add(str(sname))
                        snap.principals.append(Principal("k8s", "k8s_user", str(sname)))
                snap.edges.append(Edge(
                    provider="k8s", subject=subject, target=target,
                    via="role_binding" if kind == "RoleBinding" else "cluster_role_binding", scope=scope,
                    provenance=f"{file}#{pos} ({label}) subject {si}",
                ))
    if not found:
        raise GrantFormatError(f"{file}: no Role, ClusterRole, RoleBinding or ClusterRoleBinding found")
    snap.label = file.rsplit("/", 1)[-1]
    snap.meta = {"objects": found}
    return snap
