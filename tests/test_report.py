"""Findings, the Markdown report (escaping, structure, determinism), readiness and timeline exports."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt

from logconsole.cli import main
from logconsole.ingest.pipeline import ingest_paths
from logconsole.report.escape import fenced, md, md_code, md_table, narrative_block
from logconsole.report.markdown import ReportOptions, build_report
from logconsole.store import annotations as A
from logconsole.store import findings as F
from logconsole.store import queries
from logconsole.store.db import open_db
from logconsole.store.filter import compile_filter

MDP = MarkdownIt("commonmark").enable("table")

HOSTILE = [
    "pipe|in|actor",
    "tick`s and ``double``",
    "<script>alert(1)</script>",
    "[link](http://evil.example/x) ![img](http://evil.example/i.png)",
    "line1\nline2\r\nline3",
    "\x1b[31mred\x1b[0m \x1b]8;;http://evil.example\x07osc\x1b]8;;\x07",
    "*bold* _em_ **strong** ~~strike~~",
    "a\\|b ends with backslash\\",
    "&lt;entity&gt; &amp; $x^2$",
    "# heading-like",
    "1. list-like",
    "- dash item",
    "> quote",
    "http://autolink.example www.example.com",
    "tab\there\u202eRTL\u2028sep",
    "",
]


# ----------------------------------------------------------------- helpers
def tables(md_text: str) -> list[dict]:
    """Every table: header cell count and each body row's cell count and inline tokens."""
    toks = MDP.parse(md_text)
    out, cur, row = [], None, None
    for t in toks:
        if t.type == "table_open":
            cur = {"header": 0, "rows": []}
        elif t.type == "thead_open":
            row = None
        elif t.type == "tr_open":
            row = {"cells": 0, "inline": []}
        elif t.type in ("th_open", "td_open"):
            row["cells"] += 1
        elif t.type == "inline" and row is not None:
            row["inline"].append(t)
        elif t.type == "tr_close":
            if cur["header"] == 0:
                cur["header"] = row["cells"]
            else:
                cur["rows"].append(row)
            row = None
        elif t.type == "table_close":
            out.append(cur)
            cur = None
    return out


def assert_tables_sound(md_text: str, *, min_tables: int = 1) -> list[dict]:
    tbs = tables(md_text)
    assert len(tbs) >= min_tables
    # the number of table rows in the source equals the parsed rows: nothing broke out
    src_rows = [ln for ln in md_text.splitlines() if ln.startswith("| ")]
    parsed = sum(1 + len(t["rows"]) for t in tbs)
    assert parsed == len(src_rows)
    for t in tbs:
        for r in t["rows"]:
            assert r["cells"] == t["header"]
    return tbs


def inline_kinds(tok) -> set[str]:
    return {c.type for c in (tok.children or [])}


def cell_texts(tok) -> str:
    return "".join(c.content for c in (tok.children or []) if c.type in ("text", "code_inline", "softbreak"))


# ----------------------------------------------------------------- escaping
@pytest.mark.parametrize("value", HOSTILE)
def test_md_value_is_one_literal_cell(value: str) -> None:
    table = md_table(["a", "b", "c"], [["x", md(value), "y"]])
    (t,) = tables(table)
    assert t["header"] == 3 and len(t["rows"]) == 1 and t["rows"][0]["cells"] == 3
    cell = t["rows"][0]["inline"][1]
    kinds = inline_kinds(cell)
    assert kinds <= {"text", "softbreak"}, kinds  # no code, emphasis, link, image, html
    text = cell_texts(cell)
    assert "\x1b" not in text and "\n" not in text and "\u202e" not in text
    if value and "\n" not in value and "\x1b" not in value and "\t" not in value and "\u202e" not in value:
        assert text == value.strip()  # rendered text is the value itself


@pytest.mark.parametrize("value", HOSTILE)
def test_md_value_in_running_text_forms_no_block(value: str) -> None:
    toks = MDP.parse("Value: " + md(value) + "\n\n" + md(value) + "\n")
    types = {t.type for t in toks}
    assert types <= {"paragraph_open", "paragraph_close", "inline"}, types
    for t in toks:
        if t.type == "inline":
            assert inline_kinds(t) <= {"text", "softbreak"}


