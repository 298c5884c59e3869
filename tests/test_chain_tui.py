"""IntegrityScreen: per-target status, failure list, Enter returns the timeline filter."""

from __future__ import annotations

from pathlib import Path

from textual.app import App

from logconsole.analysis.chain.hashchain import ChainOptions, verify_files
from logconsole.analysis.chain.results import store_results
from logconsole.workflows.ingest import TrustOptions, run_ingest
from logconsole.store.db import open_db
from logconsole.tui.screens.integrity import IntegrityScreen
from logconsole.tui.widgets.failure_list import FailureList
from tests import chainfixtures as cf
from tests.tui_support import press, screen_text, settle, sync


class Host(App):
    def __init__(self, engine) -> None:
        super().__init__()
        self.engine = engine
        self.result = "unset"

    def on_mount(self) -> None:
        self.push_screen(IntegrityScreen(self.engine), self._done)

    def _done(self, value) -> None:
        self.result = value


def _case(tmp_path: Path, hostile: bool = False):
    eng = open_db(tmp_path / "case.db")
    ch = cf.make_chain(20)
    recs = [dict(r) for r in ch.records]
    recs[6]["actor"] = "\x1b]52;c;cHduZWQ=\x07[bold red]PWNED[/]" if hostile else "nobody"
    log = ch.write(tmp_path / "app.log", [ch.line(r) for r in recs])
    run_ingest(eng, [str(log)])
    clean = ch.write(tmp_path / "clean.log")
    results = verify_files([str(log)], ChainOptions()) + verify_files([str(clean)], ChainOptions())
    store_results(eng, results)
    return eng, log


@sync
async def test_targets_failures_and_enter_opens_the_failing_event(tmp_path):
    eng, log = _case(tmp_path)
    app = Host(eng)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(app, pilot)
        text = screen_text(app)
        assert "2 target(s): 1 tampered, 1 consistent" in text
        assert "TAMPERED" in text and "CONSISTENT" in text
        scr = app.screen
        assert isinstance(scr, IntegrityScreen)
        # the newest result comes first: clean.log; move to app.log
        first = scr.results[0]
        idx = 0 if first.status == "tampered" else 1
        if idx:
            await press(app, pilot, "down")
        text = screen_text(app)
        assert "modified" in text and "line 7" in text and "seq 7" in text
        await press(app, pilot, "tab")
        assert app.screen.query_one(FailureList).has_focus
        await press(app, pilot, "enter")
    f = scr.results[idx].failures[0]
    if f.event_id is not None:
        assert app.result == f"id:{f.event_id}"
    else:  # the jsonl parser did not map the file: fall back to source/line
        assert app.result.startswith("source:") and "line:7" in app.result
    eng.dispose()


@sync
async def test_escape_dismisses_with_none_and_empty_index(tmp_path):
    eng = open_db(tmp_path / "empty.db")
    app = Host(eng)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        assert "nothing verified yet" in screen_text(app)
        await press(app, pilot, "escape")
    assert app.result is None
    eng.dispose()


@sync
async def test_verify_index_from_the_screen(tmp_path):
    eng, _log = _case(tmp_path)
    app = Host(eng)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "i")
        await settle(app, pilot)
        text = screen_text(app)
        assert "3 target(s)" in text and "INTACT" in text and "index checkpoint" in text
    eng.dispose()


@sync
async def test_hostile_log_text_is_inert(tmp_path):
    from logconsole.analysis.chain.model import TargetResult

    eng = open_db(tmp_path / "case.db")
    evil = "\x1b]52;c;cHduZWQ=\x07[bold red]PWNED[/]\x1b[2J"
    r = TargetResult(f"/evidence/{evil}.log", "hash-chain", records=3, coverage=evil, anchor=evil)
    r.fail("modified", 2, 2, f"prev_hash {evil} names no record", file=f"/evidence/{evil}.log")
    store_results(eng, [r.finish(anchored=False)])
    app = Host(eng)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        text = screen_text(app)
        assert "\x1b" not in text and "\x07" not in text
        assert "[bold red]PWNED[/]" in text  # shown literally, never interpreted as markup
        assert "\\x1b" in text  # the escape is spelled out
    eng.dispose()


@sync
async def test_unverified_sources_are_listed_and_s_runs_the_sequence_check(tmp_path):
    eng = open_db(tmp_path / "case.db")
    p = tmp_path / "audit.log"
    p.write_text("\n".join(cf.auditd_lines(30, skip={1010})) + "\n")
    # --no-verify: the ingest would have run the sequence check itself
    run_ingest(eng, [str(p), str(Path(__file__).parent / "data" / "realdata" / "k8s-audit" / "demo.log")],
               trust=TrustOptions(verify=False))
    app = Host(eng)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        text = screen_text(app)
        assert "nothing verified yet" in text
        assert text.count("NOT VERIFIED") == 2 and "index root" in text
        await press(app, pilot, "s")
        await settle(app, pilot)
        text = screen_text(app)
        assert "TAMPERED" in text and "sequence" in text and text.count("NOT VERIFIED") == 1
        scr = app.screen
        assert scr.results[0].scheme == "sequence" and scr.results[0].failures[0].kind == "seq_gap"
        await press(app, pilot, "tab", "enter")
    f = scr.results[0].failures[0]
    assert f.event_id is not None and app.result == f"id:{f.event_id}"
    eng.dispose()


@sync
async def test_from_the_console_timeline_I_then_enter_opens_the_failing_event(tmp_path):
    from logconsole.tui.app import create_app
    from logconsole.tui.screens.timeline import TimelineScreen

    eng, _log = _case(tmp_path)
    app = create_app(eng, cursor_blink=False, analytics=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, TimelineScreen)
        await press(app, pilot, "I")
        scr = app.screen
        assert isinstance(scr, IntegrityScreen)
        idx = next(i for i, r in enumerate(scr.results) if r.status == "tampered")
        for _ in range(idx):
            await press(app, pilot, "down")
        f = scr.results[idx].failures[0]
        await press(app, pilot, "tab", "enter")
        timeline = app.screen
        assert isinstance(timeline, TimelineScreen)
        expected = f"id:{f.event_id}" if f.event_id is not None else f"source:{scr.results[idx].source_id} line:7"
        assert timeline.current_text == expected
        assert timeline.count == 1
    eng.dispose()


def test_cloudtrail_log_failure_opens_its_source(tmp_path):
    import gzip

    from logconsole.analysis.chain.cloudtrail_digest import CloudTrailOptions, verify_bucket
    from logconsole.analysis.chain.results import latest_results, timeline_filter

    b = cf.make_bucket(tmp_path / "bucket", hours=2)
    data = gzip.decompress(b.logs[1].read_bytes()).replace(b"alice", b"bobby")
    b.logs[1].write_bytes(gzip.compress(data, mtime=0))
    eng = open_db(tmp_path / "case.db")
    run_ingest(eng, [str(p) for p in b.logs])
    store_results(eng, [verify_bucket(str(b.root), CloudTrailOptions(str(b.keys_file)))])
    (r,) = latest_results(eng)
    (f,) = r.failures
    assert f.kind == "modified" and f.source_id is not None
    assert timeline_filter(r, f) == f"source:{f.source_id}"
    eng.dispose()
