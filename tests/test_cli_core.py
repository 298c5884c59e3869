"""The core CLI commands end to end (click runner): JSON shapes, outputs, errors."""

import csv
import io
import json
import shutil

from click.testing import CliRunner

from logconsole.cli import main

from .conftest import REALDATA, SAMPLE_DATA


def run(*args, input=None):
    r = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    return r


def test_ingest_json_shape_and_sources(db_path):
    r = run("ingest", str(REALDATA / "k8s-audit"), "--db", db_path, "--json")
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert set(out) >= {"db", "sources", "records", "events", "duplicates", "quarantined"}
    s = out["sources"][0]
    assert set(s) >= {"path", "format", "sha256", "bytes", "records", "events", "duplicates", "quarantined"}
    assert (s["format"], s["events"], s["bytes"]) == ("k8s-audit", 37, 22129)
    src = json.loads(run("sources", "--db", db_path, "--json").stdout)["sources"]
    assert src[0]["status"] == "complete" and src[0]["first_event"] == "2017-09-11T19:55:05Z"
    assert src[0]["parser"] == "logconsole.ingest.k8s-audit" and src[0]["parser_version"]


def test_search_outputs(db_path):
    run("ingest", str(REALDATA / "k8s-audit"), "--db", db_path)
    r = run("search", "outcome:failure", "--db", db_path, "--output", "jsonl", "-n", "3")
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(rows) == 3 and all(x["outcome"] == "failure" for x in rows)
    assert rows[0]["time"] == "2017-09-11T19:55:05Z"
    r = run("search", "outcome:failure", "--db", db_path, "--output", "csv", "-n", "0")
    table = list(csv.reader(io.StringIO(r.stdout)))
    assert table[0][:3] == ["id", "time", "format"] and len(table) == 12
    assert run("search", "--count", "actor:system:admin", "--db", db_path).stdout.strip() == "37"
    assert run("search", "--count", "target:bob", "--db", db_path).stdout.strip() == "29"
    r = run("search", "forbidden", "--db", db_path, "--desc", "-n", "1")
    assert "2017-09-11T20:" in r.stdout
    r = run("search", "acter:x", "--db", db_path)
    assert r.exit_code == 2 and "unknown field 'acter'" in r.stderr


def test_no_index_is_a_one_line_error(tmp_path):
    r = run("search", "--db", str(tmp_path / "none.db"))
    assert r.exit_code == 2
    assert r.stderr.count("\n") == 1 and "no index here" in r.stderr


def test_quarantine_json(tmp_path, db_path):
    f = tmp_path / "x.jsonl"
    f.write_bytes(b'{"ts": 1700000000, "user": "u"}\n{"ts": \xff}\n')
    run("ingest", str(f), "--db", db_path)
    q = json.loads(run("quarantine", "--db", db_path, "--json").stdout)
    assert q["count"] == 1
    row = q["quarantined"][0]
    assert row["line"] == 2 and "invalid UTF-8" in row["reason"] and row["raw"] == '{"ts": \\xff}'


def test_formats_and_detect():
    names = [x["name"] for x in json.loads(run("formats", "--json").stdout)]
    assert {"cloudtrail", "k8s-audit", "jsonl", "auditd", "syslog-auth", "pgaudit", "gcp-audit",
            "azure-activity", "windows-security"} <= set(names)
    out = json.loads(run("detect", str(REALDATA / "cloudtrail"), "--json").stdout)
    assert [x["format"] for x in out] == ["cloudtrail", "cloudtrail"] and all(x["evidence"] for x in out)


def test_directory_walk_hints_grants_files(tmp_path, db_path):
    d = tmp_path / "case"
    shutil.copytree(SAMPLE_DATA / "grants", d / "grants")
    shutil.copy(REALDATA / "k8s-audit" / "demo.log", d / "demo.log")
    (d / "notes.txt").write_text("call the SOC at 9\n")
    r = run("ingest", str(d), "--db", db_path)
    assert r.exit_code == 0
    assert "rbac.yaml: a grants file (k8s-rbac), not a log; import it with `logconsole grants import" in r.stderr
    assert "notes.txt: not a known log format; skipped" in r.stderr
    r = run("ingest", str(d / "notes.txt"), "--db", db_path)  # named explicitly: an error
    assert r.exit_code == 2 and "--format" in r.stderr
