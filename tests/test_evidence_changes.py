"""Files that change while they are ingested (issue: evidence safety).

The change is injected between two batches of the parse (fault injection, no
timing): the source must describe exactly the bytes that were read."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from sqlalchemy import select

from logconsole.ingest import pipeline
from logconsole.store.db import open_db
from logconsole.store.schema import source_reads, sources
from logconsole.workflows.ingest import run_ingest


def _line(i: int) -> str:
    return json.dumps({"@timestamp": f"2024-03-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z", "user": f"u{i}",
                       "event": {"action": "login"}, "n": i})


def _write(path, lo: int, hi: int, mode: str = "w") -> None:
    with open(path, mode) as f:
        f.write("".join(_line(i) + "\n" for i in range(lo, hi)))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def after_first_batch(monkeypatch):
    """Run *action* once, after the first batch of the parse has been written."""
    actions: list = []
    real = pipeline.iter_batches

    def spy(parser, inp, batch_size):
        for n, item in enumerate(real(parser, inp, batch_size)):
            yield item
            if n == 0 and actions:
                actions.pop(0)()

    monkeypatch.setattr(pipeline, "iter_batches", spy)
    monkeypatch.setenv("LOGCONSOLE_INGEST_WORKER", "0")
    return actions.append


def _rows(eng):
    with eng.connect() as conn:
        src = [dict(r._mapping) for r in conn.execute(select(sources).order_by(sources.c.id))]
        reads = {r.source_id: dict(r._mapping) for r in conn.execute(select(source_reads))}
        n = conn.exec_driver_sql("SELECT count(*) FROM events").scalar()
    return src, reads, n


def test_truncated_during_ingest_is_reported_removed_and_can_be_ingested_again(tmp_path, after_first_batch):
    p = tmp_path / "t.jsonl"
    _write(p, 0, 100)
    full = p.read_bytes()
    after_first_batch(lambda: os.truncate(p, len(full) // 2))
    eng = open_db(str(tmp_path / "t.db"))
    res = run_ingest(eng, [str(p)], fmt="jsonl", batch_size=10)
    assert [s.status for s in res.sources] == ["changed"]
    assert res.changed and "changed while it was ingested" in res.changed[0] and not res.errors
    assert _rows(eng) == ([], {}, 0)  # nothing kept under a hash it does not have
    p.write_bytes(full)  # the whole file again: not "already ingested"
    again = run_ingest(eng, [str(p)], fmt="jsonl", batch_size=10)
    [s] = again.sources
    assert s.status == "ingested" and s.events == 100 and s.sha256 == _sha(full)


def test_rewritten_in_place_during_ingest_is_reported(tmp_path, after_first_batch):
    p = tmp_path / "r.jsonl"
    _write(p, 0, 100)
    data = bytearray(p.read_bytes())

    def rewrite():
        data[5:9] = b"XXXX"  # same size, bytes already read change
        with open(p, "r+b") as f:
            f.write(data)

    after_first_batch(rewrite)
    eng = open_db(str(tmp_path / "r.db"))
    res = run_ingest(eng, [str(p)], fmt="jsonl", batch_size=10)
    assert [s.status for s in res.sources] == ["changed"] and res.changed
    assert _rows(eng)[2] == 0


def test_replaced_during_ingest_is_reported(tmp_path, after_first_batch):
    p = tmp_path / "rot.jsonl"
    _write(p, 0, 100)

    def rotate():
        os.rename(p, tmp_path / "rot.jsonl.1")
        _write(p, 500, 510)

    after_first_batch(rotate)
    eng = open_db(str(tmp_path / "rot.db"))
    res = run_ingest(eng, [str(p)], fmt="jsonl", batch_size=10)
    assert [s.status for s in res.sources] == ["changed"] and "another file" in res.changed[0]


def test_appended_during_ingest_keeps_the_prefix_and_a_later_ingest_continues(tmp_path, after_first_batch):
    p = tmp_path / "a.jsonl"
    _write(p, 0, 100)
    first = p.read_bytes()
    after_first_batch(lambda: _write(p, 100, 110, "a"))
    eng = open_db(str(tmp_path / "a.db"))
    res = run_ingest(eng, [str(p)], fmt="jsonl", batch_size=10)
    [s] = res.sources
    assert s.status == "ingested" and s.events == 100 and s.read == "prefix"
    assert s.sha256 == _sha(first) and s.bytes == len(first)
    assert any("grew" in w and "ingest it again" in w for w in res.warnings)
    src, reads, n = _rows(eng)
    assert n == 100 and src[0]["sha256"] == _sha(first) and src[0]["bytes"] == len(first)
    assert reads[src[0]["id"]]["state"] == "prefix" and reads[src[0]["id"]]["end_offset"] == len(first)
    assert reads[src[0]["id"]]["end_line"] == 100
    # a later ingest continues at the offset: only the 10 new lines, numbered on
    whole = p.read_bytes()
    res2 = run_ingest(eng, [str(p)], fmt="jsonl", batch_size=10)
    [s2] = res2.sources
    assert s2.status == "ingested" and s2.events == 10 and s2.records == 10
    assert s2.continues == src[0]["id"] and s2.start_offset == len(first)
    assert s2.sha256 == _sha(whole) and s2.bytes == len(whole)
    with eng.connect() as conn:
        lines = [r[0] for r in conn.exec_driver_sql("SELECT line FROM events WHERE source_id = ? ORDER BY id",
                                                    (s2.source_id,))]
    assert lines == list(range(101, 111))
    # and once more: the whole file is known
    res3 = run_ingest(eng, [str(p)], fmt="jsonl")
    assert [s.status for s in res3.sources] == ["skipped"] and "already ingested" in res3.sources[0].message


def test_a_line_still_being_written_is_left_for_the_next_ingest(tmp_path, after_first_batch):
    p = tmp_path / "w.jsonl"
    _write(p, 0, 50)
    tail = _line(50)
    with open(p, "a") as f:
        f.write(tail[:20])  # the writer is in the middle of a record
    complete = len(p.read_bytes()) - 20

    def finish_line():
        with open(p, "a") as f:
            f.write(tail[20:] + "\n")

    after_first_batch(finish_line)
    eng = open_db(str(tmp_path / "w.db"))
    res = run_ingest(eng, [str(p)], fmt="jsonl", batch_size=10)
    [s] = res.sources
    assert s.events == 50 and s.quarantined == 0 and s.bytes == complete and s.read == "prefix"
    assert s.sha256 == _sha(p.read_bytes()[:complete])
    res2 = run_ingest(eng, [str(p)], fmt="jsonl")
    [s2] = res2.sources
    assert s2.events == 1 and s2.quarantined == 0 and s2.start_offset == complete


def test_a_file_that_grew_between_two_ingests_is_continued(tmp_path):
    p = tmp_path / "auth.log"
    p.write_text("Feb 21 21:54:44 h sshd[1]: Accepted password for bob from 10.0.0.1 port 2 ssh2\n")
    eng = open_db(str(tmp_path / "g.db"))
    r1 = run_ingest(eng, [str(p)], options={"year": 2023})
    assert r1.sources[0].events == 1
    with open(p, "a") as f:
        f.write("Feb 21 21:55:44 h sshd[1]: Accepted password for eve from 10.0.0.2 port 2 ssh2\n")
    r2 = run_ingest(eng, [str(p)], options={"year": 2023})
    [s] = r2.sources
    assert s.events == 1 and s.continues == r1.sources[0].source_id and s.format == "syslog-auth"
    # a file that is not a continuation (the first bytes differ) is a new source
    p.write_text("Feb 22 21:54:44 h sshd[1]: Accepted password for bob from 10.0.0.1 port 2 ssh2\n" * 3)
    r3 = run_ingest(eng, [str(p)], options={"year": 2023})
    assert r3.sources[0].continues is None and r3.sources[0].start_offset == 0


def test_cli_exit_1_for_a_changed_file(tmp_path, after_first_batch):
    from click.testing import CliRunner

    from logconsole.cli import main

    p = tmp_path / "c.jsonl"
    _write(p, 0, 30000)
    after_first_batch(lambda: os.truncate(p, 1000))
    r = CliRunner().invoke(main, ["ingest", "--db", str(tmp_path / "c.db"), "--format", "jsonl", "--json", str(p)])
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    assert doc["changed"] and doc["sources"][0]["status"] == "changed" and doc["events"] == 0


def test_the_parse_worker_reads_the_same_bytes_and_continues_too(tmp_path, monkeypatch):
    monkeypatch.setenv("LOGCONSOLE_INGEST_WORKER", "1")
    p = tmp_path / "w.jsonl"
    _write(p, 0, 300)
    eng = open_db(str(tmp_path / "w.db"))
    r1 = run_ingest(eng, [str(p)], fmt="jsonl", batch_size=50)
    assert r1.sources[0].events == 300 and r1.sources[0].sha256 == _sha(p.read_bytes())
    with open(p, "a") as f:
        f.write("\n\n")
    _write(p, 300, 320, "a")
    r2 = run_ingest(eng, [str(p)], fmt="jsonl", batch_size=50)
    [s] = r2.sources
    assert (s.events, s.blank_lines, s.continues) == (20, 2, r1.sources[0].source_id)
    assert s.sha256 == _sha(p.read_bytes())
