"""Corrupt and hostile input (issue: evidence safety): blank lines, unparseable
floods, cut .json.gz, a bad record at the top, byte order marks, UTF-16,
unreadable files and directories."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from logconsole.ingest.detect import detect
from logconsole.ingest.pipeline import ingest_paths
from logconsole.ingest.reader import Input
from logconsole.store.db import open_db
from logconsole.store.schema import quarantine

from .conftest import REALDATA

#: (format, a real sample, read as JSON/text lines)
LINE_SAMPLES = [
    ("azure-activity", REALDATA / "azure-activity" / "azure_activity_log.jsonl"),
    ("gcp-audit", REALDATA / "gcp-audit" / "gcp_logging.jsonl"),
    ("windows-security", REALDATA / "windows-security" / "covenant_sharpsc_query_dcerpc_smb_svcctl_2020-08-06012009.json"),
    ("cloudtrail", REALDATA / "cloudtrail" / "aws_cloudtrail.jsonl"),
    ("k8s-audit", REALDATA / "k8s-audit" / "demo.log"),
    ("auditd", REALDATA / "auditd" / "audit-rhel7.log"),
    ("syslog-auth", REALDATA / "ssh-auth" / "test.log"),
    ("pgaudit", REALDATA / "pgaudit" / "postgresql-2015-08-12_161343.csv"),
]
IDS = [f for f, _ in LINE_SAMPLES]


def _lines(path: Path, n: int = 100) -> list[bytes]:
    lines = [ln for ln in path.read_bytes().split(b"\n") if ln.strip()]
    return (lines * (n // len(lines) + 1))[:n] if len(lines) < 20 else lines


def _ingest(tmp_path, name: str, data: bytes, fmt: str | None = None, **kw):
    p = tmp_path / name
    p.write_bytes(data)
    eng = open_db(str(tmp_path / f"{name}.db"))
    return eng, ingest_paths(eng, [str(p)], fmt=fmt, **kw)


def _qcount(eng) -> int:
    with eng.connect() as conn:
        return len(conn.execute(select(quarantine.c.id)).all())


# ------------------------------------------------------------------ blank lines
def test_blank_lines_are_counted_not_stored(tmp_path):
    rec = json.dumps({"@timestamp": "2024-01-01T00:00:00Z", "user": "a", "action": "x"}).encode()
    data = gzip.compress(b"\n" * 3_000_000 + rec + b"\n" + b"\r\n   \n" * 1000)
    eng, res = _ingest(tmp_path, "blank.jsonl.gz", data, fmt="jsonl")
    [s] = res.sources
    assert (s.records, s.events, s.quarantined, s.blank_lines) == (1, 1, 0, 3_002_000)
    assert _qcount(eng) == 0
    assert res.as_json()["blank_lines"] == 3_002_000
    assert os.path.getsize(tmp_path / "blank.jsonl.gz.db") < 2_000_000  # nothing stored per blank line


def test_a_flood_of_blank_lines_at_the_top_does_not_hide_the_format(tmp_path):
    rec = json.dumps({"@timestamp": "2024-01-01T00:00:00Z", "user": "a", "action": "x"}).encode()
    p = tmp_path / "top.jsonl.gz"
    p.write_bytes(gzip.compress(b"\n" * 5_000_000 + rec + b"\n"))
    assert detect(Input.open(p)).format == "jsonl"
    eng = open_db(str(tmp_path / "top.db"))
    [s] = ingest_paths(eng, [str(p)]).sources
    assert (s.status, s.events, s.blank_lines) == ("ingested", 1, 5_000_000)


@pytest.mark.parametrize(("fmt", "path"), LINE_SAMPLES, ids=IDS)
def test_blank_lines_in_every_format(tmp_path, fmt, path):
    lines = _lines(path)
    plain = b"\n".join(lines) + b"\n"
    spaced = b"\n\n".join(lines) + b"\n\n\n"
    _, a = _ingest(tmp_path, "plain" + path.suffix, plain, fmt=fmt)
    eng, b = _ingest(tmp_path, "spaced" + path.suffix, spaced, fmt=fmt)
    sa, sb = a.sources[0], b.sources[0]
    assert (sb.records, sb.events, sb.quarantined) == (sa.records, sa.events, sa.quarantined)
    # (a csvlog record may span lines: blank lines inside its quoted fields belong to it)
    assert sb.blank_lines >= (1 if fmt == "pgaudit" else len(lines) - 1)
    with eng.connect() as conn:
        assert not conn.exec_driver_sql("SELECT count(*) FROM quarantine WHERE reason LIKE '%blank%'").scalar()


# ------------------------------------------------------------------ a flood of garbage
def test_an_overwhelmingly_unparseable_source_stops_with_nothing_kept(tmp_path):
    data = b"".join(b"garbage %d\n" % i for i in range(25_000))
    eng, res = _ingest(tmp_path, "junk.log", data, fmt="jsonl", batch_size=1000)
    [s] = res.sources
    assert s.status == "error" and res.errors
    assert "cannot be read as jsonl" in res.errors[0] and "--max-quarantined 0" in res.errors[0]
    assert _qcount(eng) == 0
    with eng.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM sources").scalar() == 0
    # forced: every record quarantined, the accounting exact
    eng2 = open_db(str(tmp_path / "forced.db"))
    res2 = ingest_paths(eng2, [str(tmp_path / "junk.log")], fmt="jsonl", max_quarantined=0)
    [s2] = res2.sources
    assert s2.records == s2.quarantined == 25_000 and _qcount(eng2) == 25_000


def test_a_mostly_good_source_is_not_stopped(tmp_path):
    good = json.dumps({"@timestamp": "2024-01-01T00:00:00Z", "user": "a"}).encode()
    data = b"".join((b"junk\n" if i % 4 == 0 else good + b"\n") for i in range(50_000))
    _, res = _ingest(tmp_path, "mixed.jsonl", data, fmt="jsonl", max_quarantined=1000)
    [s] = res.sources
    assert s.status == "ingested" and s.quarantined == 12_500 and not res.errors


def test_cli_names_the_force_option(tmp_path):
    from click.testing import CliRunner

    from logconsole.cli import main

    p = tmp_path / "junk.log"
    p.write_bytes(b"x\n" * 200)
    r = CliRunner().invoke(main, ["ingest", "--db", str(tmp_path / "j.db"), "--format", "jsonl",
                                  "--max-quarantined", "100", str(p)])
    assert r.exit_code == 2 and "--max-quarantined 0" in r.stderr and "Traceback" not in r.output


# ------------------------------------------------------------------ cut .json.gz
def _ct(i: int) -> dict:
    return {"eventVersion": "1.08", "eventTime": f"2024-03-01T00:00:{i % 60:02d}Z", "eventSource": "s3.amazonaws.com",
            "eventName": "GetObject", "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/u"},
            "eventID": f"00000000-0000-0000-0000-{i:012d}", "requestParameters": {"k": "x" * 200}}


@pytest.mark.parametrize("fmt", [None, "cloudtrail"])
def test_a_cut_json_gz_is_detected_and_its_readable_prefix_parsed(tmp_path, fmt):
    doc = json.dumps({"Records": [_ct(i) for i in range(400)]}).encode()
    cut = gzip.compress(doc)[: len(gzip.compress(doc)) * 2 // 3]
    p = tmp_path / "cut.json.gz"
    p.write_bytes(cut)
    assert detect(Input.open(p)).format == "cloudtrail"
    eng = open_db(str(tmp_path / f"cut{fmt}.db"))
    res = ingest_paths(eng, [str(p)], fmt=fmt)
    [s] = res.sources
    assert s.status == "ingested" and not res.errors
    assert 100 < s.events < 400  # the readable prefix
    assert s.records == s.events + s.quarantined
    with eng.connect() as conn:
        reasons = [r[0] for r in conn.execute(select(quarantine.c.reason))]
    assert any("truncated" in r for r in reasons)  # the truncation is reported


# ------------------------------------------------------------------ a bad record at the top
@pytest.mark.parametrize(("fmt", "path"), LINE_SAMPLES, ids=IDS)
@pytest.mark.parametrize("damage", ["line1", "xff2"])
def test_detection_survives_a_bad_record_at_the_top(tmp_path, fmt, path, damage):
    lines = _lines(path)
    if damage == "line1":
        lines = [b"this is not a record {"] + lines[1:]
    else:
        lines = [lines[0], lines[1][:10] + b"\xff" + lines[1][10:], *lines[2:]]
    p = tmp_path / ("damaged" + path.suffix)
    p.write_bytes(b"\n".join(lines) + b"\n")
    assert detect(Input.open(p)).format == fmt
    eng = open_db(str(tmp_path / "d.db"))
    res = ingest_paths(eng, [str(p)])
    [s] = res.sources
    assert s.format == fmt and s.events > 0 and s.quarantined <= 2


# ------------------------------------------------------------------ byte order marks, UTF-16
@pytest.mark.parametrize(("fmt", "path"), LINE_SAMPLES, ids=IDS)
def test_a_utf8_bom_is_stripped(tmp_path, fmt, path):
    data = b"\n".join(_lines(path)) + b"\n"
    _, plain = _ingest(tmp_path, "plain" + path.suffix, data)
    _, bom = _ingest(tmp_path, "bom" + path.suffix, b"\xef\xbb\xbf" + data)
    a, b = plain.sources[0], bom.sources[0]
    assert b.format == a.format == fmt
    assert (b.records, b.events, b.quarantined) == (a.records, a.events, a.quarantined)


@pytest.mark.parametrize(("fmt", "path"), LINE_SAMPLES, ids=IDS)
@pytest.mark.parametrize("enc", ["utf-16-le", "utf-16-be"])
def test_utf16_with_a_bom_is_decoded(tmp_path, fmt, path, enc):
    text = (b"\n".join(_lines(path)) + b"\n").decode("utf-8", "replace")
    bom = "\ufeff".encode(enc)
    _, plain = _ingest(tmp_path, "u8" + path.suffix, text.encode("utf-8"))
    eng, wide = _ingest(tmp_path, "u16" + path.suffix, bom + text.encode(enc))
    a, b = plain.sources[0], wide.sources[0]
    assert b.format == fmt, wide.errors
    assert (b.records, b.events, b.quarantined) == (a.records, a.events, a.quarantined)


# ------------------------------------------------------------------ unreadable files and directories
def test_unreadable_files_and_directories_are_reported(tmp_path, monkeypatch):
    from logconsole.ingest import reader

    case = tmp_path / "case"
    (case / "locked").mkdir(parents=True)
    (case / "locked" / "x.jsonl").write_text("{}\n")
    (case / "a.jsonl").write_text(json.dumps({"@timestamp": "2024-01-01T00:00:00Z", "user": "a"}) + "\n")
    (case / "secret.jsonl").write_text("{}\n")
    real_open, real_access, real_walk = reader.open_readonly_fd, os.access, os.walk

    def deny_open(path):
        if str(path).endswith("secret.jsonl"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path)

    def deny_walk(top, onerror=None, **kw):  # what os.walk does for a directory it cannot list
        for root, dirs, files in real_walk(top, onerror=onerror, **kw):
            if "locked" in dirs:
                dirs.remove("locked")
                onerror(PermissionError(13, "Permission denied", os.path.join(root, "locked")))
            yield root, dirs, files

    monkeypatch.setattr(reader, "open_readonly_fd", deny_open)
    monkeypatch.setattr(reader.os, "walk", deny_walk)
    eng = open_db(str(tmp_path / "u.db"))
    res = ingest_paths(eng, [str(case)])
    assert any("locked: cannot read directory: Permission denied" in e for e in res.errors)
    assert any("secret.jsonl: permission denied" in e for e in res.errors)
    assert [s.status for s in res.sources if s.status == "ingested"] == ["ingested"]
    monkeypatch.setattr(reader.os, "access", lambda p, m: False if str(p).endswith("locked") else real_access(p, m))
    res2 = ingest_paths(eng, [str(case / "locked")])
    assert res2.errors == [f"{case / 'locked'}: cannot read directory: Permission denied"]
