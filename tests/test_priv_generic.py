"""The generic policy format on a real-looking application log: the sample admin
portal (sample_data/app/audit.jsonl) with tests/data/policy/portal-policy.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "sample_data" / "app" / "audit.jsonl"
POLICY = Path(__file__).resolve().parent / "data" / "policy" / "portal-policy.yaml"

pytestmark = pytest.mark.skipif(not APP.exists(), reason="sample_data not generated")


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    from logconsole.cli import main

    path = str(tmp_path_factory.mktemp("portal") / "p.db")
    for args in (["ingest", str(APP)], ["grants", "import", str(POLICY)]):
        r = CliRunner().invoke(main, [*args, "--db", path])
        assert r.exit_code == 0, r.output
    return path


def run(db, *args):
    from logconsole.cli import main

    r = CliRunner().invoke(main, [*args, "--db", db])
    assert r.exit_code == 0, r.output
    return r.output


def test_generic_actors_states_and_findings(db):
    rows = {r["actor"]: r for r in json.loads(run(db, "actors", "--json", "--provider", "generic"))}
    assert rows["carol@acme.example"]["used"] == 6 and rows["carol@acme.example"]["unused"] == 0
    assert rows["old-contractor@acme.example"]["events"] == 0
    svc = json.loads(run(db, "actor", "svc-portal-admin", "--json"))
    ung = {p["action"]: p for p in svc["permissions"] if p["state"] == "used_not_granted"}
    assert set(ung) == {"user.role.grant", "customer.export.create", "customer.export.download", "audit.settings.update"}
    assert "explicit deny" in ung["audit.settings.update"]["note"]
    assert "portal-policy.yaml#/roles/integration/1" in ung["audit.settings.update"]["note"]
    used = {p["action"]: p for p in svc["permissions"] if p["state"] == "used"}
    assert used["auth.token_login"]["provenance"][0].startswith("principal svc-portal-admin -> role integration @ ")
    f = [x for x in svc["findings"] if x["kind"] == "used_not_granted" and x["action"] == "user.role.grant"][0]
    assert len(f["events"]) == 1
    old = json.loads(run(db, "actor", "old-contractor@acme.example", "--json"))
    assert {x["kind"] for x in old["findings"]} >= {"dormant"}
    alice = json.loads(run(db, "actor", "alice@acme.example", "--json"))
    assert any(x["kind"] == "wildcard_grant" for x in alice["findings"])
    # group inheritance: carol's grants come through the group support-team
    carol = json.loads(run(db, "actor", "carol@acme.example", "--json"))
    assert all("group:support-team" in p["provenance"][0] or "group support-team" in p["provenance"][0]
               for p in carol["permissions"])


def test_generic_suggested_policy_round_trips(db, tmp_path):
    import yaml

    out = run(db, "actor", "carol@acme.example", "--suggest-policy")
    doc = yaml.safe_load(out)
    assert doc["logconsole-policy"] == 1 and doc["formats"] == ["jsonl"]
    acts = {r["actions"][0] for r in doc["roles"]["carol@acme.example-used"]}
    assert {"customer.view", "ticket.update", "report.view"} <= acts
    # the suggestion is itself a valid policy file
    p = tmp_path / "suggested.yaml"
    p.write_text(out)
    from logconsole.analysis.privileges.grants import parse_bytes

    snap = parse_bytes(p.read_bytes(), str(p))
    assert snap.format == "policy" and snap.principals[0].name == "carol@acme.example"
