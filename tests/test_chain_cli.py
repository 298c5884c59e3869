"""`logconsole verify`: exit codes, --json shape, auto-detection, storage in the index."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from logconsole.cli import main
from logconsole.store.db import open_db
from tests import chainfixtures as cf

REAL = Path(__file__).parent / "data" / "realdata"


def run(*args, db=None):
    argv = ["verify", *map(str, args)]
    if db is not None:
        argv += ["--db", str(db)]
    return CliRunner().invoke(main, argv, catch_exceptions=False)


def test_exit_codes_and_json_shape(tmp_path):
    ch = cf.make_chain(30)
    clean = ch.write(tmp_path / "clean.log")
    lines, _ = cf.t_modified(ch, 4)
    bad = ch.write(tmp_path / "bad.log", lines)
    r = run(clean, "--json", "--no-store")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    (t,) = doc["targets"]
    assert set(t) >= {"path", "scheme", "status", "records", "coverage", "anchor", "failures"}
    assert (t["scheme"], t["status"], t["records"]) == ("hash-chain", "consistent", 30)
    r = run(clean, bad, "--json", "--no-store")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert [t["status"] for t in doc["targets"]] == ["consistent", "tampered"]
    assert doc["targets"][1]["failures"] == [
        {"kind": "modified", "line": 5, "seq": 5, "detail": doc["targets"][1]["failures"][0]["detail"],
         "file": str(bad)}]
    assert run(tmp_path / "nope.log", "--no-store").exit_code == 2
    unknown = tmp_path / "plain.txt"
    unknown.write_text("hello\n")
    r = run(unknown, "--json", "--no-store")
    assert r.exit_code == 2 and json.loads(r.stdout)["targets"][0]["status"] == "unverifiable"
    # mixed: one verifiable, one not -> not everything intact/consistent -> 2
    assert run(clean, unknown, "--no-store").exit_code == 2


def test_human_output_names_line_and_kind(tmp_path):
    ch = cf.make_chain(20)
    lines, _ = cf.t_deleted(ch, 7, 2)
    r = run(ch.write(tmp_path / "x.log", lines), "--no-store")
    assert r.exit_code == 1
    assert "TAMPERED" in r.output and "deleted" in r.output and "line 8 seq 10" in r.output


def test_hmac_and_checkpoint_options(tmp_path):
    key = tmp_path / "hmac.key"
    key.write_bytes(cf.HMAC_KEY + b"\n")
    ch = cf.make_chain(15, key=cf.HMAC_KEY)
    p = ch.write(tmp_path / "h.log")
    priv, pem = cf.ed25519_keypair()
    cf.write_checkpoint(p, 15, ch.records[-1]["hash"], priv)
    (tmp_path / "ck.pem").write_bytes(pem)
    r = run(p, "--hmac-key-file", key, "--pubkey", tmp_path / "ck.pem", "--json", "--no-store")
    t = json.loads(r.stdout)["targets"][0]
    assert r.exit_code == 0 and t["status"] == "intact"
    assert "HMAC-SHA256" in t["anchor"] and "Ed25519 checkpoint" in t["anchor"]
    r = run(p, "--json", "--no-store")  # without the key no record matches: a configuration problem
    assert r.exit_code == 2
    t = json.loads(r.stdout)["targets"][0]
    assert t["status"] == "unverifiable" and t["failures"] == []
    assert any("wrong --hmac-key-file" in n for n in t["notes"])


def test_sorted_canon_and_custom_fields(tmp_path):
    ch = cf.make_chain(15, mode="sorted", style="plain")  # record 14 has amount 3.0: JCS writes 3
    p = ch.write(tmp_path / "s.log")
    assert run(p, "--canon", "sorted", "--no-store").exit_code == 0
    assert run(p, "--no-store").exit_code == 1  # JCS differs on the float records


def test_cloudtrail_bucket(tmp_path):
    b = cf.make_bucket(tmp_path / "bucket", hours=3)
    end = (b.end + timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = run(b.root, "--public-keys", b.keys_file, "--expected-end", end, "--json", "--no-store")
    t = json.loads(r.stdout)["targets"][0]
    assert r.exit_code == 0 and (t["scheme"], t["status"]) == ("cloudtrail-digest", "intact")
    b.digests[-1].unlink()
    r = run(b.root, "--public-keys", b.keys_file, "--expected-end", end, "--json", "--no-store")
    assert r.exit_code == 1
    assert [f["kind"] for f in json.loads(r.stdout)["targets"][0]["failures"]] == ["truncated"]
    assert run(b.root, "--public-keys", tmp_path / "missing.json", "--no-store").exit_code == 2


def test_real_samples_directory_has_no_failures():
    r = run(REAL, "--json", "--no-store")
    doc = json.loads(r.stdout)
    assert all(t["failures"] == [] for t in doc["targets"]), [t for t in doc["targets"] if t["failures"]]
    assert {t["status"] for t in doc["targets"]} <= {"consistent", "unverifiable"}
    schemes = {Path(t["path"]).name: t["scheme"] for t in doc["targets"]}
    assert schemes["WORKSTATION6_Windows_Security_2022-09-22T12313335.json"] == "sequence"
    assert schemes["audit-rhel7.log"] == "sequence"
    assert "demo.log" not in schemes  # found by walking, no scheme: skipped with a warning, not a target
    # named explicitly, the same file is an unverifiable target
    r = run(REAL / "k8s-audit" / "demo.log", "--json", "--no-store")
    assert r.exit_code == 2 and json.loads(r.stdout)["targets"][0]["scheme"] == "unknown"


def test_index_verification_and_stored_results(tmp_path):
    from logconsole.analysis.chain.results import latest_results
    from logconsole.workflows.ingest import run_ingest
    from logconsole.store.integrity_schema import verify_failures, verify_targets

    db = tmp_path / "case.db"
    eng = open_db(db)
    ch = cf.make_chain(20)
    lines, _ = cf.t_modified(ch, 6)
    log = ch.write(tmp_path / "app.log", lines)
    run_ingest(eng, [str(REAL / "k8s-audit" / "demo.log"), str(log)], fmt=None)
    r = run("--index", "--json", db=db)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["targets"][0]["status"] == "intact"
    r = run(log, "--json", db=db)
    assert r.exit_code == 1
    with eng.connect() as conn:
        rows = list(conn.execute(select(verify_targets.c.scheme, verify_targets.c.status, verify_targets.c.source_id)))
        fails = list(conn.execute(select(verify_failures.c.kind, verify_failures.c.line, verify_failures.c.event_id)))
    assert ("index", "intact", None) in [tuple(x) for x in rows]
    assert any(s == "hash-chain" and st == "tampered" for s, st, _ in rows)
    (kind, line, event_id) = fails[-1]
    assert (kind, line) == ("modified", 7)
    latest = latest_results(eng)
    hc = next(t for t in latest if t.scheme == "hash-chain")
    if hc.source_id is not None:  # the file was ingested (jsonl parser): the failure names its event
        assert event_id is not None and hc.failures[0].event_id == event_id
    eng.dispose()


def test_from_index_sequence_analysis(tmp_path):
    from logconsole.workflows.ingest import run_ingest

    db = tmp_path / "case.db"
    eng = open_db(db)
    p = tmp_path / "audit.log"
    p.write_text("\n".join(cf.auditd_lines(30, skip={1010, 1011})) + "\n")
    res = run_ingest(eng, [str(p)])
    assert not res.errors, res.errors
    r = run("--from-index", "--json", db=db)
    doc = json.loads(r.stdout)
    (t,) = doc["targets"]
    assert r.exit_code == 1 and t["scheme"] == "sequence"
    (f,) = t["failures"]
    assert (f["kind"], f["seq"], f["missing"]) == ("seq_gap", 1012, 2)
    assert f["event_id"] is not None and f["line"] == 21
    eng.dispose()


def test_real_samples_in_the_index_have_no_failures(tmp_path):
    from logconsole.workflows.ingest import run_ingest

    db = tmp_path / "real.db"
    eng = open_db(db)
    run_ingest(eng, [str(REAL)])
    r = run("--index", "--from-index", "--json", "--no-store", db=db)
    doc = json.loads(r.stdout)
    assert all(t["failures"] == [] for t in doc["targets"]), [t for t in doc["targets"] if t["failures"]]
    by = {(Path(t["path"]).name, t["scheme"]): t["status"] for t in doc["targets"]}
    assert by[(db.name, "index")] == "intact"
    assert by[("WORKSTATION6_Windows_Security_2022-09-22T12313335.json", "sequence")] == "consistent"
    assert by[("audit-rhel7.log", "sequence")] == "unverifiable"
    eng.dispose()


def test_failures_in_a_deduplicated_copy_point_at_the_original_event(tmp_path):
    """A tampered copy shares most records with the original; its failures still open an event."""
    from logconsole.workflows.ingest import run_ingest
    from logconsole.store.schema import events

    db = tmp_path / "case.db"
    eng = open_db(db)
    ch = cf.make_chain(20)
    orig = ch.write(tmp_path / "orig.log")
    lines, _ = cf.t_deleted(ch, 9)
    copy = ch.write(tmp_path / "copy.log", lines)
    run_ingest(eng, [str(orig), str(copy)])
    r = run(copy, "--json", db=db)
    (f,) = json.loads(r.stdout)["targets"][0]["failures"]
    assert (f["kind"], f["line"], f["seq"]) == ("deleted", 10, 11)
    if f.get("event_id") is not None:  # the file format was ingested with its lines as raw records
        with eng.connect() as conn:
            ev = conn.execute(select(events.c.line, events.c.raw).where(events.c.id == f["event_id"])).first()
        assert ev.line == 11  # the same record (seq 11) in the original file
    eng.dispose()


def test_manual_checkpoint(tmp_path):
    db = tmp_path / "c.db"
    open_db(db).dispose()
    r = run("--checkpoint", "--json", db=db)
    assert r.exit_code == 0
    cp = json.loads(r.stdout)["checkpoint"]
    assert cp["size"] == 0 and cp["trigger"] == "manual"
    assert cp["root"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # SHA-256 of ""
    r = run("--checkpoint", "--index", "--json", "--no-store", db=db)
    doc = json.loads(r.stdout)
    assert r.exit_code == 0 and doc["targets"][0]["status"] == "intact" and doc["checkpoint"]["id"] == 2
