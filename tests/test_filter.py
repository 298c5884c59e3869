"""The filter language: every operator, errors, and injection attempts."""

import json

import pytest
from sqlalchemy import select

from logconsole.ingest.pipeline import ingest_paths
from logconsole.util.timeparse import parse_iso
from logconsole.store.filter import FilterError, compile_filter, quote_value, term
from logconsole.store.queries import count
from logconsole.store.schema import events
from tests.conftest import ENGINES, drop_target, index_target

NOW = parse_iso("2026-03-14T12:00:00Z")

ROWS = [
    # ts, actor, action, outcome, ip, resource, extra-ish fields
    ("2026-03-14T11:59:00Z", "alice", "GetObject", "success", "10.0.0.5", "bucket/a b", "s3"),
    ("2026-03-14T11:50:00Z", "alice", "PutObject", "failure", "10.1.2.3", "bucket/x", "s3"),
    ("2026-03-14T11:00:00Z", "bob", "DeleteTrail", "failure", "203.0.113.7", "trail/main", "cloudtrail"),
    ("2026-03-13T12:00:00Z", "carol", "ListUsers", "success", "2001:db8::1", "users", "iam"),
    ("2026-03-07T12:00:00Z", "o'brien; DROP TABLE events; --", "Get%_Thing", "success", "192.168.1.1", "50%_off", "weird"),
    ("2026-03-14T11:58:00Z", None, "ping", "unknown", None, None, None),
]


@pytest.fixture(scope="module", params=ENGINES)
def eng(request, tmp_path_factory):
    """The same events in a SQLite file and in a PostgreSQL database: every test runs on both."""
    from logconsole.store.db import open_db

    d = tmp_path_factory.mktemp("f")
    target = index_target(request.param, d)
    f = d / "app.jsonl"
    with f.open("w") as out:
        for i, (ts, actor, action, outcome, ip, res, svc) in enumerate(ROWS):
            rec = {"ts": ts, "action": action, "outcome": outcome, "seq": i + 1}
            if actor is not None:
                rec["actor"] = actor
            if ip:
                rec["ip"] = ip
            if res:
                rec["resource"] = res
            if svc:
                rec["service"] = svc
            rec["message"] = f"{actor} did {action} on {res} with secretword{i}"
            out.write(json.dumps(rec) + "\n")
    eng = open_db(target)
    res = ingest_paths(eng, [str(f)], fmt="jsonl")
    assert res.total("events") == len(ROWS)
    from logconsole.store.fulltext_index import catch_up

    catch_up(eng)  # as the ingest workflow does after the pipeline
    yield eng
    eng.dispose()
    drop_target(target)


def n(eng, q):
    with eng.connect() as conn:
        return count(conn, compile_filter(q, now_us=NOW).where)


def actors(eng, q):
    with eng.connect() as conn:
        rows = conn.execute(select(events.c.actor).where(compile_filter(q, now_us=NOW).where).order_by(events.c.id)).all()
    return [r[0] for r in rows]


def test_empty_matches_all(eng):
    assert n(eng, "") == 6 and n(eng, "   ") == 6


def test_field_exact_and_wildcards(eng):
    assert actors(eng, "actor:alice") == ["alice", "alice"]
    assert n(eng, "action:Get*") == 2
    assert n(eng, "action:?utObject") == 1
    assert n(eng, "actor:*") == 5  # present
    assert n(eng, "actor:Alice") == 0  # exact match is case-sensitive
    assert n(eng, "outcome:FAILURE") == 2  # enum fields are case-insensitive


def test_quoted_values(eng):
    assert n(eng, 'resource:"bucket/a b"') == 1
    assert n(eng, 'resource:"bucket/*"') == 0  # quoted: * is literal
    assert n(eng, r'actor:"o\'brien; DROP TABLE events; --"') == 1


def test_negation(eng):
    assert n(eng, "-actor:alice") == 4  # includes the event with no actor
    assert n(eng, "NOT actor:alice") == 4
    assert n(eng, "-outcome:success -outcome:unknown") == 2


def test_or_and_grouping(eng):
    assert n(eng, "actor:alice OR actor:bob") == 3
    assert n(eng, "actor:alice outcome:failure") == 1
    assert n(eng, "actor:alice AND outcome:failure") == 1
    assert n(eng, "(actor:alice OR actor:bob) outcome:failure") == 2
    assert n(eng, "actor:alice OR actor:bob outcome:failure") == 3  # AND binds tighter


def test_time_ranges(eng):
    assert n(eng, "since:15m") == 3  # 11:45 and later
    assert n(eng, "since:24h") == 5
    assert n(eng, "since:2w") == 6
    assert n(eng, "since:2026-03-14T11:00:00Z until:2026-03-14T11:55:00Z") == 2
    assert n(eng, "until:1d") == 2
    assert n(eng, "since:2026-03-14") == 4


def test_outcome_and_ip_cidr(eng):
    assert n(eng, "outcome:failure") == 2
    assert n(eng, "ip:10.0.0.0/8") == 2
    assert n(eng, "ip:10.1.0.0/16") == 1
    assert n(eng, "ip:203.0.113.7") == 1
    assert n(eng, "ip:2001:db8::/32") == 1
    assert n(eng, "ip:192.168.*") == 1
    assert n(eng, "-ip:10.0.0.0/8") == 4


def test_full_text(eng):
    assert n(eng, "secretword2") == 1
    assert n(eng, "secretword*") == 6
    assert n(eng, '"did GetObject"') == 1
    assert n(eng, "DeleteTrail secretword2") == 1
    assert n(eng, "-secretword2") == 5
    assert n(eng, "text:PutObject") == 1


