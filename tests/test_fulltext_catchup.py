"""The full-text index off the ingest's critical path: the catch-up, the scan of
the not-yet-indexed tail, and convergence after an interrupted catch-up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from logconsole.cli import main
from logconsole.store import dialect, fulltext_index
from logconsole.store.db import open_db
from logconsole.store.filter import compile_filter
from logconsole.store.fulltext import tail_match, tail_spec
from logconsole.store.queries import count, search

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
QUERIES = ["denied", '"access denied"', "secret", "secret*", "AKIARZ5EXAMPLE7CIDK2", "portal-admin-token",
           "10.0.4.12", "ccessdenie", "StopLogging", '"ci-deploy"', "kube", "sudo", "outcome:failure denied",
           "actor:*ci-deploy* secret", "-denied"]


def _ingest(db: Path, *extra: str) -> None:
    r = CliRunner().invoke(main, ["ingest", "--db", str(db), *extra, str(SAMPLE)])
    assert r.exit_code in (0, 1), r.output


def _ids(db: Path, q: str) -> list[int]:
    eng = open_db(str(db))
    with eng.connect() as conn:
        return [r["id"] for r in search(conn, compile_filter(q).where, limit=100_000)]


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("ft") / "full.db"
    _ingest(db)
    return db


def test_ingest_catches_up_by_default(full):
    eng = open_db(str(full))
    with eng.connect() as conn:
        st = fulltext_index.state(conn)
        assert fulltext_index.indexed_upto(conn) is None
    assert st.complete and st.max_id > 3000


def test_deferred_index_answers_every_search_by_scanning_the_tail(full, tmp_path):
    db = tmp_path / "deferred.db"
    _ingest(db, "--defer-fulltext")
    r = CliRunner().invoke(main, ["fulltext", "--status", "--json", "--db", str(db)])
    st = json.loads(r.output)
    assert st["pending"] == st["max_event_id"] > 3000 and not st["complete"]
    for q in QUERIES:
        assert _ids(db, q) == _ids(full, q), q
    r = CliRunner().invoke(main, ["search", "--db", str(db), "--count", "denied"])
    assert r.exit_code == 0
    assert "still to index" in r.output  # says so (stderr is mixed into output here)
    r = CliRunner().invoke(main, ["fulltext", "--json", "--db", str(db)])
    assert json.loads(r.output)["complete"] is True
    for q in QUERIES:
        assert _ids(db, q) == _ids(full, q), q


@pytest.mark.parametrize("workers", [0, 1], ids=["in-process", "worker"])
def test_interrupted_catch_up_resumes_and_converges(full, tmp_path, monkeypatch, workers):
    """Killed inside a batch's transaction, with the text prepared here or ahead in a worker
    process: the committed batches stay, the next catch-up converges to the full index."""
    db = tmp_path / "killed.db"
    _ingest(db, "--defer-fulltext")
    eng = open_db(str(db))
    d = dialect.of(eng)
    real = type(d).terms_insert
    calls = {"n": 0}

    def failing(self, conn, terms):  # dies inside the third batch's transaction
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, conn, terms)

    monkeypatch.setattr(type(d), "terms_insert", failing)
    with pytest.raises(KeyboardInterrupt):
        fulltext_index.catch_up(eng, batch=500, workers=workers)
    with eng.connect() as conn:
        st = fulltext_index.state(conn)
    assert st.upto == 1000 and st.pending == st.max_id - 1000  # two batches committed, the third not at all
    for q in QUERIES:  # half indexed, half scanned: still exact
        assert _ids(db, q) == _ids(full, q), q
    monkeypatch.setattr(type(d), "terms_insert", real)
    assert fulltext_index.catch_up(eng, batch=500, workers=workers).complete
    with eng.connect() as conn:
        terms = conn.exec_driver_sql("SELECT count(*) FROM fts_terms").scalar()
    with open_db(str(full)).connect() as conn:
        assert terms == conn.exec_driver_sql("SELECT count(*) FROM fts_terms").scalar()
    for q in QUERIES:
        assert _ids(db, q) == _ids(full, q), q


def test_a_second_deferred_ingest_keeps_the_watermark(full, tmp_path):
    db = tmp_path / "two.db"
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_text('{"ts": "2026-03-14T01:00:00Z", "actor": "alice", "msg": "AccessDenied here"}\n')
    r = CliRunner().invoke(main, ["ingest", "--db", str(db), str(logs / "a.jsonl")])
    assert r.exit_code == 0, r.output
    (logs / "b.jsonl").write_text('{"ts": "2026-03-14T02:00:00Z", "actor": "bob", "msg": "access denied there"}\n')
    r = CliRunner().invoke(main, ["ingest", "--db", str(db), "--defer-fulltext", str(logs / "b.jsonl")])
    assert r.exit_code == 0, r.output
    eng = open_db(str(db))
    with eng.connect() as conn:
        st = fulltext_index.state(conn)
        assert (st.upto, st.max_id, st.pending) == (1, 2, 1)
        assert count(conn, compile_filter("denied").where) == 2
        assert count(conn, compile_filter('"access denied"').where) == 1


@pytest.mark.parametrize("text,toks,start,end,expected", [
    ('{"errorCode": "AccessDenied"}', ["denied"], True, True, True),
    ('{"errorCode": "AccessDenied"}', ["access", "denied"], False, False, False),
    ("sshd: access denied for bob", ["access", "denied"], False, False, True),
    ('{"errorCode": "AccessDenied"}', ["accessd"], False, True, True),
    ('{"errorCode": "AccessDenied"}', ["errorcode"], False, False, False),  # keys are not indexed
])
def test_tail_match_forms(text, toks, start, end, expected):
    from logconsole.store import rawcodec

    raw = rawcodec.encode(text.encode())
    assert tail_match("msg", raw, tail_spec(toks, open_start=start, open_end=end)) is expected


#: every form of free text (word, phrase, prefix, substring, with a field, negated)
PG_QUERIES = ["denied", '"access denied"', "secret*", "ccessdenie", "portal-admin-token", "outcome:failure denied",
              "-denied"]


def test_deferred_index_on_postgresql_misses_nothing_before_the_catch_up(full, pg_url):
    """On a server the tail is matched by the client (the raw records are compressed where the
    server cannot read them): before, during and after the catch-up every search gives the
    fully indexed SQLite answer."""
    _ingest(pg_url, "--defer-fulltext")
    r = CliRunner().invoke(main, ["fulltext", "--status", "--json", "--db", pg_url])
    st = json.loads(r.output)
    assert st["pending"] == st["max_event_id"] > 3000 and not st["complete"]
    want = {q: _ids(full, q) for q in PG_QUERIES}
    for q in PG_QUERIES:
        assert _ids(pg_url, q) == want[q], q
    eng = open_db(pg_url)
    with eng.connect() as conn:
        assert count(conn, compile_filter("denied").where) == len(want["denied"])
    fulltext_index.catch_up(eng, batch=1000, deadline=0)  # one batch: half indexed, half tail
    with eng.connect() as conn:
        st2 = fulltext_index.state(conn)
    assert 0 < st2.pending < st["pending"]
    for q in PG_QUERIES:
        assert _ids(pg_url, q) == want[q], q
    eng.dispose()
    r = CliRunner().invoke(main, ["fulltext", "--json", "--db", pg_url])
    assert json.loads(r.output)["complete"] is True
    for q in PG_QUERIES:
        assert _ids(pg_url, q) == want[q], q
