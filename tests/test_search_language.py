"""Free-text substring search, the filter language's operators, value lists, time
references and hostile filters (issue: search; evidence safety: filter inputs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from logconsole.ingest.pipeline import ingest_paths
from logconsole.store import fulltext_index
from logconsole.store import rawcodec
from logconsole.store.db import open_db
from logconsole.store.filter import FilterError, compile_filter, quote_value
from logconsole.store.fulltext import fts_columns, words
from logconsole.store.highlight import highlight_terms, match_spans
from logconsole.store.queries import time_reference
from logconsole.store.schema import SCHEMA_VERSION, events, fts_terms
from logconsole.util.timeref import TimeRef, TimeSyntaxError, resolve_time
from logconsole.util.timeparse import parse_iso

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    d = tmp_path_factory.mktemp("sample")
    eng = open_db(str(d / "s.db"))
    res = ingest_paths(eng, [str(SAMPLE)])
    assert res.total("events") > 1000
    yield eng, str(d / "s.db")
    eng.dispose()


def ids(eng, q: str) -> set[int]:
    with eng.connect() as conn:
        return {r[0] for r in conn.execute(select(events.c.id).where(compile_filter(q).where))}


def _normalized_texts(eng) -> dict[int, str]:
    """Every event's indexed text as the words the index makes of it, space-joined."""
    out = {}
    with eng.connect() as conn:
        for eid, msg, raw in conn.execute(select(events.c.id, events.c.message, events.c.raw)):
            m, r = fts_columns(msg, rawcodec.decode_bytes(raw).decode("utf-8", "replace"))
            out[eid] = " " + " ".join(words(m) + ["|"] + words(r)) + " "
    return out


# ------------------------------------------------------------ must-show checks


def test_denied_finds_every_access_denied_event(sample) -> None:
    eng, _ = sample
    with eng.connect() as conn:
        denied = {r[0] for r in conn.execute(select(events.c.id).where(events.c.error_code.like("%AccessDenied%")))}
    assert len(denied) >= 10
    assert denied <= ids(eng, "denied")
    assert ids(eng, "denied") == ids(eng, "DENIED") == ids(eng, "Denied")  # case-insensitive


def test_lowercase_or_is_the_operator(sample) -> None:
    eng, _ = sample
    low = ids(eng, "outcome:failure or actor:*ci-deploy*")
    assert low == ids(eng, "outcome:failure OR actor:*ci-deploy*")
    assert len(low) > len(ids(eng, "outcome:failure"))
    assert ids(eng, "outcome:failure and actor:*ci-deploy*") == ids(eng, "outcome:failure AND actor:*ci-deploy*")
    assert ids(eng, "not outcome:failure") == ids(eng, "NOT outcome:failure")
    # the word itself stays searchable when quoted
    compile_filter('"or"')


def test_value_group_finds_both(sample) -> None:
    eng, _ = sample
    both = ids(eng, "action:(StopLogging OR DeleteTrail)")
    assert ids(eng, "action:StopLogging") and ids(eng, "action:DeleteTrail")
    assert both == ids(eng, "action:StopLogging") | ids(eng, "action:DeleteTrail")
    assert both == ids(eng, "action:StopLogging,DeleteTrail") == ids(eng, "action:(StopLogging or DeleteTrail)")
    assert ids(eng, "-action:(StopLogging OR DeleteTrail)") == ids(eng, "") - both


# ------------------------------------------------------------ substring search


@pytest.mark.parametrize("q", ["denied", "secret", "deploy", "eploy", "ccessdenie", "getobject", "bucket",
                               "ci-deploy", "ess-den", "amazonaws.com", "text:arn:aws:iam", "logging"])
def test_substring_search_is_exact(sample, q) -> None:
    """Free text finds exactly the events whose indexed words contain the query
    (separators match separators), compared with a scan of every event."""
    eng, _ = sample
    texts = _normalized_texts(eng)
    needle = " ".join(words(q.removeprefix("text:")))
    expected = {eid for eid, t in texts.items() if needle in t}
    assert ids(eng, q) == expected


def test_whole_word_phrase_and_prefix_forms(sample) -> None:
    eng, _ = sample
    texts = _normalized_texts(eng)
    # short words at the ends of a substring match whole words
    assert ids(eng, "s3") == {e for e, t in texts.items() if " s3 " in t}
    assert ids(eng, "10.0.1.23") == {e for e, t in texts.items() if " 10 0 1 23 " in t}
    assert ids(eng, '"deploy"') == {e for e, t in texts.items() if " deploy " in t}
    assert ids(eng, '"deploy"') < ids(eng, "deploy")
    assert ids(eng, "secret*") == {e for e, t in texts.items() if " secret" in t}
    assert ids(eng, '"ci deploy"') == {e for e, t in texts.items() if " ci deploy " in t}


def test_vocabulary_is_filled_at_ingest_and_by_migration(tmp_path) -> None:
    db = str(tmp_path / "m.db")
    eng = open_db(db)
    ingest_paths(eng, [str(SAMPLE / "cloudtrail")])
    fulltext_index.catch_up(eng)  # the ingest workflow's fulltext step
    with eng.connect() as conn:
        fresh = {r[0] for r in conn.execute(select(fts_terms.c.term))}
    assert "accessdenied" in fresh
    before = ids(eng, "denied")
    # an index from before the vocabulary: version 1, no fts_terms rows
    with eng.begin() as conn:
        conn.exec_driver_sql("DELETE FROM fts_terms")
        conn.exec_driver_sql("UPDATE meta SET value='1' WHERE key='schema_version'")
    eng.dispose()
    eng = open_db(db)
    with eng.connect() as conn:
        migrated = {r[0] for r in conn.execute(select(fts_terms.c.term))}
        assert conn.exec_driver_sql("SELECT value FROM meta WHERE key='schema_version'").scalar() == str(SCHEMA_VERSION)
    assert "accessdenied" in migrated
    assert fresh <= migrated | {t for t in fresh if not t.isascii()}
    assert ids(eng, "denied") == before
    eng.dispose()


