"""One grant model for AWS IAM, Kubernetes RBAC and the generic policy format.

Every importer turns its input into a :class:`ParsedSnapshot`: a list of
:class:`Principal` (who exists), :class:`Rule` (an allow/deny statement held by
a *subject*) and :class:`Edge` (subject -> container membership, e.g. a
Kubernetes binding from a group to a ClusterRole).

Subjects are strings:

* AWS: the principal ARN (``arn:aws:iam::1:user/alice``); group and managed
  policies are flattened into the principal at import time, the path is kept in
  :attr:`Rule.via` and the position in :attr:`Rule.provenance`.
* Kubernetes: rules belong to ``clusterrole:NAME`` / ``role:NS:NAME``; edges
  bind ``user:NAME``, ``group:NAME`` (service accounts are users named
  ``system:serviceaccount:NS:NAME``) to those roles with a namespace scope.
* generic: rules belong to ``role:NAME`` or directly to ``principal:NAME``;
  edges bind principals (and ``group:NAME``) to roles.

Action patterns:

* AWS: ``service:Action`` with ``*``/``?`` wildcards, case-insensitive.
* Kubernetes: ``k8s:GROUP/RESOURCE[/SUB]:VERB`` (``core`` for the empty API
  group) or ``k8s:nonresource:VERB`` with the URL as resource.
* generic: whatever the policy file says, matched case-insensitively against
  ``events.action``.

Resource patterns are globs: ARNs for AWS, ``NAMESPACE/NAME`` for Kubernetes
(``*`` for cluster scope; cluster-scoped objects have an empty namespace).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PROVIDERS = ("aws", "k8s", "generic")


@dataclass(slots=True)
class Principal:
    provider: str
    kind: str  # aws_user | aws_role | aws_group | k8s_user | k8s_sa | k8s_group | generic
    name: str  # canonical: ARN, k8s username, generic principal name
    aliases: list[str] = field(default_factory=list)
    created_at: int | None = None  # epoch µs
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Rule:
    provider: str
    subject: str
    effect: str  # allow | deny
    actions: list[str]
    resources: list[str] = field(default_factory=lambda: ["*"])
    not_action: bool = False
    not_resource: bool = False
    condition: dict[str, Any] | None = None
    policy_type: str = "identity"  # identity | boundary
    scope: str | None = None  # Kubernetes namespace a Role rule is limited to
    via: str = ""  # human path: "group admins -> managed policy ReadOnly (v3)"
    container: str = ""  # policy / role name holding the statement
    provenance: str = ""  # "file#/json/pointer" or "file#doc 3 (ClusterRole x) rule 1"
    sid: str | None = None
    effective_from: int | None = None  # µs: when this grant came into being, if known
    subject_kind: str = "principal"  # principal | group | role

    @property
    def conditional(self) -> bool:
        return bool(self.condition)


@dataclass(slots=True)
class Edge:
    provider: str
    subject: str  # "user:bob", "group:system:authenticated", "principal:alice"
    target: str  # "clusterrole:view", "role:ns1:reader", "role:dba"
    via: str  # role_binding | cluster_role_binding | member
    scope: str | None = None  # namespace of a RoleBinding; None = cluster-wide
    provenance: str = ""


@dataclass(slots=True)
class ParsedSnapshot:
    format: str  # aws-iam | k8s-rbac | policy
    label: str  # account id, file name, or the policy's system name
    principals: list[Principal] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


class GrantFormatError(Exception):
    """The file is not a valid grants file; the message names file and position."""
