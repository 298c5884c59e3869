"""The same case on SQLite and on PostgreSQL gives the same answers; ``db copy`` is lossless;
several investigators share a PostgreSQL index.  Needs a real server (LOGCONSOLE_TEST_PG)."""

from __future__ import annotations

import json
import re
import threading

import pytest
from click.testing import CliRunner

from logconsole.cli import main
from tests.conftest import ENGINES, PG_SKIP, PG_URL, SAMPLE_DATA, drop_target, index_target

# one worker runs the whole module (with -n): its commands read and write the module's shared cases
pytestmark = pytest.mark.xdist_group("engines")

GRANTS = [str(SAMPLE_DATA / "grants" / "authorization-details.json"), str(SAMPLE_DATA / "grants" / "rbac.yaml")]

#: one query per operator of the filter language (docs/query.md), over the sample case
SEARCHES = [
    "",
    "outcome:failure",
    "action:Get*",
    "action:?ut*",
    'actor:"arn:aws:iam::111122223333:user/alice"',
    "-outcome:success",
    "NOT action:List*",
    "outcome:failure OR action:Delete*",
    "(action:Get* OR action:Put*) AND outcome:success",
    "ip:10.0.0.0/8",
    "ip:203.0.113.*",
    "since:2026-03-14T12:00:00Z until:2026-03-14T13:00:00Z",
    "extra.namespace:kube-system",
    "extra.code:403",
    "secret*",
    '"assumed-role"',
    "denied",
    "ccessDenied",
    "kube-sys",
    "éxport",
    "format:k8s-audit resource:*pods*",
    "source:audit.log line:1..50",
    "id:100..200 error:*",
    "ua:*boto* -region:us-east-1",
    "marked:true OR tag:* OR note:*",
    "finding:1",
    "finding:*",
]


def cli(*args: str, check: bool = True) -> str:
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if check:
        assert r.exit_code == 0, (args, r.output)
    return r.output


def build_case(target: str) -> None:
    """The sample case as an investigator builds it: ingest, grants, a mark, a tag, two findings."""
    cli("ingest", "--db", target, str(SAMPLE_DATA))
    cli("grants", "import", "--db", target, *GRANTS)
    ids = [json.loads(line)["id"] for line in cli("search", "--db", target, "--output", "jsonl", "-n", "3",
                                                   "outcome:failure").splitlines()]
    cli("--as", "ana", "finding", "add", "--db", target, "-t", "Denied calls", "-s", "high", "-q", "outcome:failure")
    cli("--as", "ana", "finding", "add", "--db", target, "-t", "First events", *[f"--event={i}" for i in ids])
    from logconsole.store import annotations as A
    from logconsole.store.db import open_db

    eng = open_db(target)
    with eng.begin() as conn:
        A.set_mark(conn, ids[0])
        A.add_tag(conn, ids[1], "exfil")
        A.set_note(conn, ids[2], "look here")
    eng.dispose()


@pytest.fixture(scope="module", params=ENGINES)
def case(request, tmp_path_factory):
    target = index_target(request.param, tmp_path_factory.mktemp(request.param))
    build_case(target)
    yield target
    drop_target(target)


@pytest.fixture(scope="module")
def sqlite_case(tmp_path_factory):
    target = index_target("sqlite", tmp_path_factory.mktemp("reference"))
    build_case(target)
    return target


def _index_neutral(text: str, target: str) -> str:
    """Output with the index location and the checkpoint times taken out."""
    text = text.replace(target, "INDEX")
    label = target.rsplit("/", 1)[-1]  # the file name, or the database name of a URL
    for shown in (label, label.replace("_", "\\_")):  # as Markdown escapes it
        text = text.replace(f"({shown})", "(INDEX)")
    text = re.sub(r'"path": "[^"]*"', '"path": "INDEX"', text)
    text = re.sub(r"\| Index \| [^(|]*\(", "| Index | INDEX (", text)  # the report names the index
    text = re.sub(r"recorded \S+ after ingest", "recorded TIME after ingest", text)
    return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z, ingest", "TIME, ingest", text)