# ------------------------------------------------------------- language


def test_hostile_filters_are_one_error_with_a_position() -> None:
    cases = {
        "(" * 400 + "a" + ")" * 400: "nested too deeply",
        "since:99999999999d": "out of range",
        "until:-99999999999w": "out of range",
        "id:99999999999999999999999": "too large",
        "line:1..99999999999999999999999": "too large",
        "source:99999999999999999999999": "too large",
        " ".join(["w"] * 1000): "too many terms",
        "NOT " * 5000 + "x": None,  # a loop, not a recursion: compiles
    }
    for text, msg in cases.items():
        if msg is None:
            compile_filter(text)
            continue
        with pytest.raises(FilterError) as ei:
            compile_filter(text)
        assert msg in str(ei.value)
        assert str(ei.value).startswith("at position ")


def test_hostile_filters_on_the_cli_exit_2_without_traceback(sample) -> None:
    _, db = sample
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for text in ["(" * 400 + "a" + ")" * 400, "since:99999999999d", "id:99999999999999999999999",
                 " ".join(["word"] * 1000), "action:(", "actor:a,,b", "x:", "acter:alice"]:
        p = subprocess.run([sys.executable, "-m", "logconsole.cli", "search", "--db", db, "--count", text],
                           capture_output=True, text=True, env=env)
        assert p.returncode == 2, (text[:30], p.stdout, p.stderr)
        assert "Traceback" not in p.stderr
        assert len(p.stderr.strip().splitlines()) == 1
        assert "position" in p.stderr


def test_field_groups_and_lists() -> None:
    sql = str(compile_filter("actor:(alice OR -bob) action:A,B").where.compile(compile_kwargs={"literal_binds": True}))
    assert "events.actor = 'alice'" in sql and "events.action = 'A'" in sql and "events.action = 'B'" in sql
    with pytest.raises(FilterError, match="takes one time"):
        compile_filter("since:-1h,-2h")
    with pytest.raises(FilterError, match="empty value"):
        compile_filter("actor:a,,b")
    # a quoted value keeps its comma
    sql = str(compile_filter('resource:"a,b"').where.compile(compile_kwargs={"literal_binds": True}))
    assert "'a,b'" in sql
    assert quote_value("a,b") == '"a,b"' and quote_value("or") == '"or"'


# ------------------------------------------------------------- time references


def test_partial_and_relative_times() -> None:
    day = parse_iso("2026-03-14T00:00:00Z")
    ref = TimeRef(start_us=parse_iso("2026-03-13T22:00:00Z"), end_us=parse_iso("2026-03-14T03:00:00Z"))
    assert resolve_time("01:18", ref) == day + (78 * 60) * 1_000_000
    assert resolve_time("23:30", ref) == parse_iso("2026-03-13T23:30:00Z")  # the night before, inside the view
    assert resolve_time("14 01:18", ref) == parse_iso("2026-03-14T01:18:00Z")
    assert resolve_time("14T01:18:05.5", ref) == parse_iso("2026-03-14T01:18:05.5Z")
    assert resolve_time("03-13 23:00", ref) == parse_iso("2026-03-13T23:00:00Z")
    assert resolve_time("-2h", ref) == parse_iso("2026-03-14T01:00:00Z")
    assert resolve_time("+30m", TimeRef(anchor_us=day)) == day + 1800 * 1_000_000
    assert resolve_time("2h", TimeRef(now_us=day)) == day - 7200 * 1_000_000
    assert resolve_time("2026-03-14 01:18", ref) == parse_iso("2026-03-14T01:18:00Z")
    for bad, pos in [("25:00", 0), ("xx", 0), ("99999999999d", 0), ("-99999999999w", 0)]:
        with pytest.raises(TimeSyntaxError) as ei:
            resolve_time(bad, ref)
        assert ei.value.position == pos


def test_filter_times_resolve_against_the_view(sample) -> None:
    eng, _ = sample
    with eng.connect() as conn:
        ref = time_reference(conn)
        assert ref.start_us is not None and ref.end_us is not None
        flt = compile_filter("since:-2h", ref=ref)
        rows = conn.execute(select(events.c.ts_us).where(flt.where)).all()
    assert rows and all(ts >= ref.end_us - 7200 * 1_000_000 for (ts,) in rows)


# ------------------------------------------------------------- highlighting


def test_match_spans() -> None:
    terms = highlight_terms('denied "access denied" secret* actor:alice -bob NOT gone -action:(A OR B) ci-deploy')
    assert match_spans("err AccessDenied; access  denied", terms) == [(10, 16), (18, 32)]
    assert match_spans("secretsmanager GetSecretValue", terms) == [(0, 6)]
    assert match_spans("CI_Deploy", terms) == [(0, 9)]
    assert match_spans("alice", terms) == []
    assert match_spans("alice", terms, field="user") == [(0, 5)]
    assert match_spans("bob gone A", terms, field="action") == []
    assert match_spans("Café CAFÉ", highlight_terms("cafe")) == [(0, 4), (5, 9)]
    assert highlight_terms("((") == []
