"""Trust on the timeline: each event's integrity, gap markers, and suggested policies that never
re-grant the incident (issue "Trust on the timeline", must-show items)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from logconsole.cli import main
from tests import chainfixtures as cf

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
CI_DEPLOY = "arn:aws:iam::111122223333:user/ci-deploy"
INCIDENT = ["cloudtrail:StopLogging", "cloudtrail:DeleteTrail", "iam:AttachUserPolicy", "iam:CreateAccessKey",
            "iam:CreatePolicyVersion"]


def cli(db: Path, *args: str, code: int = 0) -> str:
    r = CliRunner().invoke(main, [*args, "--db", str(db)])
    assert r.exit_code == code, r.output
    return r.stdout


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> Path:
    """`logconsole ingest sample_data` alone: the hash-chained app logs are verified by the ingest."""
    db = tmp_path_factory.mktemp("trust") / "case.db"
    cli(db, "ingest", str(SAMPLE))
    cli(db, "grants", "import", str(SAMPLE / "grants" / "authorization-details.json"),
        str(SAMPLE / "grants" / "rbac.yaml"))
    return db


def test_integrity_tampered_is_exactly_the_modified_record(case):
    lines = cli(case, "search", "integrity:tampered", "--output", "jsonl", "--limit", "0").splitlines()
    rows = [json.loads(x) for x in lines]
    assert len(rows) == 1
    assert (rows[0]["src_ip"], rows[0]["action"], rows[0]["integrity"]) == ("10.0.4.12", "auth.token_login", "tampered")


def test_every_jsonl_line_and_csv_row_has_integrity(case):
    rows = [json.loads(x) for x in cli(case, "search", "--output", "jsonl", "--limit", "0").splitlines()]
    assert len(rows) == 3551 and all("integrity" in r for r in rows)
    counts = {s: sum(r["integrity"] == s for r in rows) for s in ("verified", "tampered", "unverified")}
    # the original app log (111 records) is verified; the forged record tampered; the rest nothing covers
    assert counts == {"verified": 111, "tampered": 1, "unverified": 3551 - 112}
    table = list(csv.DictReader(io.StringIO(cli(case, "search", "format:jsonl", "--output", "csv", "--limit", "0"))))
    assert {r["integrity"] for r in table} == {"verified", "tampered"}


def test_integrity_filter_values(case):
    assert cli(case, "search", "integrity:verified", "--count").strip() == "111"
    assert cli(case, "search", "integrity:unverified format:jsonl", "--count").strip() == "0"
    r = CliRunner().invoke(main, ["search", "integrity:maybe", "--db", str(case)])
    assert r.exit_code == 2 and "not one of verified, tampered, unverified" in r.output


def test_gaps_lists_the_deleted_record_and_logging_stopped(case):
    gaps = json.loads(cli(case, "gaps", "--json"))
    deleted = [g for g in gaps if g["kind"] == "deleted"]
    assert len(deleted) == 1 and deleted[0]["missing"] == 1 and deleted[0]["evidence"] == "verification"
    assert deleted[0]["file"].endswith("audit.tampered.jsonl") and "seq 5" in deleted[0]["detail"]
    stopped = [g for g in gaps if g["kind"] == "logging_stopped"]
    assert [(g["start"], g["end"]) for g in stopped] == [("2026-03-14T01:52:07Z", "2026-03-14T07:41:33Z")]
    assert "management-trail" in stopped[0]["detail"] and "ci-deploy" in stopped[0]["detail"]
    assert [g["start"] for g in gaps] == sorted(g["start"] for g in gaps)
    text = cli(case, "gaps")
    assert "logging_stopped  2026-03-14T01:52:07Z .. 2026-03-14T07:41:33Z" in text


def _policy_actions(doc: dict) -> set[str]:
    return {a for st in doc["Statement"] for a in st["Action"]}


def test_suggested_policy_with_exclude_grants_none_of_the_incident(case):
    doc = json.loads(cli(case, "actor", CI_DEPLOY, "--suggest-policy", "--exclude", "ip:203.0.113.77", "--json"))
    assert not _policy_actions(doc["policy"]) & set(INCIDENT)
    assert {r["action"] for r in doc["left_out"]} >= set(INCIDENT)
    assert not {r["action"] for r in doc["review_before_granting"]} & set(INCIDENT)
    # what the pipeline does every night stays granted
    assert "ecr:GetAuthorizationToken" in _policy_actions(doc["policy"])


def test_suggested_policy_without_exclude_puts_the_incident_under_review(case):
    doc = json.loads(cli(case, "actor", CI_DEPLOY, "--suggest-policy", "--json"))
    assert not _policy_actions(doc["policy"]) & set(INCIDENT)
    review = {r["action"]: r for r in doc["review_before_granting"]}
    assert set(INCIDENT) <= set(review)
    assert review["cloudtrail:StopLogging"]["reason"] == "logging" and review["iam:AttachUserPolicy"]["reason"] == "IAM"
    assert all(r["events"] for r in review.values())
    # the plain output stays a policy document on stdout; the review list goes to stderr
    r = CliRunner().invoke(main, ["actor", CI_DEPLOY, "--suggest-policy", "--db", str(case)])
    assert not _policy_actions(json.loads(r.stdout)) & set(INCIDENT)
    assert "# review before granting" in r.stderr and "cloudtrail:StopLogging  (logging" in r.stderr


def test_events_in_a_finding_are_left_out(tmp_path, case):
    db = tmp_path / "f.db"
    shutil.copy(case, db)
    cli(db, "finding", "add", "--title", "leaked key", "--severity", "critical", "--query", "ip:203.0.113.77")
    doc = json.loads(cli(db, "actor", CI_DEPLOY, "--suggest-policy", "--json"))
    assert {r["action"] for r in doc["left_out"]} >= set(INCIDENT)
    assert not _policy_actions(doc["policy"]) & set(INCIDENT)


def test_bad_exclude_is_a_clear_error(case):
    r = CliRunner().invoke(main, ["actor", CI_DEPLOY, "--suggest-policy", "--exclude", "ip:(", "--db", str(case)])
    assert r.exit_code == 2 and "--exclude" in r.output


# ---------------------------------------------------------------- CloudTrail buckets


def test_bucket_verification_marks_events_and_a_deleted_file_survivor_stays_unverified(tmp_path):
    b = cf.make_bucket(tmp_path / "bucket", hours=3, key=cf.rsa_key(4))
    victim = b.logs[2]
    export = tmp_path / "export"
    export.mkdir()
    shutil.copy(victim, export / victim.name)  # the same records, kept in another export
    victim.unlink()
    db = tmp_path / "ct.db"
    cli(db, "ingest", str(b.root / "AWSLogs" / cf.ACCOUNT / "CloudTrail"), str(export))
    out = json.loads(cli(db, "verify", str(b.root), "--public-keys", str(b.keys_file), "--json", code=1))
    t = out["targets"][0]
    assert [f["kind"] for f in t["failures"]] == ["deleted"] and victim.name in t["failures"][0]["detail"]
    rows = [json.loads(x) for x in cli(db, "search", "--output", "jsonl", "--limit", "0").splitlines()]
    survivors = [r for r in rows if r["source_id"] == max(x["source_id"] for x in rows)]
    assert survivors and {r["integrity"] for r in survivors} == {"unverified"}
    others = [r for r in rows if r not in survivors]
    assert others and {r["integrity"] for r in others} == {"verified"}
    gaps = json.loads(cli(db, "gaps", "--json"))
    assert [(g["kind"], Path(g["file"]).name) for g in gaps] == [("deleted", victim.name)]


def test_ingest_says_what_it_verified(tmp_path):
    r = CliRunner().invoke(main, ["ingest", str(SAMPLE / "app"), "--db", str(tmp_path / "a.db"), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["notes"] == ["verified 1 consistent, 1 tampered"]
    assert any("audit.tampered.jsonl: tampered (deleted, modified)" in w for w in doc["warnings"])


def test_no_verify_leaves_events_unverified_but_logging_stopped_shows(tmp_path):
    db = tmp_path / "nv.db"
    cli(db, "ingest", str(SAMPLE), "--no-verify")
    assert cli(db, "search", "integrity:tampered", "--count").strip() == "0"
    assert cli(db, "search", "integrity:verified", "--count").strip() == "0"
    kinds = [g["kind"] for g in json.loads(cli(db, "gaps", "--json"))]
    assert "deleted" not in kinds and "logging_stopped" in kinds


def test_case_file_and_command_line_verify_options(tmp_path):
    """A case file names the hash field; a --verify-opt on the command line wins over it."""
    ch = cf.make_chain(12)
    recs = [{("digest" if k == "hash" else k): v for k, v in r.items()} for r in ch.records]
    case = tmp_path / "case"
    case.mkdir()
    (case / "app.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    (case / "logconsole.yaml").write_text("verify:\n  hash_field: digest\n")
    db = tmp_path / "c.db"
    r = CliRunner().invoke(main, ["ingest", str(case), "--db", str(db), "--json"])
    notes = json.loads(r.stdout)["notes"]
    assert notes == [f"verified 1 consistent (options from {case / 'logconsole.yaml'})"]
    assert cli(db, "search", "integrity:verified", "--count").strip() == "12"
    db2 = tmp_path / "c2.db"
    r = CliRunner().invoke(main, ["ingest", str(case), "--db", str(db2), "--json", "--verify-opt", "hash_field=nope"])
    assert json.loads(r.stdout)["notes"][0].startswith("verified 1 unverifiable")
    bad = CliRunner().invoke(main, ["ingest", str(case), "--db", str(db2), "--verify-opt", "colour=red"])
    assert bad.exit_code == 2 and "expected KEY=VALUE" in bad.output
    (case / "logconsole.yaml").write_text("verify:\n  colour: red\n")
    r = CliRunner().invoke(main, ["ingest", str(case), "--db", str(tmp_path / "c3.db"), "--json"])
    assert any("unknown verify option(s) colour" in w for w in json.loads(r.stdout)["warnings"])


def test_open_imports_the_bundle_grants_and_no_grants_skips(tmp_path):
    from logconsole.store.db import open_db
    from logconsole.workflows.ingest import TrustOptions, run_ingest

    eng = open_db(tmp_path / "o.db")
    res = run_ingest(eng, [str(SAMPLE)], trust=TrustOptions(grants=True))  # what `open PATH` runs
    assert sum("grants" in n and "imported as snapshot" in n for n in res.notes) == 3
    snaps = json.loads(cli(tmp_path / "o.db", "grants", "list", "--json"))
    assert {s["format"] for s in snaps} == {"aws-iam", "k8s-rbac"}
    eng2 = open_db(tmp_path / "n.db")
    res = run_ingest(eng2, [str(SAMPLE)], trust=TrustOptions(grants=False))
    assert not any("grants" in n for n in res.notes)


def test_bucket_copy_with_digests_ingests_and_verifies(tmp_path):
    """A copy of day 2 only (its oldest digest points into day 1): 0 quarantined, digests listed as
    cloudtrail-digest, the start of the copy is no failure; a deleted log file is 'deleted' by name."""
    b = cf.make_bucket(tmp_path / "bucket", hours=4, key=cf.rsa_key(6), first=cf.T0.replace(hour=22))
    for sub in ("CloudTrail", "CloudTrail-Digest"):
        shutil.rmtree(b.root / "AWSLogs" / cf.ACCOUNT / sub / cf.REGION / "2026/03/01")
    db = tmp_path / "b.db"
    doc = json.loads(cli(db, "ingest", str(b.root), "--json"))
    assert doc["quarantined"] == 0 and doc["notes"] == ["verified 1 intact"]
    fmts = [s["format"] for s in doc["sources"]]
    assert fmts.count("cloudtrail-digest") == 5  # 2 digests, 2 sidecars, the public keys
    srcs = json.loads(cli(db, "sources", "--json"))["sources"]
    assert {s["format"] for s in srcs} == {"cloudtrail", "cloudtrail-digest"}
    assert cli(db, "search", "integrity:verified", "--count").strip() == "12"
    out = json.loads(cli(db, "verify", str(b.root), "--json"))
    assert out["exit_code"] == 0 and any(n.startswith("start of copy") for n in out["targets"][0]["notes"])
    victim = b.logs[-1]
    victim.unlink()
    out = json.loads(cli(db, "verify", str(b.root), "--json", code=1))
    t = out["targets"][0]
    assert t["status"] == "tampered" and [(f["kind"], victim.name in f["detail"]) for f in t["failures"]] == [
        ("deleted", True)]
    gaps = json.loads(cli(db, "gaps", "--json"))
    assert [(g["kind"], Path(g["file"]).name) for g in gaps] == [("deleted", victim.name)]


def test_auditd_stopped_and_unexplained_serial_gap(tmp_path):
    """auditd DAEMON_END .. DAEMON_START is a logging-stopped interval; a serial gap nothing explains is
    a marker from the ingest's sequence verification."""
    lines = cf.auditd_lines(30, skip=set(range(1010, 1015)))
    stop = f"type=DAEMON_END msg=audit({cf.AUDIT_T0 + 9}.999:7001): op=terminate auid=0 pid=1 res=success"
    start = f"type=DAEMON_START msg=audit({cf.AUDIT_T0 + 14}.000:7002): op=start ver=3.0 format=enriched res=success"
    lines[20:20] = [stop, start]
    lines = [ln for ln in lines if ":1020)" not in ln]  # an unexplained hole later on
    log = tmp_path / "audit.log"
    log.write_text("\n".join(lines) + "\n")
    db = tmp_path / "a.db"
    cli(db, "ingest", str(log), "--format", "auditd")
    gaps = json.loads(cli(db, "gaps", "--json"))
    kinds = [g["kind"] for g in gaps]
    assert "logging_stopped" in kinds and "seq_gap" in kinds
    stopped = next(g for g in gaps if g["kind"] == "logging_stopped")
    assert stopped["end"] is not None and "auditd stopped (DAEMON_END)" in stopped["detail"]
    seq = next(g for g in gaps if g["kind"] == "seq_gap")
    assert seq["missing"] == 1 and seq["evidence"] == "verification"