def test_md_code_cannot_be_closed() -> None:
    for v in ["a`b", "``x``", "`lead", "trail`", "|pipe|"]:
        toks = MDP.parse(md_code(v) + "\n")
        inl = [t for t in toks if t.type == "inline"][0]
        assert [c.type for c in inl.children] == ["code_inline"]
        assert inl.children[0].content.strip() == v.strip()


def test_fenced_block_holds_fences() -> None:
    text = "```\nnot the end\n````\n"
    toks = MDP.parse(fenced(text) + "after\n")
    assert toks[0].type == "fence" and toks[0].content == text
    assert any(t.type == "inline" and t.content == "after" for t in toks)


def test_narrative_kept_but_contained() -> None:
    n = "Intro **bold** [ref](https://x.example)\n\n# Big heading\n\n<div>html</div>\n\n```\nunclosed fence"
    out = narrative_block(n) + "\n## Next section\n"
    toks = MDP.parse(out)
    assert not any(t.type in ("html_block", "html_inline") for t in toks)
    heads = [(t.tag, toks[i + 1].content) for i, t in enumerate(toks) if t.type == "heading_open"]
    assert ("h4", "Big heading") in heads and ("h2", "Next section") in heads  # the fence was closed
    inl = [t for t in toks if t.type == "inline"][0]
    assert "strong_open" in inline_kinds(inl) and "link_open" in inline_kinds(inl)  # the investigator's Markdown stays


def test_md_table_rejects_wrong_cell_count() -> None:
    with pytest.raises(ValueError):
        md_table(["a", "b"], [["1"]])


# ----------------------------------------------------------------- fixtures
def _hostile_jsonl(path: Path) -> None:
    lines = []
    for i, v in enumerate(HOSTILE):
        lines.append(json.dumps({
            "ts": f"2026-03-14T01:{i:02d}:00.250Z", "actor": v or "empty", "action": f"do|{i}`",
            "resource": v[::-1] or "r", "outcome": "failure" if i % 3 == 0 else "success",
            "src_ip": "203.0.113.9", "msg": v,
        }))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture()
def hostile_db(tmp_path: Path):
    src = tmp_path / "evidence" / "weird|name`.jsonl"
    src.parent.mkdir()
    _hostile_jsonl(src)
    eng = open_db(str(tmp_path / "case.db"))
    res = ingest_paths(eng, [str(src)], fmt="jsonl")
    assert res.errors == [] and res.total("events") == len(HOSTILE)
    with eng.begin() as conn:
        ids = [e["id"] for e in queries.search(conn, None, limit=None)]
        A.set_note(conn, ids[1], "note with | pipe and `tick` and\nnewline <b>x</b>")
        A.add_tag(conn, ids[1], "ev|il")
        A.set_mark(conn, ids[2], True)
        A.set_mark(conn, ids[4], True)
        F.create_finding(conn, "Title with | pipe *and* `code` <i>", severity="high",
                         narrative="Narrative with a table-breaker |\n\n- item", query="outcome:failure")
        F.create_finding(conn, "Marked ones", severity="critical", event_ids=A.marked_event_ids(conn))
        F.create_finding(conn, "Everything", severity="low", query="format:jsonl")
    return eng, tmp_path


def _report(eng, **kw) -> str:
    return build_report(eng, ReportOptions(title=kw.pop("title", "Hostile"), at_us=kw.pop("at_us", 1_773_500_000_000_000), **kw))


# ----------------------------------------------------------------- report
def test_report_with_hostile_records_keeps_every_table_intact(hostile_db) -> None:
    eng, tmp = hostile_db
    text = _report(eng, evidence_root=str(tmp / "evidence"))
    tbs = assert_tables_sound(text, min_tables=8)
    toks = MDP.parse(text)
    assert not any(t.type in ("html_block", "html_inline") for t in toks)
    for t in toks:
        if t.type == "inline":
            assert "image" not in inline_kinds(t)
            for c in t.children or []:
                if c.type == "link_open":
                    pytest.fail(f"a link was formed: {t.content!r}")
    assert "\x1b" not in text and "\u202e" not in text and "\r" not in text
    # the actor cells of the finding tables render to the one-line values
    timeline = [t for t in tbs if t["header"] == 10]
    assert timeline
    actors = {cell_texts(r["inline"][3]) for t in timeline for r in t["rows"]}
    assert "pipe|in|actor" in actors and "<script>alert(1)</script>" in actors
    assert "line1⏎line2⏎line3" in actors
    notes = {cell_texts(r["inline"][9]) for t in timeline for r in t["rows"]}
    assert any("note with | pipe and `tick` and⏎newline <b>x</b>" in n and "tags: ev|il" in n for n in notes)


