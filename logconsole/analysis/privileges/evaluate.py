"""Policy evaluation and effective permissions.

AWS (identity policies + permission boundaries, after AWS's evaluation logic):

* a request is denied by default; an explicit ``Deny`` beats any ``Allow``;
* ``Action``/``NotAction`` and ``Resource``/``NotResource`` with ``*``/``?``
  wildcards anywhere, actions case-insensitive, resources as ARN globs;
* with a permission boundary, an action must be allowed by the identity
  policies **and** by the boundary;
* a statement with a ``Condition`` is never guessed: an allow is
  ``conditional``, a conditional deny does not remove the permission but is
  reported.

Kubernetes RBAC (allow-only): bindings resolve to roles, a RoleBinding to a
ClusterRole is limited to the binding's namespace, ``system:masters`` bypasses
RBAC.  Generic policies follow the AWS rules with their own action names.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

from logconsole.analysis.privileges import catalog as cat
from logconsole.analysis.privileges.model import Edge, Rule

# ------------------------------------------------------------------ matching


def action_in(rule: Rule, action: str) -> bool:
    hit = any(cat.glob_match(p, action) for p in rule.actions)
    return not hit if rule.not_action else hit


def resource_in(rule: Rule, resource: str | None) -> bool:
    """Does the statement cover *resource*?  ``None`` (unknown resource) is
    covered only by statements that cover every resource."""
    if resource is None:
        return (not rule.not_resource) and any(p == "*" for p in rule.resources)
    hit = any(cat.glob_match(p, resource) for p in rule.resources)
    return not hit if rule.not_resource else hit


@dataclass
class Decision:
    allowed: bool
    conditional: bool = False  # the outcome depends on a Condition we did not evaluate
    allow: list[Rule] = field(default_factory=list)
    deny: list[Rule] = field(default_factory=list)
    reason: str = ""


def evaluate(rules: list[Rule], action: str, resource: str | None = "*") -> Decision:
    """Evaluate one request against a principal's rules (identity + boundary).

    *resource* ``"*"`` asks "on some resource"; ``None`` means unknown."""
    ident = [r for r in rules if r.policy_type != "boundary"]
    bound = [r for r in rules if r.policy_type == "boundary"]

    def applies(r: Rule) -> bool:
        if not action_in(r, action):
            return False
        if resource == "*":
            return True
        return resource_in(r, resource)

    denies = [r for r in ident + bound if r.effect == "deny" and applies(r)]
    hard_deny = [r for r in denies if not r.conditional and (resource != "*" or _covers_all(r))]
    if hard_deny:
        return Decision(False, False, [], hard_deny, "explicit deny")
    allows = [r for r in ident if r.effect == "allow" and applies(r)]
    if not allows:
        return Decision(False, False, [], denies, "implicit deny (no statement allows it)")
    conditional = all(r.conditional for r in allows) or bool(denies)
    if bound:
        ballow = [r for r in bound if r.effect == "allow" and applies(r)]
        if not ballow:
            return Decision(False, False, allows, denies, "outside the permission boundary")
        conditional = conditional or all(r.conditional for r in ballow)
    reason = "allowed" if not conditional else "allowed only if a condition holds"
    return Decision(True, conditional, allows, denies, reason)


def _covers_all(r: Rule) -> bool:
    return (not r.not_resource) and "*" in r.resources


# ------------------------------------------------------------- AWS expansion


@lru_cache(maxsize=4096)
def _all_lower() -> frozenset[str]:
    return frozenset(a.lower() for a in cat.all_actions())


@lru_cache(maxsize=4096)
def rule_action_set(actions: tuple[str, ...], not_action: bool) -> frozenset[str]:
    """Lowercase concrete actions a statement's Action/NotAction covers."""
    s: set[str] = set()
    for p in actions:
        s.update(a.lower() for a in cat.expand(p))
    if not_action:
        return _all_lower() - frozenset(s)
    return frozenset(s)


