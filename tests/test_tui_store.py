"""Store layer of the console: timeline paging (store/timeline.py) and annotations (store/annotations.py)."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import insert, select, true

from logconsole.store import annotations as ann
from logconsole.store import rawcodec
from logconsole.store.db import open_db
from logconsole.store.filter import FilterError, compile_filter
from logconsole.store.schema import events, source_reads, sources
from logconsole.store.timeline import TimelineQuery, time_bounds, total_events

from tests.tui_support import ALICE, BOB, T0, build_index, standard_records


def synthetic(engine, n: int, seed: int = 7) -> None:
    """*n* events with many equal timestamps (ties are broken by id)."""
    r = random.Random(seed)
    with engine.begin() as conn:
        conn.execute(insert(sources).values(
            id=1, path="/x", format="jsonl", sha256="f" * 64, bytes=1, parser="p", parser_version="1",
            ingested_at=0, status="complete", records=n, events=n, duplicates=0, merged=0, quarantined=0))
        rows = []
        for i in range(1, n + 1):
            rows.append(dict(
                id=i, source_id=1, line=i, format="jsonl", ts_us=T0 + r.randint(0, n // 4) * 1_000_000,
                actor=f"u{r.randint(0, 9)}", action="A", outcome=r.choice(["success", "failure"]),
                raw=rawcodec.encode(f'{{"i":{i}}}'), raw_sha256=f"{i:064x}", dedup=i,
            ))
        conn.execute(insert(events), rows)


@pytest.fixture
def big(tmp_path):
    eng = open_db(tmp_path / "t.db")
    synthetic(eng, 3000)
    yield eng
    eng.dispose()


def expected_ids(engine, where=None):
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(
            select(events.c.id).where(where if where is not None else true()).order_by(events.c.ts_us, events.c.id))]


@pytest.mark.parametrize("flt", ["", "outcome:failure", "actor:u3", "actor:nobody"])
def test_random_access_matches_full_ordering(big, flt):
    where = compile_filter(flt).where
    exp = expected_ids(big, where)
    q = TimelineQuery(big, where, page_size=50, cache_pages=4)
    assert q.count() == len(exp)
    r = random.Random(1)
    offsets = [0, len(exp) - 1, len(exp) // 2] + [r.randrange(max(1, len(exp))) for _ in range(60)]
    for off in offsets:
        row = q.row(off)
        if not exp:
            assert row is None
            continue
        assert row.id == exp[off], off
    # sequential walk forwards and backwards uses neighbour keysets
    assert [row.id for row in q.rows(0, len(exp))] == exp
    assert q.row(len(exp)) is None and q.row(-1) is None


def test_pages_are_bounded_and_skip_little_when_scrolling(big):
    q = TimelineQuery(big, page_size=100, cache_pages=3)
    q.count()
    for off in range(0, 3000, 50):
        q.row(off)
    assert len(q._pages) <= 3
    assert q.stats.offset_rows_skipped == 0  # scrolling walks neighbour keysets, no OFFSET
    q2 = TimelineQuery(big, page_size=100)
    q2.row(2999)  # End: one read from the end, no long OFFSET
    assert q2.stats.offset_rows_skipped == 0


def test_offsets_of_time_event_and_neighbours(big):
    exp = expected_ids(big)
    q = TimelineQuery(big)
    with big.connect() as conn:
        ts = dict(conn.execute(select(events.c.id, events.c.ts_us)).all())
    target = ts[exp[1234]]
    off = q.offset_of_time(target)
    assert ts[exp[off]] == target and (off == 0 or ts[exp[off - 1]] < target)
    assert q.offset_of_event(exp[777]) == 777
    assert q.offset_of_time(T0 + 10**15) == len(exp)
    assert q.neighbour_key(q.row(10).key, true()) == q.row(11).key
    assert q.neighbour_key(q.row(10).key, true(), forward=False) == q.row(9).key
    fq = TimelineQuery(big, compile_filter("actor:u1").where)
    assert fq.offset_of_event(next(i for i in exp if i not in set(expected_ids(big, compile_filter("actor:u1").where)))) is None
    assert total_events(big) == 3000
    lo, hi = time_bounds(big)
    assert lo == ts[exp[0]] and hi == ts[exp[-1]]


def test_offsets_of_many_keys_in_one_pass_equal_one_by_one(big):
    """The timeline's marker rows are placed with offsets_of_keys (one count per interval, not one
    per marker): the same offsets as offset_of_key, with repeated keys and under a filter."""
    with big.connect() as conn:
        keys = sorted(conn.execute(select(events.c.ts_us, events.c.id)).all())
    rng = random.Random(3)
    probe = sorted([(k[0], k[1]) for k in rng.sample(keys, 40)] + [(keys[5][0], -(2**62))] * 2
                   + [(T0 - 10**9, 0), (T0 + 10**15, 0)])
    for where in (true(), compile_filter("actor:u1").where):
        q = TimelineQuery(big, where)
        assert q.offsets_of_keys(probe) == [q.offset_of_key(k) for k in probe]


def test_invalidate_picks_up_new_rows(big):
    q = TimelineQuery(big)
    assert q.count() == 3000
    with big.begin() as conn:
        conn.execute(insert(events).values(id=5000, source_id=1, format="jsonl", ts_us=T0 - 1, outcome="unknown",
                                           raw=rawcodec.encode("{}"), raw_sha256="e" * 64, dedup=5000))
    assert q.count() == 3000
    q.invalidate()
    assert q.count() == 3001 and q.row(0).id == 5000


# ---------------------------------------------------------------- annotations
def _ids(engine, flt: str) -> list[int]:
    return expected_ids(engine, compile_filter(flt).where)


def test_marks_notes_tags_and_filter_fields(tmp_path):
    _, eng = build_index(tmp_path)
    ids = expected_ids(eng)
    with eng.begin() as conn:
        assert ann.toggle_mark(conn, ids[3]) is True
        ann.set_mark(conn, ids[10])
        ann.set_note(conn, ids[10], "Exfil starts here")
        ann.add_tag(conn, ids[20], "  Lateral   Movement ")
        ann.add_tag(conn, ids[3], "exfil")
    with eng.connect() as conn:
        assert ann.marked_event_ids(conn) == [ids[3], ids[10]]
        a = ann.get_annotation(conn, ids[10])
        assert a["marked"] and a["note"] == "Exfil starts here" and a["record_ref"].endswith("[10] (line 1)")
        assert ann.get_annotation(conn, ids[20])["tags"] == ["lateral movement"]
        assert ann.get_annotation(conn, ids[0]) is None
        flags = ann.annotation_flags(conn)
        assert len(flags) == 3
    assert _ids(eng, "marked:true") == [ids[3], ids[10]]
    assert len(_ids(eng, "marked:false")) == len(ids) - 2
    assert _ids(eng, 'tag:"lateral movement"') == [ids[20]]
    assert _ids(eng, "tag:EXFIL") == [ids[3]]
    assert _ids(eng, "tag:*") == [ids[3], ids[20]]
    assert _ids(eng, "note:*") == [ids[10]]
    assert _ids(eng, "note:exfil") == [ids[10]]
    assert _ids(eng, "note:nothing") == []
    assert _ids(eng, "marked:true -tag:exfil") == [ids[10]]
    with pytest.raises(FilterError):
        compile_filter("marked:maybe")
    # removing everything deletes the annotation row
    with eng.begin() as conn:
        ann.toggle_mark(conn, ids[3])
        ann.remove_tag(conn, ids[3], "exfil")
        ann.set_note(conn, ids[10], "   ")
    with eng.connect() as conn:
        assert ann.get_annotation(conn, ids[3]) is None
        assert ann.get_annotation(conn, ids[10])["note"] is None
        assert [d["event_id"] for d in ann.annotated_events(conn)] == [ids[10], ids[20]]
        assert [d["event_id"] for d in ann.annotated_events(conn, marked_only=True)] == [ids[10]]
    with pytest.raises(ValueError):
        with eng.begin() as conn:
            ann.add_tag(conn, ids[1], "   ")


def test_annotations_survive_reingest(tmp_path):
    """Marks are keyed by content: after the events are ingested again with new ids they still apply."""
    db, eng = build_index(tmp_path)
    ids = expected_ids(eng)
    with eng.begin() as conn:
        ann.set_mark(conn, ids[5])
        ann.set_note(conn, ids[7], "look")
        ann.add_tag(conn, ids[7], "t1")
        ref = ann.get_annotation(conn, ids[5])["raw_sha256"]
    # Simulate a re-ingest: drop the events and sources, ingest another file first, then the case again.
    with eng.begin() as conn:
        conn.exec_driver_sql("INSERT INTO events_fts(events_fts) VALUES('delete-all')")
        conn.execute(events.delete())
        conn.execute(source_reads.delete())
        conn.execute(sources.delete())
    from logconsole.ingest.pipeline import ingest_paths

    other = tmp_path / "other.json"
    other.write_text('{{"Records": [{}]}}'.format(__import__("json").dumps(standard_records(3)[0] | {"eventID": "zzz"})))
    ingest_paths(eng, [str(other), str(tmp_path / "case.json")])
    new_ids = expected_ids(eng)
    with eng.connect() as conn:
        new5 = conn.execute(select(events.c.id).where(events.c.raw_sha256 == ref)).scalar_one()
        assert new5 != ids[5]
        assert new5 in ann.marked_event_ids(conn)
        assert ann.get_annotation(conn, new5)["marked"]
    assert _ids(eng, "note:look tag:t1") and set(_ids(eng, "note:look")) <= set(new_ids)


def test_views_and_history(tmp_path):
    _, eng = build_index(tmp_path, standard_records(5))
    with eng.begin() as conn:
        ann.save_view(conn, "  alice  fails ", "actor:x outcome:failure")
        ann.save_view(conn, "alice fails", "outcome:failure")  # overwrite
        ann.save_view(conn, "b", "")
        for t in ["a:1", "b:2", "a:1", "  "]:
            ann.add_history(conn, t)
    with eng.connect() as conn:
        assert ann.list_views(conn) == [("alice fails", "outcome:failure"), ("b", "")]
        assert ann.history(conn) == ["b:2", "a:1"]
    with eng.begin() as conn:
        ann.delete_view(conn, "b")
        with pytest.raises(ValueError):
            ann.save_view(conn, "  ", "x")
        for i in range(ann.HISTORY_LIMIT + 5):
            ann.add_history(conn, f"id:{i}")
    with eng.connect() as conn:
        assert ann.list_views(conn) == [("alice fails", "outcome:failure")]
        h = ann.history(conn)
        assert len(h) == ann.HISTORY_LIMIT and h[-1] == f"id:{ann.HISTORY_LIMIT + 4}"


def test_fixture_shape(tmp_path):
    _, eng = build_index(tmp_path)
    assert len(_ids(eng, f'actor:"{ALICE}"')) == 80
    assert len(_ids(eng, f'actor:"{BOB}"')) == 80
    assert len(_ids(eng, "outcome:failure")) == 40


def test_anchors_make_every_jump_short(big):
    exp = expected_ids(big)
    q = TimelineQuery(big, page_size=20)
    assert q.build_anchors(every_pages=5, min_rows=1000) == 30  # one per 100 rows
    assert TimelineQuery(big).build_anchors(min_rows=10_000) == 0  # small results skip it
    r = random.Random(3)
    for off in [r.randrange(len(exp)) for _ in range(40)]:
        before = q.stats.offset_rows_skipped
        assert q.row(off).id == exp[off]
        assert q.stats.offset_rows_skipped - before < 100
    fq = TimelineQuery(big, compile_filter("outcome:failure").where, page_size=10)
    fexp = expected_ids(big, compile_filter("outcome:failure").where)
    assert fq.build_anchors(every_pages=3, min_rows=1) == -(-len(fexp) // 30)
    assert [fq.row(i).id for i in range(0, len(fexp), 37)] == fexp[::37]
