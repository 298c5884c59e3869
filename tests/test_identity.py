"""The identity graph: every link kind from real records, the sample case, no false merges."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from logconsole.cli import main

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
REAL = Path(__file__).resolve().parent / "data" / "realdata"
IDDATA = Path(__file__).resolve().parent / "data" / "identity"


def run(*args: str) -> str:
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 0, r.output
    return r.output


def ingest(db: str, *paths: Path | str, extra: tuple[str, ...] = ()) -> None:
    run("ingest", *[str(p) for p in paths], *extra, "--db", db, "--json")


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> str:
    db = str(tmp_path_factory.mktemp("idsample") / "case.db")
    ingest(db, SAMPLE / "cloudtrail", SAMPLE / "k8s", SAMPLE / "app")
    return db


@pytest.fixture(scope="module")
def real_db(tmp_path_factory) -> str:
    db = str(tmp_path_factory.mktemp("idreal") / "real.db")
    for sub in ("auditd", "ssh-auth", "k8s-audit", "cloudtrail", "pgaudit", "gcp-audit", "azure-activity"):
        ingest(db, REAL / sub)
    ingest(db, IDDATA / "secure-rhel7.log", extra=("--year", "2016", "--tz", "UTC"))
    return db


def identity(db: str, alias: str, *flags: str) -> dict:
    return json.loads(run("identity", alias, "--db", db, "--json", *flags))


def links_of(db: str) -> list[tuple[str, str, str, str, int]]:
    con = sqlite3.connect(db)
    try:
        return con.execute(
            "SELECT l.kind, l.strength, a.kind || ':' || a.value, b.kind || ':' || b.value, l.id "
            "FROM identity_links l JOIN identity_aliases a ON a.id = l.from_alias "
            "JOIN identity_aliases b ON b.id = l.to_alias ORDER BY l.id").fetchall()
    finally:
        con.close()


def evidence(db: str, link_id: int) -> list[int]:
    con = sqlite3.connect(db)
    try:
        return [r[0] for r in con.execute("SELECT event_id FROM identity_evidence WHERE link_id = ? ORDER BY 1",
                                          (link_id,))]
    finally:
        con.close()


def event(db: str, eid: int) -> dict:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        return dict(con.execute("SELECT * FROM events WHERE id = ?", (eid,)).fetchone())
    finally:
        con.close()


def find(db: str, kind: str, frm: str, to: str) -> tuple[str, int]:
    """(strength, link id) of the one link of *kind* between aliases whose refs contain frm / to."""
    hits = [(s, lid) for k, s, a, b, lid in links_of(db) if k == kind and frm in a and to in b]
    assert len(hits) == 1, (kind, frm, to, [x for x in links_of(db) if x[0] == kind])
    return hits[0]


# ---------------------------------------------------------------- the sample case
CI_USER = "aws_user:arn:aws:iam::111122223333:user/ci-deploy"
NEW_KEY = "aws_key:AKIARZ5EXAMPLEBK9Q4W"
SESSION = "aws_session:arn:aws:sts::111122223333:assumed-role/DataAnalyticsRole/ci-sync-1710379397"
EKS_USER = "k8s_user:ci-deploy"
PORTAL = "app_user:svc-portal-admin"


def _link(data: dict, kind: str, frm: str, to: str) -> dict:
    hits = [lk for lk in data["links"] if lk["kind"] == kind and lk["from"] == frm and lk["to"] == to]
    assert len(hits) == 1, (kind, frm, to, data["links"])
    return hits[0]


def test_leaked_key_identity_shape_and_strong_links(sample_db):
    data = identity(sample_db, "AKIARZ5EXAMPLE7CIDK2")
    assert set(data) == {"identity", "aliases", "links", "sessions", "events"}
    for a in data["aliases"]:
        assert set(a) == {"kind", "value", "first", "last", "events"}
    for lk in data["links"]:
        assert set(lk) == {"kind", "from", "to", "strength", "evidence"}
        assert lk["strength"] in ("strong", "weak") and lk["evidence"]
    for s in data["sessions"]:
        assert set(s) == {"kind", "id", "start", "end", "src_ips", "user_agents", "events"}

    key = "aws_key:AKIARZ5EXAMPLE7CIDK2"
    lk = _link(data, "access_key", key, CI_USER)
    assert lk["strength"] == "strong"
    assert all(event(sample_db, e)["session"] == "AKIARZ5EXAMPLE7CIDK2" for e in lk["evidence"])
    lk = _link(data, "created_credential", key, NEW_KEY)
    assert lk["strength"] == "strong"
    (ev,) = lk["evidence"]
    assert event(sample_db, ev)["action"] == "CreateAccessKey"
    assert _link(data, "access_key", NEW_KEY, "aws_user:arn:aws:iam::111122223333:user/svc-backup")["strength"] == "strong"
    lk = _link(data, "assumed_session", key, SESSION)
    assert lk["strength"] == "strong" and event(sample_db, lk["evidence"][0])["action"] == "AssumeRole"
    assert _link(data, "session_role", SESSION, "aws_role:arn:aws:iam::111122223333:role/DataAnalyticsRole")[
        "strength"] == "strong"

    sess = {s["id"]: s for s in data["sessions"]}
    s = sess[SESSION.split(":", 1)[1]]
    assert s["src_ips"] == ["203.0.113.77"] and s["events"] == 256
    assert s["start"] == "2026-03-14T01:23:17Z"
    assert data["events"] == sum(a["events"] for a in data["aliases"])


def test_eks_user_and_portal_user_reached_only_by_weak_links(sample_db):
    data = identity(sample_db, "AKIARZ5EXAMPLE7CIDK2")
    refs = {f"{a['kind']}:{a['value']}" for a in data["aliases"]}
    assert EKS_USER in refs and PORTAL in refs
    strong = identity(sample_db, "AKIARZ5EXAMPLE7CIDK2", "--strong-only")
    srefs = {f"{a['kind']}:{a['value']}" for a in strong["aliases"]}
    assert {CI_USER, NEW_KEY, SESSION} <= srefs
    assert EKS_USER not in srefs and PORTAL not in srefs
    assert all(lk["strength"] == "strong" for lk in strong["links"])

    same = _link(data, "same_name", CI_USER, EKS_USER)
    assert same["strength"] == "weak"
    actors = {event(sample_db, e)["format"] for e in same["evidence"]}
    assert actors == {"cloudtrail", "k8s-audit"}

    uses = [lk for lk in data["links"] if lk["to"] == PORTAL]
    assert uses and all(lk["strength"] == "weak" and lk["kind"] == "credential_use" for lk in uses)
    via_pod = _link(data, "credential_use", "k8s_sa:system:serviceaccount:payments:payments-api", PORTAL)
    evs = [event(sample_db, e) for e in via_pod["evidence"]]
    assert any(e["resource"] == "secrets/kube-system/portal-admin-token" for e in evs)
    assert any(e["action"] == "create pods/exec" and e["src_ip"] == "203.0.113.77" for e in evs)
    assert any(e["action"] == "auth.token_login" and e["src_ip"] == "203.0.113.77" for e in evs)
    # the pod's service account is only inferred (no pod-name claim in these records): weak
    assert _link(data, "exec_service_account", "k8s_pod:payments/payments-api-6d8f7b9c5-x2k4q",
                 "k8s_sa:system:serviceaccount:payments:payments-api")["strength"] == "weak"
    assert _link(data, "pod_exec", EKS_USER, "k8s_pod:payments/payments-api-6d8f7b9c5-x2k4q")["strength"] == "strong"


def test_alias_forms_resolve_to_the_same_identity(sample_db):
    want = identity(sample_db, "AKIARZ5EXAMPLE7CIDK2")["identity"]
    for alias in ("arn:aws:iam::111122223333:user/ci-deploy", "ci-sync-1710379397", SESSION):
        assert identity(sample_db, alias)["identity"] == want, alias
    # the key created for svc-backup is svc-backup's identity; it shows who created it
    backup = identity(sample_db, "AKIARZ5EXAMPLEBK9Q4W")
    assert backup["identity"] != want
    assert _link(backup, "created_credential", "aws_key:AKIARZ5EXAMPLE7CIDK2", NEW_KEY)["strength"] == "strong"
    r = CliRunner().invoke(main, ["identity", "ci-deploy", "--db", sample_db])
    assert r.exit_code == 2 and "ambiguous" in r.output and "k8s_user:ci-deploy" in r.output
    r = CliRunner().invoke(main, ["identity", "nobody-at-all", "--db", sample_db])
    assert r.exit_code == 2 and "no alias" in r.output and "Traceback" not in r.output


def test_identities_list_and_text_output(sample_db):
    rows = json.loads(run("identities", "--db", sample_db, "--json"))
    by_id = {r["identity"]: r for r in rows}
    ci = by_id[identity(sample_db, "AKIARZ5EXAMPLE7CIDK2")["identity"]]
    assert ci["label"] == CI_USER and ci["weak_links"] >= 1 and ci["events"] > 100
    out = run("identity", "AKIARZ5EXAMPLE7CIDK2", "--db", sample_db)
    assert "[strong] aws_key:AKIARZ5EXAMPLE7CIDK2 -- created credential --> aws_key:AKIARZ5EXAMPLEBK9Q4W" in out
    assert "(weak)" in out
    assert "ID  ALIASES" in run("identities", "--db", sample_db)


def test_console_login_links_user_to_its_console_session(sample_db):
    strength, lid = find(sample_db, "console_login", "user/dave", "aws_key:ASIA")
    ev = [event(sample_db, e) for e in evidence(sample_db, lid)]
    assert strength == "strong" and ev[0]["action"] == "ConsoleLogin"


# ---------------------------------------------------------------- real records, every link kind
def test_cloudtrail_assume_role_real_records(real_db):
    # EC2 assumes the instance role: the service's call names the temporary key it issued
    strength, lid = find(real_db, "assumed_session", "aws_service:ec2.amazonaws.com", "aws_key:ASIA5FLZVX4OPVKKVBMX")
    assert strength == "strong" and event(real_db, evidence(real_db, lid)[0])["action"] == "AssumeRole"
    # ... and the session's own events carry that key: key <-> session, session -> role
    sess = "assumed-role/MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0/i-0317f6c6b66ae9c40"
    assert find(real_db, "session_credential", "aws_key:ASIA5FLZVX4OPVKKVBMX", sess)[0] == "strong"
    assert find(real_db, "session_role", sess, "role/MordorNginxStack-BankingWAFRole")[0] == "strong"
    assert find(real_db, "access_key", "aws_key:ASIA5FLZVX4OI4ZDQJOL", "user/pedro")[0] == "strong"
    # a service is shared: the sessions it issued are not one identity
    a = identity(real_db, "aws_key:ASIA5FLZVX4OPVKKVBMX")["identity"]
    b = identity(real_db, "aws_key:ASIA5FLZVX4OLY6BJN4L")["identity"]
    assert a != b


def test_auditd_session_uid_name_and_sshd_login(real_db):
    assert find(real_db, "login_uid", "host_session:ses:1@audit-rhel7.log", "host_uid:uid:1000@audit-rhel7.log")[0] == "strong"
    strength, lid = find(real_db, "uid_name", "host_uid:uid:1000@audit-rhel7.log", "host_user:andrew_kroh@audit-rhel7.log")
    assert strength == "strong" and event(real_db, evidence(real_db, lid)[0])["action"] in ("USER_START", "USER_LOGIN")
    # sshd Accepted (pid 1298, address) -> the auditd login session of that sshd process
    strength, lid = find(real_db, "ssh_audit_session", "ssh_session:sshd[1298]@rhel7/2016-12-07T02:17:23Z",
                         "host_session:ses:1@audit-rhel7.log")
    evs = [event(real_db, e) for e in evidence(real_db, lid)]
    assert strength == "strong"
    assert {e["format"] for e in evs} == {"syslog-auth", "auditd"}
    assert all(e["src_ip"] == "96.241.146.97" for e in evs)
    assert find(real_db, "ssh_login", "host_user:andrew_kroh@rhel7", "sshd[1298]@rhel7")[0] == "strong"
    data = identity(real_db, "ses:1@audit-rhel7.log")
    refs = {f"{a['kind']}:{a['value']}" for a in data["aliases"]}
    assert "host_user:andrew_kroh@rhel7" in refs and "host_uid:uid:1000@audit-rhel7.log" in refs
    sess = [s for s in data["sessions"] if s["kind"] == "ssh_session"]
    assert sess and sess[0]["src_ips"] == ["96.241.146.97"] and sess[0]["user_agents"] == ["ssh publickey"]


def test_sshd_pids_and_sudo_from_auth_log(real_db):
    assert find(real_db, "ssh_login", "host_user:vagrant@localhost", "ssh_session:sshd[3402]@localhost")[0] == "strong"
    strength, lid = find(real_db, "sudo", "host_user:vagrant@localhost", "host_user:root@localhost")
    assert strength == "strong" and all(event(real_db, e)["action"] == "sudo" for e in evidence(real_db, lid))
    # sudo is directed: vagrant reaches root, root does not become vagrant's identity
    v = identity(real_db, "host_user:vagrant@localhost")
    assert any(a["value"] == "root@localhost" for a in v["aliases"])
    assert identity(real_db, "host_user:root@localhost")["identity"] != v["identity"]


def test_kubernetes_impersonation_real_records(real_db):
    strength, lid = find(real_db, "impersonation", "k8s_user:system:admin", "k8s_sa:system:serviceaccount:ns1:sa1")
    assert strength == "strong"
    assert all(event(real_db, e)["target_user"] == "system:serviceaccount:ns1:sa1" for e in evidence(real_db, lid))
    assert find(real_db, "impersonation", "k8s_user:system:admin", "k8s_user:bob")[0] == "strong"
    # impersonating does not merge the impersonator with everyone it impersonated
    assert identity(real_db, "k8s_user:bob")["identity"] != identity(real_db, "k8s_user:alice")["identity"]


def test_pgaudit_session_user_and_client_address(real_db):
    strength, _ = find(real_db, "db_login", "db_user:vagrant@", "db_session:55cb70b8.5852@")
    assert strength == "strong"
    data = identity(real_db, "db_session:55cb70b8.5852@postgresql-2015-08-12_161343.csv")
    s = [s for s in data["sessions"] if s["id"].startswith("55cb70b8.5852@")]
    assert s and s[0]["src_ips"] == ["[local]"]


def test_gcp_delegation_and_azure_claims(real_db):
    assert find(real_db, "sa_delegation", "gcp_principal:service-account-one@fake-project.com",
                "gcp_principal:service-account-two@fake-project.com")[0] == "strong"
    assert find(real_db, "azure_claims", "azure_principal:fakeemail@fakedomain.com", "azure_token:")[0] == "strong"


def test_pod_service_account_from_token_claim(tmp_path):
    """Bound service-account tokens name their pod (user.extra): exec -> pod -> service account is strong."""
    base = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "stage": "ResponseComplete",
            "responseStatus": {"code": 200}, "annotations": {"authorization.k8s.io/decision": "allow"}}
    execr = {**base, "auditID": "a1", "verb": "create", "requestURI": "/api/v1/namespaces/shop/pods/web-7c9d-abcde/exec",
             "user": {"username": "mallory", "groups": ["system:authenticated"]}, "sourceIPs": ["198.51.100.9"],
             "objectRef": {"resource": "pods", "namespace": "shop", "name": "web-7c9d-abcde", "subresource": "exec"},
             "requestReceivedTimestamp": "2026-01-02T10:00:00Z", "stageTimestamp": "2026-01-02T10:00:00Z",
             "responseStatus": {"code": 101}}
    sa = {**base, "auditID": "a2", "verb": "get", "requestURI": "/api/v1/namespaces/shop/secrets/db",
          "user": {"username": "system:serviceaccount:shop:backend", "uid": "u-1",
                   "groups": ["system:serviceaccounts"],
                   "extra": {"authentication.kubernetes.io/pod-name": ["web-7c9d-abcde"],
                             "authentication.kubernetes.io/pod-uid": ["p-1"]}},
          "sourceIPs": ["10.1.2.3"], "objectRef": {"resource": "secrets", "namespace": "shop", "name": "db"},
          "requestReceivedTimestamp": "2026-01-02T10:01:00Z", "stageTimestamp": "2026-01-02T10:01:00Z"}
    f = tmp_path / "audit.log"
    f.write_text(json.dumps(execr) + "\n" + json.dumps(sa) + "\n")
    db = str(tmp_path / "k.db")
    ingest(db, f)
    assert find(db, "pod_exec", "k8s_user:mallory", "k8s_pod:shop/web-7c9d-abcde")[0] == "strong"
    strength, lid = find(db, "pod_service_account", "k8s_pod:shop/web-7c9d-abcde", "k8s_sa:system:serviceaccount:shop:backend")
    assert strength == "strong" and evidence(db, lid) == [2]
    assert not [x for x in links_of(db) if x[0] == "exec_service_account"]


def test_auditd_sudo_target(tmp_path):
    """auditd's sudo USER_START names the target account (acct=) inside the invoking login session."""
    lines = [
        'type=USER_START msg=audit(1700000000.100:10): pid=4242 uid=1000 auid=1000 ses=5 '
        "msg='op=PAM:session_open grantors=pam_limits,pam_unix acct=\"root\" exe=\"/usr/bin/sudo\" "
        "hostname=? addr=? terminal=/dev/pts/0 res=success'",
        'type=USER_CMD msg=audit(1700000000.101:11): pid=4242 uid=1000 auid=1000 ses=5 '
        "msg='cwd=\"/home/ana\" cmd=6964 exe=\"/usr/bin/sudo\" terminal=pts/0 res=success'",
    ]
    f = tmp_path / "audit.log"
    f.write_text("\n".join(lines) + "\n")
    db = str(tmp_path / "a.db")
    ingest(db, f)
    strength, lid = find(db, "sudo", "host_session:ses:5@audit.log", "host_user:root@audit.log")
    assert strength == "strong" and event(db, evidence(db, lid)[0])["action"] == "USER_START"
    assert not [x for x in links_of(db) if x[0] == "uid_name"]  # sudo's acct is the target, not the uid's name


