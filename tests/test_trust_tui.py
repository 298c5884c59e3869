"""The console shows trust on the timeline: the tampered record marked (glyph, not only colour), the
deleted record as a marker row at its place, the detail view explaining both (issue must-show)."""

from __future__ import annotations

from pathlib import Path

import pytest

from logconsole.store.db import open_db
from logconsole.tui.app import create_app
from logconsole.tui.widgets.event_list import EventList
from tests.tui_support import screen_text, settle, sync

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> str:
    """README's first command alone: `logconsole open sample_data/` ingests, verifies, imports the grants."""
    from logconsole.workflows.ingest import TrustOptions, run_ingest

    db = str(tmp_path_factory.mktemp("trust-tui") / "case.db")
    eng = open_db(db)
    run_ingest(eng, [str(SAMPLE)], trust=TrustOptions(grants=True))  # what `open PATH` runs before the console
    eng.dispose()
    return db


@pytest.fixture
def engine(sample_db):
    eng = open_db(sample_db, create=False)
    yield eng
    eng.dispose()


def _app(engine, flt: str = "format:jsonl"):
    return create_app(engine, cursor_blink=False, analytics=False, initial_filter=flt)


@sync
async def test_timeline_marks_the_forged_record_and_the_deleted_one(engine):
    app = _app(engine)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        lines = screen_text(app).splitlines()
        ev = app.screen.query_one(EventList)
        rows = [ev.query_.row(i) for i in range(ev.row_count)]
        forged = [r for r in rows if r.id > 0 and r.src_ip == "10.0.4.12"]
        real = [r for r in rows if r.id > 0 and r.src_ip == "203.0.113.77" and r.action == "auth.token_login"]
        assert len(forged) == 1 and ev.integrity_of(forged[0].id) == "tampered"
        assert real and ev.integrity_of(real[0].id) == "verified"
        assert sum("✗" in ln for ln in lines) == 1 and any("✓" in ln for ln in lines)  # the glyphs, no colour needed
        marker = [i for i, ln in enumerate(lines) if "1 record deleted here (audit.tampered.jsonl)" in ln]
        assert len(marker) == 1
        # the marker sits right before the record that follows the hole (seq 6)
        assert [r.id < 0 for r in rows[:8]].index(True) == 6


@sync
async def test_detail_explains_integrity_and_markers_open_no_detail(engine):
    app = _app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        ev = app.screen.query_one(EventList)
        forged = next(i for i in range(ev.row_count) if ev.query_.row(i).src_ip == "10.0.4.12")
        ev.move_to(forged)
        await pilot.press("enter")
        await settle(app, pilot)
        text = screen_text(app)
        assert "✗ TAMPERED" in text and "modified" in text and "audit.tampered.jsonl line 2" in text
        assert "original record's hash" in text
        await pilot.press("escape")
        await settle(app, pilot)
        marker = next(i for i in range(ev.row_count) if ev.query_.row(i).id < 0)
        ev.move_to(marker)
        await pilot.press("enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "TimelineScreen"  # a marker is not an event: no detail screen


@sync
async def test_actors_screen_has_the_bundle_grants(engine):
    app = _app(engine, "")
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("A")
        await settle(app, pilot)
        for _ in range(1500):  # the actors table is computed in a worker: wait for its rows, not a fixed time
            text = screen_text(app)
            if "ci-deploy" in text and "BreakGlassAdmin" in text:
                break
            await pilot.pause(0.02)
        assert "no grants imported" not in text
        assert "ci-deploy" in text and "BreakGlassAdmin" in text


def test_snapshot_timeline_with_trust(engine, snap_compare):
    async def run_before(pilot) -> None:
        await settle(pilot.app, pilot)

    assert snap_compare(_app(engine), terminal_size=(100, 24), run_before=run_before)


@sync
async def test_console_verifies_imports_grants_and_reruns(tmp_path):
    """From the console alone: verify a path with options (V), import a grants file (Ctrl+G), re-run (Ctrl+T);
    the timeline follows without a restart."""
    from tests.tui_support import type_text
    from logconsole.workflows.ingest import TrustOptions, run_ingest

    eng = open_db(tmp_path / "c.db")
    run_ingest(eng, [str(SAMPLE / "app")], trust=TrustOptions(verify=False))
    app = _app(eng, "")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        assert "✗" not in screen_text(app)
        await pilot.press("V")
        await settle(app, pilot)
        await type_text(app, pilot, f"{SAMPLE / 'app' / 'audit.tampered.jsonl'} canon=jcs")
        await pilot.press("enter")
        await settle(app, pilot)
        await settle(app, pilot)
        text = screen_text(app)
        assert "✗" in text and "1 record deleted here" in text
        await pilot.press("ctrl+g")
        await settle(app, pilot)
        await type_text(app, pilot, str(SAMPLE / "grants" / "rbac.yaml"))
        await pilot.press("enter")
        await settle(app, pilot)

        with eng.connect() as conn:
            from logconsole.analysis.privileges.grants import list_snapshots

            assert [s["format"] for s in list_snapshots(conn)] == ["k8s-rbac"]
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        await settle(app, pilot)
        assert "✗" in screen_text(app)
    eng.dispose()


@sync
async def test_console_p_on_ci_deploy_never_regrants_the_incident(engine):
    from tests.test_priv_tui import Host, _wait_rows

    from logconsole.tui.screens.actor_detail import ActorDetailScreen
    from logconsole.tui.screens.policy import PolicyScreen

    app = Host(lambda: ActorDetailScreen(engine, "arn:aws:iam::111122223333:user/ci-deploy", provider="aws"))
    async with app.run_test(size=(160, 40)) as pilot:
        await _wait_rows(pilot, app, "#perm-table", 1)
        await pilot.press("p")
        for _ in range(300):
            await pilot.pause(0.05)
            if isinstance(app.screen, PolicyScreen):
                break
        assert isinstance(app.screen, PolicyScreen)
        text = app.screen.text
        policy, _, notes = text.partition("# review before granting")
        for action in ("cloudtrail:StopLogging", "cloudtrail:DeleteTrail", "iam:AttachUserPolicy",
                       "iam:CreateAccessKey", "iam:CreatePolicyVersion"):
            assert action not in policy and action in notes
