"""What the per-actor privilege analysis returns: permission rows, privilege
alerts, one :class:`ActorView` per actor and the :class:`Analysis` around them.

A *privilege alert* (:class:`PrivilegeAlert`) is what the analysis derives for
an actor (an unused permission, a denied attempt, an escalation ...).  It is not
an investigator's finding (``logconsole finding``, :mod:`logconsole.store.findings`).
The command line and the report call privilege alerts "findings" of an actor
(``logconsole actors`` column ``findings``, report column "Privilege findings");
those outputs are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from logconsole.analysis.privileges.evaluate import EffectiveAWS, EffRule
from logconsole.analysis.privileges.grants import GrantSet
from logconsole.analysis.privileges.model import Principal, Rule
from logconsole.analysis.privileges.usage import ActorUsage, UsageData
from logconsole.util.timeparse import format_us as _format_us

#: the same few thousand timestamps are formatted over and over (rows, alerts, reports)
format_us = lru_cache(maxsize=200_000)(_format_us)

#: permission row states (exact names)
STATES = ("used", "unused", "unknown", "used_not_granted")
#: ``logconsole actors --sort`` keys
SORTS = ("overprivilege", "events", "denied", "findings", "unused", "granted", "last_seen", "name")
#: event ids kept per alert / denied group
EVIDENCE_LIMIT = 50

RawPairs = set[tuple[str | None, str | None]]  # (service, events.action) pairs, how evidence is fetched


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
    raw: RawPairs = field(default_factory=set)
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
class PrivilegeAlert:
    """One thing the privilege analysis points out about an actor (kinds: :data:`alerts.KINDS`)."""

    kind: str
    detail: str
    severity: str = "info"
    events: list[int] = field(default_factory=list)
    provenance: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    # not serialized: how to fetch the evidence lazily
    raw: RawPairs = field(default_factory=set)
    ids: list[int] = field(default_factory=list)
    target_not: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "detail": self.detail, "severity": self.severity,
                             "events": self.events}
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
    alerts: list[PrivilegeAlert] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    granted_actions: set[str] = field(default_factory=set)  # AWS: lowercase concrete actions
    # what the alerts need from the permission build
    aws_rules: list[Rule] = field(default_factory=list)  # AWS: the rules naming this actor
    aws_effective: EffectiveAWS | None = None  # AWS: effective action-level permissions
    effective_rules: list[EffRule] = field(default_factory=list)  # K8s / generic: effective rules
    detail: bool = True  # rows carry provenance (False for the actors list)

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
            "findings": len(self.alerts),
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


def short_list(items: list[str], n: int = 10) -> str:
    """The first *n* items joined, with how many more there are."""
    items = list(items)
    s = ", ".join(items[:n])
    return s + (f", ... (+{len(items) - n} more)" if len(items) > n else "")


def rule_provenance(r: Rule, via: str | None = None) -> str:
    return f"{via or r.via} @ {r.provenance}"


def rule_resources(r: Rule) -> str:
    return ("NOT " if r.not_resource else "") + ", ".join(r.resources)
