"""The ingest workflow: ingest, then the steps that follow every ingest.

``logconsole ingest``, ``logconsole open PATH...`` and the console all call
:func:`run_ingest`.  It holds the index for writing (the single-writer lock,
:func:`logconsole.ingest.pipeline.writing`), ingests the paths, and then, if any
source was added, runs :data:`INGEST_STEPS` in order:

1. ``checkpoint``: the index's chain-of-custody checkpoint
   (:func:`logconsole.analysis.chain.custody.record_checkpoint`);
2. ``privilege-usage``: the per-source privilege usage aggregates
   (:func:`logconsole.analysis.privileges.usage.precompute`), so that the first
   ``logconsole actors`` after an ingest is as fast as the next ones;
3. ``detections``: the shipped Sigma rules and the rule paths of earlier
   ``logconsole rules run --rules`` over the new events
   (:func:`logconsole.analysis.rules.engine.rerun_after_ingest`);
4. ``fulltext``: the full-text index catches up with the new events
   (:func:`logconsole.store.fulltext_index.catch_up`); the events were searchable
   before it (by a scan of the not-yet-indexed tail), ``ingest --defer-fulltext``
   leaves it to ``logconsole fulltext`` or the console.
5. ``identity-graph``: the identity graph over the new events
   (:func:`logconsole.analysis.identity.build.build`): aliases, links and evidence,
   each event's primary alias (``docs/identity.md``).

A step that fails is reported as a warning of the result (saying what it costs)
and the next step still runs: what the ingest indexed is already committed and
stays.  To add a step, write a function ``fn(ctx: StepContext) -> None`` and add
a :class:`Step` to :data:`INGEST_STEPS` (``docs/architecture.md``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, delete

from logconsole.analysis.chain.auto import VerifyOptions, case_file_options, summary, verify_ingested
from logconsole.analysis.chain.custody import record_checkpoint
from logconsole.analysis.identity.build import build as build_identity_graph
from logconsole.analysis.chain.trust import refresh
from logconsole.analysis.privileges.bundle import import_found
from logconsole.analysis.privileges.usage import precompute
from logconsole.analysis.rules.engine import rerun_after_ingest
from logconsole.ingest.batches import BATCH_SIZE
from logconsole.ingest.pipeline import MAX_QUARANTINED, IngestResult, ProgressFn, SourceFn, ingest_files, writing
from logconsole.store import dialect, fulltext_index
from logconsole.store.db import meta_get, meta_set
from logconsole.store.schema import events, meta

#: the name of the step that fills the full-text index behind the ingest
FULLTEXT_STEP = "fulltext"

#: told the name of each step as it starts (a progress line can show it)
StepProgress = Callable[[str], None]


@dataclass
class StepContext:
    """What a step gets: the index, what the ingest did, the ingest's options."""

    engine: Engine
    result: IngestResult
    #: the format options of the ingest (``--map``, ``--year``, ``--tz`` ...)
    options: dict[str, Any] = field(default_factory=dict)
    progress: StepProgress | None = None
    #: the paths given to the ingest (files and directories), for steps that look around them
    paths: list[str] = field(default_factory=list)
    trust: TrustOptions = field(default_factory=lambda: TrustOptions())


@dataclass
class TrustOptions:
    """What the trust steps do: verify what can be verified (``--no-verify`` turns it off; options
    from the command line, else a case file, see :mod:`logconsole.analysis.chain.auto`), and import
    the grants files found among the ingested paths (``open`` does, ``--no-grants`` skips it)."""

    verify: bool = True
    verify_options: VerifyOptions | None = None
    grants: bool = False


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[StepContext], None]
    #: what is missing when the step fails ...
    missing: str
    #: ... and what makes up for it (the warning says both)
    recovery: str


def _checkpoint(ctx: StepContext) -> None:
    record_checkpoint(ctx.engine, "ingest")


def _privilege_usage(ctx: StepContext) -> None:
    precompute(ctx.engine, ctx.result)


def _detections(ctx: StepContext) -> None:
    rerun_after_ingest(ctx.engine)


def _fulltext(ctx: StepContext) -> None:
    fulltext_index.catch_up(ctx.engine)


def _identity_graph(ctx: StepContext) -> None:
    build_identity_graph(ctx.engine)


def _verify(ctx: StepContext) -> None:
    """Verify the hash chains, CloudTrail digests and sequence numbers just ingested; refresh each
    event's integrity and the gap markers (also with ``--no-verify``: logging-stopped intervals
    come from the events)."""
    if not ctx.trust.verify:
        refresh(ctx.engine)
        return
    case, case_file = case_file_options(ctx.paths)
    opts = (ctx.trust.verify_options or VerifyOptions()).merged(case)
    results = verify_ingested(ctx.engine, ctx.paths, opts)
    if results:
        ctx.result.notes.append(summary(results) + (f" (options from {case_file})" if case_file else ""))
    for r in results:
        if r.status in ("tampered", "unverifiable"):
            kinds = sorted({f.kind for f in r.failures})
            why = ", ".join(kinds) if kinds else "; ".join(r.notes[:1])
            ctx.result.warnings.append(f"{r.path}: {r.status} ({why}); details: logconsole verify {r.path}")


def _grants(ctx: StepContext) -> None:
    """Import the grants files among what no log format took (IAM, RBAC, policy files)."""
    if not ctx.trust.grants:
        return
    skipped = [s.path for s in ctx.result.sources if s.status == "skipped"]
    for r in import_found(ctx.engine, skipped):
        ctx.result.notes.append(f"{r.file}: grants {r.format}, label {r.label}: "
                                + (f"already imported as snapshot {r.snapshot_id}" if r.already
                                   else f"imported as snapshot {r.snapshot_id}"))


