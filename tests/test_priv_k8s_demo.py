"""The real audit2rbac demo log with RBAC written for it (tests/data/rbac/demo-rbac.yaml).

The log (37 requests, all made by ``system:admin`` impersonating ``bob``,
``alice`` or ``system:serviceaccount:ns1:sa1``) has 11 responses ``403
Forbidden``; they must appear as denied attempts of the impersonated users,
with the right actions and namespaces.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from logconsole.analysis.privileges.actors import analyze, timeline_filter
from logconsole.analysis.privileges.grants import import_file

DATA = Path(__file__).resolve().parent / "data"
DEMO = DATA / "realdata" / "k8s-audit" / "demo.log"
RBAC = DATA / "rbac" / "demo-rbac.yaml"
SA = "system:serviceaccount:ns1:sa1"


@pytest.fixture
def demo(engine):
    from logconsole.workflows.ingest import run_ingest

    run_ingest(engine, [str(DEMO)])
    res = import_file(engine, str(RBAC))
    assert res.format == "k8s-rbac" and not res.warnings
    return engine


def test_eleven_forbidden_requests_are_denied_attempts_of_the_right_users(demo):
    a = analyze(demo, with_events=True)
    by = {v.name: v for v in a.actors}
    denied = Counter()
    for v in a.actors:
        for d in v.denied:
            denied[(v.name, d["action"], d["resource"])] += d["count"]
    assert sum(denied.values()) == 11
    assert denied == Counter({
        ("bob", "k8s:core/pods:list", "default/"): 2,
        ("bob", "k8s:core/pods:list", "ns1/"): 1,
        ("bob", "k8s:core/nodes:list", "/"): 1,
        (SA, "k8s:core/pods:list", "default/"): 2,
        (SA, "k8s:core/nodes:list", "/"): 1,
        (SA, "k8s:core/pods:list", "/"): 1,
        ("alice", "k8s:core/pods:list", "ns1/"): 1,
        ("alice", "k8s:core/configmaps:list", "ns1/"): 1,
        ("alice", "k8s:core/secrets:list", "ns1/"): 1,
    })
    # the impersonator is not blamed for the forbidden requests
    assert by["system:admin"].denied == []
    # every denied attempt carries its evidence: the events are the 403s (lines 1,2,4..8,34..37)
    from sqlalchemy import select

    from logconsole.store.schema import events

    ids = [i for v in a.actors for d in v.denied for i in d["events"]]
    with demo.connect() as conn:
        rows = conn.execute(select(events.c.line, events.c.error_code).where(events.c.id.in_(ids))).all()
    assert sorted(r.line for r in rows) == [1, 2, 4, 5, 6, 7, 8, 34, 35, 36, 37]
    assert {r.error_code for r in rows} == {"403 Forbidden"}
    # and one denied_attempt finding per (action, resource) group
    kinds = Counter(f.kind for f in by["alice"].alerts)
    assert kinds["denied_attempt"] == 3


def test_granted_and_used_states_follow_the_rbac(demo):
    a = analyze(demo)
    by = {v.name: v for v in a.actors}
    bob = {(r.action, r.resource): r for r in by["bob"].rows}
    # bob's allowed "list pods" in default (lines 3 and 33) is used through the Role pod-reader
    row = bob[("k8s:core/pods:list", "default/*")]
    assert row.state == "used" and row.count == 2
    assert any("Role/default/pod-reader" in p for p in row.provenance)
    assert bob[("k8s:core/pods:watch", "default/*")].state == "unused"
    # API discovery (non-resource GETs) is granted to system:authenticated
    assert bob[("k8s:nonresource:get", "/apis/*")].state == "used"
    # the service account's cluster-wide list (line 9) is used through the ClusterRoleBinding
    sa = {(r.action, r.resource): r for r in by[SA].rows}
    assert sa[("k8s:core/pods:list", "*/*")].state == "used"
    # alice's grants are limited to ns2 (RoleBinding to a ClusterRole): all unused
    alice = by["alice"]
    assert alice.summary()["used"] == 0 and alice.summary()["unused"] == alice.summary()["granted"]
    assert all(r.resource.startswith("ns2/") for r in alice.rows if r.action.startswith("k8s:core/"))
    # system:admin impersonated 3 identities: an exercised escalation, granted through system:masters
    adm = by["system:admin"]
    imp = [r for r in adm.rows if r.state == "used"]
    assert imp and all("system:masters" in r.provenance[0] for r in imp)
    esc = [f for f in adm.alerts if f.kind == "privilege_escalation" and f.extra.get("exercised")]
    assert esc and "impersonate" in esc[0].detail
    assert any(f.kind == "wildcard_grant" and "system:masters" in f.detail for f in adm.alerts)
    assert by["bob"].usage.impersonated_by == {"system:admin"}


def test_cli_actor_json_and_timeline_filter(demo, db_path):
    from logconsole.cli import main

    r = CliRunner().invoke(main, ["actor", "alice", "--db", db_path, "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["actor"] == "alice" and rep["denied_events"] == 3
    assert [d["action"] for d in rep["denied"]] == ["k8s:core/pods:list", "k8s:core/configmaps:list", "k8s:core/secrets:list"]
    assert {"action", "resource", "count", "first", "last"} <= set(rep["denied"][0])
    assert {"action", "resource", "state", "count", "last_used", "provenance"} <= set(rep["permissions"][0])
    assert {f["kind"] for f in rep["findings"]} >= {"denied_attempt", "unused_permission"}
    r = CliRunner().invoke(main, ["actors", "--db", db_path, "--json"])
    rows = {x["actor"]: x for x in json.loads(r.output)}
    assert rows["bob"]["denied"] == 4 and rows[SA]["denied"] == 4 and rows["alice"]["denied"] == 3
    assert set(rows["bob"]) >= {"actor", "type", "events", "first_seen", "last_seen", "granted", "used", "unused",
                                "unknown", "used_not_granted", "denied", "findings"}
    # the timeline filter for a row selects exactly that actor's events of that action
    a = analyze(demo)
    bob = next(v for v in a.actors if v.name == "bob")
    row = next(r for r in bob.rows if r.action == "k8s:core/pods:list" and r.state == "used")
    flt = timeline_filter(bob, row)
    from logconsole.store.filter import compile_filter
    from logconsole.store.queries import count

    with demo.connect() as conn:
        assert count(conn, compile_filter(flt).where) == 2


def test_suggested_role_yaml_contains_only_what_was_used(demo):
    import yaml

    from logconsole.analysis.privileges.suggest import suggest

    a = analyze(demo, only=SA)
    v = a.actors[0]
    docs = list(yaml.safe_load_all(suggest(demo, v)))
    kinds = [d["kind"] for d in docs]
    assert kinds == ["ClusterRole", "ClusterRoleBinding"]
    assert docs[0]["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]
    assert docs[1]["subjects"] == [{"kind": "ServiceAccount", "name": "sa1", "namespace": "ns1"}]


def test_cached_aggregates_equal_the_live_computation(demo):
    """The whole-index view reads per-source aggregates kept in priv_usage_cache;
    a window computes them live.  Both must give the same figures."""
    from sqlalchemy import func, select

    from logconsole.analysis.privileges.usage import precompute
    from logconsole.store.grants_schema import priv_usage_cache

    cached = {v.name: v.summary() for v in analyze(demo).actors}
    with demo.connect() as conn:
        assert conn.execute(select(func.count()).select_from(priv_usage_cache)).scalar_one() == 1
    live = {v.name: v.summary() for v in analyze(demo, since=0, until=2**62).actors}
    assert cached == live
    assert precompute(demo) == 0  # already there
    with demo.begin() as conn:
        conn.execute(priv_usage_cache.update().values(version=-1))  # an older aggregation shape
    assert precompute(demo) == 1
    assert {v.name: v.summary() for v in analyze(demo).actors} == cached


def test_new_rbac_snapshot_keeps_the_old_one_and_diffs(demo, db_path, tmp_path):
    from logconsole.cli import main

    newer = tmp_path / "demo-rbac.yaml"
    newer.write_text(RBAC.read_text() + """---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-viewer-ns1, namespace: ns1}