def _rset(r: Rule) -> frozenset[str]:
    return rule_action_set(tuple(r.actions), r.not_action)


@dataclass
class EffectiveAWS:
    """Effective (action-level) permissions of one AWS principal."""

    rules: list[Rule]
    actions: set[str]  # lowercase concrete actions granted (after denies and boundary)
    conditional: set[str]  # of those, granted only through a Condition
    denied: dict[str, list[Rule]]  # action -> denies that remove it
    partial_deny: dict[str, list[Rule]]  # conditional or resource-limited denies
    boundary_cut: set[str]  # actions allowed by identity policies but outside the boundary

    _gmap: dict[str, list[Rule]] | None = None

    def granting(self, action_lower: str) -> list[Rule]:
        """The allow statements (identity policies) that grant an action."""
        if self._gmap is None:
            m: dict[str, list[Rule]] = {}
            for r in self.rules:
                if r.policy_type != "boundary" and r.effect == "allow":
                    for a in _rset(r):
                        lst = m.get(a)
                        if lst is None:
                            m[a] = [r]
                        else:
                            lst.append(r)
            self._gmap = m
        return self._gmap.get(action_lower, [])

    def newest_grant(self, action_lower: str) -> int | None:
        """The oldest effective_from among granting rules (None if any is undated)."""
        dates = [r.effective_from for r in self.granting(action_lower)]
        if not dates or any(d is None for d in dates):
            return None
        return min(d for d in dates if d is not None)


def effective_aws(rules: list[Rule]) -> EffectiveAWS:
    ident = [r for r in rules if r.policy_type != "boundary"]
    bound = [r for r in rules if r.policy_type == "boundary"]
    allowed: set[str] = set()
    uncond: set[str] = set()
    for r in ident:
        if r.effect == "allow":
            s = _rset(r)
            allowed |= s
            if not r.conditional:
                uncond |= s
    denied: dict[str, list[Rule]] = {}
    partial: dict[str, list[Rule]] = {}
    for r in ident + bound:
        if r.effect != "deny":
            continue
        s = _rset(r) & allowed
        hard = not r.conditional and _covers_all(r)
        target = denied if hard else partial
        for a in s:
            target.setdefault(a, []).append(r)
    eff = allowed - set(denied)
    cut: set[str] = set()
    if bound:
        b_allow: set[str] = set()
        b_uncond: set[str] = set()
        for r in bound:
            if r.effect == "allow":
                s = _rset(r)
                b_allow |= s
                if not r.conditional:
                    b_uncond |= s
        cut = eff - b_allow
        eff = eff & b_allow
        uncond &= b_uncond
    return EffectiveAWS(rules, eff, eff - uncond, denied, partial, cut)


# ------------------------------------------------------------ K8s / generic


@dataclass
class EffRule:
    """A rule as it applies to one principal, after binding resolution."""

    rule: Rule
    via: str
    provenance: str


K8S_ALL = Rule(provider="k8s", subject="group:system:masters", subject_kind="group", effect="allow",
               actions=["k8s:*", "k8s:nonresource:*"], resources=["*"], via="group system:masters (bypasses RBAC)",
               container="system:masters", provenance="built-in: members of system:masters bypass RBAC authorization")

#: built-in ClusterRoles used when a binding points at one that was not imported
K8S_BUILTIN = {
    "clusterrole:cluster-admin": [
        Rule(provider="k8s", subject="clusterrole:cluster-admin", subject_kind="role", effect="allow",
             actions=["k8s:*/*:*"], resources=["*/*"], via="ClusterRole/cluster-admin (built-in)",
             container="ClusterRole/cluster-admin", provenance="built-in ClusterRole cluster-admin"),
        Rule(provider="k8s", subject="clusterrole:cluster-admin", subject_kind="role", effect="allow",
             actions=["k8s:nonresource:*"], resources=["*"], via="ClusterRole/cluster-admin (built-in)",
             container="ClusterRole/cluster-admin", provenance="built-in ClusterRole cluster-admin"),
    ],
}


