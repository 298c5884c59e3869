"""Follow growing logs: ingest what is appended, as it is appended.

``logconsole ingest --follow PATH...`` (and the console's follow mode) call
:func:`follow`.  Every *interval* it looks at each followed file (a directory is
walked again each time, so new files and rotated ``.gz`` files are picked up) and
ingests those whose size, modification time or identity changed since the last
look, through the same pipeline as any ingest:

* a file that grew is continued from the end of what was indexed (its source
  records each appended byte range: offset, size, SHA-256);
* a last line without its newline waits for it (``complete_lines``);
* a file truncated or replaced under the same name is reported (``changed``), as
  any ingest reports it, and ingested again as a new source;
* a file renamed by rotation is a new path: what it repeats is counted as
  duplicates, so the accounting stays exact.

New events are searchable as soon as their batch is committed (a search scans
what the full-text index has not caught up with); the full-text index catches up
a little after every tick that added events (at most *fulltext_budget* seconds,
in small batches), so it stays close behind without ever holding a tick up.  The steps after an ingest (checkpoint, usage aggregates,
...) run when the follow stops.  Stopping (Ctrl-C, *should_stop*) leaves a
consistent index: a tick is either committed or left for the next run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from logconsole.ingest.pipeline import IngestResult, index_files, ingest_files, writing
from logconsole.ingest.reader import expand_paths
from logconsole.store import dialect, fulltext_index
from logconsole.workflows.ingest import FULLTEXT_STEP, INGEST_STEPS, Step, StepContext, run_steps, without


@dataclass
class Tick:
    """What one look at the followed paths ingested."""

    at: float
    files: list[str]
    result: IngestResult


@dataclass
class FollowResult:
    ticks: int = 0
    events: int = 0
    records: int = 0
    changed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"ticks": self.ticks, "records": self.records, "events": self.events, "changed": self.changed,
                "errors": self.errors, "warnings": self.warnings}


FULLTEXT_BATCH = 500  # events per full-text catch-up batch while following (the budget is checked between them)


def _signature(path: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _what_changed(path: str, before: tuple[int, int, int, int] | None,
                  now: tuple[int, int, int, int] | None) -> str | None:
    """A followed file that did not simply grow: truncated in place, or replaced (a new
    file under the same name: rotation, or rewritten by another program)."""
    if before is None or now is None:
        return None
    if (before[0], before[1]) != (now[0], now[1]):
        return f"{path}: replaced by another file (rotated or rewritten); the new file is ingested as a new source"
    if now[2] < before[2]:
        return (f"{path}: truncated from {before[2]:,} to {now[2]:,} bytes; what it holds now is ingested as a "
                "new source (the records indexed before are kept)")
    return None


def _files(paths: Sequence[str], own: set[tuple[int, int]]) -> list[str]:
    return expand_paths(list(paths), [], own)


def follow(
    engine: Engine,
    paths: Iterable[str],
    *,
    fmt: str | None = None,
    options: dict[str, Any] | None = None,
    interval: float = 0.25,
    fulltext_every: float = 0.0,
    fulltext_budget: float = 0.15,
    on_tick: Callable[[Tick], None] | None = None,
    on_change: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    steps: Sequence[Step] = INGEST_STEPS,
) -> FollowResult:
    """Follow *paths* until *should_stop* returns true or the process is interrupted
    (KeyboardInterrupt ends the follow cleanly); then run *steps* once."""
    paths = list(paths)
    out = FollowResult()
    seen: dict[str, tuple[int, int, int, int] | None] = {}
    last_fulltext = time.monotonic()
    added_any = False
    total = IngestResult(db="")
    location = dialect.of(engine).location(engine)
    try:
        while should_stop is None or not should_stop():
            changed = []
            # the index's own files, looked up each time: a removed -wal/-journal frees its
            # inode number for the next new file
            for f in _files(paths, index_files(location)):
                sig = _signature(f)
                before = seen.get(f)
                if sig != before:
                    changed.append(f)
                    seen[f] = sig
                    note = _what_changed(f, before, sig)
                    if note:
                        out.changed.append(note)
                        if on_change is not None:
                            on_change(note)
            if changed:
                with writing(engine):
                    res = ingest_files(engine, changed, fmt=fmt, options=options, complete_lines=True)
                    if res.added:
                        added_any = True
                    now = time.monotonic()
                    if now - last_fulltext >= fulltext_every:
                        # bounded: a long catch-up would delay the next tick (follow latency)
                        fulltext_index.catch_up(engine, batch=FULLTEXT_BATCH,
                                                deadline=now + fulltext_budget if fulltext_budget else None)
                        last_fulltext = now
                total.sources.extend(res.sources)
                out.ticks += 1
                out.events += res.total("events")
                out.records += res.total("records")
                out.changed.extend(res.changed)
                out.errors.extend(e for e in res.errors if e not in out.errors)
                out.warnings.extend(w for w in res.warnings if "continue from there" not in w
                                    and "continued source" not in w)
                for msg in res.changed:  # look again next time: it is ingested anew
                    seen.pop(msg.split(":", 1)[0], None)
                if on_tick is not None:
                    on_tick(Tick(time.time(), changed, res))
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    if added_any:
        with writing(engine):
            run_steps(steps, StepContext(engine, total, dict(options or {})))
    out.warnings.extend(total.warnings)
    return out


__all__ = ["FULLTEXT_STEP", "FollowResult", "Tick", "follow", "without"]