def test_report_sections_in_order_and_severity_order(hostile_db) -> None:
    eng, _ = hostile_db
    text = _report(eng, title="Case 7")
    heads = [ln for ln in text.splitlines() if ln.startswith("## ")]
    assert heads == ["## 2. Summary", "## 3. Evidence and integrity", "## 4. Method", "## 5. Findings",
                     "## 6. Actors involved", "## 7. Gaps and limitations", "## 8. Detections"]
    assert text.startswith("# Case 7\n")
    assert "| Generated at (UTC) | 2026-03-14T14:53:20Z |" in text
    f_heads = [ln for ln in text.splitlines() if ln.startswith("### F")]
    assert [h.split(".")[0] for h in f_heads] == ["### F2", "### F1", "### F3"]  # critical, high, low
    assert "| critical | 1 |" in text and "| high | 1 |" in text and "| low | 1 |" in text


def test_report_is_deterministic_and_at_pins_it(hostile_db) -> None:
    eng, _ = hostile_db
    a = _report(eng, at_us=1_700_000_000_000_000)
    b = _report(eng, at_us=1_700_000_000_000_000)
    c = _report(eng, at_us=1_700_000_001_000_000)
    assert a == b
    assert a != c and a.replace("2023-11-14T22:13:20Z", "X") == c.replace("2023-11-14T22:13:21Z", "X")


def test_long_timeline_is_cut_with_count_and_query(hostile_db) -> None:
    eng, _ = hostile_db
    text = build_report(eng, ReportOptions(at_us=0, head_rows=3, tail_rows=2))
    # finding 3 has 16 events: 3 + gap + 2 rows
    sec = text.split("### F3.")[1].split("## 6.")[0]
    rows = [ln for ln in sec.splitlines() if ln.startswith("| ")][1:]
    assert len(rows) == 6
    assert rows[3].startswith("| … | 11 more events (rows 4-14)")
    assert rows[-1].startswith("| 16 |")
    assert "`logconsole finding show 3 --all`" in sec and "`logconsole search finding:3 -n 0`" in sec
    assert_tables_sound(text)


def test_report_without_other_areas_says_not_available(hostile_db) -> None:
    eng, _ = hostile_db
    text = _report(eng)
    assert "Chain verification: not available" in text or "### 3.2 Verification" in text
    assert "Grants: not available" in text  # nothing imported in this index


def test_finding_events_survive_reingest(tmp_path: Path) -> None:
    src = tmp_path / "a.jsonl"
    _hostile_jsonl(src)
    db = tmp_path / "x.db"
    eng = open_db(str(db))
    ingest_paths(eng, [str(src)], fmt="jsonl")
    with eng.begin() as conn:
        ids = [e["id"] for e in queries.search(conn, None, limit=3)]
        fid = F.create_finding(conn, "t", event_ids=ids)
        # simulate a re-ingest: events get new ids, content keys stay
        conn.exec_driver_sql("UPDATE events SET id = id + 1000")
        assert len(F.finding_event_ids(conn, fid)) == 3
        assert F.missing_attached(conn, fid) == 0


def test_finding_filter_field(hostile_db) -> None:
    eng, _ = hostile_db
    with eng.connect() as conn:
        saved = F.saved_queries(conn)
        assert queries.count(conn, compile_filter("finding:2", saved_queries=saved).where) == 2
        assert (queries.count(conn, compile_filter("finding:1", saved_queries=saved).where)
                == queries.count(conn, compile_filter("outcome:failure").where))
        assert queries.count(conn, compile_filter("finding:*", saved_queries=saved).where) == len(HOSTILE)
        assert queries.count(conn, compile_filter("finding:99", saved_queries=saved).where) == 0
    with pytest.raises(Exception):
        compile_filter("finding:abc")


