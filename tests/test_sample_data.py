"""sample_data/: the generator is deterministic, its output is committed, and the story is in the index."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import rfc8785
from sqlalchemy import func, select

from logconsole.ingest.pipeline import ingest_paths
from logconsole.store import schema
from logconsole.store.db import open_db
from logconsole.store.filter import compile_filter

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"


def _content(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def _tree(base: Path) -> dict[str, bytes]:
    out = {}
    for p in sorted(base.rglob("*")):
        if p.is_file() and p.name not in ("generate.py", "README.md") and "__pycache__" not in p.parts:
            out[str(p.relative_to(base))] = _content(p)
    return out


def test_generator_reproduces_committed_output(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(SAMPLE / "generate.py"), str(tmp_path)], check=True, capture_output=True)
    fresh, committed = _tree(tmp_path), _tree(SAMPLE)
    assert sorted(fresh) == sorted(committed)
    for name in fresh:
        assert fresh[name] == committed[name], name
    # gzip members are byte-identical too (mtime 0, no file name)
    for name in fresh:
        if name.endswith(".gz"):
            assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes(), name


def test_cloudtrail_files_are_s3_delivery_shaped() -> None:
    files = sorted((SAMPLE / "cloudtrail").rglob("*.json.gz"))
    assert len(files) > 20
    for f in files:
        parts = f.relative_to(SAMPLE / "cloudtrail").parts
        assert parts[:3] == ("AWSLogs", "111122223333", "CloudTrail")
        region = parts[3]
        assert f.name.startswith(f"111122223333_CloudTrail_{region}_")
        doc = json.loads(gzip.decompress(f.read_bytes()))
        assert set(doc) == {"Records"}
        for r in doc["Records"]:
            assert r["awsRegion"] == region
            assert r["eventVersion"] in ("1.08", "1.09")
            assert {"userIdentity", "eventTime", "eventSource", "eventName", "eventID", "requestID"} <= set(r)


def test_app_audit_chain_is_valid_and_tampered_copy_differs_as_documented() -> None:
    good = [json.loads(x) for x in (SAMPLE / "app/audit.jsonl").read_text().splitlines()]
    prev = "0" * 64
    for i, r in enumerate(good, start=1):
        assert r["seq"] == i and r["prev_hash"] == prev
        body = {k: v for k, v in r.items() if k != "hash"}
        assert hashlib.sha256(rfc8785.dumps(body)).hexdigest() == r["hash"]
        prev = r["hash"]
    bad = [json.loads(x) for x in (SAMPLE / "app/audit.tampered.jsonl").read_text().splitlines()]
    by_seq = {r["seq"]: r for r in bad}
    missing = [r["seq"] for r in good if r["seq"] not in by_seq]
    changed = [r["seq"] for r in good if r["seq"] in by_seq and by_seq[r["seq"]] != r]
    assert missing == [5]
    assert changed == [2]
    assert good[1]["action"] == "auth.token_login" and by_seq[2]["src_ip"] == "10.0.4.12" and good[1]["src_ip"] == "203.0.113.77"
    assert good[4]["action"] == "customer.export.download"
    readme = (SAMPLE / "README.md").read_text()
    assert "seq 2" in readme and "seq 5" in readme


@pytest.fixture(scope="module")
def sample_engine(tmp_path_factory):
    db = tmp_path_factory.mktemp("sample") / "s.db"
    engine = open_db(str(db))
    res = ingest_paths(engine, [str(SAMPLE)])
    return engine, res


def _count(engine, q: str) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(schema.events).where(compile_filter(q).where)).scalar_one()


def test_ingest_sample_directory_is_lossless_and_skips_non_logs(sample_engine) -> None:
    engine, res = sample_engine
    assert res.errors == []
    assert res.total("quarantined") == 0
    ingested = {Path(s.path).name: s for s in res.sources if s.status == "ingested"}
    skipped = {Path(s.path).name for s in res.sources if s.status == "skipped"}
    assert {"generate.py", "README.md", "rbac.yaml", "authorization-details.json", "authorization-details-after.json"} <= skipped
    assert ingested["audit.log"].format == "k8s-audit"
    assert ingested["audit.jsonl"].format == "jsonl" and ingested["audit.jsonl"].events == 111
    # the tampered copy: every record a duplicate of the genuine log except the forged one
    t = ingested["audit.tampered.jsonl"]
    assert (t.records, t.events, t.duplicates) == (110, 1, 109)
    ct = [s for s in res.sources if s.format == "cloudtrail" and s.status == "ingested"]
    assert sum(s.events for s in ct) == 1619
    for s in res.sources:
        if s.status == "ingested":
            assert s.records == s.events + s.duplicates + s.merged + s.quarantined


def test_story_is_in_the_index(sample_engine) -> None:
    engine, _ = sample_engine
    assert _count(engine, "ip:203.0.113.77 format:cloudtrail outcome:failure") == 22
    assert _count(engine, "ip:203.0.113.77 action:GetObject") == 250
    assert _count(engine, "action:StopLogging ip:203.0.113.77") == 1
    assert _count(engine, "action:DeleteTrail ip:203.0.113.77") == 1
    assert _count(engine, "action:CreatePolicyVersion outcome:success") == 1
    assert _count(engine, "action:AttachUserPolicy outcome:success ip:203.0.113.77") == 1
    assert _count(engine, "action:CreateAccessKey outcome:success") == 1
    assert _count(engine, 'action:AssumeRole ip:203.0.113.77 outcome:success') == 1
    # the management trail is silent while it was stopped
    assert _count(engine, "format:cloudtrail since:2026-03-14T01:52:08Z until:2026-03-14T07:41:32Z") == 0
    # Kubernetes: exec, secret reads in kube-system, forbidden attempts, a rolebinding
    assert _count(engine, "format:k8s-audit action:*pods/exec* ip:203.0.113.77") == 1
    assert _count(engine, 'format:k8s-audit actor:"system:serviceaccount:payments:payments-api" action:*secrets* outcome:success') == 6
    assert _count(engine, "format:k8s-audit outcome:failure") == 4
    assert _count(engine, "format:k8s-audit action:*rolebindings* outcome:success ip:203.0.113.77") == 1
    # legitimate use of the same key from the CI runner the same night
    assert _count(engine, 'ip:192.0.2.50 until:2026-03-14T01:00:00Z format:cloudtrail') > 10


def _readme_search_examples() -> list[tuple[list[str], list[str]]]:
    """(argv, expected output lines) for every `$ logconsole search ...` in the README's Commands section."""
    import shlex

    text = (SAMPLE / "README.md").read_text(encoding="utf-8")
    sec = text.split("## Commands", 1)[1].split("\n## ", 1)[0]
    out: list[tuple[list[str], list[str]]] = []
    for block in sec.split("```console\n")[1:]:
        body = block.split("```", 1)[0].splitlines()
        cur = None
        for line in body:
            if line.startswith("$ "):
                argv = shlex.split(line[2:])
                cur = (argv, []) if argv[:2] == ["logconsole", "search"] else None
                if cur:
                    out.append(cur)
            elif cur is not None:
                cur[1].append(line)
    return out


def test_readme_search_examples_print_what_the_readme_shows(sample_engine) -> None:
    from click.testing import CliRunner

    from logconsole.cli import main

    engine, _ = sample_engine
    db = engine.url.database
    examples = _readme_search_examples()
    assert len(examples) >= 6
    for argv, expected in examples:
        args = [db if a == "case.db" else a for a in argv[1:]]
        r = CliRunner().invoke(main, args, catch_exceptions=False)
        assert r.exit_code == 0, (argv, r.output)
        assert r.output.rstrip("\n").splitlines() == expected, argv
