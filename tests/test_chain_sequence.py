"""sequence scheme: auditd serials, Windows EventRecordID, seq fields; explained vs unexplained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from logconsole.analysis.chain.sequence import sniff, verify_file
from tests import chainfixtures as cf

REAL = Path(__file__).parent / "data" / "realdata"


def write(tmp_path, name, lines):
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    return str(p)


def triples(fs):
    return [(f.kind, f.line, f.seq) for f in fs]


def test_clean_auditd_is_consistent_and_says_evidence_not_proof(tmp_path):
    p = write(tmp_path, "audit.log", cf.auditd_lines(40))
    assert sniff(p) == "auditd"
    r = verify_file(p)
    assert r.failures == [] and r.explained == []
    assert r.status == "consistent" and r.records == 80
    assert "evidence, not proof" in r.notes[0]
    assert "evidence, not proof" in r.as_json()["evidence"]


def test_auditd_gap_is_reported_at_first_record_after_the_hole(tmp_path):
    lines = cf.auditd_lines(40, skip={1010, 1011, 1012})
    p = write(tmp_path, "audit.log", lines)
    r = verify_file(p)
    # serial 1013 is the first after the hole: lines 1-20 are serials 1000-1009 (2 records each)
    assert triples(r.failures) == [("seq_gap", 21, 1013)]
    assert r.failures[0].missing == 3 and "1010-1012" in r.failures[0].detail
    assert r.status == "tampered"


def test_auditd_out_of_order_records_within_window_are_normal(tmp_path):
    lines = cf.auditd_lines(20)
    lines[10], lines[12] = lines[12], lines[10]  # serial 1006 SYSCALL after 1005's; normal interleaving
    r = verify_file(write(tmp_path, "a.log", lines))
    assert r.failures == []


def test_auditd_reused_serial_is_an_insertion(tmp_path):
    lines = cf.auditd_lines(20)
    forged = lines[10].replace(f"audit({cf.AUDIT_T0 + 5}.", f"audit({cf.AUDIT_T0 + 9}.")
    lines.insert(25, forged)
    r = verify_file(write(tmp_path, "a.log", lines))
    assert triples(r.failures) == [("inserted", 26, 1005)]


def test_auditd_reboot_is_explained(tmp_path):
    lines = cf.auditd_lines(20) + cf.auditd_lines(10, start_serial=12, t0=cf.AUDIT_T0 + 3600)
    r = verify_file(write(tmp_path, "a.log", lines))
    assert r.failures == [] and r.status == "consistent"
    assert [(f.kind, f.line, f.seq) for f in r.explained] == [("seq_gap", 41, 12)]
    assert r.explained[0].explained.startswith("reboot")


def test_auditd_gap_while_daemon_stopped_is_explained(tmp_path):
    lines = cf.auditd_lines(30, skip=set(range(1010, 1015)))
    stop = f"type=DAEMON_END msg=audit({cf.AUDIT_T0 + 9}.999:7001): op=terminate auid=0 pid=1 res=success"
    start = f"type=DAEMON_START msg=audit({cf.AUDIT_T0 + 14}.000:7002): op=start ver=3.0 format=enriched res=success"
    lines[20:20] = [stop, start]
    r = verify_file(write(tmp_path, "a.log", lines))
    assert r.failures == []
    assert [(f.kind, f.seq, f.missing) for f in r.explained] == [("seq_gap", 1015, 5)]
    assert "auditd" in r.explained[0].explained


def test_auditd_time_regression(tmp_path):
    lines = cf.auditd_lines(20)
    lines[20 - 6] = lines[14].replace(f"audit({cf.AUDIT_T0 + 7}.", f"audit({cf.AUDIT_T0 - 500}.")
    lines[15] = lines[15].replace(f"audit({cf.AUDIT_T0 + 7}.", f"audit({cf.AUDIT_T0 - 500}.")
    r = verify_file(write(tmp_path, "a.log", lines))
    assert triples(r.failures) == [("time_regression", 15, 1007)]


def _win(tmp_path, events, name="sec.json", lines=True):
    p = tmp_path / name
    if lines:
        p.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    else:
        p.write_text(json.dumps(events))
    return str(p)


def test_windows_native_gap_is_unexplained(tmp_path):
    p = _win(tmp_path, cf.windows_events(20, native=True, skip={5007, 5008}))
    assert sniff(p) == "windows"
    r = verify_file(p)
    assert [(f.kind, f.line, f.seq, f.missing) for f in r.failures] == [("seq_gap", 8, 5009, 2)]


def test_windows_log_cleared_is_explained(tmp_path):
    evs = cf.windows_events(10, native=True) + cf.windows_events(5, native=True, start=1, clear_at=1)
    r = verify_file(_win(tmp_path, evs))
    assert r.failures == []
    assert [(f.seq, f.explained) for f in r.explained] == [(1, "numbering restarted after audit log cleared (1102)")]


def test_windows_gap_after_1102_in_same_numbering_is_explained(tmp_path):
    evs = cf.windows_events(20, native=True, skip=set(range(5005, 5010)), clear_at=5010)
    r = verify_file(_win(tmp_path, evs))
    assert r.failures == [] and r.explained[0].explained == "audit log cleared (1102)"


def test_windows_forwarded_export_gaps_are_explained_not_failures(tmp_path):
    p = _win(tmp_path, cf.windows_events(20, skip={5003}), lines=False)
    r = verify_file(p)
    assert r.failures == [] and r.status == "consistent"
    (e,) = r.explained
    assert (e.kind, e.line, e.seq) == ("seq_gap", 1, 5004) and "record #4" in e.detail
    assert e.explained.startswith("forwarded export")


def test_windows_duplicate_record_id_with_other_content(tmp_path):
    evs = cf.windows_events(10, native=True)
    forged = json.loads(json.dumps(evs[4]))
    forged["Event"]["EventData"]["TargetUserName"] = "mallory"
    evs.append(forged)
    r = verify_file(_win(tmp_path, evs))
    assert triples(r.failures) == [("inserted", 11, 5004)]


def test_generic_seq_field(tmp_path):
    rows = [{"seq": i, "time": f"2026-03-01T10:00:{i:02d}Z", "msg": "x"} for i in range(1, 30) if i not in (7, 8)]
    p = _win(tmp_path, rows, name="app.jsonl")
    assert sniff(p) == "seq"
    r = verify_file(p)
    assert [(f.kind, f.line, f.seq, f.missing) for f in r.failures] == [("seq_gap", 7, 9, 2)]


def test_sparse_excerpt_is_unverifiable_not_tampered(tmp_path):
    lines = [ln for i, ln in enumerate(cf.auditd_lines(200)) if i % 20 == 0]
    r = verify_file(write(tmp_path, "a.log", lines))
    assert r.status == "unverifiable" and r.failures == []
    assert any("filtered excerpt" in n for n in r.notes)


# ---- real samples: no false positives --------------------------------------------------------


@pytest.mark.parametrize("path", sorted(p for p in REAL.glob("*/*") if p.parent.name != "LICENSES"),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_samples_report_no_failure(path):
    r = verify_file(str(path))
    assert r.failures == [], [f.as_json() for f in r.failures]
    assert r.status in ("consistent", "unverifiable")


def test_real_windows_exports_show_their_gaps_as_explained():
    r = verify_file(str(REAL / "windows-security" / "WORKSTATION6_Windows_Security_2022-09-22T12313335.json"))
    assert r.status == "consistent" and r.records == 37
    assert [(f.kind, f.seq, f.missing) for f in r.explained] == [("seq_gap", 1350067, 10)]


def test_real_auditd_excerpts_are_unverifiable():
    for name in ("audit-rhel7.log", "audit_enriched.log"):
        r = verify_file(str(REAL / "auditd" / name))
        assert r.status == "unverifiable" and any("excerpt" in n for n in r.notes)


def test_random_auditd_gaps_are_all_reported(tmp_path):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sets(st.integers(1001, 1058), max_size=8))
    def check(skip):
        lines = cf.auditd_lines(60, skip=skip)
        p = tmp_path / "a.log"
        p.write_text("\n".join(lines) + "\n")
        r = verify_file(str(p))
        present = [s for s in range(1000, 1060) if s not in skip]
        expected = []
        for k in range(1, len(present)):
            a, b = present[k - 1], present[k]
            if b - a > 1:
                expected.append(("seq_gap", 2 * k + 1, b, b - a - 1))
        assert [(f.kind, f.line, f.seq, f.missing) for f in r.failures] == expected
        assert r.status == ("tampered" if expected else "consistent")

    check()
