"""Headless `logconsole freq` and `logconsole histogram` (the console's frequency table and histogram)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from logconsole.cli import main
from logconsole.store import aggregates
from logconsole.store.db import open_db

from tests.test_tui_analytics_aggregates import S, T0, insert_events


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "cli.db"
    eng = open_db(path)
    rows = []
    for i in range(10):
        rows.append(dict(ts_us=T0 + i * 60 * S, outcome="failure" if i in (2, 5, 9) else "success",
                         actor=["alice", "bob", "alice\x1b[31m"][i % 3], action="GetObject" if i % 2 else "PutObject",
                         src_ip="10.0.0.1" if i < 6 else "203.0.113.7"))
    insert_events(eng, rows)
    eng.dispose()
    aggregates.clear_cache()
    return str(path)


def run(*args):
    res = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return res


def test_freq_table_and_json(db):
    res = run("freq", "actor", "--db", db)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == "Actor: 3 distinct values in 10 events"
    assert lines[1].split() == ["4", "40.0%", "alice"]
    assert "alice\\x1b[31m" in res.output and "\x1b" not in res.output  # inert
    res = run("freq", "ip", "outcome:failure", "--json", "--db", db)
    doc = json.loads(res.output)
    assert (doc["column"], doc["filter"], doc["events"], doc["distinct"]) == ("src_ip", "outcome:failure", 3, 2)
    assert doc["values"] == [
        {"value": "10.0.0.1", "count": 2, "percent": 66.667, "term": 'ip:"10.0.0.1"'},
        {"value": "203.0.113.7", "count": 1, "percent": 33.333, "term": 'ip:"203.0.113.7"'},
    ]


def test_freq_paging_and_errors(db):
    res = run("freq", "actor", "-n", "1", "--db", db)
    assert res.output.splitlines()[-1] == "... 2 more (--limit 0 for all, --offset 1 for the next)"
    res = run("freq", "actor", "-n", "0", "--offset", "1", "--json", "--db", db)
    assert [v["value"] for v in json.loads(res.output)["values"]] == ["alice\x1b[31m", "bob"]
    res = run("freq", "raw", "--db", db)
    assert res.exit_code == 2 and "cannot group by 'raw'" in res.output
    res = run("freq", "actor", 'actor:"x', "--db", db)
    assert res.exit_code == 2 and "unterminated" in res.output


def test_histogram_text_and_json(db):
    res = run("histogram", "--buckets", "5", "--db", db)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].startswith("10 events, buckets of 2m (UTC)")
    assert len(lines) == 6
    res = run("histogram", "outcome:failure", "-b", "5", "--json", "--db", db)
    doc = json.loads(res.output)
    assert doc["events"] == 3 and doc["bucket_us"] == 120 * S
    # failures at 12:28:40, 12:31:40 and 12:35:40 in 2-minute buckets from 12:28
    assert [(b["failure"], b["success"]) for b in doc["buckets"]] == [(1, 0), (1, 0), (0, 0), (1, 0)]
    assert doc["buckets"][0]["start"] == "2020-09-13T12:28:00Z"


def test_histogram_since_until_is_exact(db):
    res = run("histogram", "--since", "2020-09-13T12:28:40Z", "--until", "2020-09-13T12:30:40Z", "-b", "2", "--json",
              "--db", db)
    doc = json.loads(res.output)
    assert doc["events"] == 3  # 12:28:40, 12:29:40, 12:30:40
    res = run("histogram", "actor:nobody", "--db", db)
    assert res.output.strip() == "no events match"
    res = run("histogram", "--since", "yesterday", "--db", db)
    assert res.exit_code == 2 and "--since/--until" in res.output
