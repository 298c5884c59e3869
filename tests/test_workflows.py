"""The ingest workflow: ingest, then the explicit steps, each reported when it fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from logconsole.store.db import open_db
from logconsole.store.integrity_schema import index_checkpoints
from logconsole.workflows import ingest as wf
from logconsole.workflows.ingest import INGEST_STEPS, Step, StepContext, run_ingest

K8S = Path(__file__).parent / "data" / "realdata" / "k8s-audit" / "demo.log"


def _checkpoints(eng) -> int:
    with eng.connect() as conn:
        return conn.execute(select(func.count()).select_from(index_checkpoints)).scalar_one()


def test_steps_are_listed_in_order():
    assert [s.name for s in INGEST_STEPS] == ["checkpoint", "privilege-usage", "verify", "grants", "detections", "fulltext", "identity-graph"]


def test_steps_run_after_an_ingest_that_added_sources(tmp_path):
    eng = open_db(str(tmp_path / "i.db"))
    seen = []
    res = run_ingest(eng, [str(K8S)], step_progress=seen.append)
    assert res.added and not res.warnings
    assert seen == ["checkpoint", "privilege-usage", "verify", "grants", "detections", "fulltext", "identity-graph"]
    assert _checkpoints(eng) == 1
    # nothing new: no step runs
    again = run_ingest(eng, [str(K8S)], step_progress=seen.append)
    assert not again.added and seen == ["checkpoint", "privilege-usage", "verify", "grants", "detections", "fulltext", "identity-graph"]
    assert _checkpoints(eng) == 1


def test_a_failing_step_is_reported_and_the_others_run(tmp_path):
    eng = open_db(str(tmp_path / "f.db"))
    ran = []

    def boom(ctx: StepContext) -> None:
        raise OSError("disk on fire")

    steps = (Step("first", boom, "first thing not done", "redo it later"),
             Step("second", lambda ctx: ran.append(ctx.result.total("events")), "x", "y"))
    res = run_ingest(eng, [str(K8S)], steps=steps)
    assert res.warnings == ["first thing not done (OSError: disk on fire); redo it later"]
    assert ran == [res.total("events")] and ran[0] > 0
    with eng.connect() as conn:  # what was indexed stays
        assert conn.exec_driver_sql("SELECT count(*) FROM events").scalar() == ran[0]


def test_the_checkpoint_step_failure_keeps_its_warning(tmp_path, monkeypatch):
    def fail(engine, trigger):
        raise RuntimeError("no room")

    monkeypatch.setattr(wf, "record_checkpoint", fail)
    res = run_ingest(open_db(str(tmp_path / "c.db")), [str(K8S)])
    assert res.warnings == ["index checkpoint not recorded (RuntimeError: no room); `logconsole verify --index` "
                            "will report the events as added after the last checkpoint"]


def test_ingest_layer_never_imports_analysis():
    """ingest/ is below analysis/: importing the pipeline loads no analysis module."""
    code = ("import sys, logconsole.ingest.pipeline, logconsole.ingest.parallel; "
            "print(sorted(m for m in sys.modules if m.startswith('logconsole.analysis')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.replace("'", '"')) == []


def test_steps_stopped_after_the_rows_run_at_the_next_ingest(tmp_path):
    """An ingest stopped after its rows (Ctrl-C, quitting the console that ingests, a kill) leaves its
    steps pending in the index; the next ingest runs them, although every file is already indexed."""
    import pytest

    eng = open_db(str(tmp_path / "i.db"))
    ran: list[str] = []

    def step(name: str, stop: bool = False) -> Step:
        def run(ctx: StepContext) -> None:
            if stop:
                raise KeyboardInterrupt
            ran.append(name)
        return Step(name, run, f"{name} missing", "run it by hand")

    first = (step("a"), step("b", stop=True), step("c"))
    with pytest.raises(KeyboardInterrupt):
        run_ingest(eng, [str(K8S)], steps=first)
    assert ran == ["a"]
    assert wf.pending_steps(eng) == {"steps": ["b", "c"], "paths": [str(K8S)]}
    res = run_ingest(eng, [str(K8S)], steps=(step("a"), step("b"), step("c")))
    assert not res.added and ran == ["a", "b", "c"]
    assert any("left undone: b, c" in n for n in res.notes)
    assert wf.pending_steps(eng) == {}
    run_ingest(eng, [str(K8S)], steps=(step("a"), step("b"), step("c")))
    assert ran == ["a", "b", "c"]  # nothing pending, nothing new: nothing runs
