"""What sample_data/README.md ("Privilege findings") says `logconsole actors` / `actor` show.

Each test checks one statement of that section on the sample bundle with the
grants in force before the incident (authorization-details.json + rbac.yaml).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
ACCT = "111122223333"
CI = f"arn:aws:iam::{ACCT}:user/ci-deploy"
SA = "system:serviceaccount:payments:payments-api"

pytestmark = pytest.mark.skipif(not (SAMPLE / "grants" / "rbac.yaml").exists(), reason="sample_data not generated")


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    from logconsole.cli import main

    db = str(tmp_path_factory.mktemp("sample") / "case.db")
    r = CliRunner().invoke(main, ["ingest", str(SAMPLE / "cloudtrail"), str(SAMPLE / "k8s"), "--db", db, "--json"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["grants", "import", str(SAMPLE / "grants" / "authorization-details.json"),
                                  str(SAMPLE / "grants" / "rbac.yaml"), "--db", db])
    assert r.exit_code == 0, r.output
    return db


def cli(db: str, *args: str):
    from logconsole.cli import main

    r = CliRunner().invoke(main, [*args, "--db", db])
    assert r.exit_code == 0, r.output
    return r.output


def actor(db: str, name: str, *extra: str) -> dict:
    return json.loads(cli(db, "actor", name, "--json", *extra))


def kinds(rep: dict, kind: str) -> list[dict]:
    return [f for f in rep["findings"] if f["kind"] == kind]


def test_actors_list(case):
    rows = {r["actor"]: r for r in json.loads(cli(case, "actors", "--json"))}
    ci = rows[CI]
    assert ci["denied"] == 22 and ci["used_not_granted"] == 5
    assert ci["granted"] > 600 and ci["used"] == 30
    # dormant principals have no events, everything granted unused
    for name in (f"arn:aws:iam::{ACCT}:user/bob", f"arn:aws:iam::{ACCT}:role/BreakGlassAdmin", "ops-oncall"):
        assert rows[name]["events"] == 0 and rows[name]["used"] == 0 and rows[name]["granted"] > 0
    # over-privilege order: the never-used principals come first
    order = [r["actor"] for r in json.loads(cli(case, "actors", "--json"))]
    assert order.index(f"arn:aws:iam::{ACCT}:role/BreakGlassAdmin") < order.index(CI)
    text = cli(case, "actors")
    assert "USED/GRANTED" in text and CI in text


def test_ci_deploy_enumeration_and_denied(case):
    rep = actor(case, CI)
    assert rep["denied_events"] == 22
    enum = [f for f in kinds(rep, "denied_attempt") if f.get("enumeration")]
    assert len(enum) == 1
    assert len(enum[0]["actions"]) == 21 and len(enum[0]["events"]) == 22
    assert "enumeration: 21 distinct denied actions" in enum[0]["detail"]
    denied = {d["action"] for d in rep["denied"]}
    assert {"iam:CreateUser", "iam:AttachUserPolicy", "sts:AssumeRole", "secretsmanager:GetSecretValue",
            "ec2:RunInstances", "lambda:CreateFunction"} <= denied


def test_ci_deploy_escalation_exercised_and_used_not_granted(case):
    rep = actor(case, CI)
    exercised = {f["action"] for f in kinds(rep, "privilege_escalation") if f.get("exercised")}
    assert {"iam:CreatePolicyVersion", "iam:AttachUserPolicy", "iam:CreateAccessKey", "sts:AssumeRole"} <= exercised
    other = [f for f in kinds(rep, "privilege_escalation") if f.get("action") == "iam:CreateAccessKey"][0]
    assert "svc-backup" in other["detail"] and len(other["events"]) == 1
    ung = {p["action"] for p in rep["permissions"] if p["state"] == "used_not_granted"}
    assert ung == {"iam:AttachUserPolicy", "iam:CreateAccessKey", "sts:AssumeRole", "cloudtrail:DeleteTrail",
                   "cloudtrail:StopLogging"}
    sens = {f["action"]: f for f in kinds(rep, "sensitive_action")}
    assert sens["cloudtrail:StopLogging"]["category"] == "log tampering"
    assert sens["cloudtrail:DeleteTrail"]["category"] == "log tampering"
    assert sens["iam:CreateAccessKey"]["category"] == "credentials"
    assert sens["ecr:GetAuthorizationToken"]["category"] == "credentials"
    wild = " ".join(f["detail"] for f in kinds(rep, "wildcard_grant"))
    assert "s3:*" in wild and "cloudformation:*" in wild and "ecr:*" in wild
    assert 'Resource "*" on write' in wild
    granted_only = [f for f in kinds(rep, "privilege_escalation") if f.get("exercised") is False][0]
    assert [m.split(" (")[0] for m in granted_only["methods"]] == ["SetDefaultPolicyVersion", "PassRole+CreateStack"]
    s3 = [f for f in kinds(rep, "unused_permission") if f.get("service") == "s3"][0]
    assert s3["detail"].startswith("178 of 180 granted s3 action(s) unused")
    enum = [f for f in kinds(rep, "denied_attempt") if f.get("enumeration")][0]
    assert "in 2m16s (2026-03-14T01:13:12Z .. 2026-03-14T01:15:28Z)" in enum["detail"]
    # provenance of a used permission: the policy version and the JSON pointer of the statement
    cpv = [p for p in rep["permissions"] if p["action"] == "iam:CreatePolicyVersion"][0]
    assert cpv["state"] == "used"
    assert "managed policy ci-deploy-policy (v1)" in cpv["provenance"][0]
    assert "authorization-details.json#/Policies/" in cpv["provenance"][0]
    assert "/Statement/" in cpv["provenance"][0]


def test_data_analytics_role_exfiltration(case):
    rep = actor(case, "DataAnalyticsRole")
    assert rep["actor"] == f"arn:aws:iam::{ACCT}:role/DataAnalyticsRole"
    get = [p for p in rep["permissions"] if p["action"] == "s3:GetObject"][0]
    assert get["state"] == "used" and get["count"] == 250
    lb = [p for p in rep["permissions"] if p["action"] == "s3:ListBucket"][0]
    assert lb["state"] == "used" and lb["count"] == 4
    assert any(s["session"].startswith("ci-sync-1710379397") for s in rep["sessions"])
    sens = [f for f in kinds(rep, "sensitive_action") if f["action"] == "s3:GetObject"][0]
    assert sens["category"] == "data access" and len(sens["events"]) == 50  # evidence capped at 50 ids
    pol = json.loads(cli(case, "actor", "DataAnalyticsRole", "--suggest-policy"))
    st = {tuple(s["Action"]): s["Resource"] for s in pol["Statement"]}
    assert st[("s3:GetObject",)] == "arn:aws:s3:::acme-customer-exports/*"


def test_dormant_and_wildcard_principals(case):
    bob = actor(case, "bob")
    assert bob["actor"] == f"arn:aws:iam::{ACCT}:user/bob"
    assert kinds(bob, "dormant")
    bg = actor(case, "BreakGlassAdmin")
    d = kinds(bg, "dormant")[0]
    assert "RoleLastUsed says 2024-06-11" in d["detail"]
    assert any('Action "*"' in f["detail"] for f in kinds(bg, "wildcard_grant"))
    ops = actor(case, "ops-oncall")
    assert kinds(ops, "dormant") and kinds(ops, "wildcard_grant")


def test_k8s_ci_deploy(case):
    from logconsole.cli import main

    r = CliRunner().invoke(main, ["actor", "ci-deploy", "--db", case])
    assert r.exit_code == 2 and "ambiguous" in r.output  # the IAM user ci-deploy has the same short name
    rep = actor(case, "ci-deploy", "--provider", "k8s")
    assert rep["provider"] == "k8s"
    ex = {f["action"] for f in kinds(rep, "privilege_escalation") if f.get("exercised")}
    assert {"k8s:core/pods/exec:create", "k8s:rbac.authorization.k8s.io/rolebindings:create"} <= ex
    den = {(d["action"], d["resource"]) for d in rep["denied"]}
    assert den == {("k8s:core/namespaces:list", "/"), ("k8s:core/secrets:list", "kube-system/"),
                   ("k8s:rbac.authorization.k8s.io/clusterrolebindings:create", "/")}
    ung = {(p["action"], p["resource"]) for p in rep["permissions"] if p["state"] == "used_not_granted"}
    assert ("k8s:core/secrets:get", "payments/payments-db") in ung  # through the RoleBinding it created


def test_k8s_payments_service_account(case):
    rep = actor(case, SA)
    sens = [f for f in kinds(rep, "sensitive_action") if f["action"] == "get secrets"][0]
    assert "kube-system/portal-admin-token" in sens["resources"] and len(sens["resources"]) == 4
    lst = [f for f in kinds(rep, "sensitive_action") if f["action"] == "list secrets"][0]
    assert lst["resources"] == ["kube-system/", "payments/"]
    assert [d["action"] for d in rep["denied"]] == ["k8s:rbac.authorization.k8s.io/clusterrolebindings:create"]
    used = [p for p in rep["permissions"] if p["state"] == "used"]
    assert {p["action"] for p in used} == {"k8s:core/secrets:get", "k8s:core/secrets:list"}
    assert all("payments-api-legacy" in p["provenance"][0] for p in used)


def test_grants_diff_after_the_incident(case, tmp_path):
    import sqlite3

    db = str(tmp_path / "after.db")  # a copy: the other tests keep the "before" grants
    src, dst = sqlite3.connect(case), sqlite3.connect(db)
    src.backup(dst)
    src.close()
    dst.close()
    case = db
    out = cli(case, "grants", "import", str(SAMPLE / "grants" / "authorization-details-after.json"))
    assert "snapshot" in out
    d = json.loads(cli(case, "grants", "diff", "--json"))
    added = [(r["subject"], r["via"]) for r in d["rules_added"] if r["actions"] == ["*"]]
    assert (CI, "managed policy ci-deploy-policy (v2)") in added
    assert (CI, "managed policy AdministratorAccess (v1)") in added
    # with the newer snapshot active, the escalated calls are granted
    rep = actor(case, CI)
    assert not [p for p in rep["permissions"] if p["state"] == "used_not_granted"]