def k8s_subjects(username: str, groups: list[str] | None) -> list[str]:
    subs = [f"user:{username}"]
    gs = list(groups or [])
    if username.startswith("system:serviceaccount:"):
        ns = username.split(":")[2] if username.count(":") >= 3 else ""
        gs += ["system:serviceaccounts", f"system:serviceaccounts:{ns}"]
    if username not in ("system:anonymous",) and "system:unauthenticated" not in gs:
        gs.append("system:authenticated")
    subs += [f"group:{g}" for g in dict.fromkeys(gs)]
    return subs


def effective_k8s(username: str, groups: list[str] | None, rules: list[Rule], edges: list[Edge]) -> tuple[list[EffRule], list[str]]:
    """Rules that apply to a Kubernetes user, and warnings (unresolved roles)."""
    subs = set(k8s_subjects(username, groups))
    out: list[EffRule] = []
    warnings: list[str] = []
    if "group:system:masters" in subs:
        out.append(EffRule(K8S_ALL, K8S_ALL.via, K8S_ALL.provenance))
    by_role: dict[str, list[Rule]] = {}
    for r in rules:
        if r.provider == "k8s":
            by_role.setdefault(r.subject, []).append(r)
    for e in edges:
        if e.provider != "k8s" or e.subject not in subs:
            continue
        role_rules = by_role.get(e.target) or K8S_BUILTIN.get(e.target)
        binding = "RoleBinding" if e.via == "role_binding" else "ClusterRoleBinding"
        who = e.subject.split(":", 1)[1]
        if not role_rules:
            warnings.append(f"{binding} ({e.provenance}) binds {who} to {e.target}, which is not in the imported RBAC")
            continue
        for r in role_rules:
            res = r.resources
            if e.scope and e.target.startswith("clusterrole:") and not any(a.startswith("k8s:nonresource:") for a in r.actions):
                res = [f"{e.scope}/{p.split('/', 1)[1] if '/' in p else '*'}" for p in r.resources]
            elif e.scope and e.target.startswith("clusterrole:"):
                continue  # nonResourceURLs are not granted through a RoleBinding
            via = f"{binding}{' in ' + e.scope if e.scope else ''} -> {r.via} (as {e.subject})"
            out.append(EffRule(replace(r, resources=res, scope=e.scope or r.scope), via, f"{r.provenance}; bound by {e.provenance}"))
    return out, warnings


def effective_generic(principal: str, rules: list[Rule], edges: list[Edge]) -> list[EffRule]:
    subjects = {f"principal:{principal}"}
    # groups first (principal -> group), then roles of the principal and its groups
    for e in edges:
        if e.provider == "generic" and e.subject == f"principal:{principal}" and e.target.startswith("group:"):
            subjects.add(e.target)
    roles: dict[str, str] = {}
    for e in edges:
        if e.provider == "generic" and e.subject in subjects and e.target.startswith("role:"):
            roles.setdefault(e.target, f"{e.subject.replace(':', ' ', 1)} -> {e.target.replace(':', ' ', 1)}")
    out = []
    for r in rules:
        if r.provider != "generic":
            continue
        if r.subject in subjects:
            out.append(EffRule(r, r.via, r.provenance))
        elif r.subject in roles:
            out.append(EffRule(r, roles[r.subject], r.provenance))
    return out


def match_eff(eff: list[EffRule], action: str, resource: str | None) -> tuple[EffRule | None, EffRule | None]:
    """(first allowing rule, first denying rule) for a concrete action/resource."""
    allow = deny = None
    for er in eff:
        r = er.rule
        if not action_in(r, action):
            continue
        if resource is not None and not resource_in(r, resource):
            continue
        if r.effect == "deny" and deny is None and not r.conditional:
            deny = er
        elif r.effect == "allow" and allow is None:
            allow = er
    return allow, deny