@pytest.mark.parametrize("query", SEARCHES)
def test_search_is_the_same_on_every_engine(case, sqlite_case, query):
    args = ["search", "--output", "jsonl", "-n", "0"]
    q = ["--", query] if query else []
    assert cli(*args, "--db", case, *q) == cli(*args, "--db", sqlite_case, *q)


@pytest.mark.parametrize("args", [
    ["actors", "--json"],
    ["actor", "DataAnalyticsRole", "--json"],
    ["actor", "system:kube-controller-manager", "--json"],
    ["readiness", "--json"],
    ["verify", "--index", "--json"],
    ["freq", "actor", "--json"],
    ["freq", "actor", "outcome:failure", "--json"],
    ["freq", "src_ip", "action:Get*", "--json"],
    ["pivot", "actor", "action", "outcome:failure", "--json"],
    ["histogram", "--json"],
    ["histogram", "outcome:failure", "--json"],
    ["export", "--output", "jsonl"],
    ["export", "--output", "csv", "--query", "outcome:failure"],
    ["export", "--output", "timesketch", "--finding", "1"],
    ["export", "--at", "2026-03-15T09:00:00Z"],
])
def test_commands_are_the_same_on_every_engine(case, sqlite_case, args):
    got = _index_neutral(cli(*args, "--db", case), case)
    want = _index_neutral(cli(*args, "--db", sqlite_case), sqlite_case)
    assert got == want


def test_db_copy_round_trip_keeps_custody_root_and_events(sqlite_case, pg_url, tmp_path):
    back = str(tmp_path / "back.db")
    out1 = json.loads(cli("db", "copy", sqlite_case, pg_url, "--json"))
    out2 = json.loads(cli("db", "copy", pg_url, back, "--json"))
    root = json.loads(cli("verify", "--index", "--json", "--db", sqlite_case))["targets"][0]
    assert out1["custody_root"] == out2["custody_root"] and out1["custody_root"] in root["anchor"]
    for target in (pg_url, back):
        v = json.loads(cli("verify", "--index", "--json", "--db", target))["targets"][0]
        assert v["status"] == "intact", v
        assert out1["custody_root"] in v["anchor"]
    everything = ["search", "--output", "jsonl", "-n", "0", "--raw"]
    assert cli(*everything, "--db", back) == cli(*everything, "--db", pg_url) == cli(*everything, "--db", sqlite_case)
    assert out1["rows"] == out2["rows"] and out1["rows"]["findings"] == 2
    # annotations and findings came along, with who made them
    assert cli("search", "--count", "finding:*", "--db", back) == cli("search", "--count", "finding:*", "--db", sqlite_case)


def test_db_copy_refuses_a_destination_that_holds_a_case(sqlite_case, tmp_path):
    r = CliRunner().invoke(main, ["db", "copy", sqlite_case, sqlite_case])
    assert r.exit_code == 2 and "already exists" in r.output