def test_model_validation_and_ordering(hostile_db) -> None:
    eng, _ = hostile_db
    with eng.begin() as conn:
        with pytest.raises(F.FindingError):
            F.create_finding(conn, "x", severity="urgent", query="format:jsonl")
        with pytest.raises(F.FindingError):
            F.create_finding(conn, "  ", query="format:jsonl")
        with pytest.raises(F.FindingError, match="position"):
            F.create_finding(conn, "x", query="actor:")
        with pytest.raises(F.FindingError):
            F.attach_events(conn, 1, [999999])
        F.move_finding(conn, 3, 1)
        assert [f["id"] for f in F.list_findings(conn, with_counts=False)] == [3, 1, 2]
        F.delete_finding(conn, 1)
        assert [(f["id"], f["position"]) for f in F.list_findings(conn, with_counts=False)] == [(3, 1), (2, 2)]
        F.update_finding(conn, 2, title="New", severity="info", narrative="n", query="outcome:success")
        row = F.get_finding_row(conn, 2)
        assert (row["title"], row["severity"], row["narrative"], row["query"]) == ("New", "info", "n", "outcome:success")


# ----------------------------------------------------------------- CLI
def run(*args, input=None):
    r = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    return r


def test_finding_cli_roundtrip(hostile_db) -> None:
    eng, tmp = hostile_db
    db = str(tmp / "case.db")
    r = run("finding", "add", "--db", db, "-t", "From marks", "-s", "medium", "--marked", "--note", "@-", "--json", input="typed *narrative*\n")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["events"] == 2 and d["attached"] == 2 and d["narrative"] == "typed *narrative*"
    r = run("finding", "list", "--db", db, "--json")
    assert [f["id"] for f in json.loads(r.output)["findings"]] == [1, 2, 3, 4]
    r = run("finding", "show", "4", "--db", db)
    assert r.exit_code == 0 and "From marks" in r.output and "2 event(s)" in r.output
    r = run("finding", "show", "1", "--db", db, "--json")
    d = json.loads(r.output)
    assert d["query"] == "outcome:failure" and len(d["event_list"]) == d["events"]
    assert run("finding", "edit", "4", "--db", db, "-s", "critical").exit_code == 0
    assert run("finding", "move", "4", "1", "--db", db).exit_code == 0
    r = run("finding", "attach", "4", "--db", db, "--query", "outcome:failure")
    assert r.exit_code == 0 and "attached" in r.output
    r = run("finding", "detach", "4", "--db", db, "--event", "1")
    assert r.exit_code == 0
    assert run("finding", "delete", "4", "--db", db).exit_code == 0
    r = run("finding", "show", "4", "--db", db)
    assert r.exit_code == 2 and "no finding 4" in r.output
    r = run("finding", "add", "--db", db, "-t", "x", "-q", "bogus:1")
    assert r.exit_code == 2 and "position" in r.output
    r = run("finding", "add", "--db", db, "-t", "x")
    assert r.exit_code == 2 and "--query" in r.output


def test_export_cli_markdown_file_and_sidecar(hostile_db) -> None:
    eng, tmp = hostile_db
    db = str(tmp / "case.db")
    out = tmp / "report.md"
    r = run("export", "--db", db, "-o", str(out), "--title", "T", "--at", "2026-03-15T09:00:00Z",
            "--evidence-root", str(tmp / "evidence"))
    assert r.exit_code == 0, r.output
    text = out.read_text(encoding="utf-8")
    import hashlib

    assert (tmp / "report.md.sha256").read_text().split()[0] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert "| Generated at (UTC) | 2026-03-15T09:00:00Z |" in text
    assert "weird\\|name\\`.jsonl" in text  # the evidence file name is escaped too
    assert_tables_sound(text)
    r2 = run("export", "--db", db, "--title", "T", "--at", "2026-03-15T09:00:00Z", "--evidence-root", str(tmp / "evidence"))
    assert r2.output == text
    assert run("export", "--db", db, "--at", "yesterday").exit_code == 2