def test_other_fields(eng):
    assert n(eng, "service:s3") == 2
    assert n(eng, "format:jsonl") == 6
    assert n(eng, "id:1..3") == 3
    assert n(eng, "line:2") == 1
    assert n(eng, "source:app.jsonl") == 6 and n(eng, "source:*.jsonl") == 6 and n(eng, "source:1") == 6


@pytest.mark.parametrize("q", [
    "actor:\"x'; DROP TABLE events; --\"",
    "actor:%", "actor:_", "actor:a%b_c", "resource:50%_off",
    "'; DELETE FROM events; --", '"; DROP TABLE sources', "x NEAR y", "a OR NOT", "col:*) OR 1=1 --",
    "secret^ * : AND", '"unbalanced', "actor:[a-z]*", "MATCH", "{actor}: x",
])
def test_injection_attempts_are_inert(eng, q):
    try:
        flt = compile_filter(q, now_us=NOW)
    except FilterError:
        return  # a clean error is fine
    with eng.connect() as conn:
        count(conn, flt.where)  # must not raise, must not change anything
    assert n(eng, "") == 6  # nothing was deleted


def test_percent_and_underscore_are_literal(eng):
    assert n(eng, "action:Get%_Thing") == 1
    assert n(eng, "action:Get%_*") == 1
    assert n(eng, "action:G_t*") == 0  # _ is not a LIKE wildcard here
    assert n(eng, "resource:50%_off") == 1
    assert n(eng, "actor:[a-z]*") == 0  # [ is literal, not a GLOB class


@pytest.mark.parametrize("q,pos,needle", [
    ("acter:x", 0, "unknown field 'acter' (did you mean 'actor'?)"),
    ("actor:alice bogus:1", 12, "valid fields:"),
    ("actor:", 6, "needs a value"),
    ("(actor:a", 0, "missing ')'"),
    ("actor:a)", 7, "unbalanced ')'"),
    ("OR actor:a", 0, "OR needs a term"),
    ("actor:a OR", 8, "OR needs a term"),
    ('actor:"abc', 6, "unterminated"),
    ("since:yesterday", 6, "bad time"),
    ("ip:10.0.0.0/33", 3, "bad CIDR"),
    ("outcome:maybe", 8, "not one of"),
    ("id:abc", 3, "number"),
    ("()", 0, "empty parentheses"),
])
def test_errors_name_position(q, pos, needle):
    with pytest.raises(FilterError) as ei:
        compile_filter(q, now_us=NOW)
    assert ei.value.position == pos
    assert needle in str(ei.value)
    assert str(ei.value).startswith(f"at position {pos + 1}:")


def test_quote_value_roundtrip(eng):
    for v in ["alice", "a b", 'say "hi"', "back\\slash", "x*y", "OR", "arn:aws:iam::1:user/a"]:
        flt = compile_filter(term("actor", v), now_us=NOW)
        toks = flt.terms
        assert len(toks) == 1 and toks[0].value.text == v and not toks[0].value.wild
    assert quote_value("plain") == "plain"
    assert n(eng, term("resource", "bucket/a b")) == 1


def test_compiled_sql_has_no_user_text(eng):
    flt = compile_filter("actor:\"x'; DROP TABLE events\" secret", now_us=NOW)
    sql = str(flt.where.compile())
    assert "DROP" not in sql and "secret" not in sql


def test_extra_fields_on_k8s_sample(tmp_path):
    from logconsole.store.db import open_db

    from .conftest import REALDATA

    eng = open_db(str(tmp_path / "k.db"))
    ingest_paths(eng, [str(REALDATA / "k8s-audit" / "demo.log")])
    assert n(eng, "extra.impersonated_user:bob") == 29
    assert n(eng, "extra.decision:forbid") + n(eng, "error:403*") >= 11
    assert n(eng, "extra.code:403") == 11
    with pytest.raises(FilterError):
        compile_filter("extra.1a:1")


#: one value per field that compiles and runs (the field list is explicit: a new field needs a line here)
FIELD_EXAMPLES = {
    "since": "24h", "until": "2026-03-14T12:00:00Z", "actor": "alice", "actor_type": "IAMUser", "actor_uid": "u*",
    "action": "Get*", "service": "s3", "outcome": "failure", "error": "AccessDenied", "session": "s",
    "target": "root", "ip": "10.0.0.0/8", "ua": "curl*", "host": "h", "resource": '"bucket/a b"',
    "account": "1", "region": "eu-*", "format": "jsonl", "message": "*did*", "record": "r1", "id": "1..3",
    "line": "2", "source": "app.jsonl", "sha": "abcd", "text": "secretword1", "marked": "true", "tag": "x",
    "note": "*", "finding": "1", "rule": "*", "integrity": "tampered",
}


def test_field_list_is_complete_and_every_field_compiles(eng):
    from pathlib import Path

    from logconsole.store.filter import field_names, field_spec
    from logconsole.store.filter_fields import FIELDS

    assert sorted(spec.name for spec in FIELDS) == field_names() == sorted(FIELD_EXAMPLES)
    doc = (Path(__file__).resolve().parent.parent / "docs" / "query.md").read_text(encoding="utf-8")
    for spec in FIELDS:
        assert f"`{spec.name}`" in doc, f"docs/query.md does not describe the field {spec.name!r}"
        assert spec.help, spec.name
        for alias in spec.aliases:
            assert field_spec(alias) is spec
        n(eng, f"{spec.name}:{FIELD_EXAMPLES[spec.name]}")  # compiles and runs
        n(eng, f"-{spec.name}:{FIELD_EXAMPLES[spec.name]}")