# ---------------------------------------------------------------- no false merges
def test_same_name_never_makes_a_strong_link(sample_db, real_db, tmp_path):
    # alice: an IAM user (console) and a Kubernetes user - different identities, a weak link at most
    alice_iam = identity(sample_db, "aws_user:arn:aws:iam::111122223333:user/alice")
    alice_k8s = identity(sample_db, "k8s_user:alice")
    assert alice_iam["identity"] != alice_k8s["identity"]
    for lk in alice_iam["links"]:
        if "k8s_user:alice" in (lk["from"], lk["to"]):
            assert lk["strength"] == "weak" and lk["kind"] == "same_name"
    # root on two hosts: two identities, no link at all (a generic name)
    a = tmp_path / "h1"
    b = tmp_path / "h2"
    a.mkdir()
    b.mkdir()
    shutil.copy(REAL / "auditd" / "audit_enriched.log", a / "audit.log")
    shutil.copy(REAL / "auditd" / "audit_enriched.log", b / "audit-other.log")
    text = (b / "audit-other.log").read_text().replace("1783414", "1783415")  # another host, other records
    (b / "audit-other.log").write_text(text)
    db = str(tmp_path / "two.db")
    ingest(db, a / "audit.log", b / "audit-other.log")
    r1 = identity(db, "host_user:root@audit.log")
    r2 = identity(db, "host_user:root@audit-other.log")
    assert r1["identity"] != r2["identity"]
    assert not [x for x in links_of(db) if ("audit.log" in x[2] and "audit-other.log" in x[3])
                or ("audit-other.log" in x[2] and "audit.log" in x[3])]
    # every strong link joins aliases of the same source kind or a record proves it (never by name)
    for kind, strength, *_ in links_of(sample_db) + links_of(real_db):
        if kind == "same_name":
            assert strength == "weak"


