"""The Detections screen (D): pilot tests and an 80x24 snapshot; the timeline's "!" mark."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from logconsole.store.schema import sources
from logconsole.tui.app import create_app

from tests.tui_support import T0, S, build_index, ct_record, screen_text, settle, standard_records


def _records() -> list[dict]:
    recs = standard_records(60)
    for i, name in enumerate(("StopLogging", "DeleteTrail")):
        r = ct_record(900 + i, T0 + (100 + i) * S, name=name)
        r["eventSource"] = "cloudtrail.amazonaws.com"
        recs.append(r)
    r = ct_record(950, T0 + 200 * S, name="AttachUserPolicy")
    r["eventSource"] = "iam.amazonaws.com"
    r["requestParameters"] = {"userName": "bob", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
    recs.append(r)
    return recs


@pytest.fixture
def det_engine(tmp_path):
    _, eng = build_index(tmp_path, _records())  # the ingest workflow runs the shipped rules
    with eng.begin() as conn:
        conn.execute(update(sources).values(path="/evidence/case/cloudtrail.json", ingested_at=0))
    yield eng
    eng.dispose()


def _app(engine):
    return create_app(engine, cursor_blink=False, analytics=False)


async def _open(app, pilot):
    await settle(app, pilot)
    await pilot.press("D")
    await settle(app, pilot)


def test_detections_screen_lists_rules_and_opens_events(det_engine):
    import asyncio

    async def run():
        app = _app(det_engine)
        async with app.run_test(size=(80, 24)) as pilot:
            await _open(app, pilot)
            assert type(app.screen).__name__ == "DetectionsScreen"
            text = screen_text(app)
            assert "CloudTrail Logging Stopped or Trail Deleted" in text
            assert "AWS AdministratorAccess Policy Attached" in text
            assert "logconsole contributors" in text  # the author (DRL: kept with every match)
            assert "high 3" in text
            await pilot.press("enter")
            await settle(app, pilot)
            assert type(app.screen).__name__ == "TimelineScreen"
            # the rule's 2 events; each is preceded by its "logging stopped" marker row
            assert "2 of 63 events" in screen_text(app)
            assert app.screen.events.row_count == 4
            assert "!" in screen_text(app)  # the rule hits are marked in the list

    asyncio.run(run())


def test_detections_f_makes_a_finding(det_engine):
    import asyncio

    from logconsole.store.findings_schema import findings, finding_events

    async def run():
        app = _app(det_engine)
        async with app.run_test(size=(80, 24)) as pilot:
            await _open(app, pilot)
            await pilot.press("f")
            await settle(app, pilot)

    asyncio.run(run())
    with det_engine.connect() as conn:
        rows = conn.execute(select(findings.c.title, findings.c.severity, findings.c.narrative)).fetchall()
        n = conn.execute(select(finding_events)).fetchall()
    assert [(r.title, r.severity) for r in rows] == [("Sigma: CloudTrail Logging Stopped or Trail Deleted", "high")]
    assert "logconsole contributors" in rows[0].narrative and len(n) == 2


def test_snapshot_detections_80x24(det_engine, snap_compare):
    async def run_before(pilot) -> None:
        await _open(pilot.app, pilot)

    assert snap_compare(_app(det_engine), terminal_size=(80, 24), run_before=run_before)