subjects: [{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}]
roleRef: {kind: ClusterRole, name: namespace-viewer, apiGroup: rbac.authorization.k8s.io}
""")
    r = CliRunner().invoke(main, ["grants", "import", str(newer), "--db", db_path])
    assert r.exit_code == 0 and "snapshot 2" in r.output
    listing = json.loads(CliRunner().invoke(main, ["grants", "list", "--db", db_path, "--json"]).output)
    assert [(s["id"], s["active"]) for s in listing] == [(1, False), (2, True)]  # same label: the newer is active
    d = json.loads(CliRunner().invoke(main, ["grants", "diff", "--db", db_path, "--json"]).output)
    assert d["bindings_added"] == [{"subject": "user:alice", "target": "clusterrole:namespace-viewer",
                                    "via": "role_binding", "scope": "ns1"}]
    assert not d["bindings_removed"] and not d["rules_added"] and not d["rules_removed"]
    text = CliRunner().invoke(main, ["grants", "diff", "1", "2", "--db", db_path]).output
    assert "+ binding user:alice -> clusterrole:namespace-viewer in ns1 (role_binding)" in text
    # with the newer grants alice's ns1 reads are granted (her earlier 403s stay denied attempts)
    alice = next(v for v in analyze(demo).actors if v.name == "alice")
    assert any(r.resource == "ns1/*" and r.action == "k8s:core/pods:list" for r in alice.rows)
    assert len(alice.denied) == 3
    # importing the same bytes again is reported, not duplicated
    r = CliRunner().invoke(main, ["grants", "import", str(newer), "--db", db_path])
    assert "already imported as snapshot 2" in r.output