def test_db_init_and_schema_version_mismatch_is_a_clear_error(pg_url):
    from sqlalchemy import create_engine

    r = CliRunner().invoke(main, ["sources", "--db", pg_url])
    assert r.exit_code == 2 and "db init" in r.output and "Traceback" not in r.output
    assert "index created" in cli("db", "init", pg_url)
    assert "up to date" in cli("db", "init", pg_url)
    assert cli("sources", "--db", pg_url) is not None
    eng = create_engine(pg_url)
    with eng.begin() as conn:
        conn.exec_driver_sql("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    eng.dispose()
    r = CliRunner().invoke(main, ["search", "--db", pg_url])
    assert r.exit_code == 2
    assert "index schema 99 is newer than this logconsole" in r.output and len(r.output.strip().splitlines()) == 1


def test_a_url_without_a_server_is_a_one_line_error():
    r = CliRunner().invoke(main, ["search", "--db", "postgresql+psycopg://nobody:secret@127.0.0.1:1/none"])
    assert r.exit_code == 2 and "Traceback" not in r.output and "secret" not in r.output


def test_investigators_annotate_and_add_findings_at_once(pg_url, tmp_path):
    """Two investigators on one PostgreSQL index at the same time: nothing lost, each change attributed."""
    from sqlalchemy import select

    from logconsole.ingest.pipeline import ingest_paths
    from logconsole.store import annotations as A
    from logconsole.store import findings as F
    from logconsole.store.annotations_schema import annotations
    from logconsole.store.db import open_db
    from logconsole.store.dialect import AS_OPTION
    from logconsole.store.queries import search

    base = open_db(pg_url)
    ingest_paths(base, [str(SAMPLE_DATA / "k8s" / "audit.log")])
    with base.connect() as conn:
        ids = [r["id"] for r in search(conn, None, limit=200)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def investigator(name: str, mine: list[int]) -> None:
        eng = open_db(pg_url).execution_options(**{AS_OPTION: name})
        try:
            barrier.wait()
            for i, eid in enumerate(mine):
                with eng.begin() as conn:
                    A.set_mark(conn, eid)
                    A.add_tag(conn, eid, "shared")
                    A.add_tag(conn, eid, name)
                if i % 10 == 0:
                    with eng.begin() as conn:
                        F.create_finding(conn, f"{name} {i}", event_ids=[eid, ids[-1]])
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
        finally:
            eng.dispose()

    threads = [threading.Thread(target=investigator, args=("ana", ids[0::2])),
               threading.Thread(target=investigator, args=("ben", ids[1::2]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with base.connect() as conn:
        assert sorted(A.marked_event_ids(conn)) == sorted(ids)
        by = dict(conn.execute(select(annotations.c.event_id, annotations.c.created_by)).all())
        assert {by[i] for i in ids[0::2]} == {"ana"} and {by[i] for i in ids[1::2]} == {"ben"}
        assert dict(A.all_tags(conn)) == {"shared": 200, "ana": 100, "ben": 100}
        found = F.list_findings(conn)
        assert len(found) == 20
        assert sorted(f["position"] for f in found) == list(range(1, 21))  # no position given twice
        assert {f["created_by"] for f in found} == {"ana", "ben"}
        assert all(f["attached"] == 2 for f in found)
    base.dispose()


def test_postgresql_tests_say_why_they_skip():
    if PG_URL:
        pytest.skip("a PostgreSQL server is configured")
    assert "LOGCONSOLE_TEST_PG" in PG_SKIP


#: read-only SQL over the documented views (docs/query.md#sql), the same rows on every engine
SQL_STATEMENTS = [
    "SELECT id, time, ts_us, format, action, outcome, actor, src_ip, source_path, line, raw_sha256 "
    "FROM events ORDER BY id LIMIT 50",
    "SELECT actor, count(*) AS n, min(time) AS first, max(time) AS last FROM events "
    "GROUP BY actor ORDER BY n DESC, actor",
    "SELECT path, format, sha256, records, events, duplicates, quarantined, status FROM sources ORDER BY id",
    "SELECT id, title, severity, query, attached_events FROM findings ORDER BY id",
    "SELECT finding_id, event_id, raw_sha256 FROM finding_events ORDER BY finding_id, event_id",
    "SELECT event_id, marked, note, tags FROM annotations ORDER BY event_id",
    "WITH f AS (SELECT src_ip, count(*) AS n FROM events WHERE outcome = 'failure' GROUP BY src_ip) "
    "SELECT src_ip, n FROM f WHERE src_ip IS NOT NULL ORDER BY n DESC, src_ip",
    "SELECT e.action, s.format FROM events e JOIN sources s ON s.path = e.source_path "
    "WHERE lower(e.action) LIKE 'delete%' ORDER BY e.id;",  # (LIKE: case-insensitive on SQLite only)
]


@pytest.mark.parametrize("statement", SQL_STATEMENTS)
def test_read_only_sql_is_the_same_on_every_engine(case, sqlite_case, statement):
    got = json.loads(cli("sql", "--db", case, "--json", statement))
    want = json.loads(cli("sql", "--db", sqlite_case, "--json", statement))
    assert got["rows"], statement
    assert got == want


def test_read_only_sql_limit_and_refusals_on_every_engine(case):
    out = json.JSONDecoder().raw_decode(cli("sql", "--db", case, "--json", "-n", "5", "SELECT id FROM events ORDER BY id"))[0]
    assert out["count"] == 5 and out["truncated"] is True
    before = cli("sql", "--db", case, "--json", "SELECT count(*) AS n FROM events")
    for statement in ("DELETE FROM events", "UPDATE events SET actor = 'x'", "DROP TABLE events",
                      "SELECT 1; DELETE FROM events", "INSERT INTO annotations (event_id) VALUES (1)"):
        r = CliRunner().invoke(main, ["sql", "--db", case, statement])
        assert r.exit_code == 2, (statement, r.output)
        assert "Traceback" not in r.output
    r = CliRunner().invoke(main, ["sql", "--db", case, "DELETE FROM events"])
    assert "not allowed" in r.output and "read-only" in r.output
    assert cli("sql", "--db", case, "--json", "SELECT count(*) AS n FROM events") == before


def test_read_only_sql_on_postgresql_stays_read_only(pg_url):
    """What the server itself could do: write through a CTE, change the transaction, take
    session locks, outlive the time limit; all refused, the index unchanged."""
    from sqlalchemy import text

    from logconsole.store.db import open_db
    from logconsole.store.readonly_sql import SqlCancelled, SqlError, open_readonly

    cli("ingest", "--db", pg_url, str(SAMPLE_DATA / "app"))
    with open_readonly(pg_url, time_limit=0.5) as ro:
        n = ro.run("SELECT count(*) AS n FROM events").rows[0][0]
        assert n > 0
        for statement in ("WITH d AS (DELETE FROM events RETURNING id) SELECT * FROM d",
                          "SELECT set_config('transaction_read_only', 'off', false)",
                          "SELECT pg_advisory_lock(7)", 'SELECT "pg_advisory_lock"(7)',
                          "SELECT nextval('findings_id_seq')",
                          "SET transaction_read_only = off", "COMMIT", "COPY events TO STDOUT"):
            with pytest.raises(SqlError) as err:
                ro.run(statement)
            assert err.value.position is not None or "not allowed" in err.value.message, statement
        with pytest.raises(SqlCancelled, match="time limit"):
            ro.run("SELECT pg_sleep(5)")
        ro.time_limit = None
        stop = threading.Event()

        def keep_cancelling() -> None:  # Esc pressed (again) until the statement stops: a cancel
            while not stop.wait(0.2):  # that comes before the statement starts has nothing to stop
                ro.cancel()

        canceller = threading.Thread(target=keep_cancelling)
        canceller.start()
        try:
            with pytest.raises(SqlCancelled, match="cancelled"):
                ro.run("SELECT pg_sleep(5)")
        finally:
            stop.set()
            canceller.join()
        assert ro.run("SELECT count(*) AS n FROM events").rows[0][0] == n  # the session is still usable
        pid = ro.conn.info.backend_pid
        eng = open_db(pg_url)
        with eng.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM events")).scalar() == n
            assert conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = :p"),
                                {"p": pid}).scalar() == 0  # no session lock outlives a statement
        eng.dispose()


#: addresses of every kind, and the ip: filters over them (docs/query.md): the same events on both engines
IP_RECORDS = ["10.1.2.3", "10.255.255.255", "11.0.0.1", "192.0.2.7", "::ffff:10.9.9.9", "[2001:db8::5]",
              "2001:db8:1::1", "fe80::1%eth0", "::1", "0.0.0.0", "lambda.amazonaws.com", None]
IP_QUERIES = ["ip:10.0.0.0/8", "ip:10.1.2.3", "ip:10.1.2.3/32", "ip:::ffff:10.1.2.3", "ip:0.0.0.0/0",
              "ip:::/0", "ip:::ffff:0:0/96", "ip:::ffff:10.0.0.0/104", "ip:2001:db8::/32", "ip:2001:db8::5",
              "ip:fe80::/10", "ip:::1", "ip:192.0.2.0/25 OR ip:11.0.0.0/31", "-ip:10.0.0.0/8",
              "ip:lambda.amazonaws.com", "ip:10.*"]


def test_cidr_filters_are_the_same_on_every_engine(pg_url, tmp_path):
    log = tmp_path / "ips.jsonl"
    log.write_text("".join(json.dumps({"ts": f"2026-03-14T10:00:{i:02d}Z", "action": "login", "user": "u",
                                       **({"ip": ip} if ip else {})}) + "\n" for i, ip in enumerate(IP_RECORDS)))
    sqlite = str(tmp_path / "ips.db")
    for target in (sqlite, pg_url):
        cli("ingest", "--db", target, str(log))
    counts = {}
    for q in IP_QUERIES:
        got = cli("search", "--db", pg_url, "--output", "jsonl", "-n", "0", "--", q)
        assert got == cli("search", "--db", sqlite, "--output", "jsonl", "-n", "0", "--", q), q
        counts[q] = len(got.splitlines())
    assert counts["ip:10.0.0.0/8"] == 3 and counts["ip:::/0"] == 10 and counts["ip:::ffff:10.0.0.0/104"] == 3
    assert counts["ip:2001:db8::/32"] == 2 and counts["ip:10.1.2.3"] == 1


def test_cidr_filter_uses_the_inet_index_on_postgresql():
    from sqlalchemy.dialects import postgresql

    from logconsole.store.filter import compile_filter

    sql = str(compile_filter("ip:10.0.0.0/8").where.compile(dialect=postgresql.dialect()))
    assert "src_ip_inet <<= CAST(" in sql and "src_ip_key" not in sql


def test_null_safe_join_is_hashable_on_postgresql():
    """The identity graph joins events to their combinations on six NULL-able columns: on
    PostgreSQL as equalities it can hash (IS NOT DISTINCT FROM made a nested loop: > 17 min at
    200,000 events, 6 s now), exact for NULLs as SQLite's IS."""
    from sqlalchemy import column
    from sqlalchemy.dialects import postgresql, sqlite

    from logconsole.store.dialect import same_value

    expr = same_value(column("a"), column("b"))
    assert str(expr.compile(dialect=sqlite.dialect())) == "(a IS b)"
    pg = str(expr.compile(dialect=postgresql.dialect()))
    assert "DISTINCT" not in pg and "coalesce(a, '') = coalesce(b, '')" in pg and "(a IS NULL) = (b IS NULL)" in pg
    # in a join, the condition as it is: "(a IS b) = 1" would keep SQLite from its index
    both = (column("k") == column("j")) & same_value(column("a"), column("b"))
    assert str(both.compile(dialect=sqlite.dialect())) == "k = j AND (a IS b)"


def test_identity_graph_is_the_same_on_every_engine(case, sqlite_case):
    """Built after the ingest, and again a few events at a time (the windowed build, its temporary
    tables and the identities computed in SQL): the same graph on every engine."""
    from logconsole.analysis.identity.build import build
    from logconsole.store.db import open_db
    from tests.identity_canon import graph

    want = graph(sqlite_case)
    assert want["links"] and len(want["identities"]) > 1
    assert graph(case) == want
    eng = open_db(case)
    try:
        build(eng, rebuild=True, window=50)
    finally:
        eng.dispose()
    assert graph(case) == want