def test_incremental_build_equals_a_full_rebuild(tmp_path):
    db = str(tmp_path / "inc.db")
    ingest(db, SAMPLE / "cloudtrail")
    ingest(db, SAMPLE / "k8s")
    ingest(db, SAMPLE / "app")
    inc = {(k, s, a, b) for k, s, a, b, _ in links_of(db)}
    inc_data = identity(db, "AKIARZ5EXAMPLE7CIDK2")
    run("identities", "--rebuild", "--db", db)
    full = {(k, s, a, b) for k, s, a, b, _ in links_of(db)}
    assert inc == full
    full_data = identity(db, "AKIARZ5EXAMPLE7CIDK2")
    assert inc_data["events"] == full_data["events"]
    assert {(a["kind"], a["value"], a["events"]) for a in inc_data["aliases"]} == \
        {(a["kind"], a["value"], a["events"]) for a in full_data["aliases"]}
    con = sqlite3.connect(db)
    mapped, total = con.execute("SELECT (SELECT COUNT(*) FROM identity_events), "
                                "(SELECT COUNT(*) FROM events WHERE actor IS NOT NULL OR session IS NOT NULL)").fetchone()
    con.close()
    assert mapped == total


def test_timeline_pages_merge_aliases_in_time_order(sample_db):
    from logconsole.analysis.identity import query
    from logconsole.store.db import open_db

    eng = open_db(sample_db)
    with eng.connect() as conn:
        aid = query.resolve(conn, "AKIARZ5EXAMPLE7CIDK2")
        ids = query.walk(conn, aid, strong_only=True).alias_ids()
        total = query.timeline_count(conn, ids)
        seen, cur = [], None
        while True:
            page = query.timeline_page(conn, ids, after=cur, limit=37)
            if not page:
                break
            seen.extend(page)
            cur = page[-1][:2]
        assert len(seen) == total == len({e for _, e, _ in seen})
        assert [(t, e) for t, e, _ in seen] == sorted((t, e) for t, e, _ in seen)
        back = query.timeline_page(conn, ids, before=seen[100][:2], limit=10)
        assert back == seen[90:100]
    eng.dispose()


def test_windowed_build_equals_a_build_in_one_window(sample_db, real_db, tmp_path):
    """The build reads the new events a window of ids at a time (its memory is bounded by the
    window): aliases, links with their evidence, identities and each event's primary alias are
    the same with windows of a few events as in one window."""
    from logconsole.analysis.identity.build import build
    from logconsole.store.db import open_db
    from tests.identity_canon import graph

    for src in (sample_db, real_db):
        db = str(tmp_path / Path(src).name)
        shutil.copy(src, db)
        eng = open_db(db)
        try:
            build(eng, rebuild=True, window=10**9)
            whole = graph(db)
            stats = build(eng, rebuild=True, window=7)
        finally:
            eng.dispose()
        assert stats.events > 7 * 50 and whole["links"] and whole["events"]
        assert graph(db) == whole