def test_export_timeline_formats(hostile_db) -> None:
    eng, tmp = hostile_db
    db = str(tmp / "case.db")
    r = run("export", "--db", db, "--output", "csv", "--query", "outcome:failure")
    rows = list(csv.DictReader(io.StringIO(r.output)))
    assert len(rows) == 6 and rows[0]["outcome"] == "failure"
    assert [x["time"] for x in rows] == sorted(x["time"] for x in rows)
    # formula injection is neutralised; the JSON outputs keep exact values
    r = run("export", "--db", db, "--output", "csv", "--query", 'actor:"- dash item"')
    (row,) = list(csv.DictReader(io.StringIO(r.output)))
    assert row["actor"] == "'- dash item"
    r = run("export", "--db", db, "--output", "jsonl", "--finding", "2", "--raw")
    objs = [json.loads(x) for x in r.output.splitlines()]
    assert len(objs) == 2 and all("raw" in o for o in objs)
    r = run("export", "--db", db, "--output", "timesketch", "--query", "format:jsonl")
    objs = [json.loads(x) for x in r.output.splitlines()]
    assert len(objs) == len(HOSTILE)
    for o in objs:
        assert {"message", "datetime", "timestamp", "timestamp_desc"} <= set(o)
        assert o["datetime"].endswith("+00:00") and isinstance(o["timestamp"], int)
    assert any(o.get("tag") == ["ev|il"] for o in objs)
    assert run("export", "--db", db, "--output", "csv", "--query", "x", "--finding", "1").exit_code == 2