INGEST_STEPS: tuple[Step, ...] = (
    Step("checkpoint", _checkpoint, "index checkpoint not recorded",
         "`logconsole verify --index` will report the events as added after the last checkpoint"),
    Step("privilege-usage", _privilege_usage, "privilege usage not precomputed",
         "`logconsole actors` will compute it on first use"),
    Step("verify", _verify, "logs not verified",
         "run `logconsole verify PATH` (or V in the console) to verify them"),
    Step("grants", _grants, "grants files not imported",
         "import them with `logconsole grants import FILE` (or Ctrl+G in the console)"),
    Step("detections", _detections, "Sigma rules not run on the new events",
         "`logconsole rules run` runs them"),
    Step(FULLTEXT_STEP, _fulltext, "full-text index not caught up",
         "free-text searches scan the events not yet indexed; `logconsole fulltext` completes it"),
    Step("identity-graph", _identity_graph, "identity graph not updated",
         "`logconsole identity` brings it up to date on first use"),
)


def without(steps: Sequence[Step], *names: str) -> tuple[Step, ...]:
    """*steps* less those named (``--defer-fulltext``, ``--no-verify`` ...)."""
    return tuple(s for s in steps if s.name not in names)


def run_steps(steps: Sequence[Step], ctx: StepContext, done: Callable[[str], None] | None = None) -> list[str]:
    """Run *steps* in order; a failing step adds a warning to ``ctx.result`` and
    the rest still run.  Returns the names of the steps that failed.  The reason keeps
    up to 400 characters: a message that starts with a long file name must keep its end.
    *done* is told each step's name once it has run (or failed: its warning says how to
    make up for it)."""
    failed: list[str] = []
    for step in steps:
        if ctx.progress is not None:
            ctx.progress(step.name)
        t0 = time.perf_counter()
        try:
            step.run(ctx)
        except Exception as exc:
            failed.append(step.name)
            text = str(exc).strip()
            reason = f"{exc.__class__.__name__}: {text.splitlines()[0][:400]}" if text else exc.__class__.__name__
            ctx.result.warnings.append(f"{step.missing} ({reason}); {step.recovery}")
        finally:
            ctx.result.step_seconds[step.name] = time.perf_counter() - t0
        if done is not None:
            done(step.name)
    return failed


#: meta key: the steps an ingest added events for but has not run yet (JSON: step names, paths)
STEPS_PENDING_KEY = "ingest_steps_pending"


def pending_steps(engine: Engine) -> dict[str, list[str]]:
    """The steps left over by an ingest that was stopped after its rows (Ctrl-C, quitting the
    console while it ingested, kill): ``{"steps": [...], "paths": [...]}``, empty if none."""
    with engine.connect() as conn:
        text = meta_get(conn, STEPS_PENDING_KEY)
    try:
        got = json.loads(text) if text else {}
    except ValueError:
        return {}
    return got if isinstance(got, dict) and got.get("steps") else {}


def _set_pending(engine: Engine, steps: list[str], paths: list[str]) -> None:
    with engine.begin() as conn:
        if steps:
            meta_set(conn, STEPS_PENDING_KEY, json.dumps({"steps": steps, "paths": paths}))
        else:
            conn.execute(delete(meta).where(meta.c.key == STEPS_PENDING_KEY))


def run_ingest(
    engine: Engine,
    paths: Iterable[str],
    *,
    fmt: str | None = None,
    options: dict[str, Any] | None = None,
    progress: ProgressFn | None = None,
    step_progress: StepProgress | None = None,
    batch_size: int = BATCH_SIZE,
    max_quarantined: int = MAX_QUARANTINED,
    steps: Sequence[Step] = INGEST_STEPS,
    trust: TrustOptions | None = None,
    on_source: SourceFn | None = None,
    complete_lines: bool = False,
) -> IngestResult:
    """Ingest *paths* (files, directories, ``-``) and run *steps* if anything was added
    (*on_source* is told each source as it is settled; *complete_lines*: files that are
    still written, whose last line without its newline waits for it).

    Raises ``RuntimeError`` when another ingest holds the index."""
    paths = list(paths)
    with writing(engine):
        result = ingest_files(engine, paths, fmt=fmt, options=options, progress=progress, batch_size=batch_size,
                              max_quarantined=max_quarantined, on_source=on_source, complete_lines=complete_lines)
        if result.added:
            # a server plans the console's first queries from statistics it has not gathered yet for
            # rows that were just copied in (its autovacuum comes a minute later); SQLite: nothing
            with engine.begin() as conn:
                dialect.of(conn).analyze(conn, events)
        left = pending_steps(engine)
        if result.added or left:
            # the steps of an earlier ingest that was stopped before they ran are run now (also
            # when every file is already indexed), with that ingest's paths beside these
            todo = list(steps) if result.added else [s for s in steps if s.name in left["steps"]]
            if left:
                todo += [s for s in steps if s.name in left["steps"] and s not in todo]
                todo.sort(key=list(steps).index)
                paths_all = list(dict.fromkeys([*left.get("paths", []), *paths]))
                result.notes.append("ran the steps an earlier ingest left undone: " + ", ".join(left["steps"]))
            else:
                paths_all = paths
            remaining = [s.name for s in todo]
            # pending steps this ingest does not run (--defer-fulltext ...) stay pending
            keep = [n for n in left.get("steps", []) if n not in {s.name for s in steps}]
            _set_pending(engine, remaining + keep, paths_all)

            def done(name: str) -> None:
                remaining.remove(name)
                _set_pending(engine, remaining + keep, paths_all)

            run_steps(todo, StepContext(engine, result, dict(options or {}), step_progress, paths_all,
                                        trust or TrustOptions()), done)
    return result
