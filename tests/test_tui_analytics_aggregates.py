"""SQL aggregates behind the histogram, facets and frequency tables (exact numbers)."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import true

from logconsole.store import aggregates as agg
from logconsole.store import rawcodec, schema
from logconsole.store.db import open_db
from logconsole.store.filter import compile_filter

T0 = 1_600_000_000_000_000  # 2020-09-13T12:26:40Z
S = 1_000_000


def _ipkey(ip: str | None):
    import ipaddress

    if ip is None:
        return None
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return None
    return (b"\0" * 10 + b"\xff\xff" + a.packed) if a.version == 4 else a.packed


def insert_events(engine, rows):
    """rows: dicts with ts_us and any event columns (outcome defaults to success)."""
    with engine.begin() as conn:
        sid = conn.execute(schema.sources.insert().values(
            path="/t/x.json", format="cloudtrail", sha256=hashlib.sha256(str(len(rows)).encode()).hexdigest(),
            bytes=0, parser="t", parser_version="1", ingested_at=0, status="complete")).inserted_primary_key[0]
        batch = []
        for i, r in enumerate(rows):
            raw = f'{{"n":{i}}}'.encode()
            d = dict(source_id=sid, line=i + 1, format=r.get("format", "cloudtrail"), outcome="success",
                     raw=rawcodec.encode(raw), raw_sha256=hashlib.sha256(raw).hexdigest(), dedup=i,
                     message=r.get("message", f"event {i}"))
            d.update(r)
            if "src_ip" in r and "src_ip_key" not in r:
                d["src_ip_key"] = _ipkey(r["src_ip"])
            batch.append(d)
        keys = sorted({k for d in batch for k in d})
        conn.execute(schema.events.insert(), [{k: d.get(k) for k in keys} for d in batch])


@pytest.fixture
def engine(tmp_path):
    eng = open_db(tmp_path / "agg.db")
    rows = []
    # 10 events, one per second: outcomes s s f s u f s s s f
    outcomes = "ssfsufsssf"
    actors = ["alice", "alice", "bob", "alice", None, "bob", "carol", "alice", "bob", "mallory"]
    ips = ["10.0.0.1", "10.0.0.1", "10.0.0.2", "cloudtrail.amazonaws.com", None, "10.0.0.2", "10.0.0.1",
           "2001:db8::1", "10.0.0.1", "cloudtrail.amazonaws.com"]
    for i in range(10):
        rows.append(dict(ts_us=T0 + i * S, outcome={"s": "success", "f": "failure", "u": "unknown"}[outcomes[i]],
                         actor=actors[i], src_ip=ips[i], action="GetObject" if i % 2 else "PutObject",
                         resource=f'arn:aws:s3:::b/"quoted"\\{i % 3}'))
    insert_events(eng, rows)
    yield eng
    eng.dispose()


def test_time_bounds(engine):
    with engine.connect() as c:
        assert agg.time_bounds(c, true()) == (T0, T0 + 9 * S)
        assert agg.time_bounds(c, None) == (T0, T0 + 9 * S)
        assert agg.time_bounds(c, compile_filter("actor:bob").where) == (T0 + 2 * S, T0 + 8 * S)
        assert agg.time_bounds(c, compile_filter("actor:nobody").where) is None


def test_histogram_exact_buckets(engine):
    with engine.connect() as c:
        # 5 buckets of 2 s over [T0, T0+10 s)
        h = agg.histogram(c, true(), T0, T0 + 10 * S, 5)
    assert h == [
        (T0, 2, 0, 0),  # s s
        (T0 + 2 * S, 1, 1, 0),  # f s
        (T0 + 4 * S, 0, 1, 1),  # u f
        (T0 + 6 * S, 2, 0, 0),  # s s
        (T0 + 8 * S, 1, 1, 0),  # s f
    ]
    assert sum(b.total for b in h) == 10
    assert h[2].total == 2


def test_histogram_filtered_range_and_empty_buckets(engine):
    with engine.connect() as c:
        h = agg.histogram(c, compile_filter("outcome:failure").where, T0 - 10 * S, T0 + 30 * S, 4)
        assert [b.start_us for b in h] == [T0 - 10 * S, T0, T0 + 10 * S, T0 + 20 * S]
        assert [(b.success, b.failure, b.unknown) for b in h] == [(0, 0, 0), (0, 3, 0), (0, 0, 0), (0, 0, 0)]
        # end is exclusive; start inclusive
        h = agg.histogram(c, true(), T0 + 3 * S, T0 + 5 * S, 2)
        assert h == [(T0 + 3 * S, 1, 0, 0), (T0 + 4 * S, 0, 0, 1)]
        # explicit width: the last bucket may extend beyond end_us but counts only < end_us
        h = agg.histogram(c, true(), T0, T0 + 10 * S, 3, width=4 * S)
        assert [b.total for b in h] == [4, 4, 2]


def test_plan_buckets_and_nice_width():
    assert agg.nice_width(60 * S, 60) == S
    assert agg.nice_width(61 * S, 60) == 2 * S
    assert agg.nice_width(86400 * S, 24) == 3600 * S
    start, width, n = agg.plan_buckets(T0 + 1234, T0 + 9 * S, 100)
    assert width == 100_000 and start == T0 and n == 91 and n <= 100
    start, width, n = agg.plan_buckets(T0, T0 + 29 * 86400 * S, 60)
    assert width == 12 * 3600 * S and start % width == 0 and start <= T0
    assert start + n * width > T0 + 29 * 86400 * S and n <= 60
    # degenerate: a single instant
    assert agg.plan_buckets(T0, T0, 10)[2] == 1


def test_facet_top_values(engine):
    with engine.connect() as c:
        assert agg.facet(c, true(), "actor", 3) == [("alice", 4), ("bob", 3), ("carol", 1)]
        assert agg.facet(c, true(), "outcome", 5) == [("success", 6), ("failure", 3), ("unknown", 1)]
        # IPs: grouped on the key, non-addresses on their text; ties: addresses, names, then empty
        assert agg.facet(c, true(), "src_ip", 10) == [
            ("10.0.0.1", 4), ("10.0.0.2", 2), ("cloudtrail.amazonaws.com", 2), ("2001:db8::1", 1), (None, 1),
        ]
        assert agg.facet(c, compile_filter("outcome:failure").where, "actor", 5) == [("bob", 2), ("mallory", 1)]


def test_facet_ip_exact(engine):
    with engine.connect() as c:
        got = agg.facet(c, true(), "ip", 10)
    assert dict(got) == {"10.0.0.1": 4, "10.0.0.2": 2, "cloudtrail.amazonaws.com": 2, "2001:db8::1": 1, None: 1}
    assert [v for v, _ in got] == ["10.0.0.1", "10.0.0.2", "cloudtrail.amazonaws.com", "2001:db8::1", None]


def test_frequency_totals_percent_and_paging(engine):
    with engine.connect() as c:
        p = agg.frequency(c, true(), "actor", 2, 0)
        assert (p.column, p.total, p.distinct, p.max_count, p.offset) == ("actor", 10, 5, 4, 0)
        assert [(r.value, r.count, r.percent) for r in p.rows] == [("alice", 4, 40.0), ("bob", 3, 30.0)]
        p2 = agg.frequency(c, true(), "actor", 2, 2)
        # ties (1 each) ordered by value, the empty value last
        assert [(r.value, r.count) for r in p2.rows] == [("carol", 1), ("mallory", 1)]
        p3 = agg.frequency(c, true(), "actor", 10, 4)
        assert [(r.value, r.count, r.percent) for r in p3.rows] == [(None, 1, 10.0)]
        past = agg.frequency(c, true(), "actor", 10, 50)
        assert (past.rows, past.total, past.distinct) == ([], 10, 5)
        empty = agg.frequency(c, compile_filter("actor:nobody").where, "actor", 10, 0)
        assert (empty.rows, empty.total, empty.distinct) == ([], 0, 0)


def test_frequency_filtered(engine):
    with engine.connect() as c:
        p = agg.frequency(c, compile_filter("action:GetObject").where, "outcome", 10, 0)
    assert p.total == 5
    assert [(r.value, r.count, r.percent) for r in p.rows] == [("success", 3, 60.0), ("failure", 2, 40.0)]


def test_unknown_column_rejected(engine):
    with engine.connect() as c, pytest.raises(KeyError):
        agg.frequency(c, true(), "raw; DROP TABLE events", 10, 0)


@pytest.mark.parametrize(
    "column,value,term",
    [
        ("actor", "arn:aws:iam::1:user/x", 'actor:"arn:aws:iam::1:user/x"'),
        ("src_ip", "10.0.0.1", 'ip:"10.0.0.1"'),
        ("error_code", "AccessDenied", 'error:"AccessDenied"'),
        ("resource", 'a "b" \\c', 'resource:"a \\"b\\" \\\\c"'),
        ("actor", None, "-actor:*"),
        ("user_agent", "x*y", 'ua:"x*y"'),
    ],
)
def test_drill_term(column, value, term):
    assert agg.drill_term(column, value) == term


def test_drill_terms_round_trip_through_the_filter_language(engine):
    """Every value's drill-down term selects exactly that value's events."""
    with engine.connect() as c:
        for column in ("actor", "src_ip", "resource", "outcome", "action"):
            page = agg.frequency(c, true(), column, 100, 0)
            for row in page.rows:
                w = compile_filter(agg.drill_term(column, row.value)).where
                assert agg.count(c, w) == row.count, (column, row.value)


def test_background_job_is_interrupted_inside_sqlite(engine):
    import time

    def slow(conn):
        return conn.exec_driver_sql(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) SELECT count(*) FROM c"
        ).scalar()

    job = agg.submit(engine, slow)
    time.sleep(0.2)
    t0 = time.perf_counter()
    job.cancel()
    with pytest.raises(agg.Interrupted):
        job.future.result(timeout=10)
    assert time.perf_counter() - t0 < 2  # stopped, not run to the end
    # the thread (and its pooled connection) keep working afterwards
    assert agg.submit(engine, lambda c: agg.count(c, true())).future.result(timeout=10) == 10


def test_background_job_errors_propagate(engine):
    job = agg.submit(engine, lambda c: agg.frequency(c, true(), "nope", 1, 0))
    with pytest.raises(KeyError):
        job.future.result(timeout=10)


def test_cache_never_serves_stale_counts_for_filters_on_other_tables(engine):
    """Facets of ``marked:true`` must follow new marks; event-only filters are cached."""
    from sqlalchemy import Column, Integer, MetaData, Table, exists, select

    md = MetaData()
    marks = Table("t_marks", md, Column("event_id", Integer, primary_key=True))
    md.create_all(engine)
    where = exists(select(marks.c.event_id).where(marks.c.event_id == schema.events.c.id))
    agg.clear_cache()
    with engine.connect() as c:
        assert agg.frequency(c, where, "actor", 10, 0).total == 0
    with engine.begin() as c:
        c.execute(marks.insert(), [{"event_id": 1}, {"event_id": 3}])
    with engine.connect() as c:
        p = agg.frequency(c, where, "actor", 10, 0)
        assert (p.total, [(r.value, r.count) for r in p.rows]) == (2, [("alice", 1), ("bob", 1)])
        assert agg.histogram(c, where, T0, T0 + 10 * S, 1)[0].total == 2
    assert not agg._cacheable(select(schema.events.c.id).where(where))
    assert agg._cacheable(select(schema.events.c.id).where(compile_filter('actor:x "some text"').where))
    # the statements the aggregates really run are cached: a second call does not query
    page_stmt = agg._grouped(true(), "resource")
    assert agg._cacheable(select(page_stmt.c.k))
    calls = []
    with engine.connect() as c:
        from sqlalchemy import event as sa_event

        sa_event.listen(c, "before_cursor_execute", lambda *a, **k: calls.append(a[2]))
        agg.frequency(c, true(), "resource", 5, 0)
        n = len(calls)
        assert agg.frequency(c, true(), "resource", 5, 0).total == 10
        assert len(calls) - n == 2  # only the two O(1) version lookups