def test_readiness_scores(hostile_db) -> None:
    eng, tmp = hostile_db
    db = str(tmp / "case.db")
    r = run("readiness", "--db", db, "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    (s,) = d["sources"]
    assert s["comprehensive"] == {"success_and_failure": True, "resource_actions": True}
    assert s["contextual"]["ms_timestamps"] == 1.0 and s["contextual"]["actor_id"] == 1.0
    assert s["tamper"] == "absent"
    # 2 comprehensive + 0 tamper + 3 contextual = 5 of 7
    assert s["points"] == 5.0 and s["score"] == 71 and s["grade"] == "partial"
    assert d["grants"] is None
    r = run("readiness", "--db", db)
    assert r.exit_code == 0 and "jsonl" in r.output


def test_report_on_an_empty_index(tmp_path: Path) -> None:
    eng = open_db(str(tmp_path / "empty.db"))
    text = build_report(eng, ReportOptions(at_us=0))
    assert "No sources ingested" in text and "No findings recorded" in text
    assert_tables_sound(text, min_tables=2)
    heads = [ln for ln in text.splitlines() if ln.startswith("## ")]
    assert len(heads) == 7  # 2. Summary .. 8. Detections


# ----------------------------------------------------------------- property: any text stays one literal cell
from hypothesis import example, given, settings
from hypothesis import strategies as st

_ALPHABET = st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from(list("|`*_[]()<>!&~$#\\-+=.:/ \n\r\t\x1b\x07"))
#: any text, and short runs of block-marker characters (---, ===, "1. ", "    ", "> ") that only matter at a line start
_VALUES = st.text(alphabet=_ALPHABET, max_size=60) | st.text(alphabet=st.sampled_from(list("-=*_+#>1.) \t")), max_size=8)


@settings(max_examples=300, deadline=None)
@given(_VALUES)
def test_md_any_text_is_one_literal_cell(value: str) -> None:
    from logconsole.store.sanitize import one_line

    table = md_table(["a", "b", "c"], [["x", md(value), "y"]])
    (t,) = tables(table)
    assert t["header"] == 3 and len(t["rows"]) == 1 and t["rows"][0]["cells"] == 3
    cell = t["rows"][0]["inline"][1]
    assert inline_kinds(cell) <= {"text", "softbreak"}
    rendered = cell_texts(cell)
    # what a reader sees is the one-line inert form of the value (cells are trimmed; CommonMark
    # replaces U+0000 and decodes nothing else because & is escaped)
    assert rendered.strip() == one_line(value, 200).replace("\x00", "\ufffd").strip()


@settings(max_examples=300, deadline=None)
@given(_VALUES)
def test_md_any_text_forms_no_markdown_in_running_text(value: str) -> None:
    toks = MDP.parse("Value: " + md(value) + "\n\n" + md(value) + "\n")
    assert {t.type for t in toks} <= {"paragraph_open", "paragraph_close", "inline"}
    for t in toks:
        if t.type == "inline":
            assert inline_kinds(t) <= {"text", "softbreak"}, (value, t.children)


def test_actors_section_counts_each_event_once(hostile_db) -> None:
    eng, _ = hostile_db
    text = _report(eng)
    sec = text.split("## 6. Actors involved", 1)[1].split("### Privilege summary", 1)[0]
    (t,) = tables(sec)
    total = sum(int(cell_texts(r["inline"][2]).replace(",", "")) for r in t["rows"])
    assert total == len(HOSTILE)  # findings 1 and 3 overlap; each event counted once
    findings_col = {cell_texts(r["inline"][0]): cell_texts(r["inline"][3]) for r in t["rows"]}
    assert findings_col["empty"] == "F1, F3"  # HOSTILE[-1] == "" -> actor "empty", a failure (index 15)


def test_rehash_detects_changed_and_missing_evidence(hostile_db) -> None:
    eng, tmp = hostile_db
    text = build_report(eng, ReportOptions(at_us=0, rehash=True))
    assert "all match the hashes taken at ingest" in text and "| same |" in text
    src = tmp / "evidence" / "weird|name`.jsonl"
    src.write_text(src.read_text() + "\n")
    text = build_report(eng, ReportOptions(at_us=0, rehash=True))
    assert "CHANGED (now " in text and "1 file(s) differ" in text
    src.unlink()
    text = build_report(eng, ReportOptions(at_us=0, rehash=True))
    assert "| not found |" in text
    assert_tables_sound(text)
    assert "not hashed again" in build_report(eng, ReportOptions(at_us=0))


def test_finding_from_saved_view(hostile_db) -> None:
    eng, tmp = hostile_db
    db = str(tmp / "case.db")
    with eng.begin() as conn:
        A.save_view(conn, "fails", "outcome:failure")
    r = run("finding", "add", "--db", db, "-t", "From view", "--view", "fails", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["query"] == "outcome:failure" and d["events"] == 6
    r = run("finding", "add", "--db", db, "-t", "x", "--view", "nope")
    assert r.exit_code == 2 and "no saved view 'nope'" in r.output and "fails" in r.output


def test_report_and_readiness_over_every_real_sample(tmp_path: Path) -> None:
    """Every format's real sample through readiness and the report: no crash, tables intact."""
    from logconsole.report.readiness import readiness

    real = Path(__file__).resolve().parent / "data" / "realdata"
    folders = sorted(p for p in real.iterdir() if p.is_dir() and p.name not in ("LICENSES",))
    assert len(folders) >= 5
    eng = open_db(str(tmp_path / "real.db"))
    ingest_paths(eng, [str(p) for p in folders])
    with eng.begin() as conn:
        F.create_finding(conn, "Failures everywhere", severity="medium", query="outcome:failure")
    res = readiness(eng)
    formats = {f["format"] for f in res["formats"]}
    assert {"cloudtrail", "k8s-audit"} <= formats and len(formats) >= 5
    for s in res["sources"]:
        assert 0 <= s["score"] <= 100 and s["events"] >= 0
    text = build_report(eng, ReportOptions(at_us=0, evidence_root=str(real)))
    assert_tables_sound(text, min_tables=6)
    assert not any(t.type in ("html_block", "html_inline") for t in MDP.parse(text))


def test_a_filter_that_no_longer_compiles_does_not_break_the_report(hostile_db) -> None:
    eng, _ = hostile_db
    with eng.begin() as conn:
        conn.execute(F.findings.update().where(F.findings.c.id == 1).values(query="nosuchfield:1"))
        rows = F.list_findings(conn)
    assert rows[0]["events"] == 0 and "query_error" in rows[0]
    text = _report(eng)
    assert "**Filter error:**" in text
    assert_tables_sound(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("`~<>ab/! -\n*#1.")), max_size=50))
@example("``<a>`")  # an unmatched double backtick is no code span: its "<a>" was left as HTML
def test_narrative_never_yields_html(text: str) -> None:
    toks = MDP.parse(narrative_block(text) + "\n## After\n")
    kinds = {t.type for t in toks} | {c.type for t in toks if t.type == "inline" for c in (t.children or [])}
    assert "html_inline" not in kinds and "html_block" not in kinds
    assert toks[-3].type == "heading_open" and toks[-2].content == "After"


def test_export_to_an_unwritable_path_is_a_one_line_error(hostile_db) -> None:
    eng, tmp = hostile_db
    db = str(tmp / "case.db")
    for args in (["-o", str(tmp / "no" / "dir" / "r.md")], ["--output", "csv", "-o", str(tmp / "no" / "x.csv")]):
        r = run("export", "--db", db, *args)
        assert r.exit_code == 2 and "cannot write" in r.output and "Traceback" not in r.output
